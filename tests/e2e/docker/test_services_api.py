"""ECS services on the docker backend, the rest of the API: service revisions, StopServiceDeployment,
ListServicesByNamespace, every UpdateService member, CreateService's clientToken, propagateTags and
enableECSManagedTags on the tasks, and the host ports of a service's tasks on one engine.

Run by ctest as e2e/services with test_services.py (whose helpers it uses): the real ecsd, the real engine, boto3."""

from __future__ import annotations

import time

import botocore.exceptions
import pytest
from tasklib import IMAGE
from test_services import FAST, messages, service, service_tasks, taskdef, wait_stable


@pytest.fixture
def dsrv(docker_server):
    return docker_server(["--service-healthy-after", "2"])


def error_of(fn, **kw) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        fn(**kw)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def crashing_taskdef(ecs, family: str) -> str:
    return ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "app", "image": IMAGE, "memory": 32, "essential": True,
                               "command": ["sh", "-c", "exit 1"], "stopTimeout": 1}],
    )["taskDefinition"]["taskDefinitionArn"]


def records(ecs, name: str) -> list[dict]:
    return ecs.list_service_deployments(service=name)["serviceDeployments"]


def wait_record(ecs, name: str, arn: str, status: str) -> dict:
    deadline = time.monotonic() + 120
    while True:
        (rec,) = [r for r in records(ecs, name) if r["serviceDeploymentArn"] == arn]
        if rec["status"] == status:
            return rec
        assert time.monotonic() < deadline, rec
        time.sleep(0.2)


def test_service_revisions(ecs, dsrv):
    v1 = taskdef(ecs, family="rev", marker="v1")
    v2 = taskdef(ecs, family="rev", marker="v2")
    ecs.create_service(serviceName="rev", taskDefinition=v1, desiredCount=0, launchType="EC2",
                       networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}})
    ecs.update_service(service="rev", desiredCount=0)  # changes nothing that runs: no new revision
    updated = ecs.update_service(service="rev", taskDefinition=v2)["service"]
    briefs = records(ecs, "rev")
    assert len(briefs) == 2, briefs
    newer, older = (b["targetServiceRevisionArn"] for b in briefs)
    prefix = "arn:aws:ecs:us-east-1:000000000000:service-revision/default/rev/"
    for arn in (newer, older):
        assert arn.startswith(prefix) and len(arn) == len(prefix) + 19 and arn[len(prefix):].isdigit(), arn
    assert newer != older
    # The Service names the revision of each deployment it has, the newest first.
    assert updated["currentServiceRevisions"][0] == {"arn": newer, "requestedTaskCount": 0, "runningTaskCount": 0,
                                                     "pendingTaskCount": 0}
    assert [r["arn"] for r in updated["currentServiceRevisions"]] in ([newer, older], [newer])
    out = ecs.describe_service_revisions(serviceRevisionArns=[newer, older, prefix + "1234567890123456789"])
    assert out["failures"] == [{"arn": prefix + "1234567890123456789", "reason": "MISSING"}]
    got = {r["serviceRevisionArn"]: r for r in out["serviceRevisions"]}
    assert got[newer]["taskDefinition"] == v2 and got[older]["taskDefinition"] == v1
    for r in got.values():
        assert r["serviceArn"] == "arn:aws:ecs:us-east-1:000000000000:service/default/rev"
        assert r["clusterArn"] == "arn:aws:ecs:us-east-1:000000000000:cluster/default"
        assert r["containerImages"] == [{"containerName": "app", "image": IMAGE}]
        assert r["launchType"] == "EC2"
        assert r["networkConfiguration"] == {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}
        assert "createdAt" in r
    code, _ = error_of(ecs.describe_service_revisions, serviceRevisionArns=[])
    assert code == "InvalidParameterException"
    ecs.delete_service(service="rev")


