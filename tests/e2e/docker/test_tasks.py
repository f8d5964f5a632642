"""Tasks that really run on Docker, driven with boto3 and the AWS CLI: exit codes, stop codes, timestamps, the
desired-STOPPED race at each launch phase, sidecars, dependsOn, health checks, ports, metadata, pull failures."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
import urllib.request

import pytest

from tasklib import (assert_never_running, container, describe, docker, register, run, status_history, wait_for,
                     wait_stopped)

TIMESTAMP_ORDER = ["createdAt", "pullStartedAt", "pullStoppedAt", "startedAt", "stoppingAt", "executionStoppedAt",
                   "stoppedAt"]


def logs(srv, task_arn: str, container_name: str | None = None) -> str:
    q = f"?container={container_name}" if container_name else ""
    with urllib.request.urlopen(f"{srv.url}/_ecsd/tasks/{task_arn.rsplit('/', 1)[1]}/logs{q}", timeout=10) as r:
        return r.read().decode()


@pytest.mark.parametrize("code", [0, 3])
def test_one_shot_exit_code_and_timestamps(ecs, dsrv, code):
    td = register(ecs, [{"name": "main", "command": ["sh", "-c", f"echo out-{code}; echo err-{code} >&2; "
                                                                  f"sleep 0.5; exit {code}"]}])
    task = run(ecs, td, startedBy="pytest")
    assert task["lastStatus"] == "PROVISIONING" and task["desiredStatus"] == "RUNNING"
    assert task["taskDefinitionArn"] == td and task["startedBy"] == "pytest"
    task, seen = wait_stopped(ecs, task["taskArn"])
    assert "RUNNING" in seen
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    assert task["desiredStatus"] == "STOPPED"
    c = container(task, "main")
    assert c["exitCode"] == code and c["lastStatus"] == "STOPPED"
    assert len(c["runtimeId"]) == 64
    times = [task[k].timestamp() for k in TIMESTAMP_ORDER]
    assert times == sorted(times), dict(zip(TIMESTAMP_ORDER, times))
    assert task["connectivityAt"].timestamp() >= task["createdAt"].timestamp()
    out = logs(dsrv, task["taskArn"], "main")
    assert f"out-{code}" in out and f"err-{code}" in out


def test_aws_cli_run_wait_and_describe(dsrv, aws_for):
    aws = aws_for(dsrv)
    aws("ecs", "register-task-definition", "--family", "cli", "--container-definitions",
        json.dumps([{"name": "main", "image": "busybox:local", "memory": 32, "command": ["sh", "-c", "exit 7"]}]))
    arn = aws("ecs", "run-task", "--task-definition", "cli")["tasks"][0]["taskArn"]
    aws("ecs", "wait", "tasks-stopped", "--tasks", arn)
    task = aws("ecs", "describe-tasks", "--tasks", arn.rsplit("/", 1)[1])["tasks"][0]
    assert task["lastStatus"] == "STOPPED" and task["containers"][0]["exitCode"] == 7


def test_stop_running_task_user_initiated(ecs):
    td = register(ecs, [{"name": "main", "stopTimeout": 2,
                         "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]}])
    task = run(ecs, td)
    wait_for(ecs, task["taskArn"], lambda t: t["lastStatus"] == "RUNNING")
    short_id = task["taskArn"].rsplit("/", 1)[1]
    stopped = ecs.stop_task(task=short_id, reason="because the test said so")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    task, _ = wait_stopped(ecs, task["taskArn"])
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "because the test said so"
    assert container(task, "main")["exitCode"] == 0  # the trap ran: SIGTERM came first


def test_stop_timeout_then_sigkill(ecs):
    # sh as PID 1 ignores SIGTERM without a trap: docker stop must SIGKILL after stopTimeout.
    td = register(ecs, [{"name": "main", "stopTimeout": 1, "command": ["sh", "-c", "sleep 600"]}])
    task = run(ecs, td)
    wait_for(ecs, task["taskArn"], lambda t: t["lastStatus"] == "RUNNING")
    t0 = time.monotonic()
    ecs.stop_task(task=task["taskArn"])
    task, _ = wait_stopped(ecs, task["taskArn"])
    assert container(task, "main")["exitCode"] == 137
    assert task["stoppedReason"] == "Task stopped by user"
    assert time.monotonic() - t0 < 30


def test_stop_at_registration_never_runs(dsrv, ecs):
    td = register(ecs, [{"name": "main", "command": ["sleep", "600"]}])
    task = run(ecs, td)
    ecs.stop_task(task=task["taskArn"])
    task, _ = wait_stopped(ecs, task["taskArn"])
    assert_never_running(dsrv, task)
    assert task["stopCode"] == "UserInitiated"
    # No reason given, and the task never ran (docs/internals/lifecycle.md).
    assert task["stoppedReason"] == "Task stopped during launch"


class HangingRegistry:
    """A registry on loopback whose pulls hang: it answers the engine's version check (`GET /v2/`, which the engine
    gives up on after a few seconds) as a registry does, then reads the manifest request and never answers it (the
    engine waits for that answer without a limit). A real registry cannot be made to hang on demand, and none may be
    reached from the tests, so this fake stands in for one, only for the pull phase."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.hung = threading.Event()  # a pull's manifest request is being held
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _conn(self, c: socket.socket):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = c.recv(4096)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                path = head.split(b" ")[1] if head.count(b" ") >= 2 else b""
                if path != b"/v2/":
                    self.hung.set()
                    return  # hold the connection open, unanswered, until close()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: 2\r\n\r\n{}")
        except OSError:
            return

    def close(self):
        self.closed = True
        self.sock.close()
        for c in self.conns:
            c.close()


