"""ECS daemons on the docker backend (the engine is the one container instance): daemon task definitions, a daemon's
task on the instance, DRAINING, rolling updates by drainPercent, deletion, and the errors ECS lists. boto3 with
botocore's five daemon waiters, and the AWS CLI."""

from __future__ import annotations

import json
import time

import botocore.exceptions
import pytest

from helpers import make_client
from tasklib import IMAGE, docker, wait_stopped

ASG = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:uuid:autoScalingGroupName/asg-1"
FAST = {"Delay": 1, "MaxAttempts": 90}


@pytest.fixture
def dsrv(docker_server):
    """Tasks count as healthy once RUNNING, as in the other scheduler tests."""
    return docker_server(args=["--service-healthy-after", "0"])


@pytest.fixture
def ecs(dsrv):
    return make_client(dsrv)


def error_code(fn, **kw) -> str:
    """The error code of a call that must fail."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        fn(**kw)
    return info.value.response["Error"]["Code"]


def daemon_td(ecs, family: str = "agent", marker: str = "v1", **kw) -> str:
    return ecs.register_daemon_task_definition(
        family=family, containerDefinitions=[{"name": "agent", "image": IMAGE, "memory": 16, "stopTimeout": 1,
                                              "command": ["sleep", "600"],
                                              "environment": [{"name": "MARK", "value": marker}]}],
        **kw)["daemonTaskDefinitionArn"]


def provider(ecs, cluster: str = "default") -> str:
    arn = ecs.create_capacity_provider(name="asg-cp", autoScalingGroupProvider={"autoScalingGroupArn": ASG})[
        "capacityProvider"]["capacityProviderArn"]
    ecs.put_cluster_capacity_providers(cluster=cluster, capacityProviders=["asg-cp"],
                                       defaultCapacityProviderStrategy=[])
    return arn


def instance_arn(ecs) -> str:
    arns = ecs.list_container_instances()["containerInstanceArns"]
    assert len(arns) == 1, arns
    return arns[0]


def daemon_tasks(ecs, desired: str = "RUNNING") -> list[dict]:
    arns = ecs.list_tasks(desiredStatus=desired)["taskArns"]
    tasks = ecs.describe_tasks(tasks=arns, include=["TAGS"])["tasks"] if arns else []
    return [t for t in tasks if t.get("group", "").startswith("daemon:")]


def wait_until(what, predicate, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if predicate(value):
            return value
        assert time.monotonic() < deadline, value
        time.sleep(0.2)


def marker_of(task: dict) -> str:
    """The MARK variable the engine really runs the task's container with."""
    cid = task["containers"][0]["runtimeId"]
    env = docker("inspect", "--format", "{{json .Config.Env}}", cid)
    return next(v.split("=", 1)[1] for v in json.loads(env) if v.startswith("MARK="))


