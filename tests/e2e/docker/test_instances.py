"""Container instances on the Docker backend: the engine is the one container instance of every cluster, with the
CPUs and memory `docker info` reports; tasks are placed on it and use up its memory; external instances registered by
a client; attributes; placement constraints and strategies with ECS's failures; the AWS CLI and boto3."""

from __future__ import annotations

import json
import time

import pytest

from helpers import ACCOUNT, REGION, make_client
from tasklib import docker, register, run, wait_for, wait_stopped

ARN_PREFIX = f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/"


def engine_info() -> dict:
    return json.loads(docker("info", "--format", "{{json .}}"))


def the_instance(ecs, cluster: str = "default") -> dict:
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    assert len(arns) == 1, arns
    return ecs.describe_container_instances(cluster=cluster, containerInstances=arns)["containerInstances"][0]


def resource(doc: dict, which: str, name: str) -> int:
    return next(r["integerValue"] for r in doc[which] if r["name"] == name)


def attrs(doc: dict) -> dict:
    return {a["name"]: a.get("value") for a in doc["attributes"]}


def sleeper(ecs, family: str, memory: int, **kw) -> str:
    return register(ecs, [{"name": "main", "command": ["sleep", "600"], "stopTimeout": 1, "memory": memory}],
                    family=family, **kw)


def test_the_engine_is_the_container_instance(ecs):
    info = engine_info()
    doc = the_instance(ecs)
    arn = doc["containerInstanceArn"]
    assert arn.startswith(ARN_PREFIX + "default/")
    instance_id = arn.rsplit("/", 1)[1]
    assert len(instance_id) == 32 and all(c in "0123456789abcdef" for c in instance_id)
    assert resource(doc, "registeredResources", "CPU") == info["NCPU"] * 1024
    assert resource(doc, "registeredResources", "MEMORY") == info["MemTotal"] // (1024 * 1024)
    assert doc["remainingResources"] == doc["registeredResources"]
    assert doc["status"] == "ACTIVE" and doc["agentConnected"] is True
    assert doc["runningTasksCount"] == 0 and doc["pendingTasksCount"] == 0
    assert doc["versionInfo"]["dockerVersion"] == f"DockerVersion: {info['ServerVersion']}"
    a = attrs(doc)
    assert a["ecs.os-type"] == info["OSType"]
    assert a["ecs.cpu-architecture"] == info["Architecture"]
    assert a["ecs.availability-zone"] == f"{REGION}a"
    assert "tags" not in doc
    # The same host in another cluster: same id, that cluster's ARN.
    ecs.create_cluster(clusterName="other")
    assert the_instance(ecs, "other")["containerInstanceArn"] == f"{ARN_PREFIX}other/{instance_id}"
    # Describe by bare id, a missing one, one of another cluster.
    resp = ecs.describe_container_instances(containerInstances=[instance_id, "0" * 32,
                                                                f"{ARN_PREFIX}other/{instance_id}"],
                                            include=["CONTAINER_INSTANCE_HEALTH"])
    assert [d["containerInstanceArn"] for d in resp["containerInstances"]] == [arn]
    assert resp["containerInstances"][0]["healthStatus"]["overallStatus"] == "OK"
    assert sorted(f["reason"] for f in resp["failures"]) == ["MISSING", "MISSING"]
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.describe_container_instances(containerInstances=[])
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.list_container_instances(cluster="nope")


