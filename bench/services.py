#!/usr/bin/env python3
"""Benchmarks of ECS services (issue 13), each figure next to what bounds it, measured in the same run.

  docker   S services x T tasks on the Docker backend (default 100 x 2): time from the first CreateService until every
           service is steady (one deployment, runningCount = desiredCount, as the servicesStable waiter reads it);
           ecsd's CPU (share of one core) over an idle window while they stay steady, and its RSS.
  kwok     S services x T tasks on the Kubernetes backend against the test control plane of tests/k8s/env (kwok's fake
           node; default 200 x 5): time until steady, calls ecsd made to the API server per task (its own counter,
           GET /_ecsd/stats), ecsd's RSS and idle CPU.
  rolling  a rolling update of an N-task service on Docker (default 20, min 100 % / max 200 %, the ECS defaults):
           from UpdateService to the new deployment COMPLETED with N tasks, against the floor: N `docker run -d` of the
           same container started at once, in the same run.

Needs ECSD_BIN, boto3; docker parts a Docker engine in DOCKER_HOST with busybox:local (deploy/local/docker-engine-up);
kwok the k8s test environment's binaries (tests/k8s/env/build; the script starts a private environment and stops it).
Bounded: every wait has a deadline, at most 500 services and 2000 tasks, servers run with --cleanup-on-exit.
Prints one JSON document.

  ECSD_BIN=build/release/cmd/ecsd/ecsd ~/.cache/ecsd/venv/bin/python bench/services.py --parts docker,rolling,kwok
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.request

import boto3
from botocore.config import Config

IMAGE = "busybox:local"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


class Server:
    def __init__(self, binary: str, workdir: str, args: list[str], env: dict | None = None):
        ready = os.path.join(workdir, "ready.json")
        self.log = open(os.path.join(workdir, "ecsd.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--ready-file", ready,
             "--data-dir", os.path.join(workdir, "data"), "--cleanup-on-exit", "--log-level", "warn", *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ecsd did not start (see {self.log.name})")
            time.sleep(0.05)
        with open(ready) as f:
            self.port = int(json.load(f)["api"].rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.ecs = boto3.client("ecs", endpoint_url=self.url, region_name="us-east-1",
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

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/_ecsd/stats", timeout=10) as r:
            return json.load(r)

    def idle_cpu(self, window_s: float) -> float:
        c0, t0 = self.cpu_seconds(), time.monotonic()
        time.sleep(window_s)
        return (self.cpu_seconds() - c0) / (time.monotonic() - t0)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=900)
        self.log.close()


def register(ecs, family: str, marker: str) -> str:
    return ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "main", "image": IMAGE, "memory": 32, "command": ["sleep", "3600"], "stopTimeout": 2,
         "environment": [{"name": "MARKER", "value": marker}]}])["taskDefinition"]["taskDefinitionArn"]


def unsteady(ecs, names: list[str]) -> list[str]:
    """Names of the services not steady, as the servicesStable waiter judges it."""
    left = []
    for i in range(0, len(names), 10):
        for s in ecs.describe_services(services=names[i:i + 10])["services"]:
            if not (len(s["deployments"]) == 1 and s["runningCount"] == s["desiredCount"]):
                left.append(s["serviceName"])
    return left


def wait_steady(ecs, names: list[str], deadline_s: float) -> float:
    t0 = time.monotonic()
    left = list(names)
    while left:
        if time.monotonic() - t0 > deadline_s:
            raise SystemExit(f"{len(left)} services not steady after {deadline_s} s")
        time.sleep(0.5)
        left = unsteady(ecs, left)
    return time.monotonic() - t0


def drain(ecs, names: list[str]):
    for n in names:
        ecs.delete_service(service=n, force=True)
    ecs.get_waiter("services_inactive").wait(services=names[:10], WaiterConfig={"Delay": 2, "MaxAttempts": 300})


def many(srv: Server, services: int, tasks: int, deadline_s: float, window_s: float, prefix: str) -> dict:
    ecs = srv.ecs
    td = register(ecs, "bench", "v1")
    names = [f"{prefix}{i:03d}" for i in range(services)]
    rss0 = srv.rss_mb()
    t0 = time.monotonic()
    for n in names:
        ecs.create_service(serviceName=n, taskDefinition=td, desiredCount=tasks)
    created = time.monotonic() - t0
    steady = created + wait_steady(ecs, names, deadline_s)
    time.sleep(2)  # let the last passes and the last task events settle before the window
    cpu = srv.idle_cpu(window_s)
    out = {"services": services, "tasks_per_service": tasks, "create_calls_s": round(created, 2),
           "all_steady_s": round(steady, 2), "idle_cpu_share": round(cpu, 4), "idle_window_s": window_s,
           "rss_mb": round(srv.rss_mb(), 1), "rss_mb_before": round(rss0, 1)}
    return out


def run_tasks_baseline(srv: Server, n: int, deadline_s: float) -> float:
    """The same number of tasks started with RunTask (10 per call) on the same ecsd: the time until all RUNNING, the
    floor for the services' time to steady. They are stopped, and gone, before the services start."""
    ecs = srv.ecs
    td = register(ecs, "baseline", "v0")
    t0 = time.monotonic()
    arns = []
    while len(arns) < n:
        arns += [t["taskArn"] for t in ecs.run_task(taskDefinition=td, count=min(10, n - len(arns)))["tasks"]]
    left = set(arns)
    while left:
        if time.monotonic() - t0 > deadline_s:
            raise SystemExit(f"{len(left)} baseline tasks not RUNNING after {deadline_s} s")
        time.sleep(0.5)
        batch = sorted(left)
        for i in range(0, len(batch), 100):
            for t in ecs.describe_tasks(tasks=batch[i:i + 100])["tasks"]:
                if t["lastStatus"] == "RUNNING":
                    left.discard(t["taskArn"])
    took = time.monotonic() - t0
    for a in arns:
        ecs.stop_task(task=a)
    waiter = ecs.get_waiter("tasks_stopped")
    for i in range(0, len(arns), 100):
        waiter.wait(tasks=arns[i:i + 100], WaiterConfig={"Delay": 1, "MaxAttempts": 600})
    return took