def test_daemon_task_definitions_register_describe_list_delete(ecs):
    a1 = daemon_td(ecs, "agent")
    a2 = daemon_td(ecs, "agent", marker="v2", cpu="0.25 vCPU", tags=[{"key": "team", "value": "ops"}])
    b1 = daemon_td(ecs, "beta")
    assert a1.endswith(":daemon-task-definition/agent:1") and a2.endswith(":daemon-task-definition/agent:2")
    assert a1.startswith("arn:aws:ecs:us-east-1:000000000000:")
    td = ecs.describe_daemon_task_definition(daemonTaskDefinition="agent")["daemonTaskDefinition"]
    assert td["daemonTaskDefinitionArn"] == a2 and td["revision"] == 2 and td["status"] == "ACTIVE"
    assert td["cpu"] == "256" and td["containerDefinitions"][0]["essential"] is True
    assert td["registeredBy"] == "arn:aws:iam::000000000000:root"
    assert ecs.describe_daemon_task_definition(daemonTaskDefinition="agent:1")["daemonTaskDefinition"][
        "daemonTaskDefinitionArn"] == a1
    ecs.get_waiter("daemon_task_definition_active").wait(daemonTaskDefinition=a1, WaiterConfig=FAST)

    def listed(**kw):
        return [s["arn"] for s in ecs.list_daemon_task_definitions(**kw)["daemonTaskDefinitions"]]

    assert listed() == [a1, a2, b1]
    assert listed(sort="DESC") == [b1, a2, a1]
    assert listed(family="agent") == [a1, a2]
    assert listed(familyPrefix="be") == [b1]
    assert listed(revision="LAST_REGISTERED") == [a2, b1]
    page = ecs.list_daemon_task_definitions(maxResults=2)
    assert [s["arn"] for s in page["daemonTaskDefinitions"]] == [a1, a2]
    rest = ecs.list_daemon_task_definitions(maxResults=2, nextToken=page["nextToken"])
    assert [s["arn"] for s in rest["daemonTaskDefinitions"]] == [b1] and "nextToken" not in rest

    # Bad input is refused as RegisterTaskDefinition refuses it, and registers nothing.
    for bad in ({"family": "bad family", "containerDefinitions": [{"name": "a", "image": IMAGE, "memory": 16}]},
                {"family": "bad", "containerDefinitions": [{"name": "a", "image": IMAGE, "memory": 16},
                                                           {"name": "a", "image": IMAGE, "memory": 16}]},
                {"family": "bad", "containerDefinitions": []}):
        assert error_code(ecs.register_daemon_task_definition, **bad) in ("ClientException",
                                                                           "InvalidParameterException")
    assert listed(status="ALL") == [a1, a2, b1]
    assert error_code(ecs.describe_daemon_task_definition, daemonTaskDefinition="nope") == "ClientException"

    # Delete: no daemon runs it, so it is DELETED; a second delete is refused.
    assert ecs.delete_daemon_task_definition(daemonTaskDefinition=a1)["daemonTaskDefinitionArn"] == a1
    ecs.get_waiter("daemon_task_definition_deleted").wait(daemonTaskDefinition=a1, WaiterConfig=FAST)
    assert error_code(ecs.delete_daemon_task_definition, daemonTaskDefinition=a1) == "ClientException"
    assert error_code(ecs.delete_daemon_task_definition, daemonTaskDefinition="agent") == "InvalidParameterException"
    assert listed() == [a2, b1]
    assert listed(status="ALL") == [a1, a2, b1]
    # The family's latest ACTIVE revision is what a bare family names; revisions are never reused.
    assert daemon_td(ecs, "agent").endswith("agent:3")


def test_daemon_runs_one_task_per_active_instance_and_follows_draining(ecs):
    cp = provider(ecs)
    inst = instance_arn(ecs)
    td = daemon_td(ecs)
    resp = ecs.create_daemon(daemonName="agent", daemonTaskDefinitionArn=td, capacityProviderArns=[cp],
                             propagateTags="DAEMON", enableExecuteCommand=True, enableECSManagedTags=True,
                             tags=[{"key": "team", "value": "ops"}], clientToken="tok-1")
    darn = resp["daemonArn"]
    assert darn == "arn:aws:ecs:us-east-1:000000000000:daemon/default/agent" and resp["status"] == "ACTIVE"
    ecs.get_waiter("daemon_active").wait(daemonArn=darn, WaiterConfig=FAST)
    ecs.get_waiter("daemon_deployment_successful").wait(daemonDeploymentArns=[resp["deploymentArn"]],
                                                        WaiterConfig=FAST)
    # A retry with the same client token is the same daemon.
    again = ecs.create_daemon(daemonName="agent", daemonTaskDefinitionArn=td, capacityProviderArns=[cp],
                              propagateTags="DAEMON", enableExecuteCommand=True, enableECSManagedTags=True,
                              tags=[{"key": "team", "value": "ops"}], clientToken="tok-1")
    assert again["deploymentArn"] == resp["deploymentArn"]

    tasks = daemon_tasks(ecs)
    assert len(tasks) == 1, tasks
    task = tasks[0]
    assert task["group"] == "daemon:agent" and task["containerInstanceArn"] == inst
    assert task["lastStatus"] == "RUNNING" and task["taskDefinitionArn"] == td
    assert task["enableExecuteCommand"] is True and task["capacityProviderName"] == "asg-cp"
    tags = {t["key"]: t["value"] for t in task["tags"]}
    assert tags == {"team": "ops", "aws:ecs:clusterName": "default", "aws:ecs:daemonName": "agent"}
    assert ecs.list_tags_for_resource(resourceArn=darn)["tags"] == [{"key": "team", "value": "ops"}]
    ecs.tag_resource(resourceArn=td, tags=[{"key": "k", "value": "v"}])
    assert ecs.list_tags_for_resource(resourceArn=td)["tags"] == [{"key": "k", "value": "v"}]
    assert marker_of(task) == "v1"

    detail = ecs.describe_daemon(daemonArn=darn)["daemon"]
    assert detail["deploymentArn"] == resp["deploymentArn"] and detail["status"] == "ACTIVE"
    [rev] = detail["currentRevisions"]
    assert rev["totalRunningCount"] == 1 and rev["capacityProviders"] == [{"arn": cp, "runningCount": 1}]
    revision = ecs.describe_daemon_revisions(daemonRevisionArns=[rev["arn"]])["daemonRevisions"][0]
    assert revision["daemonTaskDefinitionArn"] == td and revision["propagateTags"] == "DAEMON"
    assert revision["containerImages"] == [{"containerName": "agent", "image": IMAGE}]
    assert revision["enableExecuteCommand"] is True and revision["daemonArn"] == darn
    assert task["startedBy"] == rev["arn"].rsplit("/", 1)[1]

    # DRAINING: the daemon task leaves the instance and nothing takes its place; ACTIVE again: one task again.
    ecs.update_container_instances_state(containerInstances=[inst], status="DRAINING")
    stopped, _ = wait_stopped(ecs, task["taskArn"])
    assert stopped["stopCode"] == "ServiceSchedulerInitiated"
    time.sleep(1)  # a pass that would wrongly place a task on the DRAINING instance has had its chance
    assert daemon_tasks(ecs) == []
    ecs.update_container_instances_state(containerInstances=[inst], status="ACTIVE")
    wait_until(lambda: daemon_tasks(ecs), lambda ts: len(ts) == 1 and ts[0]["lastStatus"] == "RUNNING")

    listed = ecs.list_daemons()["daemonSummariesList"]
    assert [d["daemonArn"] for d in listed] == [darn] and listed[0]["status"] == "ACTIVE"
    assert ecs.list_daemons(capacityProviderArns=[cp])["daemonSummariesList"] == listed
    other = "arn:aws:ecs:us-east-1:000000000000:capacity-provider/other"
    assert ecs.list_daemons(capacityProviderArns=[other])["daemonSummariesList"] == []

    # Delete: DELETE_IN_PROGRESS, its task stops, the deletion deployment succeeds, the daemon is gone.
    gone = ecs.delete_daemon(daemonArn=darn)
    assert gone["status"] == "DELETE_IN_PROGRESS" and gone["deploymentArn"] != resp["deploymentArn"]
    assert error_code(ecs.update_daemon, daemonArn=darn, daemonTaskDefinitionArn=td,
                      capacityProviderArns=[cp]) in ("DaemonNotActiveException", "DaemonNotFoundException")
    ecs.get_waiter("daemon_deployment_successful").wait(daemonDeploymentArns=[gone["deploymentArn"]],
                                                        WaiterConfig=FAST)
    assert daemon_tasks(ecs) == []
    assert error_code(ecs.describe_daemon, daemonArn=darn) == "DaemonNotFoundException"
    assert ecs.list_daemons()["daemonSummariesList"] == []
    deps = ecs.list_daemon_deployments(daemonArn=darn)["daemonDeployments"]
    assert [d["daemonDeploymentArn"] for d in deps] == [gone["deploymentArn"], resp["deploymentArn"]]