def docker_pulls_of(image: str) -> list[int]:
    """Pids of the `docker pull IMAGE` processes that run now (ecsd's CLI children), from /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"pull" in argv and image.encode() in argv:
            pids.append(int(entry))
    return pids


def start_hanging_pull(ecs, reg: HangingRegistry) -> tuple[str, str]:
    """RunTask of an image on the hanging registry; returns (task ARN, image) once the pull hangs."""
    image = f"127.0.0.1:{reg.port}/hang:1"
    td = register(ecs, [{"name": "main", "image": image, "command": ["true"]}])
    arn = run(ecs, td)["taskArn"]
    assert reg.hung.wait(60), "the pull never asked the registry for its manifest"
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "PENDING")
    assert docker_pulls_of(image), "no docker pull runs"
    return arn, image


# A pull that hangs is what a registry that stops answering produces; no real registry can be made to hang on demand
# (and none may be reached from the tests), so HangingRegistry stands in for one. It stays up, unanswering, until the
# end of each test: the pull is never released by the fault going away, only by ecsd's cancel.


def test_stop_during_pull_cancels_the_pull(docker_server):
    srv = docker_server(args=["--image-pull-behavior", "always"])
    from helpers import make_client
    ecs = make_client(srv)
    reg = HangingRegistry()
    try:
        arn, image = start_hanging_pull(ecs, reg)
        ecs.stop_task(task=arn, reason="stop during pull")
        # The pull's own deadline is 10 minutes: only a cancel of the pull lets the task stop within this wait.
        task, _ = wait_stopped(ecs, arn)
        assert_never_running(srv, task)
        assert task["stopCode"] == "UserInitiated" and task["stoppedReason"] == "stop during pull"
        assert docker_pulls_of(image) == []
        assert not reg.closed and reg.thread.is_alive()  # the manifest was never answered: the fault held
    finally:
        reg.close()


@pytest.mark.parametrize("cleanup", [True, False], ids=["cleanup-on-exit", "tasks-kept"])
def test_sigterm_while_a_pull_hangs_exits(ecsd_factory, cleanup):
    from helpers import make_client
    srv = ecsd_factory(args=["--image-pull-behavior", "always", "--stop-timeout", "5",
                             *(["--cleanup-on-exit"] if cleanup else [])])
    ecs = make_client(srv)
    reg = HangingRegistry()
    try:
        arn, image = start_hanging_pull(ecs, reg)
        # Shutdown cancels launches in flight; without that it waits out the pull's 10-minute deadline.
        assert srv.terminate(timeout=60) == 0
        assert docker_pulls_of(image) == []
        history = status_history(srv, arn)
        if cleanup:
            assert history[-1] == "STOPPED", history
        else:
            assert history[-1] == "PENDING", history  # left for recovery on the next start, as documented
        assert "RUNNING" not in history, history
    finally:
        reg.close()


def test_stop_between_containers_never_runs(dsrv, ecs):
    td = register(ecs, [
        {"name": "first", "essential": False, "command": ["sh", "-c", "sleep 30"]},
        {"name": "second", "command": ["sleep", "600"],
         "dependsOn": [{"containerName": "first", "condition": "COMPLETE"}]},
    ])
    task = run(ecs, td)
    wait_for(ecs, task["taskArn"], lambda t: container(t, "first")["lastStatus"] == "RUNNING")
    ecs.stop_task(task=task["taskArn"])
    task, _ = wait_stopped(ecs, task["taskArn"])
    assert_never_running(dsrv, task)
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "Task stopped during launch"
    assert container(task, "first").get("exitCode") in (137, 143)
    assert "exitCode" not in container(task, "second")
    assert "runtimeId" not in container(task, "second")


def test_stop_races_launch_at_many_points(ecs):
    """StopTask at spread delays after RunTask: whatever the phase, the task ends UserInitiated and leaks nothing."""
    td = register(ecs, [
        {"name": "a", "essential": False, "command": ["sleep", "600"]},
        {"name": "b", "command": ["sleep", "600"], "dependsOn": [{"containerName": "a", "condition": "START"}]},
    ])
    arns = []
    for delay in (0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8):
        arn = run(ecs, td)["taskArn"]
        time.sleep(delay)
        ecs.stop_task(task=arn)
        arns.append(arn)
    for arn in arns:
        task, _ = wait_stopped(ecs, arn)
        assert task["stopCode"] == "UserInitiated", task


def test_sidecar_stopped_when_essential_exits(ecs):
    td = register(ecs, [
        {"name": "app", "command": ["sh", "-c", "sleep 1; exit 0"]},
        {"name": "sidecar", "essential": False, "stopTimeout": 1, "command": ["sleep", "600"]},
    ])
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
    assert task["stopCode"] == "EssentialContainerExited"
    assert container(task, "app")["exitCode"] == 0
    assert container(task, "sidecar")["exitCode"] == 137


def test_depends_on_success_orders_containers(ecs):
    # init writes into a task volume; app succeeds only if init finished first.
    td = register(ecs, [
        {"name": "init", "essential": False, "command": ["sh", "-c", "sleep 1; echo ready > /shared/done"],
         "mountPoints": [{"sourceVolume": "shared", "containerPath": "/shared"}]},
        {"name": "app", "command": ["sh", "-c", "cat /shared/done && exit 0 || exit 9"],
         "mountPoints": [{"sourceVolume": "shared", "containerPath": "/shared"}],
         "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}]},
    ], volumes=[{"name": "shared"}])
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
    assert container(task, "init")["exitCode"] == 0
    assert container(task, "app")["exitCode"] == 0, task
    assert task["stopCode"] == "EssentialContainerExited"


def test_depends_on_success_fails_fast_on_nonzero(dsrv, ecs):
    td = register(ecs, [
        {"name": "init", "essential": False, "command": ["sh", "-c", "exit 4"]},
        {"name": "app", "command": ["sleep", "600"],
         "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}]},
    ])
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
    assert_never_running(dsrv, task)
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("DependencyConditionError:")
    assert "exited with code 4" in task["stoppedReason"]
    assert container(task, "init")["exitCode"] == 4
    assert "runtimeId" not in container(task, "app")


def test_depends_on_healthy_without_health_check_never_resolves(dsrv, ecs):
    # Real ECS (agent dependencygraph): HEALTHY needs a reported health status; without a health check it can never
    # be met, so the task fails to start.
    td = register(ecs, [
        {"name": "db", "command": ["sleep", "600"], "stopTimeout": 1},
        {"name": "app", "command": ["sleep", "600"],
         "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]},
    ])
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
    assert_never_running(dsrv, task)
    assert task["stopCode"] == "TaskFailedToStart"
    assert "no health check" in task["stoppedReason"]


def test_depends_on_healthy_and_health_status(ecs):
    td = register(ecs, [
        {"name": "db", "stopTimeout": 1, "command": ["sh", "-c", "sleep 1; touch /tmp/ready; sleep 600"],
         "healthCheck": {"command": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 5, "timeout": 2,
                         "retries": 1, "startPeriod": 0}},
        {"name": "app", "stopTimeout": 1, "command": ["sleep", "600"],
         "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]},
    ])
    arn = run(ecs, td)["taskArn"]
    task, _ = wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING", timeout=90)
    assert container(task, "db")["healthStatus"] == "HEALTHY"
    assert task["healthStatus"] == "HEALTHY"
    ecs.stop_task(task=arn)
    wait_stopped(ecs, arn)


def test_bridge_dynamic_host_port(ecs):
    td = register(ecs, [{"name": "web", "stopTimeout": 1, "portMappings": [{"containerPort": 8080}],
                         "command": ["sh", "-c", "echo pong > /www/index.html; httpd -f -p 8080 -h /www"]}],
                  networkMode="bridge")
    arn = run(ecs, td)["taskArn"]
    task, _ = wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    bindings = container(task, "web")["networkBindings"]
    assert bindings and all(b["containerPort"] == 8080 and b["protocol"] == "tcp" for b in bindings)
    port = bindings[0]["hostPort"]
    assert port > 0
    body = b""
    for _ in range(50):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            body = conn.getresponse().read()
            break
        except OSError:
            time.sleep(0.1)
    assert body.strip() == b"pong"
    ecs.stop_task(task=arn)
    wait_stopped(ecs, arn)


METADATA_SCRIPT = r"""
u=${ECS_CONTAINER_METADATA_URI_V4#http://}; hp=${u%%/*}; path=/${u#*/}; h=${hp%:*}; p=${hp##*:}
printf 'GET %s/task HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" | nc "$h" "$p"
echo
printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" | nc "$h" "$p"
"""


def test_metadata_endpoint_from_inside_container(ecs, dsrv):
    td = register(ecs, [{"name": "probe", "command": ["sh", "-c", METADATA_SCRIPT]}], family="meta")
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
    assert container(task, "probe")["exitCode"] == 0
    out = logs(dsrv, task["taskArn"], "probe")
    bodies = [line for line in out.splitlines() if line.startswith("{")]
    assert len(bodies) == 2, out
    task_md, container_md = json.loads(bodies[0]), json.loads(bodies[1])
    assert task_md["TaskARN"] == task["taskArn"]
    assert task_md["Family"] == "meta" and task_md["Revision"] == "1"
    assert task_md["Containers"][0]["Name"] == "probe"
    assert container_md["Name"] == "probe" and container_md["DockerId"] == container(task, "probe")["runtimeId"]
    assert container_md["KnownStatus"] == "RUNNING"  # it asked while running: the answer knows it


STATS_SCRIPT = r"""
u=${ECS_CONTAINER_METADATA_URI_V4#http://}; hp=${u%%/*}; path=/${u#*/}; h=${hp%:*}; p=${hp##*:}
(while :; do :; done) &
busy=$!
printf 'GET %s/stats HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" | nc "$h" "$p"
echo
printf 'GET %s/task/stats HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" | nc "$h" "$p"
echo
kill $busy
"""


def cpu_percent(st: dict) -> float:
    """The formula consumers of ECS stats use."""
    cpu = st["cpu_stats"]["cpu_usage"]["total_usage"] - st["precpu_stats"]["cpu_usage"]["total_usage"]
    system = st["cpu_stats"]["system_cpu_usage"] - st["precpu_stats"]["system_cpu_usage"]
    return cpu / system * st["cpu_stats"]["online_cpus"] * 100


def test_metadata_stats_from_inside_container(ecs, dsrv):
    td = register(ecs, [
        {"name": "idle", "essential": False, "memory": 32, "stopTimeout": 1, "command": ["sleep", "600"]},
        {"name": "probe", "memory": 64, "command": ["sh", "-c", STATS_SCRIPT]},
    ], family="stats")
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
    assert container(task, "probe")["exitCode"] == 0
    out = logs(dsrv, task["taskArn"], "probe")
    bodies = [line for line in out.splitlines() if line.startswith("{")]
    assert len(bodies) == 2, out
    mine, per_task = json.loads(bodies[0]), json.loads(bodies[1])
    probe_id, idle_id = container(task, "probe")["runtimeId"], container(task, "idle")["runtimeId"]
    tid = task["taskArn"].rsplit("/", 1)[1]
    for key in ("read", "preread", "pids_stats", "blkio_stats", "cpu_stats", "precpu_stats", "memory_stats",
                "networks", "name", "id"):
        assert key in mine, (key, mine)
    assert mine["id"] == probe_id and mine["name"] == f"/ecsd-{tid}-probe"
    assert mine["memory_stats"]["limit"] == 64 * 1024 * 1024
    assert 0 < mine["memory_stats"]["usage"] < mine["memory_stats"]["limit"]
    assert mine["pids_stats"]["current"] >= 2  # sh, the busy loop, nc
    assert cpu_percent(mine) > 0  # the busy loop ran through the sample
    assert mine["read"] > mine["preread"]
    assert set(per_task) == {probe_id, idle_id}
    assert per_task[idle_id]["id"] == idle_id and per_task[idle_id]["memory_stats"]["limit"] == 32 * 1024 * 1024
    assert per_task[probe_id]["id"] == probe_id


def test_pull_failure_fails_to_start(docker_server):
    srv = docker_server(args=["--image-pull-behavior", "default"])
    from helpers import make_client
    ecs = make_client(srv)
    # Nothing listens on port 1 of loopback: the pull fails at once, and no cached image can stand in.
    td = register(ecs, [{"name": "main", "image": "127.0.0.1:1/missing:1", "command": ["true"]}])
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
    assert_never_running(srv, task)
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotPullContainerError:")
    assert container(task, "main")["reason"].startswith("CannotPullContainerError:")


def test_missing_secret_fails_to_start(ecs):
    td = register(ecs, [{"name": "main", "command": ["true"],
                         "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:"
                                                                           "parameter/nope"}]}])
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("ResourceInitializationError:")


def test_secret_reaches_container_not_argv(docker_server, tmp_path):
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"db-pass": "s3cr3t-value"}))
    srv = docker_server(args=["--secrets-file", str(secrets)])
    from helpers import make_client
    ecs = make_client(srv)
    td = register(ecs, [{"name": "main", "command": ["sh", "-c", "echo got=$DB_PASSWORD"],
                         "secrets": [{"name": "DB_PASSWORD", "valueFrom": "db-pass"}]}])
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
    assert container(task, "main")["exitCode"] == 0
    assert "got=s3cr3t-value" in logs(srv, task["taskArn"])
    assert "s3cr3t-value" not in srv.logs()


def test_awsvpc_task_network_and_cleanup(ecs):
    td = register(ecs, [{"name": "main", "stopTimeout": 1, "command": ["sleep", "600"]}], networkMode="awsvpc",
                  requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.run_task(taskDefinition=td, launchType="FARGATE")
    arn = run(ecs, td, launchType="FARGATE",
              networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}})["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    tid = arn.rsplit("/", 1)[1]
    assert docker("network", "ls", "-q", "--filter", f"name=ecsd-{tid}").strip()
    ecs.stop_task(task=arn)
    task, seen = wait_stopped(ecs, arn)
    assert not docker("network", "ls", "-q", "--filter", f"name=ecsd-{tid}").strip()
    assert task["launchType"] == "FARGATE"