def test_tasks_are_placed_on_the_engine_and_use_its_memory(ecs, dsrv, aws_for):
    aws = aws_for(dsrv)
    doc = the_instance(ecs)
    arn = doc["containerInstanceArn"]
    total = resource(doc, "registeredResources", "MEMORY")
    td = sleeper(ecs, "mem", 64)
    tasks = ecs.run_task(taskDefinition=td, count=2, launchType="EC2")["tasks"]
    assert [t["containerInstanceArn"] for t in tasks] == [arn, arn]
    for t in tasks:
        wait_for(ecs, t["taskArn"], lambda t: t["lastStatus"] == "RUNNING")
    described = ecs.describe_tasks(tasks=[t["taskArn"] for t in tasks])["tasks"]
    assert {t["containerInstanceArn"] for t in described} == {arn}
    doc = the_instance(ecs)
    assert resource(doc, "remainingResources", "MEMORY") == total - 128
    assert doc["runningTasksCount"] == 2 and doc["pendingTasksCount"] == 0
    assert sorted(ecs.list_tasks(containerInstance=arn)["taskArns"]) == sorted(t["taskArn"] for t in tasks)
    assert ecs.list_tasks(containerInstance="0" * 32)["taskArns"] == []
    # A task that needs more memory than is left: ECS's failure, nothing launched.
    big = sleeper(ecs, "big", total - 100)
    resp = ecs.run_task(taskDefinition=big)
    assert resp["tasks"] == []
    assert resp["failures"] == [{"arn": arn, "reason": "RESOURCE:MEMORY"}]
    assert ecs.list_tasks(family="big")["taskArns"] == []
    # The AWS CLI sees the same.
    out = aws("ecs", "describe-container-instances", "--container-instances", arn)
    assert out["containerInstances"][0]["runningTasksCount"] == 2
    for t in tasks:
        ecs.stop_task(task=t["taskArn"])
    for t in tasks:
        wait_stopped(ecs, t["taskArn"])
    # Stopped tasks give their memory back: the big one fits now.
    assert resource(the_instance(ecs), "remainingResources", "MEMORY") == total
    placed = ecs.run_task(taskDefinition=big)["tasks"]
    assert len(placed) == 1 and placed[0]["containerInstanceArn"] == arn
    ecs.stop_task(task=placed[0]["taskArn"])
    wait_stopped(ecs, placed[0]["taskArn"])


def test_placement_constraints_and_strategies(ecs):
    arn = the_instance(ecs)["containerInstanceArn"]
    td = sleeper(ecs, "placed", 16)
    os_type = engine_info()["OSType"]
    resp = ecs.run_task(taskDefinition=td, placementConstraints=[
        {"type": "memberOf", "expression": "attribute:ecs.os-type == windows"}])
    assert resp["tasks"] == [] and resp["failures"] == [
        {"arn": arn, "reason": "MemberOf placement constraint unsatisfied."}]
    ecs.put_attributes(attributes=[{"name": "stack", "value": "blue", "targetId": arn}])
    first = ecs.run_task(taskDefinition=td, group="g1", placementConstraints=[
        {"type": "memberOf", "expression": f"attribute:ecs.os-type == {os_type} and attribute:stack in [blue, red]"},
        {"type": "distinctInstance"}],
        placementStrategy=[{"type": "binpack", "field": "memory"}, {"type": "random"}])
    assert [t["containerInstanceArn"] for t in first["tasks"]] == [arn] and first["failures"] == []
    # distinctInstance: a second task of the group has nowhere to go.
    second = ecs.run_task(taskDefinition=td, group="g1", placementConstraints=[{"type": "distinctInstance"}])
    assert second["tasks"] == [] and second["failures"] == [
        {"arn": arn, "reason": "DistinctInstance placement constraint unsatisfied."}]
    # task:group in the query language sees the task placed there.
    third = ecs.run_task(taskDefinition=td, placementConstraints=[
        {"type": "memberOf", "expression": "not(task:group == g1)"}])
    assert third["tasks"] == []
    for bad in ("attribute:ecs.os-type ==", "attribute:stack in [blue", "stack == blue", "(attribute:a == b",
                "attribute:a == b andd attribute:c == d", "attribute:a === b"):
        with pytest.raises(ecs.exceptions.InvalidParameterException):
            ecs.run_task(taskDefinition=td, placementConstraints=[{"type": "memberOf", "expression": bad}])
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.run_task(taskDefinition=td, placementStrategy=[{"type": "binpack", "field": "disk"}])
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.run_task(taskDefinition=td, placementConstraints=[{"type": "distinctInstance", "expression": "x"}])
    assert ecs.list_tasks(family="placed")["taskArns"] == [first["tasks"][0]["taskArn"]]
    ecs.stop_task(task=first["tasks"][0]["taskArn"])
    wait_stopped(ecs, first["tasks"][0]["taskArn"])


