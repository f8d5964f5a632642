"""Capacity provider strategies on RunTask and services, on the docker backend: the provider each task gets, the
launch type it reports, the cluster's default strategy, and the errors ECS gives. boto3 and the AWS CLI."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers import error_code
from tasklib import IMAGE, register, wait_for

ASG = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:uuid:autoScalingGroupName/asg-1"
FAST = {"Delay": 1, "MaxAttempts": 120}


def sleeper(ecs, family: str = "cap", **kw) -> str:
    return register(ecs, [{"name": "app", "image": IMAGE, "command": ["sleep", "600"], "stopTimeout": 1,
                           "memory": 32}], family=family, **kw)


def stop_all(ecs, arns, cluster="default"):
    for arn in arns:
        ecs.stop_task(cluster=cluster, task=arn)
    for arn in arns:
        wait_for(ecs, arn, lambda t: t["lastStatus"] == "STOPPED", cluster=cluster)


def test_run_task_strategy_picks_providers_as_ecs_reports_them(ecs):
    ecs.create_capacity_provider(name="asg-cp", autoScalingGroupProvider={"autoScalingGroupArn": ASG})
    ecs.create_cluster(clusterName="cap", capacityProviders=["FARGATE", "FARGATE_SPOT"],
                       defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])
    td = sleeper(ecs)
    # base 1 on FARGATE, then FARGATE_SPOT three times as often as FARGATE.
    resp = ecs.run_task(cluster="cap", taskDefinition=td, count=5, capacityProviderStrategy=[
        {"capacityProvider": "FARGATE", "base": 1, "weight": 1}, {"capacityProvider": "FARGATE_SPOT", "weight": 3}])
    assert resp["failures"] == []
    tasks = resp["tasks"]
    names = [t["capacityProviderName"] for t in tasks]
    assert names[0] == "FARGATE"
    assert sorted(names[1:]) == ["FARGATE", "FARGATE_SPOT", "FARGATE_SPOT", "FARGATE_SPOT"]
    assert all(t["launchType"] == "FARGATE" for t in tasks)
    # They really run, and DescribeTasks reports the same.
    for t in tasks:
        got, _ = wait_for(ecs, t["taskArn"], lambda x: x["lastStatus"] == "RUNNING", cluster="cap")
        assert got["capacityProviderName"] == t["capacityProviderName"] and got["launchType"] == "FARGATE"
    # Neither a strategy nor a launch type: the cluster's default strategy.
    [d] = ecs.run_task(cluster="cap", taskDefinition=td)["tasks"]
    assert d["capacityProviderName"] == "FARGATE" and d["launchType"] == "FARGATE"
    # A launch type: no provider.
    [lt] = ecs.run_task(cluster="cap", taskDefinition=td, launchType="EC2")["tasks"]
    assert "capacityProviderName" not in lt and lt["launchType"] == "EC2"
    # STATISTICS counts the Fargate ones as Fargate.
    wait_for(ecs, d["taskArn"], lambda x: x["lastStatus"] == "RUNNING", cluster="cap")
    wait_for(ecs, lt["taskArn"], lambda x: x["lastStatus"] == "RUNNING", cluster="cap")
    [c] = ecs.describe_clusters(clusters=["cap"], include=["STATISTICS"])["clusters"]
    stats = {s["name"]: s["value"] for s in c["statistics"]}
    assert stats["runningFargateTasksCount"] == "6" and stats["runningEC2TasksCount"] == "1"
    # FARGATE_SPOT runs tasks of the cluster: it cannot leave it until they stop.
    with pytest.raises(ClientError) as exc:
        ecs.put_cluster_capacity_providers(cluster="cap", capacityProviders=["FARGATE"],
                                           defaultCapacityProviderStrategy=[])
    assert error_code(exc) == "ResourceInUseException"
    stop_all(ecs, [t["taskArn"] for t in tasks] + [d["taskArn"], lt["taskArn"]], cluster="cap")
    c = ecs.put_cluster_capacity_providers(cluster="cap", capacityProviders=["FARGATE"],
                                           defaultCapacityProviderStrategy=[])["cluster"]
    assert c["capacityProviders"] == ["FARGATE"]


def test_auto_scaling_group_provider_runs_as_ec2(ecs):
    ecs.create_capacity_provider(name="asg-cp", autoScalingGroupProvider={"autoScalingGroupArn": ASG})
    ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["asg-cp"],
                                       defaultCapacityProviderStrategy=[])
    td = sleeper(ecs, requiresCompatibilities=["EC2"])
    [t] = ecs.run_task(taskDefinition=td, capacityProviderStrategy=[{"capacityProvider": "asg-cp"}])["tasks"]
    assert t["capacityProviderName"] == "asg-cp" and t["launchType"] == "EC2"
    got, _ = wait_for(ecs, t["taskArn"], lambda x: x["lastStatus"] == "RUNNING")
    assert got["capacityProviderName"] == "asg-cp"
    stop_all(ecs, [t["taskArn"]])


@pytest.mark.parametrize("kw", [
    {"launchType": "FARGATE", "capacityProviderStrategy": [{"capacityProvider": "FARGATE"}]},
    {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT"}]},  # not on the cluster
    {"capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1},
                                  {"capacityProvider": "FARGATE", "weight": 1}]},
])
def test_run_task_strategy_errors_launch_nothing(ecs, kw):
    ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["FARGATE"],
                                       defaultCapacityProviderStrategy=[])
    td = sleeper(ecs)
    with pytest.raises(ClientError) as exc:
        ecs.run_task(taskDefinition=td, **kw)
    assert error_code(exc) == "InvalidParameterException"
    assert ecs.list_tasks()["taskArns"] == []


def test_fargate_strategy_needs_a_fargate_compatible_definition(ecs):
    ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["FARGATE"],
                                       defaultCapacityProviderStrategy=[])
    td = sleeper(ecs, requiresCompatibilities=["EC2"])
    with pytest.raises(ClientError) as exc:
        ecs.run_task(taskDefinition=td, capacityProviderStrategy=[{"capacityProvider": "FARGATE"}])
    assert error_code(exc) == "ClientException"
    assert ecs.list_tasks()["taskArns"] == []


def test_service_strategy_default_update_and_in_use(ecs, aws_for, dsrv):
    ecs.put_cluster_capacity_providers(
        cluster="default", capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}])
    td = sleeper(ecs, family="capsvc")
    # No launch type and no strategy: the cluster's default, filled in as ECS returns it.
    svc = ecs.create_service(serviceName="web", taskDefinition=td, desiredCount=2)["service"]
    assert svc["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    assert "launchType" not in svc
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST)
    arns = ecs.list_tasks(serviceName="web")["taskArns"]
    tasks = ecs.describe_tasks(tasks=arns)["tasks"]
    assert sorted((t["capacityProviderName"], t["launchType"]) for t in tasks) == [("FARGATE_SPOT", "FARGATE")] * 2
    # FARGATE_SPOT is in use by the service: it cannot leave the cluster.
    with pytest.raises(ClientError) as exc:
        ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["FARGATE"],
                                           defaultCapacityProviderStrategy=[])
    assert error_code(exc) == "ResourceInUseException"
    # UpdateService with a strategy: a new deployment, whose tasks use it (as in ECS, a change of capacity provider
    # strategy deploys, as a task definition change does); the CLI this time.
    aws = aws_for(dsrv)
    out = aws("ecs", "update-service", "--service", "web", "--desired-count", "3", "--capacity-provider-strategy",
              "capacityProvider=FARGATE,weight=1")
    assert out["service"]["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
    assert len(out["service"]["deployments"]) == 2
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST)
    tasks = ecs.describe_tasks(tasks=ecs.list_tasks(serviceName="web")["taskArns"])["tasks"]
    assert sorted(t["capacityProviderName"] for t in tasks) == ["FARGATE"] * 3
    # A provider not on the cluster, or both a launch type and a strategy: InvalidParameterException.
    with pytest.raises(ClientError) as exc:
        ecs.update_service(service="web", capacityProviderStrategy=[{"capacityProvider": "nope"}])
    assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecs.create_service(serviceName="both", taskDefinition=td, desiredCount=0, launchType="FARGATE",
                           capacityProviderStrategy=[{"capacityProvider": "FARGATE"}])
    assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecs.create_service(serviceName="off", taskDefinition=td, desiredCount=0,
                           capacityProviderStrategy=[{"capacityProvider": "asg-none"}])
    assert error_code(exc) == "InvalidParameterException"
    assert ecs.list_services()["serviceArns"] == [svc["serviceArn"]]
    ecs.delete_service(service="web", force=True)
    ecs.get_waiter("services_inactive").wait(services=["web"], WaiterConfig=FAST)
