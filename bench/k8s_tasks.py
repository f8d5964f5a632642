#!/usr/bin/env python3
"""N tasks on the Kubernetes backend against kwok's simulated node (DESIGN.md §7: 1,000 launched in under 60 s with
ecsd under 50 MB, 5,000 in under 3 minutes).

Starts a private test control plane (tests/k8s/env/up: etcd + kube-apiserver + kwok, loopback only, its own state
dir), one ecsd on it (--backend k8s, the admin kubeconfig, namespace `default`, Pods bound to kwok's node), and:
  1. ecsd's RSS and CPU share over --window seconds with no task (the baseline, same run);
  2. RunTask of N `sleep`-forever tasks (10 per call), then DescribeTasks (100 per call, every 0.5 s) until all are
     RUNNING: the time from the first RunTask;
  3. ecsd's RSS and CPU share over --window seconds with the N tasks running, and the Kubernetes API calls per task
     (GET /_ecsd/stats: api_calls + watch_calls, over N);
  4. StopTask of every task, then DescribeTasks until all are STOPPED: the time from the first StopTask.
Bounded: N at most 5,000, every wait has a deadline, the control plane is always torn down. Prints one JSON document.

  cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DECSD_TESTS=OFF && cmake --build build/release
  ECSD_BIN=build/release/cmd/ecsd/ecsd ~/.cache/ecsd/venv/bin/python bench/k8s_tasks.py --tasks 1000 [--window 10] \
      [--perf bench/perf-k8s-launch.txt] [--malloc-stats]
--perf FILE records `perf record -g` of ecsd from the first RunTask to all RUNNING and writes its report (by library,
then by symbol) to FILE; --malloc-stats prints glibc's malloc_stats() of ecsd (through gdb) with all tasks RUNNING.
The result also carries ecsd's event-to-state lag (/_ecsd/metrics) and the Pods' phases seen by the API server.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = os.path.join(REPO, "tests", "k8s", "env")


def env_copy(work: str, parallelism: int) -> str:
    """tests/k8s/env with kwok's podPlayStageParallelism set to `parallelism` (kwok-stages.yaml), in `work`."""
    import shutil
    dest = os.path.join(work, "env-src")
    shutil.copytree(ENV, dest)
    path = os.path.join(dest, "kwok-stages.yaml")
    with open(path) as f:
        text = f.read()
    key = "podPlayStageParallelism:"
    head, rest = text.split(key, 1)
    with open(path, "w") as f:
        f.write(f"{head}{key} {parallelism}\n{rest.split(chr(10), 1)[1]}")
    return dest


def env_up(state_dir: str, env_dir: str = ENV) -> dict[str, str]:
    env = dict(os.environ, ECSD_K8S_ENV_DIR=state_dir)
    out = subprocess.run([os.path.join(env_dir, "up")], env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"tests/k8s/env/up failed:\n{out.stderr[-2000:]}")
    with open(os.path.join(state_dir, "env.sh")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].split("=", 1)
                env[k] = v.strip("'\"")
    return env


def env_down(state_dir: str, env_dir: str = ENV):
    subprocess.run([os.path.join(env_dir, "down")], env=dict(os.environ, ECSD_K8S_ENV_DIR=state_dir),
                   capture_output=True, timeout=300)


