"""metrics-test.py ECSD_BIN — GET /_ecsd/metrics is valid Prometheus text whose numbers match what was done.

Starts the real ecsd (docker backend, on the engine DOCKER_HOST names) on a kernel-chosen loopback port, makes a
known set of ECS calls with the real AWS CLI (successes, a ClusterNotFoundException) and two raw requests (an unknown
action, malformed JSON), then parses /_ecsd/metrics with prometheus_client's own text parser, the one a Prometheus
client library ships, and checks the exact counts, the histogram's shape, and that the metadata listener does not
serve it. Then it runs one task whose essential container exits 3 and checks the task gauges by lastStatus and that
exactly one EssentialContainerExited stop was counted, and that the container's events were counted in the
event-to-state lag histogram. Run with the test virtualenv's Python (prometheus_client is pinned in tests/e2e/requirements.txt).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

TARGET = "AmazonEC2ContainerServiceV20141113."


def fail(msg: str) -> None:
    print(f"metrics-test: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def raw(url: str, action: str, body: bytes) -> int:
    req = urllib.request.Request(url + "/", data=body, method="POST", headers={
        "X-Amz-Target": TARGET + action, "Content-Type": "application/x-amz-json-1.1"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main() -> None:
    ecsd = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        ready = os.path.join(tmp, "ready.json")
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
        proc = subprocess.Popen([ecsd, "serve", "--listen", "127.0.0.1:0", "--metadata-listen", "127.0.0.1:0",
                                 "--data-dir", ":memory:", "--credentials-listen", "off",
                                 "--ready-file", ready],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                if os.path.exists(ready) and os.path.getsize(ready) > 0:
                    break
                if proc.poll() is not None:
                    fail("ecsd exited")
                time.sleep(0.05)
            addrs = json.load(open(ready))
            url = "http://" + addrs["api"]

            def aws(*args: str, ok: bool = True) -> str:
                r = subprocess.run(["aws", "--endpoint-url", url, "ecs", *args], env=env, capture_output=True, text=True)
                if (r.returncode == 0) != ok:
                    fail(f"aws ecs {' '.join(args)}: exit {r.returncode}: {r.stderr}")
                return r.stdout

            def scrape() -> dict:
                with urllib.request.urlopen(url + "/_ecsd/metrics", timeout=10) as r:
                    return {f.name: f for f in text_string_to_metric_families(r.read().decode())}

            def by_label(families: dict, name: str, label: str, typ: str) -> dict:
                fam = families.get(name)
                if not fam or fam.type != typ:
                    fail(f"no {typ} {name}")
                return {s.labels[label]: s.value for s in fam.samples if not s.name.endswith("_created")}

            def lag_samples(families: dict) -> tuple:
                """The event-to-state lag histogram: ([(le, cumulative count)...], count, sum)."""
                fam = families.get("ecsd_event_to_state_lag_seconds")
                if not fam or fam.type != "histogram":
                    fail("no histogram ecsd_event_to_state_lag_seconds")
                buckets = [(s.labels["le"], s.value) for s in fam.samples if s.name.endswith("_bucket")]
                count = [s.value for s in fam.samples if s.name.endswith("_count")]
                total = [s.value for s in fam.samples if s.name.endswith("_sum")]
                if len(count) != 1 or len(total) != 1 or not buckets:
                    fail(f"ecsd_event_to_state_lag_seconds has samples {fam.samples}")
                return buckets, count[0], total[0]

            aws("create-cluster", "--cluster-name", "m1")
            aws("create-cluster", "--cluster-name", "m2")
            aws("describe-clusters", "--clusters", "m1")
            aws("delete-cluster", "--cluster", "no-such-cluster", ok=False)
            if raw(url, "NoSuchAction", b"{}") != 400:
                fail("an unknown action did not answer 400")
            if raw(url, "CreateCluster", b"{not json") != 400:
                fail("malformed JSON did not answer 400")

            with urllib.request.urlopen(url + "/_ecsd/metrics", timeout=10) as r:
                ctype = r.headers.get("Content-Type", "")
                text = r.read().decode()
            if not ctype.startswith("text/plain; version=0.0.4"):
                fail(f"Content-Type {ctype!r}")
            families = {f.name: f for f in text_string_to_metric_families(text)}

            reqs = families.get("ecsd_api_requests")
            if not reqs or reqs.type != "counter":
                fail("no counter ecsd_api_requests_total")
            got = {(s.labels["action"], s.labels["code"]): s.value for s in reqs.samples if s.name.endswith("_total")}
            want = {("CreateCluster", "OK"): 2, ("DescribeClusters", "OK"): 1,
                    ("DeleteCluster", "ClusterNotFoundException"): 1,
                    ("unknown", "UnknownOperationException"): 1,
                    ("CreateCluster", "SerializationException"): 1}
            if got != want:
                fail(f"ecsd_api_requests_total is {got}, want {want}")

            hist = families.get("ecsd_api_request_duration_seconds")
            if not hist or hist.type != "histogram":
                fail("no histogram ecsd_api_request_duration_seconds")
            cc = [s for s in hist.samples if s.labels.get("action") == "CreateCluster"]
            buckets = [(s.labels["le"], s.value) for s in cc if s.name.endswith("_bucket")]
            count = [s.value for s in cc if s.name.endswith("_count")]
            if count != [3] or buckets[-1] != ("+Inf", 3):
                fail(f"CreateCluster histogram: count {count}, last bucket {buckets[-1:]}, want 3")
            values = [v for _, v in buckets]
            if values != sorted(values):
                fail(f"CreateCluster buckets are not cumulative: {buckets}")

            info = families.get("ecsd_build_info")
            version = subprocess.run([ecsd, "version"], capture_output=True, text=True).stdout.split()[1]
            if not info or info.samples[0].labels.get("version") != version:
                fail(f"ecsd_build_info does not carry version {version}")
            for gauge in ("ecsd_tasks_live", "ecsd_lifecycle_launchers", "ecsd_lifecycle_launches_queued",
                          "ecsd_tasks_decoded"):
                g = families.get(gauge)
                if not g or g.type != "gauge" or g.samples[0].value != 0:
                    fail(f"no gauge {gauge} = 0 before any task ran")
            if by_label(families, "ecsd_tasks", "last_status", "gauge") != {}:
                fail("ecsd_tasks has samples before any task ran")
            if lag_samples(families)[1] != 0:
                fail("ecsd_event_to_state_lag_seconds counted events before any task ran")
            codes = ("EssentialContainerExited", "UserInitiated", "TaskFailedToStart", "ServiceSchedulerInitiated")
            want_stops = {c: 0 for c in codes + ("other",)}
            stops = by_label(families, "ecsd_task_stops", "stop_code", "counter")
            if stops != want_stops:
                fail(f"ecsd_task_stops_total is {stops} before any task ran, want {want_stops}")

            # One task whose essential container exits 3: it runs to STOPPED with EssentialContainerExited.
            aws("register-task-definition", "--family", "metrics-exit3", "--container-definitions",
                '[{"name":"main","image":"busybox:local","essential":true,"memory":32,"command":["sh","-c","exit 3"]}]')
            arn = json.loads(aws("run-task", "--cluster", "m1", "--task-definition", "metrics-exit3"))["tasks"][0]["taskArn"]
            aws("wait", "tasks-stopped", "--cluster", "m1", "--tasks", arn)
            task = json.loads(aws("describe-tasks", "--cluster", "m1", "--tasks", arn))["tasks"][0]
            if task["lastStatus"] != "STOPPED" or task.get("stopCode") != "EssentialContainerExited":
                fail(f"the task ended {task['lastStatus']} / {task.get('stopCode')}")
            families = scrape()
            tasks = by_label(families, "ecsd_tasks", "last_status", "gauge")
            if tasks != {}:
                fail(f"ecsd_tasks is {tasks} after the task STOPPED, want no live task")
            # The container's start and die events were applied: each one's lag was counted.
            buckets, lag_count, lag_sum = lag_samples(families)
            if lag_count < 2 or buckets[-1] != ("+Inf", lag_count) or lag_sum < 0:
                fail(f"event-to-state lag after one task: count {lag_count}, buckets {buckets}, sum {lag_sum}")
            if [v for _, v in buckets] != sorted(v for _, v in buckets):
                fail(f"event-to-state lag buckets are not cumulative: {buckets}")
            want_stops["EssentialContainerExited"] = 1
            stops = by_label(families, "ecsd_task_stops", "stop_code", "counter")
            if stops != want_stops:
                fail(f"ecsd_task_stops_total is {stops} after the task STOPPED, want {want_stops}")

            # A task that keeps running is counted RUNNING, and StopTask counts as UserInitiated once it is STOPPED.
            aws("register-task-definition", "--family", "metrics-sleep", "--container-definitions",
                '[{"name":"main","image":"busybox:local","essential":true,"memory":32,"stopTimeout":2,'
                '"command":["sleep","300"]}]')
            arn = json.loads(aws("run-task", "--cluster", "m1", "--task-definition", "metrics-sleep"))["tasks"][0]["taskArn"]
            aws("wait", "tasks-running", "--cluster", "m1", "--tasks", arn)
            tasks = by_label(scrape(), "ecsd_tasks", "last_status", "gauge")
            if tasks != {"RUNNING": 1}:
                fail(f"ecsd_tasks is {tasks} while one task runs, want {{'RUNNING': 1}}")
            aws("stop-task", "--cluster", "m1", "--task", arn)
            aws("wait", "tasks-stopped", "--cluster", "m1", "--tasks", arn)
            want_stops["UserInitiated"] = 1
            stops = by_label(scrape(), "ecsd_task_stops", "stop_code", "counter")
            if stops != want_stops:
                fail(f"ecsd_task_stops_total is {stops} after StopTask, want {want_stops}")

            # The events stream's reconnects: end ecsd's `docker events` child (a real fault: the CLI dying) and the
            # counter reaches 1 once ecsd has noticed; no reconnect before that.
            recon = families.get("ecsd_backend_watch_reconnects")
            if not recon or recon.type != "counter" or recon.samples[0].value != 0:
                fail("no counter ecsd_backend_watch_reconnects_total = 0 before any reconnect")
            kids = []
            for pid in os.listdir("/proc"):
                try:
                    stat = open(f"/proc/{pid}/stat").read()
                    argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
                except OSError:
                    continue
                if pid.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == proc.pid and b"events" in argv:
                    kids.append(int(pid))
            if len(kids) != 1:
                fail(f"ecsd's docker events children: {kids}, want one")
            os.kill(kids[0], 9)
            deadline = time.monotonic() + 60
            while True:
                recon = scrape()["ecsd_backend_watch_reconnects"].samples[0].value
                if recon == 1:
                    break
                if recon != 0 or time.monotonic() > deadline:
                    fail(f"ecsd_backend_watch_reconnects_total is {recon} after the events stream was killed, want 1")
                time.sleep(0.1)

            # The metadata listener, which task containers reach, answers the metadata paths only.
            try:
                urllib.request.urlopen("http://" + addrs["metadata"] + "/_ecsd/metrics", timeout=10)
                fail("the metadata listener serves /_ecsd/metrics")
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    fail(f"the metadata listener answered {e.code} for /_ecsd/metrics, want 404")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        # A clean exit on SIGTERM; under ASan a leak or error found at exit makes it non-zero.
        if proc.returncode != 0:
            fail(f"ecsd exited {proc.returncode} on SIGTERM")
        print(f"metrics-test: ok ({len(families)} metric families)")


if __name__ == "__main__":
    main()
