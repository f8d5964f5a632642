#!/usr/bin/env python3
"""ECS API calls per second next to the same server's /_ecsd/healthz rate (DESIGN.md §7: any call >= 25 % of it).

One ecsd (state in a directory of its own, as `ecsd serve` keeps it; --memory for :memory:), loopback only, keep-alive, 16 connections, driven by bench/httpload.c (built here with
cc): GET /_ecsd/healthz (the HTTP floor), ListClusters {}, DescribeClusters of default, DescribeTasks of one task,
ListTasks of a cluster holding --tasks tasks (one page of 100), DescribeTasks of a missing task, ListServices of a
cluster holding --services services (desired count 0; one page of 100), DescribeServices of one of them, and
DescribeTaskDefinition of the family's latest revision. --rounds rounds of all of them, each round between two healthz
measurements; each call's ratio is to the mean of its round's two, and the median round is reported (the machine is
shared: its load drifts between phases).

The tasks are made without any engine: ecsd's docker CLI is a script (DOCKER_STUB) that answers `docker info` with a
host and fails every other command, so each RunTask stores a task that fails to start and is finalized STOPPED
(TaskFailedToStart), and stays describable for --task-retention. (With --docker-cli /bin/false, as before, every
DescribeClusters spawned a failing `docker info`: a cost no server with a reachable engine has.) A STOPPED
task's document is the same size as a RUNNING one's, plus its stop fields; ListTasks reads them with
desiredStatus=STOPPED. Bounded: every load phase stops at --requests answers or --seconds, whichever comes first.

  cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DECSD_TESTS=OFF && cmake --build build/release
  ECSD_BIN=build/release/cmd/ecsd/ecsd ~/.cache/ecsd/venv/bin/python bench/api_throughput.py [--seconds 3] [--rounds 3]
      [--perf ListClusters]   (also record `perf record -g` of ecsd during that call, report in bench/perf-*.txt)

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = "AmazonEC2ContainerServiceV20141113."


def build_loadgen(workdir: str) -> str:
    out = os.path.join(workdir, "httpload")
    subprocess.run(["cc", "-O2", "-o", out, os.path.join(HERE, "httpload.c")], check=True)
    return out


# The docker CLI ecsd is given: `docker info` describes a host (so the cluster has its container instance, as with
# any reachable engine, where ecsd asks once and keeps the answer), every other command fails (so each task fails to
# start and is finalized STOPPED). No engine is needed, and nothing is started.
DOCKER_STUB = """#!/bin/sh
if [ "$1" = info ]; then
  echo '{"ID":"BENC:HBEN:CHBE:NCHB","Name":"bench","NCPU":2,"MemTotal":4294967296,"OSType":"linux",\
"Architecture":"x86_64","ServerVersion":"0.0.0-bench"}'
  exit 0