class Server:
    def __init__(self, binary: str, workdir: str, env: dict[str, str]):
        ready = os.path.join(workdir, "ready.json")
        self.log = open(os.path.join(workdir, "ecsd.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--ready-file", ready,
             "--data-dir", os.path.join(workdir, "data"), "--backend", "k8s", "--kubeconfig", env["KUBECONFIG"],
             "--k8s-namespace", "default", "--k8s-node-name", env["ECSD_K8S_NODE"], "--k8s-start-timeout", "600",
             "--metadata-listen", "127.0.0.1:0", "--credentials-listen", "off", "--cleanup-on-exit",
             "--stop-timeout", "2", "--log-level", "warn"], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ecsd did not start (see {self.log.name})")
            time.sleep(0.05)
        time.sleep(0.1)
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

    def stats(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_ecsd/stats", timeout=10) as r:
            return json.load(r)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def idle_figures(srv: Server, window_s: float) -> tuple[float, float]:
    c0, t0 = srv.cpu_seconds(), time.monotonic()
    time.sleep(window_s)
    share = (srv.cpu_seconds() - c0) / (time.monotonic() - t0)
    return round(share * 100, 3), round(srv.rss_mb(), 1)


def metrics_lag(port: int) -> dict:
    """ecsd_event_to_state_lag_seconds as {le: cumulative count}, plus sum and count."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_ecsd/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict = {}
    for line in text.splitlines():
        if line.startswith("ecsd_event_to_state_lag_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[le] = int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("ecsd_event_to_state_lag_seconds_sum"):
            out["sum_s"] = float(line.rsplit(" ", 1)[1])
    return out


def malloc_stats(pid: int, log_path: str) -> dict:
    """glibc's malloc_stats() of ecsd, which it writes to its own stderr (the log file): the totals, and per arena."""
    start = os.path.getsize(log_path)
    subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "call (void) malloc_stats()"],
                   capture_output=True, text=True, timeout=120)
    time.sleep(0.5)
    with open(log_path, errors="replace") as f:
        f.seek(start)
        text = f.read()
    out: dict = {"arenas": 0}
    for line in text.splitlines():
        if line.startswith("Arena "):
            out["arenas"] += 1
        elif line.startswith("Total (incl. mmap):"):
            out["total"] = {}
        elif "total" in out and "=" in line and "bytes" in line and not line.startswith("max"):
            k, v = line.split("=", 1)
            out["total"][k.strip()] = round(int(v.strip()) / 1048576, 1)
        elif line.startswith("max mmap regions") or line.startswith("max mmap bytes"):
            out[line.split("=")[0].strip()] = line.split("=")[1].strip()
    return out


def perf_report(data: str, dest: str):
    with open(dest, "w") as f:
        for sort in ("dso", "dso,symbol"):
            subprocess.run(["perf", "report", "-i", data, "--no-children", "--percent-limit", "0.5", "--stdio",
                            "-g", "none", "--sort", sort], stdout=f, stderr=subprocess.DEVNULL, timeout=600)