def part_docker(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="ecsd-bench-svc-") as work:
        srv = Server(args.ecsd, work, ["--image-pull-behavior", "prefer-cached", "--stop-timeout", "2"])
        try:
            idle0 = srv.idle_cpu(5)
            base = run_tasks_baseline(srv, args.services * args.tasks, 900)
            out = many(srv, args.services, args.tasks, 900, args.window, "d")
            out["baseline_run_task_all_running_s"] = round(base, 2)
            out["idle_cpu_share_no_service"] = round(idle0, 4)
            t0 = time.monotonic()
            drain(srv.ecs, [f"d{i:03d}" for i in range(args.services)])
            out["drain_first10_inactive_s"] = round(time.monotonic() - t0, 2)
        finally:
            srv.stop()
    return out


def part_kwok(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="ecsd-bench-kwok-") as work:
        env = dict(os.environ, ECSD_K8S_ENV_DIR=os.path.join(work, "k8s"))
        up = subprocess.run([os.path.join(REPO, "tests/k8s/env/up")], env=env, capture_output=True, text=True,
                            timeout=300)
        if up.returncode != 0:
            raise SystemExit(f"tests/k8s/env/up failed: {up.stderr[-2000:]}")
        try:
            for line in up.stdout.splitlines():
                if line.startswith("export "):
                    k, v = line[len("export "):].split("=", 1)
                    env[k] = v.strip("'\"")
            # The environment runs no controller-manager: the namespace's default ServiceAccount is made by hand.
            for cmd in (["create", "namespace", "bench"], ["-n", "bench", "create", "serviceaccount", "default"]):
                subprocess.run([env["KUBECTL"], *cmd], env=env, check=True, capture_output=True, timeout=60)
            srv = Server(args.ecsd, work, ["--backend", "k8s", "--kubeconfig", env["KUBECONFIG"],
                                           "--k8s-namespace", "bench", "--k8s-node-name", env["ECSD_K8S_NODE"],
                                           "--stop-timeout", "2"], env=env)
            try:
                calls0 = srv.stats().get("backend_stats", {}).get("api_calls", 0)
                out = many(srv, args.kwok_services, args.kwok_tasks, 1200, args.window, "k")
                calls = srv.stats().get("backend_stats", {}).get("api_calls", 0) - calls0
                out["backend_api_calls"] = calls
                out["api_calls_per_task"] = round(calls / (args.kwok_services * args.kwok_tasks), 2)
            finally:
                srv.stop()
        finally:
            subprocess.run([os.path.join(REPO, "tests/k8s/env/down")], env=env, capture_output=True, timeout=300)
    return out