def test_stop_service_deployment_rollback(ecs, dsrv):
    """A crash-looping v2 without the circuit breaker stays IN_PROGRESS; StopServiceDeployment ROLLBACK brings v1's
    deployment back under its own id: ROLLBACK_REQUESTED, then ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL."""
    v1 = taskdef(ecs, family="stop", marker="v1")
    v2 = crashing_taskdef(ecs, "stop")
    first = ecs.create_service(serviceName="stop", taskDefinition=v1, desiredCount=2)["service"]["deployments"][0]
    wait_stable(ecs, "stop")
    first_arn = records(ecs, "stop")[0]["serviceDeploymentArn"]
    # A finished deployment cannot be stopped.
    code, _ = error_of(ecs.stop_service_deployment, serviceDeploymentArn=first_arn, stopType="ROLLBACK")
    assert code == "ConflictException"
    ecs.update_service(service="stop", taskDefinition=v2)
    arn = records(ecs, "stop")[0]["serviceDeploymentArn"]
    assert arn != first_arn
    deadline = time.monotonic() + 60
    while service(ecs, "stop")["deployments"][0]["failedTasks"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    resp = ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert resp["serviceDeploymentArn"] == arn
    (rec,) = [r for r in records(ecs, "stop") if r["serviceDeploymentArn"] == arn]
    assert rec["status"] in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"), rec
    rec = wait_record(ecs, "stop", arn, "ROLLBACK_SUCCESSFUL")
    assert first["id"] in rec["statusReason"], rec
    svc = wait_stable(ecs, "stop")
    assert [d["id"] for d in svc["deployments"]] == [first["id"]] and svc["taskDefinition"] == v1
    assert f"(service stop) rolling back to deployment {first['id']}." in messages(svc)
    (full,) = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
    assert full["rollback"]["serviceRevisionArn"] == records(ecs, "stop")[1]["targetServiceRevisionArn"]
    # Stopping it again: it is finished.
    code, _ = error_of(ecs.stop_service_deployment, serviceDeploymentArn=arn)
    assert code == "ConflictException"
    code, _ = error_of(ecs.stop_service_deployment, serviceDeploymentArn=arn[:-3] + "zzz")
    assert code == "ServiceDeploymentNotFoundException"
    code, _ = error_of(ecs.stop_service_deployment, serviceDeploymentArn="nope")
    assert code == "InvalidParameterException"
    ecs.delete_service(service="stop", force=True)
    ecs.get_waiter("services_inactive").wait(services=["stop"], WaiterConfig=FAST)


def test_stop_service_deployment_abort(ecs, dsrv):
    """ABORT on a crash-looping first deployment: STOPPED, and the scheduler starts no more of its tasks. A ROLLBACK of
    a first deployment has nothing to go back to."""
    td = crashing_taskdef(ecs, "abort")
    ecs.create_service(serviceName="abort", taskDefinition=td, desiredCount=1)
    arn = records(ecs, "abort")[0]["serviceDeploymentArn"]
    code, _ = error_of(ecs.stop_service_deployment, serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert code == "ConflictException"
    ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ABORT")
    rec = wait_record(ecs, "abort", arn, "STOPPED")
    assert "finishedAt" in rec
    dep = service(ecs, "abort")["deployments"][0]
    assert dep["rolloutState"] == "FAILED", dep
    # No task is started after the stop: the count of the service's tasks stays put.
    stopped_tasks = ecs.list_tasks(serviceName="abort", desiredStatus="STOPPED")["taskArns"]
    live = ecs.list_tasks(serviceName="abort")["taskArns"]
    time.sleep(3)  # the back-off after the last failure is at most 4 s here; a start would show up in this window
    assert len(ecs.list_tasks(serviceName="abort", desiredStatus="STOPPED")["taskArns"]) + \
        len(ecs.list_tasks(serviceName="abort")["taskArns"]) <= len(stopped_tasks) + len(live)
    ecs.delete_service(service="abort", force=True)
    ecs.get_waiter("services_inactive").wait(services=["abort"], WaiterConfig=FAST)


def test_list_services_by_namespace(ecs, dsrv):
    td = taskdef(ecs, family="ns")
    ecs.create_cluster(clusterName="other", serviceConnectDefaults={"namespace": "ns-b"})
    sc = {"enabled": True, "namespace": "ns-a"}
    ecs.create_service(serviceName="a1", taskDefinition=td, desiredCount=0, serviceConnectConfiguration=sc)
    ecs.create_service(cluster="other", serviceName="a2", taskDefinition=td, desiredCount=0,
                       serviceConnectConfiguration=sc)
    ecs.create_service(cluster="other", serviceName="b1", taskDefinition=td, desiredCount=0,
                       serviceConnectConfiguration={"enabled": True})
    ecs.create_service(serviceName="none", taskDefinition=td, desiredCount=0)
    arn = "arn:aws:ecs:us-east-1:000000000000:service/{}".format
    assert ecs.list_services_by_namespace(namespace="ns-a")["serviceArns"] == [arn("default/a1"), arn("other/a2")]
    assert ecs.list_services_by_namespace(namespace="ns-b")["serviceArns"] == [arn("other/b1")]
    assert ecs.list_services_by_namespace(namespace="ns-c")["serviceArns"] == []
    page = ecs.list_services_by_namespace(namespace="ns-a", maxResults=1)
    assert page["serviceArns"] == [arn("default/a1")]
    rest = ecs.list_services_by_namespace(namespace="ns-a", maxResults=1, nextToken=page["nextToken"])
    assert rest["serviceArns"] == [arn("other/a2")] and "nextToken" not in rest
    code, _ = error_of(ecs.list_services_by_namespace, namespace="")
    assert code == "InvalidParameterException"
    # Service Connect is part of what runs: changing it starts a deployment, and the service leaves the namespace.
    svc = ecs.update_service(service="a1", serviceConnectConfiguration={"enabled": False})["service"]
    assert len(svc["deployments"]) == 2
    assert ecs.list_services_by_namespace(namespace="ns-a")["serviceArns"] == [arn("other/a2")]
    for cluster, name in (("default", "a1"), ("other", "a2"), ("other", "b1"), ("default", "none")):
        ecs.delete_service(cluster=cluster, service=name)
    assert ecs.list_services_by_namespace(namespace="ns-a")["serviceArns"] == []


def test_update_service_applies_every_member(ecs, dsrv):
    td = taskdef(ecs, family="upd")
    ecs.create_service(serviceName="upd", taskDefinition=td, desiredCount=0)
    first = service(ecs, "upd")["deployments"][0]["id"]
    # Members that do not change what runs: applied, no new deployment.
    svc = ecs.update_service(service="upd", enableExecuteCommand=True, enableECSManagedTags=True,
                             propagateTags="SERVICE", availabilityZoneRebalancing="DISABLED",
                             placementStrategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}],
                             placementConstraints=[{"type": "distinctInstance"}])["service"]
    assert [d["id"] for d in svc["deployments"]] == [first]
    again = service(ecs, "upd")
    for s in (svc, again):
        assert s["enableExecuteCommand"] is True and s["enableECSManagedTags"] is True
        assert s["propagateTags"] == "SERVICE" and s["availabilityZoneRebalancing"] == "DISABLED"
        assert s["placementStrategy"] == [{"type": "spread", "field": "attribute:ecs.availability-zone"}]
        assert s["placementConstraints"] == [{"type": "distinctInstance"}]
    # A network change deploys; the same value again does not.
    net = {"awsvpcConfiguration": {"subnets": ["subnet-2"], "assignPublicIp": "DISABLED"}}
    svc = ecs.update_service(service="upd", networkConfiguration=net)["service"]
    assert len(svc["deployments"]) == 2 and svc["networkConfiguration"] == net
    assert svc["deployments"][0]["networkConfiguration"] == net
    second = svc["deployments"][0]["id"]
    svc = ecs.update_service(service="upd", networkConfiguration=net)["service"]
    assert svc["deployments"][0]["id"] == second
    # The capacity provider strategy (of a provider the cluster has) replaces the launch type and deploys; it comes
    # back with base filled in, as ECS returns it.
    ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["FARGATE"],
                                       defaultCapacityProviderStrategy=[])
    cps = [{"capacityProvider": "FARGATE", "weight": 1}]
    svc = ecs.update_service(service="upd", capacityProviderStrategy=cps)["service"]
    cps[0]["base"] = 0
    assert svc["capacityProviderStrategy"] == cps and "launchType" not in svc
    assert svc["deployments"][0]["capacityProviderStrategy"] == cps and svc["deployments"][0]["id"] != second
    code, _ = error_of(ecs.update_service, service="upd", deploymentController={"type": "CODE_DEPLOY"})
    assert code == "InvalidParameterException"
    ecs.delete_service(service="upd")


