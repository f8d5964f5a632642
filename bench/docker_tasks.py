#!/usr/bin/env python3
"""Benchmarks of tasks on the Docker backend (DESIGN.md §7), each against a baseline measured in the same run.

  1. RunTask -> RUNNING versus a bare `docker run -d` of the same container: ratio of medians, measured two ways.
     "polled": until DescribeTasks (polled every 5 ms) shows RUNNING; this poller is a Python process that competes
     with the engine for the CPU during the start, which the bare run does not have to share. "recorded": until the
     task's own startedAt (the moment ecsd writes RUNNING, and so the first moment DescribeTasks can show it; same
     host, same clock), with no poller running during the start.
  2. container exit -> visible in DescribeTasks: from the engine's die event (its own timestamp) to the first
     DescribeTasks showing the container STOPPED with its exit code, and to the task STOPPED.
  3. N tasks running at once: ecsd's CPU while idle (share of one core over a window) and its RSS, next to the same
     figures for ecsd with no task.

Needs a Docker engine in DOCKER_HOST with busybox:local (deploy/local/docker-engine-up), ECSD_BIN, and boto3.
Bounded: at most --tasks tasks (default 200), each phase has a deadline. Prints one JSON document.

  eval "$(deploy/local/docker-engine-up)"
  ECSD_BIN=build/release/cmd/ecsd/ecsd ~/.cache/ecsd/venv/bin/python bench/docker_tasks.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time

import boto3
from botocore.config import Config

IMAGE = "busybox:local"


class Server:
    def __init__(self, binary: str, workdir: str):
        # Port 0: the kernel picks a free port, and ecsd writes the one it got to its ready file.
        ready = os.path.join(workdir, "ready.json")
        self.log = open(os.path.join(workdir, "ecsd.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--ready-file", ready,
             "--data-dir", os.path.join(workdir, "data"),
             "--image-pull-behavior", "prefer-cached", "--cleanup-on-exit", "--stop-timeout", "2",
             "--log-level", "warn"], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ecsd did not start (see {self.log.name})")
            time.sleep(0.05)
        with open(ready) as f:
            self.port = int(json.load(f)["api"].rsplit(":", 1)[1])
        self.ecs = boto3.client("ecs", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
                                aws_access_key_id="x", aws_secret_access_key="x",
                                config=Config(retries={"max_attempts": 1}, max_pool_connections=20))

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=600)
        self.log.close()


def register(ecs, family: str, command: list[str]) -> str:
    return ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "main", "image": IMAGE, "memory": 32, "command": command, "stopTimeout": 2}])[
        "taskDefinition"]["taskDefinitionArn"]


def wait(ecs, arns: list[str], pred, deadline_s: float, poll_s: float = 0.005) -> dict[str, float]:
    """Describe until pred holds for each task; returns the monotonic time each was first seen to hold."""
    seen: dict[str, float] = {}
    last: dict = {}
    end = time.monotonic() + deadline_s
    while len(seen) < len(arns):
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting; {len(seen)}/{len(arns)} done; a pending task: "
                             f"{last.get('lastStatus')} {last.get('stoppedReason', '')}")
        pending = [a for a in arns if a not in seen]
        for i in range(0, len(pending), 100):
            for t in ecs.describe_tasks(tasks=pending[i:i + 100])["tasks"]:
                if pred(t):
                    seen[t["taskArn"]] = time.monotonic()
                else:
                    last = t
        time.sleep(poll_s)
    return seen


def bench_start(srv: Server, rounds: int) -> dict:
    td = register(srv.ecs, "bench-start", ["sleep", "600"])
    polled, recorded, docker_times = [], [], []
    for i in range(rounds):
        t0 = time.monotonic()
        out = subprocess.run(["docker", "run", "-d", "--name", f"bench-bare-{os.getpid()}-{i}", "--memory", "32m",
                              IMAGE, "sleep", "600"], capture_output=True, text=True, check=True)
        docker_times.append(time.monotonic() - t0)
        subprocess.run(["docker", "rm", "-f", out.stdout.strip()], capture_output=True, check=True)

        t0 = time.monotonic()
        arn = srv.ecs.run_task(taskDefinition=td)["tasks"][0]["taskArn"]
        done = wait(srv.ecs, [arn], lambda t: t["lastStatus"] == "RUNNING", 60)
        polled.append(done[arn] - t0)
        srv.ecs.stop_task(task=arn)
        wait(srv.ecs, [arn], lambda t: t["lastStatus"] == "STOPPED", 60, 0.05)

        # The same start with no poller competing for the CPU: sleep, then read startedAt.
        t0_wall = time.time()
        arn = srv.ecs.run_task(taskDefinition=td)["tasks"][0]["taskArn"]
        time.sleep(2)
        wait(srv.ecs, [arn], lambda t: t["lastStatus"] == "RUNNING", 60, 0.05)
        task = srv.ecs.describe_tasks(tasks=[arn])["tasks"][0]
        recorded.append(task["startedAt"].timestamp() - t0_wall)
        srv.ecs.stop_task(task=arn)
        wait(srv.ecs, [arn], lambda t: t["lastStatus"] == "STOPPED", 60, 0.05)
    p, r, d = statistics.median(polled), statistics.median(recorded), statistics.median(docker_times)
    return {"rounds": rounds, "bare_docker_run_median_ms": round(d * 1000, 1),
            "polled_runtask_to_running_median_ms": round(p * 1000, 1), "polled_ratio": round(p / d, 3),
            "recorded_runtask_to_startedat_median_ms": round(r * 1000, 1), "recorded_ratio": round(r / d, 3),
            "target_ratio": 1.15}


def bench_exit(srv: Server, rounds: int) -> dict:
    td = register(srv.ecs, "bench-exit", ["sh", "-c", "sleep 1; exit 3"])
    to_container, to_task = [], []
    for _ in range(rounds):
        arn = srv.ecs.run_task(taskDefinition=td)["tasks"][0]["taskArn"]
        tid = arn.rsplit("/", 1)[1]
        events = subprocess.Popen(["docker", "events", "--format", "{{json .}}", "--filter", "event=die",
                                   "--filter", f"label=io.ecsd.task-id={tid}"], stdout=subprocess.PIPE, text=True)
        died: dict[str, float] = {}

        def read_die():
            line = events.stdout.readline()
            if line:
                # The engine's own clock for the exit, mapped onto the monotonic clock.
                died["t"] = json.loads(line)["timeNano"] / 1e9 - time.time() + time.monotonic()
        reader = threading.Thread(target=read_die)
        reader.start()
        c_seen = wait(srv.ecs, [arn], lambda t: t["containers"][0].get("exitCode") == 3, 60, 0.002)[arn]
        t_seen = wait(srv.ecs, [arn], lambda t: t["lastStatus"] == "STOPPED", 60, 0.002)[arn]
        reader.join(timeout=10)
        events.kill()
        events.wait()
        if "t" in died:
            to_container.append(c_seen - died["t"])
            to_task.append(t_seen - died["t"])
    return {"rounds": len(to_container),
            "exit_to_container_stopped_p50_ms": round(statistics.median(to_container) * 1000, 1),
            "exit_to_task_stopped_p50_ms": round(statistics.median(to_task) * 1000, 1), "target_p50_ms": 100}


def idle_figures(srv: Server, window_s: float) -> tuple[float, float]:
    c0, t0 = srv.cpu_seconds(), time.monotonic()
    time.sleep(window_s)
    share = (srv.cpu_seconds() - c0) / (time.monotonic() - t0)
    return round(share * 100, 3), round(srv.rss_mb(), 1)


def bench_many(srv: Server, n: int, window_s: float) -> dict:
    base_cpu, base_rss = idle_figures(srv, window_s)
    td = register(srv.ecs, "bench-many", ["sleep", "3600"])
    arns: list[str] = []
    t0 = time.monotonic()
    while len(arns) < n:
        arns += [t["taskArn"] for t in srv.ecs.run_task(taskDefinition=td, count=min(10, n - len(arns)))["tasks"]]
    wait(srv.ecs, arns, lambda t: t["lastStatus"] == "RUNNING", 900, 0.5)
    launched_s = time.monotonic() - t0
    time.sleep(2)
    cpu, rss = idle_figures(srv, window_s)
    t0 = time.monotonic()
    for arn in arns:
        srv.ecs.stop_task(task=arn)
    wait(srv.ecs, arns, lambda t: t["lastStatus"] == "STOPPED", 900, 0.5)
    return {"tasks": n, "all_running_after_s": round(launched_s, 1), "idle_window_s": window_s,
            "idle_cpu_percent_of_core": cpu, "rss_mb": rss, "baseline_no_tasks_cpu_percent": base_cpu,
            "baseline_no_tasks_rss_mb": base_rss, "all_stopped_after_s": round(time.monotonic() - t0, 1),
            "target": {"idle_cpu_percent_of_core": 1.0, "rss_mb": 50}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--parts", default="start,exit,many", help="comma-separated subset of start,exit,many")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    binary = os.environ.get("ECSD_BIN", "build/release/cmd/ecsd/ecsd")
    with tempfile.TemporaryDirectory() as work:
        srv = Server(binary, work)
        try:
            result = {}
            if "start" in parts:
                result["start"] = bench_start(srv, args.rounds)
            if "exit" in parts:
                result["exit"] = bench_exit(srv, args.rounds)
            if "many" in parts:
                result["many"] = bench_many(srv, min(args.tasks, 500), args.window)
        finally:
            srv.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