def test_list_filter_status_and_paging(ecs, dsrv, aws_for):
    aws = aws_for(dsrv)
    arn = the_instance(ecs)["containerInstanceArn"]
    ext = ecs.register_container_instance(
        instanceIdentityDocument=json.dumps({"instanceId": "mi-0123456789abcdef0"}),
        totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                        {"name": "MEMORY", "type": "INTEGER", "integerValue": 512}],
        versionInfo={"agentVersion": "1.80.0"},
        attributes=[{"name": "ecs.os-type", "value": "linux"}])["containerInstance"]["containerInstanceArn"]
    both = sorted([arn, ext])
    assert sorted(ecs.list_container_instances()["containerInstanceArns"]) == both
    pages = list(ecs.get_paginator("list_container_instances").paginate(PaginationConfig={"PageSize": 1}))
    assert len(pages) == 2 and sorted(a for p in pages for a in p["containerInstanceArns"]) == both
    assert ecs.list_container_instances(filter="agentConnected == true")["containerInstanceArns"] == [arn]
    assert ecs.list_container_instances(filter="ec2InstanceId == mi-0123456789abcdef0")["containerInstanceArns"] \
        == [ext]
    assert ecs.list_container_instances(status="DRAINING")["containerInstanceArns"] == []
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.list_container_instances(filter="agentConnected ==")
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.list_container_instances(maxResults=101)
    out = aws("ecs", "list-container-instances", "--filter", "attribute:ecs.os-type == linux")
    assert sorted(out["containerInstanceArns"]) == both


