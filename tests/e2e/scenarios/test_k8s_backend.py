"""What only the Kubernetes backend has: a Pod deleted behind ecsd's back, API calls per task (no polling), and an
API server restart under running tasks. Run by tests/k8s/scenarios-test (ECSD_SCENARIO_BACKEND=k8s) only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import make_client
from conftest import BACKEND, K8S_NAMESPACE, kubectl
from tasklib import assert_never_running, container, register, run, wait_for, wait_stopped
from workloads import exits, runs

pytestmark = pytest.mark.skipif(BACKEND != "k8s", reason="Kubernetes backend only")


def stats(srv) -> dict:
    with urllib.request.urlopen(f"{srv.url}/_ecsd/stats", timeout=10) as resp:
        return json.load(resp)


def pod_name(arn: str) -> str:
    return "ecsd-" + arn.rsplit("/", 1)[1]


def test_pod_deleted_by_someone_else_stops_the_task(ecs):
    arn = run(ecs, register(ecs, [runs("app")], family="victim"))["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    kubectl("delete", "pod", "-n", K8S_NAMESPACE, pod_name(arn), "--wait=false")
    task, _ = wait_stopped(ecs, arn)
    assert task["stopCode"] == "EssentialContainerExited"
    assert "deleted by someone other than ecsd" in task["stoppedReason"], task["stoppedReason"]


def test_api_calls_per_task_without_polling(srv, ecs):
    """200 concurrent one-shot tasks; the target is create + delete + at most one read per task (the read is the
    output captured when a container ran), and a watch whose calls do not grow with the number of tasks."""
    n = 200
    td = register(ecs, [exits("app", 0, after_s=5)], family="many")
    before = stats(srv)["backend_stats"]
    arns = []
    for _ in range(n // 10):
        resp = ecs.run_task(taskDefinition=td, count=10)
        assert resp["failures"] == []
        arns += [t["taskArn"] for t in resp["tasks"]]
    deadline = time.monotonic() + 300
    pending = set(arns)
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} tasks not STOPPED after 300 s"
        for i in range(0, len(arns), 100):
            chunk = [a for a in arns[i:i + 100] if a in pending]
            if not chunk:
                continue
            for t in ecs.describe_tasks(tasks=chunk)["tasks"]:
                if t["lastStatus"] == "STOPPED":
                    assert t["stopCode"] == "EssentialContainerExited", t["stoppedReason"]
                    assert container(t, "app")["exitCode"] == 0
                    pending.discard(t["taskArn"])
        time.sleep(1)
    after = stats(srv)["backend_stats"]
    calls = after["api_calls"] - before["api_calls"]
    watch_calls = after["watch_calls"] - before["watch_calls"]
    print(f"\n{n} tasks: {calls} API calls ({calls / n:.2f} per task), {watch_calls} watch calls")
    assert calls <= 3 * n, f"{calls} API calls for {n} tasks"
    assert calls >= 2 * n, f"{calls} API calls for {n} tasks: fewer than create + delete each?"
    assert watch_calls <= 5, f"the watch sent {watch_calls} requests while {n} tasks ran"


def test_api_server_restart_under_a_running_task(srv, ecs):
    arn = run(ecs, register(ecs, [exits("app", 6, after_s=8)], family="restart"))["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    subprocess.run([os.path.join(os.environ["ECSD_TEST_K8S_DIR"], "restart-apiserver")], check=True, timeout=120)
    task, _ = wait_stopped(ecs, arn, timeout=90)
    assert task["stopCode"] == "EssentialContainerExited"
    assert container(task, "app")["exitCode"] == 6
    assert stats(srv)["backend_stats"]["watch_reconnects"] >= 1


def test_a_relist_after_410_finds_a_pod_gone_while_the_watch_was_away(srv, ecs):
    """While kube-apiserver is down, one task's Pod is removed from etcd and etcd is compacted (etcd_forget.py: the
    fault a real part cannot produce on demand). When the server is back, ecsd's watch resumes from a compacted
    resourceVersion, gets 410 Gone and relists; the Pod missing from the list is checked with a GET and its task
    stops, while the other task, whose Pod is still there, keeps running and is still watched."""
    td = register(ecs, [runs("app")], family="relist")
    lost = run(ecs, td)["taskArn"]
    kept = run(ecs, td)["taskArn"]
    for arn in (lost, kept):
        wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    before = stats(srv)["backend_stats"]
    forget = [sys.executable, str(Path(__file__).with_name("etcd_forget.py")),
              f"/registry/pods/{K8S_NAMESPACE}/{pod_name(lost)}"]
    subprocess.run([os.path.join(os.environ["ECSD_TEST_K8S_DIR"], "restart-apiserver"), *forget],
                   check=True, timeout=120)
    task, _ = wait_stopped(ecs, lost, timeout=90)
    assert task["stopCode"] == "EssentialContainerExited"
    assert "deleted by someone other than ecsd" in task["stoppedReason"], task["stoppedReason"]
    after = stats(srv)["backend_stats"]
    assert after["watch_relists_410"] > before["watch_relists_410"], (before, after)
    assert ecs.describe_tasks(tasks=[kept])["tasks"][0]["lastStatus"] == "RUNNING"
    # Still watched after the relist: a stop goes through the Pod's deletion as usual.
    ecs.stop_task(task=kept, reason="done")
    task, _ = wait_stopped(ecs, kept, timeout=90)
    assert task["stopCode"] == "UserInitiated"


def test_stop_while_the_pod_starts_cancels_the_wait(srv, ecs):
    app = runs("app", dockerLabels={"ecsd.test/start-delay": "20s"})
    arn = run(ecs, register(ecs, [app], family="slowstart"))["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "PENDING")
    time.sleep(1)  # the Pod exists and its container waits in ContainerCreating
    before = stats(srv)["backend_stats"]["starts_cancelled"]
    ecs.stop_task(task=arn)
    task, _ = wait_stopped(ecs, arn)
    assert_never_running(srv, task)
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "Task stopped during launch"
    # The stop ended the start wait itself rather than sitting out the 20 s start delay: the backend counts the
    # cancelled wait (a count, not a duration, so load cannot make it pass or fail).
    assert stats(srv)["backend_stats"]["starts_cancelled"] == before + 1


def test_a_depends_on_a_pod_cannot_keep_is_refused(srv, ecs):
    """`up` is waited for both to start (by a) and to exit (by b): neither a native sidecar nor an init container, so it
    would be a regular container, started by the kubelet together with `a`. RunTask and StartTask refuse the
    definition, naming what cannot be kept and why, and create nothing; ecsd never runs it out of order."""
    td = register(ecs, [runs("up", essential=False),
                        runs("a", dependsOn=[{"containerName": "up", "condition": "START"}]),
                        runs("b", essential=False, dependsOn=[{"containerName": "up", "condition": "COMPLETE"}])],
                  family="unkept")
    node = ecs.list_container_instances()["containerInstanceArns"][0]
    for call in (lambda: ecs.run_task(taskDefinition=td),
                 lambda: ecs.start_task(taskDefinition=td, containerInstances=[node])):
        with pytest.raises(ecs.exceptions.ClientException) as exc:
            call()
        msg = exc.value.response["Error"]["Message"]
        assert "Container 'a' dependsOn 'up' START cannot be kept on Kubernetes" in msg, msg
        assert "both to start and to exit" in msg, msg
    for desired in ("RUNNING", "STOPPED"):
        assert ecs.list_tasks(family="unkept", desiredStatus=desired)["taskArns"] == []
    assert kubectl("get", "pods", "-n", K8S_NAMESPACE, "-l", "io.ecsd/family=unkept", "-o", "name") == ""


def test_a_pod_that_never_starts_fails_the_task(server):
    # Bound to a node that does not exist (so no container instance either, and ecsd places nothing): no kubelet ever
    # runs the Pod, which stays Pending.
    srv = server(args=["--k8s-node-name", "no-such-node", "--k8s-start-timeout", "3"])
    ecs = make_client(srv)
    arn = run(ecs, register(ecs, [runs("app")], family="nowhere"))["taskArn"]
    task, _ = wait_stopped(ecs, arn)
    assert_never_running(srv, task)
    assert task["stopCode"] == "TaskFailedToStart"
    assert "did not start within 3 s" in task["stoppedReason"], task["stoppedReason"]


def test_one_namespace_per_cluster(server, tmp_path):
    """--k8s-namespace-prefix: each ECS cluster's Pods in their own namespace, under deploy/k8s/rbac-per-cluster.yaml
    (its account renamed ecsd-cluster, so the other tests keep running under the namespaced Role alone)."""
    manifest = (Path(__file__).resolve().parents[3] / "deploy/k8s/rbac-per-cluster.yaml").read_text()
    manifest = manifest.replace("name: ecsd\n", "name: ecsd-cluster\n").replace("name: ecsd-tasks\n",
                                                                                  "name: ecsd-tasks-cluster\n")
    applied = tmp_path / "rbac.yaml"
    applied.write_text(manifest)
    kubectl("apply", "-f", str(applied))
    for ns in ("ecs-alpha", "ecs-beta"):  # the operator's part: namespaces, and (no controller manager here) their SA
        kubectl("create", "namespace", ns, check=False)
        kubectl("create", "serviceaccount", "default", "-n", ns, check=False)
    kubeconfig = tmp_path / "cluster.kubeconfig"
    subprocess.run([os.path.join(os.environ["ECSD_TEST_K8S_DIR"], "env", "mint-kubeconfig"), "ecsd",
                    "ecsd-cluster", str(kubeconfig)], check=True, timeout=60, capture_output=True)
    srv = server(args=["--kubeconfig", str(kubeconfig), "--k8s-namespace-prefix", "ecs-"], namespace=False)
    ecs = make_client(srv)
    td = register(ecs, [runs("app")], family="spread")
    arns = {}
    for cluster in ("alpha", "beta", "gamma"):
        ecs.create_cluster(clusterName=cluster)
        arns[cluster] = run(ecs, td, cluster=cluster)["taskArn"]
    for cluster in ("alpha", "beta"):
        wait_for(ecs, arns[cluster], lambda t: t["lastStatus"] == "RUNNING", cluster=cluster)
        pods = kubectl("get", "pods", "-n", f"ecs-{cluster}", "-o", "name").split()
        assert pods == [f"pod/{pod_name(arns[cluster])}"], pods
    # No namespace for gamma: the task fails with the API server's word for it.
    task, _ = wait_stopped(ecs, arns["gamma"], cluster="gamma")
    assert task["stopCode"] == "TaskFailedToStart"
    assert "ecs-gamma" in task["stoppedReason"] and "not found" in task["stoppedReason"], task["stoppedReason"]
    for cluster in ("alpha", "beta"):
        ecs.stop_task(cluster=cluster, task=arns[cluster])
        task, _ = wait_stopped(ecs, arns[cluster], cluster=cluster)
        assert container(task, "app")["exitCode"] == 143
