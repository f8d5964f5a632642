#!/usr/bin/env python3
"""RunTask latency with placement on the k8s backend (kwok), as the number of live tasks grows.

Starts ECSD_BIN (argument 1) against the test control plane's admin kubeconfig (argument 2) in namespace `default`,
pinned to kwok's node (so every task is placed on one container instance), and calls RunTask with count 10 N/10 times
(argument 3, default 500); every task keeps running. Prints the median latency of the first and of the last 10 calls
and how many tasks got a containerInstanceArn. Run it alternately with a binary without placement (main) for the
baseline: the machine's load moves the figures. Bounded: N tasks, stopped by --cleanup-on-exit.

  eval "$(tests/k8s/env/up)"
  ~/.cache/ecsd/venv/bin/python bench/k8s_placement.py build/release/cmd/ecsd/ecsd "$KUBECONFIG" 500
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config


def main() -> None:
    binary, kubeconfig = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    work = tempfile.mkdtemp()
    ready = os.path.join(work, "ready")
    srv = subprocess.Popen([binary, "serve", "--backend", "k8s", "--kubeconfig", kubeconfig, "--k8s-namespace",
                            "default", "--k8s-node-name", os.environ.get("ECSD_K8S_NODE", "kwok-node-0"), "--listen",
                            "127.0.0.1:0", "--ready-file", ready, "--data-dir", os.path.join(work, "data"),
                            "--log-level", "warn", "--cleanup-on-exit"],
                           stderr=open(os.path.join(work, "log"), "w"))
    deadline = time.monotonic() + 10
    while not os.path.exists(ready) or not open(ready).read().strip():
        assert time.monotonic() < deadline and srv.poll() is None, "ecsd did not start"
        time.sleep(0.05)
    port = int(json.loads(open(ready).read())["api"].rpartition(":")[2])
    ecs = boto3.client("ecs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))
    td = ecs.register_task_definition(family="bench", containerDefinitions=[
        {"name": "a", "image": "busybox:local", "memory": 16, "command": ["sleep", "3600"]}])
    arn = td["taskDefinition"]["taskDefinitionArn"]
    lat, placed = [], 0
    try:
        for _ in range(n // 10):
            t0 = time.perf_counter()
            resp = ecs.run_task(taskDefinition=arn, count=10)
            lat.append((time.perf_counter() - t0) * 1000)
            assert not resp["failures"], resp["failures"]
            placed += sum(1 for t in resp["tasks"] if t.get("containerInstanceArn"))
    finally:
        srv.terminate()
        srv.wait(timeout=600)
    print(json.dumps({"calls": len(lat), "first10_median_ms": round(statistics.median(lat[:10]), 1),
                      "last10_median_ms": round(statistics.median(lat[-10:]), 1), "placed": placed}))


if __name__ == "__main__":
    main()