fi
exit 1
"""


class Server:
    def __init__(self, binary: str, workdir: str, threads: int | None, memory: bool = False):
        ready = os.path.join(workdir, "ready.json")
        self.log = open(os.path.join(workdir, "ecsd.log"), "wb")
        stub = os.path.join(workdir, "docker")
        with open(stub, "w") as f:
            f.write(DOCKER_STUB)
        os.chmod(stub, 0o755)
        argv = [binary, "serve", "--listen", "127.0.0.1:0", "--ready-file", ready, "--data-dir",
                ":memory:" if memory else os.path.join(workdir, "state"),
                "--docker-cli", stub, "--log-level", "error"]
        if threads:
            argv += ["--threads", str(threads)]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ecsd did not start (see {self.log.name})")
            time.sleep(0.05)
        time.sleep(0.1)
        with open(ready) as f:
            self.port = int(json.load(f)["api"].rsplit(":", 1)[1])
        self.ecs = boto3.client("ecs", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
                                aws_access_key_id="x", aws_secret_access_key="x",
                                config=Config(retries={"max_attempts": 1}))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def make_tasks(ecs, n: int) -> list[str]:
    ecs.register_task_definition(family="bench-api", containerDefinitions=[
        {"name": "main", "image": "busybox:local", "memory": 32, "command": ["sleep", "600"]}])
    arns: list[str] = []
    while len(arns) < n:
        arns += [t["taskArn"] for t in ecs.run_task(taskDefinition="bench-api", count=min(10, n - len(arns)))["tasks"]]
    deadline = time.monotonic() + 120
    while True:
        stopped = sum(1 for i in range(0, n, 100) for t in ecs.describe_tasks(tasks=arns[i:i + 100])["tasks"]
                      if t["lastStatus"] == "STOPPED")
        if stopped == n:
            return arns
        if time.monotonic() > deadline:
            raise SystemExit(f"only {stopped}/{n} tasks were finalized")
        time.sleep(0.2)


def make_services(ecs, n: int) -> list[str]:
    """n services of desired count 0: stored and listable, no task launched (no engine is needed)."""
    arns = []
    for i in range(n):
        arns.append(ecs.create_service(serviceName=f"bench-svc-{i:03d}", taskDefinition="bench-api",
                                       desiredCount=0)["service"]["serviceArn"])
    return arns


def load(loadgen: str, port: int, args, path: str = "/", action: str | None = None, body: str | None = None) -> dict:
    argv = [loadgen, "--port", str(port), "--connections", str(args.connections), "--requests", str(args.requests),
            "--seconds", str(args.seconds), "--path", path]
    if action:
        argv += ["--header", f"X-Amz-Target: {TARGET}{action}", "--header", "Content-Type: application/x-amz-json-1.1",
                 "--body", body or "{}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=args.seconds + 30)
    return json.loads(out.stdout)


def main():
    # A SIGTERM (`timeout`, Ctrl-C's cousin) runs the cleanups below: ecsd stopped, the control plane torn down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--memory", action="store_true", help="ecsd --data-dir :memory: (one SQLite connection)")
    ap.add_argument("--threads", type=int, default=None, help="ecsd --threads (default: its own)")
    ap.add_argument("--perf", default=None, help="a call name below (first word): perf record ecsd during it")
    ap.add_argument("--perf-call-graph", default="fp",
                    help="perf record --call-graph: fp (as -g), or dwarf for a build without frame pointers")
    ap.add_argument("--perf-data", default=None, help="also keep perf's raw data (for `perf report -g`) here")
    args = ap.parse_args()
    binary = os.environ.get("ECSD_BIN", "build/release/cmd/ecsd/ecsd")
    with tempfile.TemporaryDirectory(prefix="ecsd-bench-api-") as workdir:
        loadgen = build_loadgen(workdir)
        srv = Server(binary, workdir, args.threads, args.memory)
        try:
            arns = make_tasks(srv.ecs, args.tasks)
            services = make_services(srv.ecs, args.services)
            one = json.dumps({"tasks": [arns[0]]})
            missing = json.dumps({"tasks": ["0123456789abcdef0123456789abcdef"]})
            calls = [
                ("healthz", "/_ecsd/healthz", None, None),
                ("ListClusters", "/", "ListClusters", "{}"),
                ("DescribeClusters", "/", "DescribeClusters", "{}"),
                ("DescribeTasks", "/", "DescribeTasks", one),
                ("DescribeTasks missing", "/", "DescribeTasks", missing),
                (f"ListTasks ({args.tasks} tasks)", "/", "ListTasks", json.dumps({"desiredStatus": "STOPPED"})),
                (f"ListServices ({args.services} services)", "/", "ListServices", json.dumps({"maxResults": 100})),
                ("DescribeServices (one service)", "/", "DescribeServices", json.dumps({"services": [services[0]]})),
                ("DescribeTaskDefinition", "/", "DescribeTaskDefinition", json.dumps({"taskDefinition": "bench-api"})),
            ]
            # Rounds of every call, each round bracketed by healthz before and after: the machine's load drifts (it
            # is shared), so each call is compared with the floor measured around it, and the median round is kept.
            rounds: list[dict] = []
            for rnd in range(args.rounds):
                results = {"healthz": load(loadgen, srv.port, args, "/_ecsd/healthz")}
                for name, path, action, body in calls[1:]:
                    perf = None
                    if rnd == 0 and args.perf and args.perf == name.split()[0] and name != "DescribeTasks missing":
                        perf_data = os.path.join(workdir, "perf.data")
                        perf = subprocess.Popen(["perf", "record", "--call-graph", args.perf_call_graph, "-o", perf_data,
                                                 "-p", str(srv.proc.pid)],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        time.sleep(0.5)
                    results[name] = load(loadgen, srv.port, args, path, action, body)
                    if perf:
                        perf.send_signal(2)
                        perf.wait(timeout=60)
                        if args.perf_data:
                            shutil.copyfile(perf_data, args.perf_data)
                        report = os.path.join(HERE, f"perf-{name.split()[0]}.txt")
                        with open(report, "w") as f:
                            for sort in ("dso", "dso,symbol"):
                                subprocess.run(["perf", "report", "-i", perf_data, "--no-children", "--percent-limit",
                                                "0.5", "--stdio", "-g", "none", "--sort", sort], stdout=f,
                                               stderr=subprocess.DEVNULL, timeout=300)
                results["healthz after"] = load(loadgen, srv.port, args, "/_ecsd/healthz")
                rounds.append(results)
            out = {"tasks": args.tasks, "connections": args.connections, "seconds_per_call": args.seconds,
                   "rounds": args.rounds, "target_ratio": 0.25, "calls": {}}
            for name, *_ in calls:
                per_round = []
                for res in rounds:
                    floor = (res["healthz"]["per_second"] + res["healthz after"]["per_second"]) / 2
                    r = res[name]
                    bad = r["errors"] + (0 if name.startswith("DescribeTasks missing") else r["non2xx"])
                    per_round.append((r["per_second"] / floor, r["per_second"], floor, bad))
                per_round.sort()
                ratio, rate, floor, _ = per_round[len(per_round) // 2]
                out["calls"][name] = {"per_second": round(rate, 1), "healthz_per_second": round(floor, 1),
                                      "ratio_to_healthz": round(ratio, 3),
                                      "ratios_all_rounds": [round(x[0], 3) for x in per_round],
                                      "failed": sum(x[3] for x in per_round)}
            print(json.dumps(out, indent=2))
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