def test_create_service_client_token(ecs, dsrv):
    td = taskdef(ecs, family="tok")
    kw = dict(serviceName="tok", taskDefinition=td, desiredCount=0, clientToken="token-1",
              tags=[{"key": "k", "value": "v"}])
    made = ecs.create_service(**kw)["service"]
    again = ecs.create_service(**kw)["service"]
    assert again["serviceArn"] == made["serviceArn"] and again["createdAt"] == made["createdAt"]
    assert [d["id"] for d in again["deployments"]] == [d["id"] for d in made["deployments"]]
    assert len(records(ecs, "tok")) == 1
    code, msg = error_of(ecs.create_service, **{**kw, "desiredCount": 1})
    assert (code, msg) == ("InvalidParameterException", "Creation of service was not idempotent.")
    code, msg = error_of(ecs.create_service, **{**kw, "clientToken": "token-2"})
    assert (code, msg) == ("InvalidParameterException", "Creation of service was not idempotent.")
    code, _ = error_of(ecs.create_service, **{**kw, "serviceName": "tok2", "clientToken": "x" * 37})
    assert code == "InvalidParameterException"
    assert service(ecs, "tok")["desiredCount"] == 0
    ecs.delete_service(service="tok")


def wait_running_tasks(ecs, name: str, n: int) -> list[dict]:
    deadline = time.monotonic() + 60
    while True:
        tasks = [t for t in service_tasks(ecs, name) if t["lastStatus"] == "RUNNING"]
        if len(tasks) == n:
            return tasks
        assert time.monotonic() < deadline, tasks
        time.sleep(0.2)


