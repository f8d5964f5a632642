"""Container instances on the Kubernetes backend, against kwok nodes of different allocatable and labels: each
schedulable node is one container instance, kept current from a Node watch; placement picks the node and it becomes
the Pod's nodeName; a task that fits nowhere gets ECS's failure and no Pod. ecsd runs with the rights of
deploy/k8s/rbac.yaml (its ClusterRole reads Nodes) and without --k8s-node-name, so every node is a candidate.
Run by tests/k8s/scenarios-test (kwok mode) only."""

from __future__ import annotations

import json
import os
import time

import pytest

from conftest import BACKEND, K8S_NAMESPACE, kubectl
from helpers import make_client
from tasklib import register, wait_for, wait_stopped
from workloads import runs

pytestmark = pytest.mark.skipif(BACKEND != "k8s" or bool(os.environ.get("ECSD_SCENARIO_KUBELET")),
                                reason="Kubernetes backend with kwok nodes only")

NODES = {
    # name: (cpu, memory, labels)
    "kwok-inst-a": ("2", "1Gi", {"kubernetes.io/arch": "arm64", "topology.kubernetes.io/zone": "zone-a",
                                 "tier": "gold"}),
    "kwok-inst-b": ("4", "4Gi", {"kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": "zone-b",
                                 "tier": "silver"}),
}


def make_node(name: str, cpu: str, memory: str, labels: dict[str, str], unschedulable: bool = False) -> None:
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"kubernetes.io/os": "linux", "kubernetes.io/hostname": name, **labels}},
            "spec": {"unschedulable": unschedulable}}
    path = os.path.join(os.environ["ECSD_K8S_ENV_DIR"], f"{name}.json")
    with open(path, "w") as f:
        json.dump(node, f)
    kubectl("apply", "-f", path)
    res = {"cpu": cpu, "memory": memory, "pods": "110"}
    kubectl("patch", "node", name, "--subresource=status", "--type=merge", "-p",
            json.dumps({"status": {"allocatable": res, "capacity": res}}))


@pytest.fixture
def nodes():
    for name, (cpu, mem, labels) in NODES.items():
        make_node(name, cpu, mem, labels)
    yield NODES
    for name in [*NODES, "kwok-inst-new"]:
        kubectl("delete", "node", name, "--ignore-not-found", "--wait=false")


@pytest.fixture
def kserver(ecsd_factory):
    """ecsd on the k8s backend without a fixed node (server() pins kwok-node-0; this one must see every node)."""
    srv = ecsd_factory(args=["--backend", "k8s", "--kubeconfig", os.environ["ECSD_TEST_SA_KUBECONFIG"],
                             "--k8s-namespace", K8S_NAMESPACE, "--k8s-start-timeout", "60", "--cleanup-on-exit",
                             "--stop-timeout", "5"])
    yield srv
    if srv.alive():
        assert srv.terminate(timeout=120) == 0


def by_node(ecs) -> dict[str, dict]:
    """Every container instance, keyed by its kubernetes.io/hostname attribute."""
    arns = [a for p in ecs.get_paginator("list_container_instances").paginate() for a in p["containerInstanceArns"]]
    docs = ecs.describe_container_instances(containerInstances=arns)["containerInstances"] if arns else []
    out = {}
    for d in docs:
        attrs = {a["name"]: a.get("value") for a in d["attributes"]}
        out[attrs["kubernetes.io/hostname"]] = d | {"attrs": attrs}
    return out


def wait_nodes(ecs, predicate, timeout: float = 30) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        got = by_node(ecs)
        if predicate(got):
            return got
        assert time.monotonic() < deadline, f"container instances never matched: {sorted(got)}"
        time.sleep(0.2)


def resource(doc: dict, which: str, name: str) -> int:
    return next(r["integerValue"] for r in doc[which] if r["name"] == name)


def pod_node(arn: str) -> str:
    return kubectl("get", "pod", "-n", K8S_NAMESPACE, "ecsd-" + arn.rsplit("/", 1)[1], "-o",
                   "jsonpath={.spec.nodeName}")


