"""What needs a real kubelet behind the Kubernetes backend: container output (pods/log) kept after the Pod is gone,
followed as it is written, including what a container writes during its grace period after StopTask, and Secrets
resolved (or missing) by the kubelet. Run by tests/k8s/scenarios-test in kubelet mode (ECSD_SCENARIO_KUBELET=1), on
the env's real kubelet node: the Pods run busybox for real."""

from __future__ import annotations

import http.client
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import BACKEND, K8S_NAMESPACE, kubectl
from tasklib import assert_never_running, container, register, run, wait_for, wait_stopped
from workloads import runs

pytestmark = pytest.mark.skipif(BACKEND != "k8s" or os.environ.get("ECSD_SCENARIO_KUBELET") != "1",
                                reason="Kubernetes backend on a real kubelet only")

# Prints a line, waits until the test creates /tmp/go inside the container, prints two more lines and exits.
WAIT_FOR_GO = "echo first; until [ -f /tmp/go ]; do sleep 0.05; done; echo second >&2; echo third"


def task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def pod_name(arn: str) -> str:
    return "ecsd-" + task_id(arn)


def logs(srv, arn: str, name: str) -> str:
    with urllib.request.urlopen(f"{srv.url}/_ecsd/tasks/{task_id(arn)}/logs?container={name}", timeout=30) as r:
        return r.read().decode()


def test_output_is_kept_after_the_pod_is_gone(srv, ecs):
    td = register(ecs, [{"name": "app", "command": ["sh", "-c", "echo out-line; echo err-line >&2; exit 3"]}],
                  family="output")
    arn = run(ecs, td)["taskArn"]
    task, _ = wait_stopped(ecs, arn)
    assert task["stopCode"] == "EssentialContainerExited"
    assert container(task, "app")["exitCode"] == 3
    assert kubectl("get", "pod", "-n", K8S_NAMESPACE, pod_name(arn), "--ignore-not-found", "-o", "name") == ""
    assert sorted(logs(srv, arn, "app").splitlines()) == ["err-line", "out-line"]


def test_an_exited_container_keeps_its_output_when_a_sidecar_is_stopped(srv, ecs):
    """The essential container exits; stopping the sidecar deletes the Pod, and a real kubelet removes it as soon as
    the sidecar has ended: the exited container's output must have been read before the deletion."""
    td = register(ecs, [
        {"name": "app", "command": ["sh", "-c", "echo app-done; sleep 1; exit 4"]},
        {"name": "side", "essential": False, "stopTimeout": 2,
         "command": ["sh", "-c", "echo side-up; trap 'echo side-bye; exit 0' TERM; while true; do sleep 0.2; done"]},
    ], family="sidecar-output")
    arn = run(ecs, td)["taskArn"]
    task, _ = wait_stopped(ecs, arn)
    assert container(task, "app")["exitCode"] == 4
    assert container(task, "side")["exitCode"] == 0
    assert logs(srv, arn, "app") == "app-done\n"
    assert logs(srv, arn, "side") == "side-up\nside-bye\n"