def docker(*a: str) -> str:
    return subprocess.run(["docker", *a], check=True, capture_output=True, text=True, timeout=120).stdout


def part_rolling(args) -> dict:
    n = args.rolling_tasks
    # The floor: n containers of the same image and command started at once with `docker run -d`.
    ids: list[str] = []
    lock = threading.Lock()

    def run_one(i: int):
        cid = docker("run", "-d", "--label", "ecsd-bench=rolling-floor", IMAGE, "sleep", "3600").strip()
        with lock:
            ids.append(cid)

    threads = [threading.Thread(target=run_one, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    floor = time.monotonic() - t0
    if ids:
        docker("rm", "-f", *ids)
    with tempfile.TemporaryDirectory(prefix="ecsd-bench-roll-") as work:
        srv = Server(args.ecsd, work, ["--image-pull-behavior", "prefer-cached", "--stop-timeout", "2",
                                       "--service-healthy-after", str(args.healthy_after)])
        try:
            ecs = srv.ecs
            v1, v2 = register(ecs, "roll", "v1"), register(ecs, "roll", "v2")
            ecs.create_service(serviceName="roll", taskDefinition=v1, desiredCount=n)
            wait_steady(ecs, ["roll"], 600)
            time.sleep(args.healthy_after + 1)
            t0 = time.monotonic()
            ecs.update_service(service="roll", taskDefinition=v2)
            new_running = None
            while True:
                s = ecs.describe_services(services=["roll"])["services"][0]
                d = s["deployments"]
                if new_running is None and d[0]["taskDefinition"] == v2 and d[0]["runningCount"] == n:
                    new_running = time.monotonic() - t0
                if len(d) == 1 and d[0]["taskDefinition"] == v2 and d[0]["rolloutState"] == "COMPLETED":
                    break
                if time.monotonic() - t0 > 600:
                    raise SystemExit(f"rolling update not done after 600 s: {d}")
                time.sleep(0.1)
            wall = time.monotonic() - t0
            ecs.delete_service(service="roll", force=True)
        finally:
            srv.stop()
    return {"tasks": n, "min_healthy_percent": 100, "maximum_percent": 200,
            "service_healthy_after_s": args.healthy_after, "update_to_new_running_s": round(new_running or wall, 2),
            "update_to_completed_s": round(wall, 2),
            "floor_start_n_containers_s": round(floor, 2), "ratio_new_running": round((new_running or wall) / floor, 2) if floor else None,
            "ratio_completed": round(wall / floor, 2) if floor else None}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ecsd", default=os.environ.get("ECSD_BIN", "build/plain/cmd/ecsd/ecsd"))
    p.add_argument("--parts", default="docker,rolling,kwok")
    p.add_argument("--services", type=int, default=100)
    p.add_argument("--tasks", type=int, default=2)
    p.add_argument("--kwok-services", type=int, default=200)
    p.add_argument("--kwok-tasks", type=int, default=5)
    p.add_argument("--rolling-tasks", type=int, default=20)
    p.add_argument("--healthy-after", type=int, default=0,
                   help="ecsd's --service-healthy-after for the rolling update (ECS: 40)")
    p.add_argument("--window", type=float, default=20)
    args = p.parse_args()
    if args.services > 500 or args.kwok_services > 500 or args.services * args.tasks > 2000 or \
            args.kwok_services * args.kwok_tasks > 2000 or args.rolling_tasks > 200:
        raise SystemExit("bounded: at most 500 services and 2000 tasks per part, 200 tasks in the rolling update")
    out = {}
    for part in args.parts.split(","):
        out[part] = {"docker": part_docker, "kwok": part_kwok, "rolling": part_rolling}[part](args)
        print(json.dumps({part: out[part]}), flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