def test_nodes_are_container_instances(nodes, kserver):
    ecs = make_client(kserver)
    got = wait_nodes(ecs, lambda g: set(NODES) <= set(g))
    a, b = got["kwok-inst-a"], got["kwok-inst-b"]
    assert resource(a, "registeredResources", "CPU") == 2048 and resource(a, "registeredResources", "MEMORY") == 1024
    assert resource(b, "registeredResources", "CPU") == 4096 and resource(b, "registeredResources", "MEMORY") == 4096
    assert a["attrs"]["ecs.cpu-architecture"] == "arm64" and b["attrs"]["ecs.cpu-architecture"] == "x86_64"
    assert a["attrs"]["ecs.availability-zone"] == "zone-a" and a["attrs"]["tier"] == "gold"
    assert a["attrs"]["ecs.os-type"] == "linux" and a["status"] == "ACTIVE" and a["agentConnected"]
    # A new node appears, a cordoned one goes (the Node watch), without a restart.
    make_node("kwok-inst-new", "1", "512Mi", {"tier": "bronze"})
    wait_nodes(ecs, lambda g: "kwok-inst-new" in g)
    kubectl("cordon", "kwok-inst-new")
    wait_nodes(ecs, lambda g: "kwok-inst-new" not in g)
    kubectl("uncordon", "kwok-inst-new")
    wait_nodes(ecs, lambda g: "kwok-inst-new" in g)
    kubectl("delete", "node", "kwok-inst-new")
    got = wait_nodes(ecs, lambda g: "kwok-inst-new" not in g)
    assert ecs.list_container_instances(filter="attribute:tier == gold")["containerInstanceArns"] == [
        got["kwok-inst-a"]["containerInstanceArn"]]


