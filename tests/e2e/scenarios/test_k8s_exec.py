"""ExecuteCommand and `ecsd exec` on the Kubernetes backend (pods/exec over a WebSocket, with the Role of
deploy/k8s/rbac.yaml). On a real kubelet node (tests/k8s/scenarios-test --kubelet) the command really runs in the
Pod's container: output streamed, exit code kept. On kwok's node there is no container and no kubelet to reach, so
the API server refuses the exec and ecsd answers TargetNotConnectedException with the API server's reason."""

from __future__ import annotations

import json
import os
import select
import subprocess
import urllib.request

import pytest

from conftest import BACKEND, K8S_NAMESPACE, kubectl
from tasklib import container, register, run, wait_for, wait_stopped
from workloads import runs

KUBELET = os.environ.get("ECSD_SCENARIO_KUBELET") == "1"
pytestmark = pytest.mark.skipif(BACKEND != "k8s", reason="Kubernetes backend only")


def running(ecs, arn: str) -> dict:
    return wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING", timeout=120)[0]


def session_status(srv, sid: str) -> dict:
    with urllib.request.urlopen(f"{srv.url}/_ecsd/exec/{sid}?wait=30", timeout=60) as r:
        return json.loads(r.read())


@pytest.mark.skipif(not KUBELET, reason="needs a real kubelet")
def test_execute_command_runs_in_the_pods_container(srv, ecs):
    td = register(ecs, [runs("app", environment=[{"name": "WHO", "value": "pod"}])], family="k8s-exec")
    arn = run(ecs, td, enableExecuteCommand=True)["taskArn"]
    running(ecs, arn)
    resp = ecs.execute_command(task=arn, interactive=True,
                               command="sh -c 'echo \"out $WHO\"; echo err >&2; touch /tmp/made; exit 5'")
    sid = resp["session"]["sessionId"]
    status = session_status(srv, sid)
    assert status["status"] == "EXITED" and status["exitCode"] == 5, status
    with urllib.request.urlopen(resp["session"]["streamUrl"], timeout=30) as r:
        assert sorted(r.read().decode().splitlines()) == ["err", "out pod"]
    # It ran in the Pod's container.
    pod = "ecsd-" + arn.rsplit("/", 1)[1]
    kubectl("exec", "-n", K8S_NAMESPACE, pod, "-c", "app", "--", "test", "-f", "/tmp/made")
    ok = ecs.execute_command(task=arn, interactive=True, command="true")["session"]["sessionId"]
    assert session_status(srv, ok)["exitCode"] == 0


@pytest.mark.skipif(not KUBELET, reason="needs a real kubelet")
def test_ecsd_exec_streams_from_the_pod(srv, ecs):
    td = register(ecs, [runs("app")], family="k8s-exec-cli")
    arn = run(ecs, td)["taskArn"]
    running(ecs, arn)
    pod = "ecsd-" + arn.rsplit("/", 1)[1]
    proc = subprocess.Popen([os.environ["ECSD_BIN"], "exec", arn, "--endpoint-url", srv.url, "--", "sh", "-c",
                             "echo first; until [ -f /tmp/go ]; do sleep 0.05; done; echo second; exit 9"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # A guard against hanging, not a timing: the line is due long before.
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "ecsd exec delivered nothing while the command waited"
        assert proc.stdout.readline() == b"first\n"
        kubectl("exec", "-n", K8S_NAMESPACE, pod, "-c", "app", "--", "touch", "/tmp/go")
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (rest, err, proc.returncode) == (b"second\n", b"", 9)


@pytest.mark.skipif(KUBELET, reason="kwok's node only")
def test_execute_command_on_kwok_reports_the_api_servers_refusal(srv, ecs):
    """The API server accepts the WebSocket, then finds no kubelet to run the command: its Failure Status arrives on
    the error channel, and ecsd keeps its message as the output and 126 (the command could not be run) as the exit
    code, as `docker exec` reports a command the runtime cannot start."""
    td = register(ecs, [runs("app")], family="k8s-exec-kwok")
    arn = run(ecs, td, enableExecuteCommand=True)["taskArn"]
    running(ecs, arn)
    resp = ecs.execute_command(task=arn, interactive=True, command="true")
    status = session_status(srv, resp["session"]["sessionId"])
    with urllib.request.urlopen(resp["session"]["streamUrl"], timeout=30) as r:
        output = r.read().decode()
    print("kwok exec output:", repr(output))
    assert status["status"] == "EXITED" and status["exitCode"] == 126, (status, output)
    assert output.strip(), status
    ecs.stop_task(task=arn)
    wait_stopped(ecs, arn, timeout=120)
