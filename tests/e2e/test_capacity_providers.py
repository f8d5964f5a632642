"""Capacity providers: Create/Describe/Update/DeleteCapacityProvider and PutClusterCapacityProviders, through boto3
and the AWS CLI. (RunTask and services under a strategy: tests/e2e/docker/test_capacity.py.)"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers import ACCOUNT, REGION, cluster_arn, error_code, http_status, make_client

ASG = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:uuid:autoScalingGroupName/asg-1"


def cp_arn(name: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/{name}"


def create(ecs, name: str = "asg-cp", **kw):
    kw.setdefault("autoScalingGroupProvider", {"autoScalingGroupArn": ASG})
    return ecs.create_capacity_provider(name=name, **kw)["capacityProvider"]


def test_fargate_providers_exist_everywhere(ecs):
    resp = ecs.describe_capacity_providers()
    assert [(p["name"], p["status"], p["capacityProviderArn"]) for p in resp["capacityProviders"]] == [
        ("FARGATE", "ACTIVE", cp_arn("FARGATE")), ("FARGATE_SPOT", "ACTIVE", cp_arn("FARGATE_SPOT"))]
    assert resp["failures"] == []
    resp = ecs.describe_capacity_providers(capacityProviders=["FARGATE_SPOT", cp_arn("FARGATE"), "nope"])
    assert [p["name"] for p in resp["capacityProviders"]] == ["FARGATE_SPOT", "FARGATE"]
    assert resp["failures"] == [{"arn": "nope", "reason": "MISSING"}]


def test_create_describe_update_delete(ecs):
    p = create(
        ecs, autoScalingGroupProvider={"autoScalingGroupArn": ASG, "managedScaling": {"targetCapacity": 80}},
        tags=[{"key": "team", "value": "infra"}])
    assert p["name"] == "asg-cp" and p["status"] == "ACTIVE" and p["capacityProviderArn"] == cp_arn("asg-cp")
    asg = p["autoScalingGroupProvider"]
    assert asg["autoScalingGroupArn"] == ASG
    assert asg["managedScaling"] == {"status": "ENABLED", "targetCapacity": 80, "minimumScalingStepSize": 1,
                                     "maximumScalingStepSize": 10000, "instanceWarmupPeriod": 300}
    assert asg["managedTerminationProtection"] == "DISABLED"
    assert p["tags"] == [{"key": "team", "value": "infra"}]

    [d] = ecs.describe_capacity_providers(capacityProviders=["asg-cp"], include=["TAGS"])["capacityProviders"]
    assert d["tags"] == [{"key": "team", "value": "infra"}]
    [d] = ecs.describe_capacity_providers(capacityProviders=[cp_arn("asg-cp")])["capacityProviders"]
    assert "tags" not in d or d["tags"] == []
    names = [x["name"] for x in ecs.describe_capacity_providers()["capacityProviders"]]
    assert names == ["FARGATE", "FARGATE_SPOT", "asg-cp"]

    u = ecs.update_capacity_provider(name="asg-cp", autoScalingGroupProvider={
        "managedScaling": {"status": "DISABLED"}, "managedDraining": "DISABLED"})["capacityProvider"]
    assert u["autoScalingGroupProvider"]["managedScaling"]["status"] == "DISABLED"
    assert u["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 80
    assert u["autoScalingGroupProvider"]["managedDraining"] == "DISABLED"
    assert u["updateStatus"] == "UPDATE_COMPLETE"

    gone = ecs.delete_capacity_provider(capacityProvider="asg-cp")["capacityProvider"]
    assert gone["status"] == "INACTIVE" and gone["updateStatus"] == "DELETE_COMPLETE"
    assert [x["name"] for x in ecs.describe_capacity_providers()["capacityProviders"]] == ["FARGATE",
                                                                                          "FARGATE_SPOT"]
    [d] = ecs.describe_capacity_providers(capacityProviders=["asg-cp"])["capacityProviders"]
    assert d["status"] == "INACTIVE"
    # The name can be used again.
    assert create(ecs)["status"] == "ACTIVE"


def test_describe_pages(ecs):
    for i in range(11):
        create(ecs, f"cp{i:02d}")
    first = ecs.describe_capacity_providers(maxResults=10)
    assert len(first["capacityProviders"]) == 10
    second = ecs.describe_capacity_providers(maxResults=10, nextToken=first["nextToken"])
    names = [p["name"] for p in first["capacityProviders"] + second["capacityProviders"]]
    assert names == ["FARGATE", "FARGATE_SPOT"] + [f"cp{i:02d}" for i in range(11)]
    assert "nextToken" not in second


def test_put_cluster_capacity_providers(ecs):
    create(ecs)
    ecs.create_cluster(clusterName="cap")
    strategy = [{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 3}]
    c = ecs.put_cluster_capacity_providers(cluster="cap", capacityProviders=["FARGATE", "FARGATE_SPOT", "asg-cp"],
                                           defaultCapacityProviderStrategy=strategy)["cluster"]
    assert c["capacityProviders"] == ["FARGATE", "FARGATE_SPOT", "asg-cp"]
    assert c["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "base": 0, "weight": 3}]
    [d] = ecs.describe_clusters(clusters=["cap"])["clusters"]
    assert d["capacityProviders"] == ["FARGATE", "FARGATE_SPOT", "asg-cp"]
    assert d["defaultCapacityProviderStrategy"] == c["defaultCapacityProviderStrategy"]
    # DescribeCapacityProviders with a cluster: the providers on it.
    on = ecs.describe_capacity_providers(cluster="cap")["capacityProviders"]
    assert [p["name"] for p in on] == ["FARGATE", "FARGATE_SPOT", "asg-cp"]
    # An Auto Scaling group provider belongs to one cluster; one on a cluster cannot be deleted.
    ecs.create_cluster(clusterName="other")
    with pytest.raises(ClientError) as exc:
        ecs.put_cluster_capacity_providers(cluster="other", capacityProviders=["asg-cp"],
                                           defaultCapacityProviderStrategy=[])
    assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ecs.delete_capacity_provider(capacityProvider="asg-cp")
    assert error_code(exc) == "ClientException"
    # Removed from the cluster (an empty default strategy is allowed), it can be deleted.
    ecs.put_cluster_capacity_providers(cluster="cap", capacityProviders=["FARGATE"],
                                       defaultCapacityProviderStrategy=[])
    assert ecs.delete_capacity_provider(capacityProvider=cp_arn("asg-cp"))["capacityProvider"]["status"] == \
        "INACTIVE"


def test_create_cluster_with_providers_is_checked(ecs):
    c = ecs.create_cluster(clusterName="withcp", capacityProviders=["FARGATE_SPOT"],
                           defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT"}])["cluster"]
    assert c["defaultCapacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "base": 0, "weight": 0}]
    with pytest.raises(ClientError) as exc:
        ecs.create_cluster(clusterName="badcp", capacityProviders=["FARGATE"],
                           defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}])
    assert error_code(exc) == "InvalidParameterException"
    assert ecs.describe_clusters(clusters=["badcp"])["clusters"] == []


def test_providers_are_per_region_and_survive_restart(ecsd, ecs):
    create(ecs, "kept")
    ecsd.restart()
    ecs = make_client(ecsd)
    assert [p["name"] for p in ecs.describe_capacity_providers(capacityProviders=["kept"])["capacityProviders"]] \
        == ["kept"]
    west = make_client(ecsd, region="eu-west-1")
    assert west.describe_capacity_providers(capacityProviders=["kept"])["failures"][0]["reason"] == "MISSING"


@pytest.mark.parametrize("call, code", [
    (lambda ecs: create(ecs, "FARGATE_X"), "InvalidParameterException"),
    (lambda ecs: create(ecs, "ecs-thing"), "InvalidParameterException"),
    (lambda ecs: create(ecs, "bad name"), "InvalidParameterException"),
    (lambda ecs: create(ecs, "x", autoScalingGroupProvider={
        "autoScalingGroupArn": ASG, "managedTerminationProtection": "ENABLED",
        "managedScaling": {"status": "DISABLED"}}), "InvalidParameterException"),
    (lambda ecs: create(ecs, "x", autoScalingGroupProvider={
        "autoScalingGroupArn": ASG, "managedScaling": {"minimumScalingStepSize": 5,
                                                       "maximumScalingStepSize": 2}}), "InvalidParameterException"),
    (lambda ecs: ecs.create_capacity_provider(name="mi", managedInstancesProvider={
        "infrastructureRoleArn": "arn:aws:iam::000000000000:role/r",
        "instanceLaunchTemplate": {"ec2InstanceProfileArn": "arn:aws:iam::000000000000:instance-profile/p",
                                   "networkConfiguration": {"subnets": ["subnet-1"]}}}),
     "UnsupportedFeatureException"),
    (lambda ecs: ecs.create_capacity_provider(name="none"), "InvalidParameterException"),
    (lambda ecs: ecs.update_capacity_provider(name="ghost", autoScalingGroupProvider={
        "managedDraining": "ENABLED"}), "ClientException"),
    (lambda ecs: ecs.update_capacity_provider(name="FARGATE", autoScalingGroupProvider={
        "managedDraining": "ENABLED"}), "ClientException"),
    (lambda ecs: ecs.delete_capacity_provider(capacityProvider="FARGATE"), "ClientException"),
    (lambda ecs: ecs.delete_capacity_provider(capacityProvider="ghost"), "ClientException"),
    (lambda ecs: ecs.describe_capacity_providers(maxResults=11), "InvalidParameterException"),
    (lambda ecs: ecs.describe_capacity_providers(cluster="ghost"), "ClusterNotFoundException"),
    (lambda ecs: ecs.put_cluster_capacity_providers(cluster="ghost", capacityProviders=["FARGATE"],
                                                    defaultCapacityProviderStrategy=[]), "ClusterNotFoundException"),
    (lambda ecs: ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["ghost"],
                                                    defaultCapacityProviderStrategy=[]),
     "InvalidParameterException"),
    (lambda ecs: ecs.put_cluster_capacity_providers(
        cluster="default", capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                                         {"capacityProvider": "FARGATE_SPOT", "base": 2, "weight": 1}]),
     "InvalidParameterException"),
    (lambda ecs: ecs.put_cluster_capacity_providers(
        cluster="default", capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE"}, {"capacityProvider": "FARGATE_SPOT"}]),
     "InvalidParameterException"),
    (lambda ecs: ecs.put_cluster_capacity_providers(
        cluster="default", capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1},
                                         {"capacityProvider": "FARGATE", "weight": 1}]),
     "InvalidParameterException"),
])
def test_errors_change_nothing(ecs, call, code):
    with pytest.raises(ClientError) as exc:
        call(ecs)
    assert error_code(exc) == code
    assert http_status(exc) == 400
    assert [p["name"] for p in ecs.describe_capacity_providers()["capacityProviders"]] == ["FARGATE",
                                                                                          "FARGATE_SPOT"]
    [d] = ecs.describe_clusters(clusters=["default"])["clusters"]
    assert d["capacityProviders"] == [] and d["defaultCapacityProviderStrategy"] == []


def test_mixing_fargate_and_asg_in_a_strategy_is_invalid(ecs):
    create(ecs)
    with pytest.raises(ClientError) as exc:
        ecs.put_cluster_capacity_providers(
            cluster="default", capacityProviders=["FARGATE", "asg-cp"],
            defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1},
                                             {"capacityProvider": "asg-cp", "weight": 1}])
    assert error_code(exc) == "InvalidParameterException"


def test_cli_capacity_providers(aws, ecsd):
    out = aws("ecs", "create-capacity-provider", "--name", "cli-cp", "--auto-scaling-group-provider",
              f"autoScalingGroupArn={ASG},managedScaling={{status=ENABLED,targetCapacity=50}}")
    assert out["capacityProvider"]["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 50
    out = aws("ecs", "put-cluster-capacity-providers", "--cluster", "default", "--capacity-providers",
              "FARGATE", "cli-cp", "--default-capacity-provider-strategy", "capacityProvider=cli-cp,weight=1")
    assert out["cluster"]["clusterArn"] == cluster_arn("default")
    assert out["cluster"]["defaultCapacityProviderStrategy"] == [{"capacityProvider": "cli-cp", "weight": 1,
                                                                  "base": 0}]
    out = aws("ecs", "describe-capacity-providers", "--capacity-providers", "cli-cp", "FARGATE")
    assert [p["name"] for p in out["capacityProviders"]] == ["cli-cp", "FARGATE"]
    res = aws.run("ecs", "delete-capacity-provider", "--capacity-provider", "cli-cp", check=False)
    assert res.returncode != 0 and "ClientException" in res.stderr


def test_tag_resource_on_a_capacity_provider(ecs):
    arn = create(ecs)["capacityProviderArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "k", "value": "v"}]
    [d] = ecs.describe_capacity_providers(capacityProviders=[arn], include=["TAGS"])["capacityProviders"]
    assert d["tags"] == [{"key": "k", "value": "v"}]
    ecs.untag_resource(resourceArn=arn, tagKeys=["k"])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == []
    # AWS's own providers and unknown ones cannot be tagged.
    for other in (cp_arn("FARGATE"), cp_arn("ghost")):
        with pytest.raises(ClientError) as exc:
            ecs.tag_resource(resourceArn=other, tags=[{"key": "k", "value": "v"}])
        assert error_code(exc) == "ResourceNotFoundException"