def test_placement_picks_the_node(nodes, kserver):
    ecs = make_client(kserver)
    got = wait_nodes(ecs, lambda g: set(NODES) <= set(g))
    a, b = got["kwok-inst-a"], got["kwok-inst-b"]
    td = register(ecs, [runs("app", memory=600)], family="placed")
    gold = [{"type": "memberOf", "expression": "attribute:tier == gold"}]
    first = ecs.run_task(taskDefinition=td, placementConstraints=gold)
    assert first["failures"] == [] and first["tasks"][0]["containerInstanceArn"] == a["containerInstanceArn"]
    arn = first["tasks"][0]["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    assert pod_node(arn) == "kwok-inst-a"
    assert resource(by_node(ecs)["kwok-inst-a"], "remainingResources", "MEMORY") == 1024 - 600
    # 424 MiB left on the gold node: the second does not fit there, and no Pod is made.
    second = ecs.run_task(taskDefinition=td, placementConstraints=gold)
    assert second["tasks"] == []
    reasons = {f["arn"]: f["reason"] for f in second["failures"]}
    assert reasons.pop(a["containerInstanceArn"]) == "RESOURCE:MEMORY"
    assert set(reasons.values()) == {"MemberOf placement constraint unsatisfied."}  # one per other node, as ECS
    # binpack over the tiered nodes: the fullest one that fits is b now.
    tiered = [{"type": "memberOf", "expression": "attribute:tier exists and attribute:ecs.os-type == linux"}]
    third = ecs.run_task(taskDefinition=td, placementConstraints=tiered,
                         placementStrategy=[{"type": "binpack", "field": "memory"}])
    assert third["tasks"][0]["containerInstanceArn"] == b["containerInstanceArn"]
    # RunTask answers PROVISIONING: the Pod is made by the launch after it, so read its node once the task runs.
    wait_for(ecs, third["tasks"][0]["taskArn"], lambda t: t["lastStatus"] == "RUNNING")
    assert pod_node(third["tasks"][0]["taskArn"]) == "kwok-inst-b"
    # StartTask on a named node.
    started = ecs.start_task(taskDefinition=td, containerInstances=[b["containerInstanceArn"]])["tasks"]
    wait_for(ecs, started[0]["taskArn"], lambda t: t["lastStatus"] == "RUNNING")
    assert pod_node(started[0]["taskArn"]) == "kwok-inst-b"
    assert by_node(ecs)["kwok-inst-b"]["runningTasksCount"] + by_node(ecs)["kwok-inst-b"]["pendingTasksCount"] == 2
    arns = [arn, third["tasks"][0]["taskArn"], started[0]["taskArn"]]
    assert len([p for p in kubectl("get", "pods", "-n", K8S_NAMESPACE, "-l", "io.ecsd/family=placed", "-o",
                                   "name").split() if p]) == 3
    for t in arns:
        ecs.stop_task(task=t)
    for t in arns:
        wait_stopped(ecs, t)


@pytest.fixture
def sserver(ecsd_factory):
    """As kserver, with service tasks counted healthy once RUNNING (a drain does not wait 40 s per task)."""
    srv = ecsd_factory(args=["--backend", "k8s", "--kubeconfig", os.environ["ECSD_TEST_SA_KUBECONFIG"],
                             "--k8s-namespace", K8S_NAMESPACE, "--k8s-start-timeout", "60", "--cleanup-on-exit",
                             "--stop-timeout", "5", "--service-healthy-after", "0"])
    yield srv
    if srv.alive():
        assert srv.terminate(timeout=120) == 0


def service_pods(ecs, name: str) -> dict[str, str]:
    """The service's live tasks: task ARN → the node its Pod is bound to."""
    arns = ecs.list_tasks(serviceName=name)["taskArns"]
    return {a: pod_node(a) for a in arns}


def wait_pods(ecs, name: str, predicate, timeout: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = service_pods(ecs, name)
        except AssertionError:  # a Pod of a listed task was deleted between the list and the get
            got = None
        if got is not None and predicate(got):
            return got
        assert time.monotonic() < deadline, f"service {name}'s Pods never matched: {got}"
        time.sleep(0.2)


def test_daemon_service_follows_the_nodes(nodes, sserver):
    ecs = make_client(sserver)
    wait_nodes(ecs, lambda g: set(NODES) <= set(g))
    td = register(ecs, [runs("agent", memory=64)], family="daemon")
    ecs.create_service(serviceName="agent", taskDefinition=td, schedulingStrategy="DAEMON",
                       placementConstraints=[{"type": "memberOf", "expression": "attribute:tier exists"}])
    # One task on each tiered node, none on kwok-node-0 (no tier label).
    wait_pods(ecs, "agent", lambda p: sorted(p.values()) == ["kwok-inst-a", "kwok-inst-b"])
    # A new node gets its task (the Node watch wakes the scheduler).
    make_node("kwok-inst-new", "1", "512Mi", {"tier": "bronze"})
    wait_pods(ecs, "agent", lambda p: sorted(p.values()) == ["kwok-inst-a", "kwok-inst-b", "kwok-inst-new"])
    assert ecs.describe_services(services=["agent"])["services"][0]["desiredCount"] == 3
    # A DRAINING node is emptied and not refilled.
    b = by_node(ecs)["kwok-inst-b"]["containerInstanceArn"]
    ecs.update_container_instances_state(containerInstances=[b], status="DRAINING")
    wait_pods(ecs, "agent", lambda p: sorted(p.values()) == ["kwok-inst-a", "kwok-inst-new"])
    assert ecs.describe_services(services=["agent"])["services"][0]["desiredCount"] == 2
    ecs.delete_service(service="agent", force=True)
    wait_pods(ecs, "agent", lambda p: not p)


def test_draining_node_is_emptied_of_a_service(nodes, sserver):
    ecs = make_client(sserver)
    got = wait_nodes(ecs, lambda g: set(NODES) <= set(g))
    td = register(ecs, [runs("web", memory=128)], family="web")
    tiered = [{"type": "memberOf", "expression": "attribute:tier in [gold, silver]"}]
    ecs.create_service(serviceName="web", taskDefinition=td, desiredCount=3, placementConstraints=tiered,
                       placementStrategy=[{"type": "binpack", "field": "memory"}])
    # binpack: the fuller gold node first (1 GiB), all three fit there.
    before = wait_pods(ecs, "web", lambda p: len(p) == 3)
    assert set(before.values()) == {"kwok-inst-a"}, before
    ecs.update_container_instances_state(containerInstances=[got["kwok-inst-a"]["containerInstanceArn"]],
                                         status="DRAINING")
    # Replaced on the other tiered node, under the service's 100 % floor / 200 % ceiling; the drained node is empty.
    after = wait_pods(ecs, "web", lambda p: len(p) == 3 and set(p.values()) == {"kwok-inst-b"})
    assert not set(after) & set(before)
    for arn in before:
        assert wait_stopped(ecs, arn)[0]["stopCode"] == "ServiceSchedulerInitiated"
    a = by_node(ecs)["kwok-inst-a"]
    assert a["status"] == "DRAINING" and a["runningTasksCount"] == 0 and a["pendingTasksCount"] == 0
    ecs.delete_service(service="web", force=True)
    wait_pods(ecs, "web", lambda p: not p)