def test_update_rolls_tasks_to_the_new_revision(ecs, dsrv, aws_for):
    aws = aws_for(dsrv)
    cp = provider(ecs)
    v1, v2, v3 = daemon_td(ecs, marker="v1"), daemon_td(ecs, marker="v2"), daemon_td(ecs, marker="v3")
    first = ecs.create_daemon(daemonName="agent", daemonTaskDefinitionArn=v1, capacityProviderArns=[cp])
    darn = first["daemonArn"]
    ecs.get_waiter("daemon_deployment_successful").wait(daemonDeploymentArns=[first["deploymentArn"]],
                                                        WaiterConfig=FAST)
    old = daemon_tasks(ecs)[0]

    # Two updates back to back: the first deployment is superseded (STOPPED), the second rolls the task to v3.
    second = ecs.update_daemon(daemonArn=darn, daemonTaskDefinitionArn=v2, capacityProviderArns=[cp],
                               deploymentConfiguration={"drainPercent": 100.0, "bakeTimeInMinutes": 0})
    third = ecs.update_daemon(daemonArn=darn, daemonTaskDefinitionArn=v3, capacityProviderArns=[cp])
    ecs.get_waiter("daemon_deployment_stopped").wait(daemonDeploymentArns=[second["deploymentArn"]],
                                                     WaiterConfig=FAST)
    ecs.get_waiter("daemon_deployment_successful").wait(daemonDeploymentArns=[third["deploymentArn"]],
                                                        WaiterConfig=FAST)
    assert wait_stopped(ecs, old["taskArn"])[0]["stopCode"] == "ServiceSchedulerInitiated"
    [task] = daemon_tasks(ecs)
    assert task["taskDefinitionArn"] == v3 and task["lastStatus"] == "RUNNING" and marker_of(task) == "v3"

    dep = ecs.describe_daemon_deployments(daemonDeploymentArns=[third["deploymentArn"]])["daemonDeployments"][0]
    assert dep["deploymentConfiguration"] == {"drainPercent": 100.0, "bakeTimeInMinutes": 0}
    assert dep["targetDaemonRevision"]["totalRunningInstanceCount"] == 1
    assert dep["targetDaemonRevision"]["totalDrainingInstanceCount"] == 0
    assert dep["status"] == "SUCCESSFUL" and "finishedAt" in dep
    target = ecs.describe_daemon_revisions(daemonRevisionArns=[dep["targetDaemonRevision"]["arn"]])
    assert target["daemonRevisions"][0]["daemonTaskDefinitionArn"] == v3 and target["failures"] == []

    # Listed newest first, filtered by status; unknown ARNs are failures with reason MISSING.
    statuses = [(d["daemonDeploymentArn"], d["status"]) for d in
                ecs.list_daemon_deployments(daemonArn=darn)["daemonDeployments"]]
    assert statuses == [(third["deploymentArn"], "SUCCESSFUL"), (second["deploymentArn"], "STOPPED"),
                        (first["deploymentArn"], "SUCCESSFUL")]
    only = ecs.list_daemon_deployments(daemonArn=darn, status=["STOPPED"])["daemonDeployments"]
    assert [d["daemonDeploymentArn"] for d in only] == [second["deploymentArn"]]
    page = ecs.list_daemon_deployments(daemonArn=darn, maxResults=1)
    assert len(page["daemonDeployments"]) == 1 and page["nextToken"]
    rest = ecs.list_daemon_deployments(daemonArn=darn, maxResults=2, nextToken=page["nextToken"])
    assert [(d["daemonDeploymentArn"], d["status"]) for d in [*page["daemonDeployments"], *rest["daemonDeployments"]]] \
        == statuses and "nextToken" not in rest
    missing = third["deploymentArn"].rsplit("/", 1)[0] + "/0000000000000000000"
    got = ecs.describe_daemon_deployments(daemonDeploymentArns=[missing])
    assert got["daemonDeployments"] == [] and got["failures"] == [{"arn": missing, "reason": "MISSING"}]

    # The AWS CLI sees the same daemon.
    assert aws("ecs", "describe-daemon", "--daemon-arn", darn)["daemon"]["status"] == "ACTIVE"
    assert [d["daemonArn"] for d in aws("ecs", "list-daemons")["daemonSummariesList"]] == [darn]
    ecs.delete_daemon(daemonArn=darn)
    wait_until(lambda: daemon_tasks(ecs), lambda ts: ts == [])


