#!/usr/bin/env python3
"""Benchmark of express gateway services on the Docker backend (issue 16).

  ready    from CreateExpressGatewayService to the first 200 from the URL it reports (busybox httpd), against the
           floor measured in the same run: `docker run -d -p 127.0.0.1:PORT:8080` of the same container until its
           first 200. Median of --runs.
  replace  with a health check path that answers 404: from the task RUNNING to it STOPPED by the health checker
           (bounded by 2 checks x --interval seconds), and to its replacement RUNNING.

Needs ECSD_BIN, boto3, a Docker engine in DOCKER_HOST with busybox:local (deploy/local/docker-engine-up). Bounded:
every wait has a deadline; the server runs with --cleanup-on-exit. Prints one JSON document.

  ECSD_BIN=build/plain/cmd/ecsd/ecsd ~/.cache/ecsd/venv/bin/python bench/express.py [--runs 5 --interval 1]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from services import IMAGE, Server

ROLE = "arn:aws:iam::000000000000:role/r"
SCRIPT = "mkdir -p /www && echo ok > /www/index.html && echo ok > /www/health && exec httpd -f -p 8080 -h /www"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait(pred, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.005)
    raise SystemExit("timed out")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def floor_once() -> float:
    port = free_port()
    t0 = time.monotonic()
    cid = subprocess.run(["docker", "run", "-d", "-p", f"127.0.0.1:{port}:8080", IMAGE, "sh", "-c", SCRIPT],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        wait(lambda: answers(f"http://127.0.0.1:{port}/"))
        return time.monotonic() - t0
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


def running(ecs, name: str) -> list[dict]:
    arns = ecs.list_tasks(serviceName=name, desiredStatus="RUNNING")["taskArns"]
    return [t for t in ecs.describe_tasks(tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"] if arns else []


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--interval", type=int, default=1)
    args = ap.parse_args()
    runs = max(1, min(args.runs, 20))
    with tempfile.TemporaryDirectory() as work:
        srv = Server(os.environ["ECSD_BIN"], work, ["--image-pull-behavior", "prefer-cached", "--stop-timeout", "2",
                                                    "--express-health-interval", str(args.interval)])
        ecs = srv.ecs
        try:
            ready, floor = [], []
            for i in range(runs):
                floor.append(floor_once())
                t0 = time.monotonic()
                svc = ecs.create_express_gateway_service(
                    serviceName=f"b{i}", executionRoleArn=ROLE, infrastructureRoleArn=ROLE, healthCheckPath="/health",
                    primaryContainer={"image": IMAGE, "containerPort": 8080, "command": ["sh", "-c", SCRIPT]})
                url = svc["service"]["activeConfigurations"][0]["ingressPaths"][0]["endpoint"]
                wait(lambda: answers(url))
                ready.append(time.monotonic() - t0)
                ecs.delete_express_gateway_service(serviceArn=svc["service"]["serviceArn"])

            ecs.create_express_gateway_service(
                serviceName="sick", executionRoleArn=ROLE, infrastructureRoleArn=ROLE, healthCheckPath="/missing",
                primaryContainer={"image": IMAGE, "containerPort": 8080, "command": ["sh", "-c", SCRIPT]})
            first = wait(lambda: running(ecs, "sick"))[0]
            t0 = time.monotonic()
            wait(lambda: ecs.describe_tasks(tasks=[first["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED")
            stopped = time.monotonic() - t0
            wait(lambda: [t for t in running(ecs, "sick") if t["taskArn"] != first["taskArn"]])
            replaced = time.monotonic() - t0
        finally:
            srv.stop()
    print(json.dumps({
        "ready_median_s": round(statistics.median(ready), 3), "ready_runs_s": [round(x, 3) for x in ready],
        "floor_docker_run_median_s": round(statistics.median(floor), 3),
        "ratio": round(statistics.median(ready) / statistics.median(floor), 2),
        "health_interval_s": args.interval, "unhealthy_stopped_after_s": round(stopped, 2),
        "replacement_running_after_s": round(replaced, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