def task_tags(ecs, task_arn: str) -> dict:
    listed = {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=task_arn)["tags"]}
    (described,) = ecs.describe_tasks(tasks=[task_arn], include=["TAGS"])["tasks"]
    assert {t["key"]: t["value"] for t in described.get("tags", [])} == listed
    return listed


def test_propagate_tags_and_managed_tags(ecs, dsrv):
    td = ecs.register_task_definition(
        family="tags",
        containerDefinitions=[{"name": "app", "image": IMAGE, "memory": 32, "essential": True,
                               "command": ["sleep", "600"], "stopTimeout": 1}],
        tags=[{"key": "from", "value": "taskdef"}],
    )["taskDefinition"]["taskDefinitionArn"]
    svc_tags = [{"key": "from", "value": "service"}, {"key": "team", "value": "a"}]
    ecs.create_service(serviceName="ps", taskDefinition=td, desiredCount=1, tags=svc_tags,
                       propagateTags="SERVICE", enableECSManagedTags=True)
    ecs.create_service(serviceName="pt", taskDefinition=td, desiredCount=1, tags=svc_tags,
                       propagateTags="TASK_DEFINITION")
    ecs.create_service(serviceName="pn", taskDefinition=td, desiredCount=1, tags=svc_tags)
    (ps,) = wait_running_tasks(ecs, "ps", 1)
    (pt,) = wait_running_tasks(ecs, "pt", 1)
    (pn,) = wait_running_tasks(ecs, "pn", 1)
    assert task_tags(ecs, ps["taskArn"]) == {"from": "service", "team": "a", "aws:ecs:serviceName": "ps",
                                             "aws:ecs:clusterName": "default"}
    assert task_tags(ecs, pt["taskArn"]) == {"from": "taskdef"}
    assert task_tags(ecs, pn["taskArn"]) == {}
    # UpdateService's propagateTags and enableECSManagedTags apply to the tasks started after it.
    ecs.update_service(service="pn", propagateTags="SERVICE", enableECSManagedTags=True)
    ecs.stop_task(task=pn["taskArn"])
    deadline = time.monotonic() + 60
    while True:
        fresh = [t for t in wait_running_tasks(ecs, "pn", 1) if t["taskArn"] != pn["taskArn"]]
        if fresh:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert task_tags(ecs, fresh[0]["taskArn"]) == {"from": "service", "team": "a", "aws:ecs:serviceName": "pn",
                                                   "aws:ecs:clusterName": "default"}
    for name in ("ps", "pt", "pn"):
        ecs.delete_service(service=name, force=True)
    ecs.get_waiter("services_inactive").wait(services=["ps", "pt", "pn"], WaiterConfig=FAST)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def test_host_ports_of_a_services_tasks(ecs, dsrv):
    """On one engine, a portMapping without hostPort gets a dynamic host port per task (networkBindings); a fixed
    hostPort fits one task: the others are not launched (no task fails on a taken port) and the service event says
    they could not be placed."""
    dyn = ecs.register_task_definition(
        family="dynports", networkMode="bridge",
        containerDefinitions=[{"name": "app", "image": IMAGE, "memory": 32, "essential": True,
                               "command": ["sleep", "600"], "stopTimeout": 1,
                               "portMappings": [{"containerPort": 8080}]}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(serviceName="dyn", taskDefinition=dyn, desiredCount=3)
    wait_stable(ecs, "dyn")
    tasks = [t for t in service_tasks(ecs, "dyn") if t["lastStatus"] == "RUNNING"]
    assert len(tasks) == 3
    # Each task has its own host port (per address: this engine picks IPv4 and IPv6 ports apart), none shared.
    per_task = [{(b["bindIP"], b["hostPort"]) for b in t["containers"][0]["networkBindings"]
                 if b["containerPort"] == 8080} for t in tasks]
    assert all(per_task), per_task
    assert sum(len(p) for p in per_task) == len(set().union(*per_task)), per_task

    port = free_port()
    fixed = ecs.register_task_definition(
        family="fixedports", networkMode="bridge",
        containerDefinitions=[{"name": "app", "image": IMAGE, "memory": 32, "essential": True,
                               "command": ["sleep", "600"], "stopTimeout": 1,
                               "portMappings": [{"containerPort": 8080, "hostPort": port}]}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(serviceName="fixed", taskDefinition=fixed, desiredCount=2)
    want = "(service fixed) was unable to place a task because no container instance met all of its requirements."
    deadline = time.monotonic() + 60
    while True:
        svc = service(ecs, "fixed")
        if want in messages(svc) and svc["runningCount"] == 1:
            break
        assert time.monotonic() < deadline, (svc["runningCount"], messages(svc))
        time.sleep(0.2)
    (only,) = service_tasks(ecs, "fixed")
    assert only["containers"][0]["networkBindings"][0]["hostPort"] == port
    # Nothing was launched onto the taken port: no task of the service failed or was stopped.
    assert ecs.list_tasks(serviceName="fixed", desiredStatus="STOPPED")["taskArns"] == []
    assert service(ecs, "fixed")["deployments"][0]["failedTasks"] == 0
    # Scaled to 1, it is steady; the dynamic service was never in its way.
    ecs.update_service(service="fixed", desiredCount=1)
    wait_stable(ecs, "fixed")
    for name in ("dyn", "fixed"):
        ecs.delete_service(service=name, force=True)
    ecs.get_waiter("services_inactive").wait(services=["dyn", "fixed"], WaiterConfig=FAST)