def test_register_deregister_external_instance(ecs, dsrv, aws_for):
    aws = aws_for(dsrv)
    host = the_instance(ecs)["containerInstanceArn"]
    ident = json.dumps({"instanceId": "mi-00000000000000001"})
    resources = [{"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                 {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096}]
    doc = ecs.register_container_instance(instanceIdentityDocument=ident, totalResources=resources,
                                          versionInfo={"agentVersion": "1.80.0", "dockerVersion": "x"},
                                          tags=[{"key": "site", "value": "lab"}])["containerInstance"]
    arn = doc["containerInstanceArn"]
    assert arn.startswith(ARN_PREFIX + "default/") and arn != host
    assert doc["ec2InstanceId"] == "mi-00000000000000001" and doc["status"] == "ACTIVE"
    assert doc["agentConnected"] is False and doc["versionInfo"]["agentVersion"] == "1.80.0"
    assert resource(doc, "registeredResources", "MEMORY") == 4096 == resource(doc, "remainingResources", "MEMORY")
    assert doc["tags"] == [{"key": "site", "value": "lab"}]
    # The cluster counts both registered instances: the engine and this one.
    assert ecs.describe_clusters(clusters=["default"])["clusters"][0]["registeredContainerInstancesCount"] == 2
    # Registering the same instance again keeps its ARN.
    again = ecs.register_container_instance(instanceIdentityDocument=ident, totalResources=resources)
    assert again["containerInstance"]["containerInstanceArn"] == arn
    described = ecs.describe_container_instances(containerInstances=[arn], include=["TAGS"])["containerInstances"]
    assert described[0]["tags"] == [{"key": "site", "value": "lab"}]
    # No agent runs there: StartTask on it fails, nothing is launched.
    td = sleeper(ecs, "ext", 16)
    resp = ecs.start_task(taskDefinition=td, containerInstances=[arn])
    assert resp["tasks"] == [] and resp["failures"] == [{"arn": arn, "reason": "AGENT"}]
    with pytest.raises(ecs.exceptions.ClientException):
        ecs.update_container_agent(containerInstance=arn)
    with pytest.raises(ecs.exceptions.NoUpdateAvailableException):
        ecs.update_container_agent(containerInstance=host)
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.register_container_instance(instanceIdentityDocument="{not json")
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.register_container_instance(containerInstanceArn=ARN_PREFIX + "default/" + "0" * 32)
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.register_container_instance(cluster="nope", instanceIdentityDocument=ident)
    # The engine itself cannot be deregistered; the external one can.
    with pytest.raises(ecs.exceptions.ClientException):
        ecs.deregister_container_instance(containerInstance=host)
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.deregister_container_instance(containerInstance="0" * 32)
    out = aws("ecs", "deregister-container-instance", "--container-instance", arn)
    assert out["containerInstance"]["status"] == "INACTIVE"
    assert ecs.list_container_instances()["containerInstanceArns"] == [host]
    assert ecs.describe_clusters(clusters=["default"])["clusters"][0]["registeredContainerInstancesCount"] == 1


def test_update_container_instances_state(ecs, dsrv, aws_for):
    aws = aws_for(dsrv)
    arn = the_instance(ecs)["containerInstanceArn"]
    td = sleeper(ecs, "drain", 16)
    resp = ecs.update_container_instances_state(containerInstances=[arn, "0" * 32], status="DRAINING")
    assert [d["status"] for d in resp["containerInstances"]] == ["DRAINING"]
    assert resp["failures"] == [{"arn": "0" * 32, "reason": "MISSING"}]
    assert the_instance(ecs)["status"] == "DRAINING"
    assert ecs.list_container_instances(status="DRAINING")["containerInstanceArns"] == [arn]
    # Nothing new is placed on a DRAINING instance.
    assert ecs.run_task(taskDefinition=td)["tasks"] == []
    out = ecs.start_task(taskDefinition=td, containerInstances=[arn])
    assert out["tasks"] == [] and out["failures"] == [{"arn": arn, "reason": "INACTIVE"}]
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.update_container_instances_state(containerInstances=[arn], status="REGISTERING")
    assert the_instance(ecs)["status"] == "DRAINING"
    aws("ecs", "update-container-instances-state", "--container-instances", arn, "--status", "ACTIVE")
    placed = ecs.start_task(taskDefinition=td, containerInstances=[arn])["tasks"]
    assert len(placed) == 1 and placed[0]["containerInstanceArn"] == arn
    ecs.stop_task(task=placed[0]["taskArn"])
    wait_stopped(ecs, placed[0]["taskArn"])


def test_attributes(ecs, dsrv, aws_for):
    aws = aws_for(dsrv)
    arn = the_instance(ecs)["containerInstanceArn"]
    iid = arn.rsplit("/", 1)[1]
    out = ecs.put_attributes(attributes=[{"name": "stack", "value": "blue", "targetId": arn},
                                         {"name": "gpu", "targetType": "container-instance", "targetId": iid}])
    assert [a["name"] for a in out["attributes"]] == ["stack", "gpu"]
    listed = ecs.list_attributes(targetType="container-instance", attributeName="stack")["attributes"]
    assert listed == [{"name": "stack", "value": "blue", "targetType": "container-instance", "targetId": arn}]
    assert ecs.list_attributes(targetType="container-instance", attributeName="stack",
                               attributeValue="red")["attributes"] == []
    everything = [a for p in ecs.get_paginator("list_attributes").paginate(
        targetType="container-instance", PaginationConfig={"PageSize": 2}) for a in p["attributes"]]
    names = [a["name"] for a in everything]
    assert {"ecs.os-type", "ecs.cpu-architecture", "ecs.availability-zone", "stack", "gpu"} <= set(names)
    assert len(names) == len(set(names))
    assert attrs(the_instance(ecs))["stack"] == "blue"
    # Errors change nothing.
    with pytest.raises(ecs.exceptions.TargetNotFoundException):
        ecs.put_attributes(attributes=[{"name": "x", "value": "y", "targetId": arn},
                                       {"name": "x", "value": "y", "targetId": ARN_PREFIX + "default/" + "0" * 32}])
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.put_attributes(attributes=[{"name": "bad name!", "targetId": arn}])
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.put_attributes(attributes=[{"name": "ecs.os-type", "value": "windows", "targetId": arn}])
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.put_attributes(attributes=[{"name": "x", "targetId": iid}])
    with pytest.raises(ecs.exceptions.AttributeLimitExceededException):
        ecs.put_attributes(attributes=[{"name": f"a{i}", "targetId": arn} for i in range(9)])
    assert "x" not in attrs(the_instance(ecs)) and "a0" not in attrs(the_instance(ecs))
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.list_attributes(targetType="container-instance", attributeValue="blue")
    aws("ecs", "delete-attributes", "--attributes", f"name=stack,targetId={arn}")
    assert "stack" not in attrs(the_instance(ecs)) and "gpu" in attrs(the_instance(ecs))
    with pytest.raises(ecs.exceptions.TargetNotFoundException):
        ecs.delete_attributes(attributes=[{"name": "gpu", "targetId": ARN_PREFIX + "default/" + "0" * 32}])


def wait_service(ecs, name: str, predicate, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        svc = ecs.describe_services(services=[name])["services"][0]
        tasks = ecs.list_tasks(serviceName=name)["taskArns"]
        if predicate(svc, tasks):
            return svc
        assert time.monotonic() < deadline, f"service {name} never matched: {svc['events'][:3]} {tasks}"
        time.sleep(0.2)


@pytest.fixture
def sched_ecs(docker_server):
    """A server whose service tasks count as healthy once RUNNING, so a drain does not wait 40 s per task."""
    return make_client(docker_server(args=["--service-healthy-after", "0"]))


def test_daemon_service_runs_one_task_on_each_active_instance(sched_ecs):
    ecs = sched_ecs
    arn = the_instance(ecs)["containerInstanceArn"]
    td = sleeper(ecs, "daemon", 16)
    svc = ecs.create_service(serviceName="agent", taskDefinition=td, schedulingStrategy="DAEMON")["service"]
    assert svc["schedulingStrategy"] == "DAEMON"
    assert svc["deploymentConfiguration"]["maximumPercent"] == 100
    assert svc["deploymentConfiguration"]["minimumHealthyPercent"] == 0
    svc = wait_service(ecs, "agent", lambda s, t: s["runningCount"] == 1 and len(t) == 1)
    assert svc["desiredCount"] == 1
    first = ecs.list_tasks(serviceName="agent")["taskArns"][0]
    assert ecs.describe_tasks(tasks=[first])["tasks"][0]["containerInstanceArn"] == arn
    # DRAINING: the daemon task leaves the instance and nothing takes its place.
    ecs.update_container_instances_state(containerInstances=[arn], status="DRAINING")
    svc = wait_service(ecs, "agent", lambda s, t: s["desiredCount"] == 0 and s["runningCount"] == 0 and not t)
    assert wait_stopped(ecs, first)[0]["stopCode"] == "ServiceSchedulerInitiated"
    # ACTIVE again: one task again.
    ecs.update_container_instances_state(containerInstances=[arn], status="ACTIVE")
    wait_service(ecs, "agent", lambda s, t: s["desiredCount"] == 1 and s["runningCount"] == 1 and len(t) == 1)
    for bad in ({"desiredCount": 1}, {"placementStrategy": [{"type": "spread", "field": "instanceId"}]},
                {"placementConstraints": [{"type": "memberOf", "expression": "bad"}]}):
        with pytest.raises(ecs.exceptions.InvalidParameterException):
            ecs.create_service(serviceName="bad", taskDefinition=td, schedulingStrategy="DAEMON", **bad)
    assert ecs.describe_services(services=["bad"])["failures"][0]["reason"] == "MISSING"
    ecs.delete_service(service="agent", force=True)
    wait_service(ecs, "agent", lambda s, t: s["status"] == "INACTIVE" and not t)


def test_draining_instance_is_emptied_of_a_service(sched_ecs):
    ecs = sched_ecs
    arn = the_instance(ecs)["containerInstanceArn"]
    td = sleeper(ecs, "web", 16)
    ecs.create_service(serviceName="web", taskDefinition=td, desiredCount=2,
                       deploymentConfiguration={"minimumHealthyPercent": 0, "maximumPercent": 200})
    wait_service(ecs, "web", lambda s, t: s["runningCount"] == 2 and len(t) == 2)
    before = ecs.list_tasks(serviceName="web")["taskArns"]
    assert ecs.list_tasks(containerInstance=arn, serviceName="web")["taskArns"] == sorted(before)
    ecs.update_container_instances_state(containerInstances=[arn], status="DRAINING")
    # The engine is the only instance: the tasks leave it and their replacements have nowhere to go.
    svc = wait_service(ecs, "web", lambda s, t: not t and s["runningCount"] == 0)
    assert any("was unable to place a task because no container instance met all of its requirements" in e["message"]
               for e in svc["events"]), svc["events"][:5]
    for t in before:
        assert wait_stopped(ecs, t)[0]["stopCode"] == "ServiceSchedulerInitiated"
    assert ecs.describe_services(services=["web"])["services"][0]["desiredCount"] == 2
    ecs.update_container_instances_state(containerInstances=[arn], status="ACTIVE")
    wait_service(ecs, "web", lambda s, t: s["runningCount"] == 2 and len(t) == 2 and not set(t) & set(before))
    ecs.delete_service(service="web", force=True)
    wait_service(ecs, "web", lambda s, t: s["status"] == "INACTIVE" and not t)


def test_tags_on_container_instances(ecs):
    arn = the_instance(ecs)["containerInstanceArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "rack", "value": "r1"}])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "rack", "value": "r1"}]
    described = ecs.describe_container_instances(containerInstances=[arn], include=["TAGS"])["containerInstances"]
    assert described[0]["tags"] == [{"key": "rack", "value": "r1"}]
    ecs.untag_resource(resourceArn=arn, tagKeys=["rack"])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == []
    with pytest.raises(ecs.exceptions.ResourceNotFoundException):
        ecs.tag_resource(resourceArn=ARN_PREFIX + "default/" + "0" * 32, tags=[{"key": "a", "value": "b"}])
