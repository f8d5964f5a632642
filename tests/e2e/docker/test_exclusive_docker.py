"""One ecsd per state directory with real tasks, and a metadata listener that one client cannot starve."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.request

import pytest

from helpers import make_client
from tasklib import container, describe, docker, register, run, wait_for, wait_stopped

LOOP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]


def running(cid: str) -> bool:
    return docker("inspect", "--format", "{{.State.Running}}", cid).strip() == "true"


def test_second_server_on_the_state_dir_touches_nothing_and_kill9_releases_it(docker_server, ecsd_bin):
    srv = docker_server()
    ecs = make_client(srv)
    td = register(ecs, [{"name": "main", "stopTimeout": 1, "command": LOOP}])
    arn = run(ecs, td)["taskArn"]
    task, _ = wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    cid = container(task, "main")["runtimeId"]

    # A second server on the same directory, which would re-adopt the task and (at exit) stop it, is refused.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECSD_")}
    try:
        second = subprocess.run([ecsd_bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", srv.data_dir,
                                 "--cleanup-on-exit", "--image-pull-behavior", "prefer-cached"],
                                capture_output=True, text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the second ecsd runs on the first one's state directory\n{exc.stderr}", pytrace=False)
    assert second.returncode == 1, second.stderr
    assert f"state directory {srv.data_dir} is in use by another ecsd (pid {srv.proc.pid})" in second.stderr
    assert running(cid)
    assert describe(ecs, arn)["lastStatus"] == "RUNNING"

    # kill -9 of the first releases the lock: a new server on the directory re-adopts the running task.
    srv.restart(kill=True)
    ecs = make_client(srv)
    task = describe(ecs, arn)
    assert task["lastStatus"] == "RUNNING" and container(task, "main")["runtimeId"] == cid
    assert running(cid)
    ecs.stop_task(task=arn)
    task, _ = wait_stopped(ecs, arn)
    assert task["stopCode"] == "UserInitiated" and container(task, "main")["exitCode"] == 0


PROBE = r"""
u=${ECS_CONTAINER_METADATA_URI_V4#http://}; hp=${u%%/*}; path=/${u#*/}; h=${hp%:*}; p=${hp##*:}
printf 'GET %s/task HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" | nc -w 10 "$h" "$p"
"""

HELD_CONNECTIONS = 100  # more than the listener ever served at once before the per-client cap


def test_idle_connections_of_one_client_do_not_starve_another_tasks_metadata(ecs, dsrv):
    """The host opens many connections to the metadata listener and keeps them idle in the middle of a request (as a
    misbehaving container could); a task's container, another client address, still gets its metadata. Before the
    per-client cap, 64 such connections took every slot for two minutes and the container's request was closed
    unanswered."""
    host, _, port = dsrv.metadata_address.rpartition(":")
    held = []
    try:
        for _ in range(HELD_CONNECTIONS):
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(b"GET /_ecsd/metadata/hold HTTP/1.1\r\nHost: hold\r\n")  # never finished
            held.append(s)
        td = register(ecs, [{"name": "probe", "command": ["sh", "-c", PROBE]}], family="starve")
        task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
        tid = task["taskArn"].rsplit("/", 1)[1]
        with urllib.request.urlopen(f"{dsrv.url}/_ecsd/tasks/{tid}/logs?container=probe", timeout=10) as r:
            out = r.read().decode()
        assert f'"TaskARN":"{task["taskArn"]}"' in out.replace(" ", ""), out
    finally:
        for s in held:
            s.close()
