"""Helpers for the task tests: the docker CLI, and RunTask/DescribeTasks loops with boto3."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time

IMAGE = "busybox:local"


def docker(*args: str, check: bool = True, timeout: float = 60) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def owners_in(text: str) -> set[str]:
    """The instance ids (owner labels) named in ecsd's log: its "backend ready" line."""
    return set(re.findall(r'backend ready" owner=(\S+)', text))


def leftovers(owner: str) -> list[str]:
    """Containers, networks and volumes that the ecsd with this owner label made and did not remove."""
    found = []
    for kind in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
        out = docker(*kind, "-q", "--filter", f"label=io.ecsd.owner={owner}")
        found += [f"{kind[0] if kind[0] != 'ps' else 'container'} {x}" for x in out.split()]
    return found


def register(ecs, containers: list[dict], family: str = "t", **kw) -> str:
    for c in containers:
        c.setdefault("image", IMAGE)
        c.setdefault("memory", 64)
    return ecs.register_task_definition(family=family, containerDefinitions=containers,
                                        **kw)["taskDefinition"]["taskDefinitionArn"]


def run(ecs, taskdef: str, **kw) -> dict:
    resp = ecs.run_task(taskDefinition=taskdef, **kw)
    assert resp["failures"] == [], resp["failures"]
    return resp["tasks"][0]


def describe(ecs, arn: str, cluster: str = "default") -> dict:
    resp = ecs.describe_tasks(cluster=cluster, tasks=[arn])
    assert resp["failures"] == [], resp["failures"]
    return resp["tasks"][0]


def wait_for(ecs, arn: str, predicate, timeout: float = 60, cluster: str = "default") -> tuple[dict, list[str]]:
    """Describe until predicate(task) holds; returns the task and every lastStatus seen on the way."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        task = describe(ecs, arn, cluster)
        if not seen or seen[-1] != task["lastStatus"]:
            seen.append(task["lastStatus"])
        if predicate(task):
            return task, seen
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last task: {json.dumps(task, default=str)[:3000]}; seen {seen}")
        time.sleep(0.05)


def wait_stopped(ecs, arn: str, timeout: float = 60, cluster: str = "default") -> tuple[dict, list[str]]:
    return wait_for(ecs, arn, lambda t: t["lastStatus"] == "STOPPED", timeout, cluster)


def container(task: dict, name: str) -> dict:
    return next(c for c in task["containers"] if c["name"] == name)


def status_history(srv, arn: str) -> list[str]:
    """Every lastStatus the task took, in order, as the lifecycle stores it with the task (priv.statuses in the state
    database, written in the same transaction as each status): unlike samples of DescribeTasks, it misses none."""
    db = sqlite3.connect(f"file:{srv.data_dir}/ecsd.db?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute("SELECT private FROM tasks WHERE id = ?", (arn.rsplit("/", 1)[1],)).fetchone()
    finally:
        db.close()
    assert row, f"task {arn} is not in {srv.data_dir}/ecsd.db"
    return json.loads(row[0]).get("statuses", [])


def assert_never_running(srv, task: dict) -> None:
    """The stopped `task` never ran: no startedAt, and RUNNING is not in its stored status history (which holds the
    statuses it did take, so this check can fail)."""
    assert task["lastStatus"] == "STOPPED", task["lastStatus"]
    assert "startedAt" not in task, task["startedAt"]
    history = status_history(srv, task["taskArn"])
    assert history[0] == "PROVISIONING" and history[-1] == "STOPPED", history
    assert "RUNNING" not in history, history
