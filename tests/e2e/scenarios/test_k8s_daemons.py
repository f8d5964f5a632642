"""ECS daemons on the Kubernetes backend, against kwok nodes: one daemon task on every schedulable node (kwok-node-0
and the nodes of test_k8s_instances.py), a node added later gets its task through the Node watch, a DRAINING node is
emptied and not refilled, an update rolls the tasks by drainPercent, and a deleted daemon leaves no Pod.
Run by tests/k8s/scenarios-test (kwok mode) only."""

from __future__ import annotations

import os
import time

import pytest

from conftest import BACKEND, kubectl
from helpers import make_client
from tasklib import IMAGE
from test_k8s_instances import NODES, by_node, make_node, nodes, pod_node, sserver, wait_nodes  # noqa: F401
from workloads import runs

pytestmark = pytest.mark.skipif(BACKEND != "k8s" or bool(os.environ.get("ECSD_SCENARIO_KUBELET")),
                                reason="Kubernetes backend with kwok nodes only")

ASG = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:uuid:autoScalingGroupName/asg-1"
FAST = {"Delay": 1, "MaxAttempts": 90}


def daemon_tasks(ecs) -> list[dict]:
    """The daemon's tasks asked to run."""
    arns = ecs.list_tasks(desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(tasks=arns)["tasks"] if arns else []
    return [t for t in tasks if t.get("group") == "daemon:agent" and t["desiredStatus"] == "RUNNING"]


def daemon_pods(ecs) -> dict[str, tuple[str, str, str]]:
    """The daemon's live tasks: task ARN → (node, daemon task definition ARN, lastStatus)."""
    return {t["taskArn"]: (pod_node(t["taskArn"]), t["taskDefinitionArn"], t["lastStatus"])
            for t in daemon_tasks(ecs)}


def wait_daemon(ecs, predicate, timeout: float = 60) -> dict[str, tuple[str, str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = daemon_pods(ecs)
        except AssertionError:  # a Pod of a listed task was deleted between the list and the get
            got = None
        if got is not None and predicate(got):
            return got
        assert time.monotonic() < deadline, f"the daemon's Pods never matched: {got}"
        time.sleep(0.2)


def nodes_of(got) -> list[str]:
    return sorted(node for node, _, _ in got.values())


def test_daemon_follows_the_nodes_and_rolls_by_drain_percent(nodes, sserver):  # noqa: F811
    ecs = make_client(sserver)
    wait_nodes(ecs, lambda g: set(NODES) <= set(g))
    every = sorted(by_node(ecs))
    assert len(every) >= 3, every  # kwok-node-0 and the two of NODES
    cp = ecs.create_capacity_provider(name="asg-cp", autoScalingGroupProvider={"autoScalingGroupArn": ASG})[
        "capacityProvider"]["capacityProviderArn"]
    ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["asg-cp"],
                                       defaultCapacityProviderStrategy=[])

    def register(marker: str) -> str:
        return ecs.register_daemon_task_definition(
            family="agent", containerDefinitions=[{**runs("agent", memory=32), "image": IMAGE,
                                                   "environment": [{"name": "MARK", "value": marker}]}],
        )["daemonTaskDefinitionArn"]

    v1, v2 = register("v1"), register("v2")
    made = ecs.create_daemon(daemonName="agent", daemonTaskDefinitionArn=v1, capacityProviderArns=[cp],
                             deploymentConfiguration={"drainPercent": 50.0})
    ecs.get_waiter("daemon_deployment_successful").wait(daemonDeploymentArns=[made["deploymentArn"]],
                                                        WaiterConfig=FAST)
    got = wait_daemon(ecs, lambda p: nodes_of(p) == every)
    assert all(td == v1 and status == "RUNNING" for _, td, status in got.values()), got

    # A node added later gets its task (the Node watch wakes the scheduler, which runs the daemons' pass).
    make_node("kwok-inst-new", "1", "512Mi", {"tier": "bronze"})
    every = sorted([*every, "kwok-inst-new"])
    wait_daemon(ecs, lambda p: nodes_of(p) == every)

    # UpdateDaemon with drainPercent 50 over 4 instances: at most 2 instances are without a RUNNING task at once.
    n = len(every)
    batch = max(1, n * 50 // 100)
    old = [t["taskArn"] for t in daemon_tasks(ecs)]
    upd = ecs.update_daemon(daemonArn=made["daemonArn"], daemonTaskDefinitionArn=v2, capacityProviderArns=[cp])
    deadline = time.monotonic() + 120
    while True:
        got = daemon_tasks(ecs)
        running = [t for t in got if t["lastStatus"] == "RUNNING"]
        assert len(running) >= n - batch, [(t["taskArn"], t["taskDefinitionArn"], t["lastStatus"]) for t in got]
        if len(running) == n and len(got) == n and all(t["taskDefinitionArn"] == v2 for t in got):
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.05)
    # Every v1 task was replaced, each stopped by the deployment.
    stopped = ecs.describe_tasks(tasks=old)["tasks"]
    assert all(t["lastStatus"] == "STOPPED" and t["stopCode"] == "ServiceSchedulerInitiated" for t in stopped), stopped
    ecs.get_waiter("daemon_deployment_successful").wait(daemonDeploymentArns=[upd["deploymentArn"]],
                                                        WaiterConfig=FAST)
    dep = ecs.describe_daemon_deployments(daemonDeploymentArns=[upd["deploymentArn"]])["daemonDeployments"][0]
    assert dep["targetDaemonRevision"]["totalRunningInstanceCount"] == n
    [source] = dep["sourceDaemonRevisions"]  # v1's revision, drained
    assert source["totalRunningInstanceCount"] == 0 and source["totalDrainingInstanceCount"] == 0
    assert ecs.describe_daemon_revisions(daemonRevisionArns=[source["arn"]])["daemonRevisions"][0][
        "daemonTaskDefinitionArn"] == v1

    # A DRAINING node is emptied and not refilled.
    b = by_node(ecs)["kwok-inst-b"]["containerInstanceArn"]
    ecs.update_container_instances_state(containerInstances=[b], status="DRAINING")
    rest = [x for x in every if x != "kwok-inst-b"]
    wait_daemon(ecs, lambda p: nodes_of(p) == rest)
    detail = ecs.describe_daemon(daemonArn=made["daemonArn"])["daemon"]
    assert detail["currentRevisions"][0]["totalRunningCount"] == len(rest)

    gone = ecs.delete_daemon(daemonArn=made["daemonArn"])
    ecs.get_waiter("daemon_deployment_successful").wait(daemonDeploymentArns=[gone["deploymentArn"]],
                                                        WaiterConfig=FAST)
    wait_daemon(ecs, lambda p: not p)
    assert kubectl("get", "pods", "-n", "ecsd", "-l", "io.ecsd/family=agent",
                   "-o", "name").strip() == ""