def test_daemon_errors_change_nothing(ecs):
    cp = provider(ecs)
    td = daemon_td(ecs)
    good = {"daemonName": "agent", "daemonTaskDefinitionArn": td, "capacityProviderArns": [cp]}
    ecs.create_cluster(clusterName="bare")
    cases = [
        ({"clusterArn": "nowhere"}, "ClusterNotFoundException"),
        ({"clusterArn": "bare"}, "InvalidParameterException"),  # asg-cp is not on that cluster
        ({"capacityProviderArns": ["arn:aws:ecs:us-east-1:000000000000:capacity-provider/FARGATE"]},
         "InvalidParameterException"),
        ({"capacityProviderArns": ["arn:aws:ecs:us-east-1:000000000000:capacity-provider/other"]},
         "InvalidParameterException"),
        ({"daemonName": "bad name"}, "InvalidParameterException"),
        ({"daemonTaskDefinitionArn": td.replace(":1", ":9")}, "InvalidParameterException"),
        ({"deploymentConfiguration": {"drainPercent": 101.0}}, "InvalidParameterException"),
        ({"tags": [{"key": "aws:x", "value": "y"}]}, "InvalidParameterException"),
    ]
    for change, code in cases:
        assert error_code(ecs.create_daemon, **{**good, **change}) == code, change
    assert ecs.list_daemons()["daemonSummariesList"] == []
    assert daemon_tasks(ecs) == []
    unknown = "arn:aws:ecs:us-east-1:000000000000:daemon/default/nope"
    assert error_code(ecs.describe_daemon, daemonArn=unknown) == "DaemonNotFoundException"
    assert error_code(ecs.update_daemon, daemonArn=unknown, daemonTaskDefinitionArn=td,
                      capacityProviderArns=[cp]) == "DaemonNotFoundException"
    assert error_code(ecs.delete_daemon, daemonArn=unknown) == "DaemonNotFoundException"
    assert error_code(ecs.describe_daemon,
                      daemonArn="arn:aws:ecs:us-east-1:000000000000:daemon/nocluster/x") == "ClusterNotFoundException"
    assert error_code(ecs.describe_daemon, daemonArn="not-an-arn") == "InvalidParameterException"
    assert error_code(ecs.list_daemons, clusterArn="nowhere") == "ClusterNotFoundException"

    darn = ecs.create_daemon(**good)["daemonArn"]
    # A definition a daemon runs stays DELETE_IN_PROGRESS until the daemon is gone.
    ecs.delete_daemon_task_definition(daemonTaskDefinition=td)
    assert ecs.describe_daemon_task_definition(daemonTaskDefinition=td)["daemonTaskDefinition"][
        "status"] == "DELETE_IN_PROGRESS"
    before = ecs.describe_daemon(daemonArn=darn)["daemon"]
    assert error_code(ecs.create_daemon, **good) == "InvalidParameterException"
    assert error_code(ecs.update_daemon, daemonArn=darn, daemonTaskDefinitionArn=td,
                      capacityProviderArns=[cp]) == "InvalidParameterException"  # not ACTIVE any more
    assert ecs.describe_daemon(daemonArn=darn)["daemon"]["deploymentArn"] == before["deploymentArn"]
    gone = ecs.delete_daemon(daemonArn=darn)
    ecs.get_waiter("daemon_deployment_successful").wait(daemonDeploymentArns=[gone["deploymentArn"]],
                                                        WaiterConfig=FAST)
    ecs.get_waiter("daemon_task_definition_deleted").wait(daemonTaskDefinition=td, WaiterConfig=FAST)