def test_output_written_during_the_grace_period_is_kept(srv, ecs):
    td = register(ecs, [{"name": "app", "stopTimeout": 10, "command": [
        "sh", "-c", "trap 'echo stopping; sleep 1; echo bye; exit 0' TERM; echo up; while true; do sleep 0.2; done"]}],
                  family="grace")
    arn = run(ecs, td)["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    ecs.stop_task(task=arn, reason="grace test")
    task, _ = wait_stopped(ecs, arn, timeout=60)
    assert task["stopCode"] == "UserInitiated"
    assert container(task, "app")["exitCode"] == 0
    assert logs(srv, arn, "app") == "up\nstopping\nbye\n"


def test_a_silent_container_is_stopped_and_followed(srv, ecs):
    """A container that never writes: a follow of it, and the capture made before its Pod's deletion, carry no output,
    and the stop goes through."""
    td = register(ecs, [{"name": "app", "stopTimeout": 5,
                         "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}],
                  family="silent")
    arn = run(ecs, td)["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    conn, resp = follow(srv, arn)
    try:
        assert resp.status == 200
        ecs.stop_task(task=arn, reason="silent")
        task, _ = wait_stopped(ecs, arn, timeout=60)
        assert resp.read() == b""
    finally:
        conn.close()
    assert task["stopCode"] == "UserInitiated"
    assert container(task, "app")["exitCode"] == 0
    assert logs(srv, arn, "app") == ""


def test_a_follow_answers_while_the_kubelet_does_not(srv, ecs):
    """With the kubelet frozen (SIGSTOP) the API server cannot answer a follow; ecsd waits for that answer a bounded
    time (1 s) and then answers its client anyway. Regression: that wait used a condition variable on the wrong clock
    and did not time out, so the request hung for as long as the kubelet did."""
    arn = run(ecs, register(ecs, [runs("app")], family="frozen-kubelet"))["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    kubelet = int(Path(os.environ["ECSD_K8S_ENV_DIR"], "pids", "kubelet.pid").read_text())
    os.kill(kubelet, signal.SIGSTOP)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
        conn.request("GET", f"/_ecsd/tasks/{task_id(arn)}/logs?follow=1")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        os.kill(kubelet, signal.SIGCONT)
    ecs.stop_task(task=arn, reason="done")
    task, _ = wait_stopped(ecs, arn, timeout=60)
    assert task["stopCode"] == "UserInitiated"


def test_output_is_kept_when_the_pod_is_gone_before_ecsd_reads_it(srv, ecs):
    """The kubelet removes a deleted Pod about a second after its containers end, and its logs with it; a read after
    the deletion usually wins that race. Here ecsd is frozen (SIGSTOP) from the moment it has deleted the Pod until
    the Pod is gone, so only output captured before the deletion (the follow opened then) can be there."""
    td = register(ecs, [{"name": "app", "stopTimeout": 10, "command": [
        "sh", "-c", "trap 'echo stopping; sleep 1; echo bye; exit 0' TERM; echo up; while true; do sleep 0.2; done"]}],
                  family="frozen")
    arn = run(ecs, td)["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    ecs.stop_task(task=arn, reason="frozen reader")
    deadline = time.monotonic() + 30
    while not kubectl("get", "pod", "-n", K8S_NAMESPACE, pod_name(arn), "--ignore-not-found",
                      "-o", "jsonpath={.metadata.deletionTimestamp}"):
        assert time.monotonic() < deadline, "ecsd did not delete the Pod"
        time.sleep(0.05)
    os.kill(srv.proc.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 60
        while kubectl("get", "pod", "-n", K8S_NAMESPACE, pod_name(arn), "--ignore-not-found", "-o", "name"):
            assert time.monotonic() < deadline, "the kubelet did not remove the Pod"
            time.sleep(0.1)
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)
    task, _ = wait_stopped(ecs, arn, timeout=60)
    assert task["stopCode"] == "UserInitiated"
    assert logs(srv, arn, "app") == "up\nstopping\nbye\n"


def follow(srv, arn: str, query: str = "") -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    conn.request("GET", f"/_ecsd/tasks/{task_id(arn)}/logs?follow=1{query}")
    return conn, conn.getresponse()


def test_follow_delivers_each_line_as_written_and_ends_with_the_container(srv, ecs):
    arn = run(ecs, register(ecs, [{"name": "main", "command": ["sh", "-c", WAIT_FOR_GO]}], family="follow"))["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    conn, resp = follow(srv, arn)
    try:
        assert resp.status == 200 and resp.getheader("Content-Type", "").startswith("text/plain")
        assert resp.readline() == b"first\n"
        # The container cannot have written more: it waits for /tmp/go, which does not exist yet.
        assert ecs.describe_tasks(tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING"
        kubectl("exec", "-n", K8S_NAMESPACE, pod_name(arn), "-c", "main", "--", "touch", "/tmp/go")
        started = time.monotonic()
        rest = resp.read()  # to the end of the stream: a cut stream raises IncompleteRead
        print(f"\nthe follow ended {time.monotonic() - started:.2f} s after the container was told to finish")
    finally:
        conn.close()
    assert sorted(rest.decode().splitlines()) == ["second", "third"]
    task, _ = wait_stopped(ecs, arn)
    assert task["stopCode"] == "EssentialContainerExited" and container(task, "main")["exitCode"] == 0


def test_follow_of_a_container_that_has_not_started_is_refused(srv, ecs):
    td = register(ecs, [
        {"name": "gate", "essential": False, "command": ["sh", "-c", "sleep 600"]},
        {"name": "app", "command": ["sh", "-c", "echo never"],
         "dependsOn": [{"containerName": "gate", "condition": "SUCCESS"}]},
    ], family="follow-early")
    arn = run(ecs, td)["taskArn"]
    conn, resp = follow(srv, arn, "&container=app")
    try:
        assert resp.status == 409, resp.read()
    finally:
        conn.close()
    ecs.stop_task(task=arn, reason="done")
    wait_stopped(ecs, arn, timeout=60)


def test_a_secret_reaches_the_container(srv, ecs):
    kubectl("create", "secret", "generic", "-n", K8S_NAMESPACE, "db-creds", "--from-literal=password=s3cr3t-value")
    try:
        td = register(ecs, [{"name": "app", "command": ["sh", "-c", 'echo "got $DB_PASSWORD"'],
                             "secrets": [{"name": "DB_PASSWORD", "valueFrom": "k8s:db-creds/password"}]}],
                      family="secret")
        arn = run(ecs, td)["taskArn"]
        task, _ = wait_stopped(ecs, arn)
        assert container(task, "app")["exitCode"] == 0, task.get("stoppedReason")
        assert logs(srv, arn, "app") == "got s3cr3t-value\n"
    finally:
        kubectl("delete", "secret", "-n", K8S_NAMESPACE, "db-creds")


def test_a_missing_secret_fails_the_task(srv, ecs):
    td = register(ecs, [{"name": "app", "command": ["sh", "-c", "echo never"],
                         "secrets": [{"name": "TOKEN", "valueFrom": "k8s:no-such-secret/token"}]}],
                  family="nosecret")
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"], timeout=60)
    assert_never_running(srv, task)
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("ResourceInitializationError: "), task["stoppedReason"]
    assert "no-such-secret" in task["stoppedReason"], task["stoppedReason"]


def test_a_task_larger_than_the_node_is_not_placed(srv, ecs):
    """More memory than the node has: as on ECS, placement refuses it in RunTask's failures (RESOURCE:MEMORY, naming the
    node's container instance) and no Pod is made."""
    td = register(ecs, [{"name": "app", "memory": 4_000_000, "command": ["true"]}], family="toobig")
    resp = ecs.run_task(taskDefinition=td)
    assert resp["tasks"] == [], resp["tasks"]
    assert [f["reason"] for f in resp["failures"]] == ["RESOURCE:MEMORY"], resp["failures"]
    assert ":container-instance/default/" in resp["failures"][0]["arn"], resp["failures"]


def test_a_pod_the_kubelet_rejects_fails_the_task_with_its_reason(srv, ecs):
    """Two tasks that publish the same host port on the one node: ecsd's placement does not count host ports, so the
    second Pod reaches the kubelet, which refuses it at admission (no scheduler runs here, so it is the kubelet that
    says so), and that task fails with the kubelet's reason while the first keeps running."""
    td = register(ecs, [runs("app", portMappings=[{"containerPort": 18081, "hostPort": 18081}])], family="hostport")
    first = run(ecs, td)["taskArn"]
    wait_for(ecs, first, lambda t: t["lastStatus"] == "RUNNING", timeout=120)
    try:
        task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"], timeout=60)
        assert_never_running(srv, task)
        assert task["stopCode"] == "TaskFailedToStart"
        assert "NodePorts" in task["stoppedReason"], task["stoppedReason"]
    finally:
        ecs.stop_task(task=first)