def pod_timeline(env: dict[str, str]) -> dict:
    """From the Pods as the API server has them (one list): when each was created (ecsd's POST) and when its
    container started (kwok's stage play, the container's state.running.startedAt; both whole seconds). Tells
    whether kwok or ecsd set the pace: kwok's latency and rate against ecsd's create rate and event lag."""
    out = subprocess.run([env.get("KUBECTL", "kubectl"), "get", "pods", "-n", "default", "-o", "json"], env=env,
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return {"error": out.stderr[-300:]}
    from datetime import datetime

    def ts(v: str) -> float:
        return datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").timestamp()
    created, started = [], []
    for pod in json.loads(out.stdout)["items"]:
        c = ts(pod["metadata"]["creationTimestamp"])
        for cs in pod.get("status", {}).get("containerStatuses", []):
            run = cs.get("state", {}).get("running")
            if run and run.get("startedAt"):
                created.append(c)
                started.append(ts(run["startedAt"]))
    if not created:
        return {"pods_running": 0}
    lat = sorted(s - c for c, s in zip(created, started))
    t0 = min(created)
    return {"pods_running": len(lat), "created_over_s": max(created) - t0,
            "started_over_s": max(started) - min(started), "kwok_latency_s_p50": lat[len(lat) // 2],
            "kwok_latency_s_p90": lat[int(len(lat) * 0.9)], "kwok_latency_s_max": lat[-1],
            "pods_created_per_s": round(len(lat) / max(1.0, max(created) - t0), 1),
            "pods_started_per_s": round(len(lat) / max(1.0, max(started) - min(started)), 1)}


def wait_all(ecs, arns: list[str], status: str, deadline_s: float, on_poll=None) -> float:
    t0 = time.monotonic()
    pending = list(arns)
    while pending:
        if time.monotonic() - t0 > deadline_s:
            raise SystemExit(f"timed out: {len(pending)}/{len(arns)} tasks not {status}")
        left = []
        for i in range(0, len(pending), 100):
            for t in ecs.describe_tasks(tasks=pending[i:i + 100])["tasks"]:
                if t["lastStatus"] != status:
                    if status == "RUNNING" and t["lastStatus"] == "STOPPED":
                        raise SystemExit(f"a task stopped: {t.get('stoppedReason')}")
                    left.append(t["taskArn"])
        pending = left
        if on_poll:
            on_poll()
        if pending:
            time.sleep(0.5)
    return time.monotonic()


def main():
    # A SIGTERM (`timeout`, Ctrl-C's cousin) runs the cleanups below: ecsd stopped, the control plane torn down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--perf", default=None, help="write a perf report of ecsd during the launch to this file")
    ap.add_argument("--malloc-stats", action="store_true", help="print ecsd's malloc_stats() with all RUNNING")
    ap.add_argument("--kwok-parallelism", type=int, default=0,
                    help="run kwok with this podPlayStageParallelism (a copy of tests/k8s/env; its own is 16)")
    args = ap.parse_args()
    n = min(args.tasks, 5000)
    binary = os.environ.get("ECSD_BIN", "build/release/cmd/ecsd/ecsd")
    with tempfile.TemporaryDirectory(prefix="ecsd-bench-k8s-") as work:
        state = os.path.join(work, "k8s-env")
        os.mkdir(state)
        env_dir = env_copy(work, args.kwok_parallelism) if args.kwok_parallelism > 0 else ENV
        try:
            env = env_up(state, env_dir)
            srv = Server(binary, work, env)
            try:
                base_cpu, base_rss = idle_figures(srv, args.window)
                srv.ecs.register_task_definition(family="bench-k8s", containerDefinitions=[
                    {"name": "main", "image": "busybox:local", "memory": 32, "command": ["sleep", "3600"]}])
                arns: list[str] = []
                perf = None
                if args.perf:
                    perf_data = os.path.join(work, "perf.data")
                    perf = subprocess.Popen(["perf", "record", "-g", "-o", perf_data, "-p", str(srv.proc.pid)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(0.5)
                t0 = time.monotonic()
                while len(arns) < n:
                    arns += [t["taskArn"] for t in
                             srv.ecs.run_task(taskDefinition="bench-k8s", count=min(10, n - len(arns)))["tasks"]]
                runtask_s = time.monotonic() - t0
                peak = {"rss_mb": 0.0, "launches_queued": 0, "launchers": 0}

                def sample():
                    peak["rss_mb"] = max(peak["rss_mb"], round(srv.rss_mb(), 1))
                    st = srv.stats()
                    for k in ("launches_queued", "launchers"):
                        peak[k] = max(peak[k], st.get(k, 0))
                running_s = wait_all(srv.ecs, arns, "RUNNING", 900, sample) - t0
                if perf:
                    perf.send_signal(signal.SIGINT)
                    perf.wait(timeout=120)
                lag = metrics_lag(srv.port)
                pods = pod_timeline(env)
                time.sleep(2)
                cpu, rss = idle_figures(srv, args.window)
                heap = malloc_stats(srv.proc.pid, srv.log.name) if args.malloc_stats else None
                stats = srv.stats()
                bstats = stats.get("backend_stats", {})
                calls = bstats.get("api_calls", 0) + bstats.get("watch_calls", 0)
                t0 = time.monotonic()
                for arn in arns:
                    srv.ecs.stop_task(task=arn)
                stopped_s = wait_all(srv.ecs, arns, "STOPPED", 900) - t0
                stats_end = srv.stats()
                result = {
                    "tasks": n, "kwok_parallelism": args.kwok_parallelism or 16, "all_running_after_s": round(running_s, 1),
                    "last_runtask_answered_after_s": round(runtask_s, 1),
                    "api_calls_per_task_running": round(calls / n, 2),
                    "api_calls_per_task_after_stop": round(
                        (stats_end.get("backend_stats", {}).get("api_calls", 0)
                         + stats_end.get("backend_stats", {}).get("watch_calls", 0)) / n, 2),
                    "idle_window_s": args.window, "idle_cpu_percent_of_core": cpu, "rss_mb": rss,
                    "baseline_no_tasks_cpu_percent": base_cpu, "baseline_no_tasks_rss_mb": base_rss,
                    "all_stopped_after_s": round(stopped_s, 1),
                    "event_to_state_lag_s_cumulative": lag,
                    "peak_during_launch": peak, "pods": pods,
                    "target": {"rss_mb": 50, "all_running_after_s": 60 if n <= 1000 else 180},
                }
                if heap is not None:
                    result["malloc_stats_mb"] = heap
                if perf:
                    perf_report(perf_data, args.perf)
            finally:
                srv.stop()
        finally:
            env_down(state, env_dir)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