def test_daemon_task_is_readopted_after_a_crash(ecs, dsrv):
    """ecsd killed with SIGKILL: after the restart the daemon's one task is re-adopted, not launched twice."""
    cp = provider(ecs)
    made = ecs.create_daemon(daemonName="agent", daemonTaskDefinitionArn=daemon_td(ecs), capacityProviderArns=[cp])
    ecs.get_waiter("daemon_deployment_successful").wait(daemonDeploymentArns=[made["deploymentArn"]],
                                                        WaiterConfig=FAST)
    [before] = daemon_tasks(ecs)
    dsrv.restart(kill=True)
    ecs = make_client(dsrv)
    # Every pass visits every daemon: once a daemon made after the restart has its task, "agent" has had a pass.
    probe = ecs.create_daemon(daemonName="probe", daemonTaskDefinitionArn=daemon_td(ecs, "probe"),
                              capacityProviderArns=[cp])
    ecs.get_waiter("daemon_deployment_successful").wait(daemonDeploymentArns=[probe["deploymentArn"]],
                                                        WaiterConfig=FAST)
    [after] = [t for t in daemon_tasks(ecs) if t["group"] == "daemon:agent"]
    assert after["taskArn"] == before["taskArn"] and after["lastStatus"] == "RUNNING"
    assert "task without a valid task definition ARN" not in dsrv.logs()
    for arn in (made["daemonArn"], probe["daemonArn"]):
        gone = ecs.delete_daemon(daemonArn=arn)
        ecs.get_waiter("daemon_deployment_successful").wait(daemonDeploymentArns=[gone["deploymentArn"]],
                                                            WaiterConfig=FAST)


def test_daemon_task_runs_before_a_service_task_on_the_instance(ecs):
    """A service created right after the daemon places its task on the instance only once the daemon's task there
    is RUNNING (ECS starts an instance's daemons before its application tasks)."""
    cp = provider(ecs)
    made = ecs.create_daemon(daemonName="agent", daemonTaskDefinitionArn=daemon_td(ecs), capacityProviderArns=[cp])
    web = ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "web", "image": IMAGE, "memory": 16, "stopTimeout": 1, "command": ["sleep", "600"]}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(serviceName="web", taskDefinition=web, desiredCount=1)
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST)
    [daemon] = daemon_tasks(ecs)
    [arn] = ecs.list_tasks(serviceName="web")["taskArns"]
    app = ecs.describe_tasks(tasks=[arn])["tasks"][0]
    assert app["containerInstanceArn"] == daemon["containerInstanceArn"]
    assert app["createdAt"] >= daemon["startedAt"], (app["createdAt"], daemon["startedAt"])
    ecs.delete_service(service="web", force=True)
    gone = ecs.delete_daemon(daemonArn=made["daemonArn"])
    ecs.get_waiter("daemon_deployment_successful").wait(daemonDeploymentArns=[gone["deploymentArn"]],
                                                        WaiterConfig=FAST)
    wait_until(lambda: ecs.list_tasks(serviceName="web")["taskArns"], lambda ts: ts == [])
