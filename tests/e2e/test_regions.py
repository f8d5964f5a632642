"""Regions come from the SigV4 credential scope; unsigned requests use --region.

Each region has its own default cluster, clusters and task definitions.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers import Raw, cluster_arn, list_all_clusters, register, taskdef_arn

EU = "eu-west-1"


def test_default_cluster_exists_per_region(ecsd, ecs_for):
    eu = ecs_for(ecsd, EU)
    assert eu.list_clusters()["clusterArns"] == [cluster_arn("default", EU)]
    [c] = eu.describe_clusters(clusters=["default"])["clusters"]
    assert c["clusterArn"] == "arn:aws:ecs:eu-west-1:000000000000:cluster/default"


def test_cluster_arn_carries_the_signing_region(ecsd, ecs_for):
    c = ecs_for(ecsd, EU).create_cluster(clusterName="euro")["cluster"]
    assert c["clusterArn"] == "arn:aws:ecs:eu-west-1:000000000000:cluster/euro"


def test_clusters_are_invisible_across_regions(ecsd, ecs_for):
    eu, us = ecs_for(ecsd, EU), ecs_for(ecsd, "us-east-1")
    eu.create_cluster(clusterName="euro")
    assert sorted(list_all_clusters(eu)) == sorted([cluster_arn("default", EU), cluster_arn("euro", EU)])
    assert list_all_clusters(us) == [cluster_arn("default")]
    resp = us.describe_clusters(clusters=["euro"])
    assert resp["clusters"] == []
    assert resp["failures"] == [{"arn": cluster_arn("euro"), "reason": "MISSING"}]


def test_same_cluster_name_in_two_regions_is_two_clusters(ecsd, ecs_for):
    eu, us = ecs_for(ecsd, EU), ecs_for(ecsd, "us-east-1")
    eu.create_cluster(clusterName="shared", tags=[{"key": "r", "value": "eu"}])
    us.create_cluster(clusterName="shared", tags=[{"key": "r", "value": "us"}])
    eu.delete_cluster(cluster="shared")
    [c] = us.describe_clusters(clusters=["shared"], include=["TAGS"])["clusters"]
    assert c["status"] == "ACTIVE"
    assert c["tags"] == [{"key": "r", "value": "us"}]
    assert cluster_arn("shared", EU) not in list_all_clusters(eu)


def test_task_definition_revisions_are_per_region(ecsd, ecs_for):
    eu, us = ecs_for(ecsd, EU), ecs_for(ecsd, "us-east-1")
    assert register(eu, "web")["taskDefinitionArn"] == taskdef_arn("web", 1, EU)
    assert register(eu, "web")["revision"] == 2
    assert register(us, "web")["taskDefinitionArn"] == taskdef_arn("web", 1)
    assert us.list_task_definitions()["taskDefinitionArns"] == [taskdef_arn("web", 1)]
    assert eu.list_task_definitions()["taskDefinitionArns"] == [taskdef_arn("web", 1, EU),
                                                               taskdef_arn("web", 2, EU)]


def test_describe_other_regions_arn_is_not_found(ecsd, ecs_for):
    eu, us = ecs_for(ecsd, EU), ecs_for(ecsd, "us-east-1")
    register(eu, "only-eu")
    with pytest.raises(ClientError) as exc:
        us.describe_task_definition(taskDefinition="only-eu:1")
    assert exc.value.response["Error"]["Code"] == "ClientException"


def test_unsigned_requests_use_the_configured_region(ecsd_factory, ecs_for):
    srv = ecsd_factory(region="ap-southeast-2")
    raw = Raw(srv)
    c = raw.call("CreateCluster", {"clusterName": "unsigned"})["cluster"]
    assert c["clusterArn"] == "arn:aws:ecs:ap-southeast-2:000000000000:cluster/unsigned"
    assert sorted(raw.call("ListClusters", {})["clusterArns"]) == [
        cluster_arn("default", "ap-southeast-2"), cluster_arn("unsigned", "ap-southeast-2")]
    # A client signing for ap-southeast-2 sees the same cluster; one signing for us-east-1 does not.
    assert cluster_arn("unsigned", "ap-southeast-2") in list_all_clusters(ecs_for(srv, "ap-southeast-2"))
    assert list_all_clusters(ecs_for(srv, "us-east-1")) == [cluster_arn("default")]


def test_account_id_flag_shapes_arns(ecsd_factory, ecs_for):
    srv = ecsd_factory(account_id="123456789012")
    ecs = ecs_for(srv, "us-east-1")
    assert ecs.list_clusters()["clusterArns"] == ["arn:aws:ecs:us-east-1:123456789012:cluster/default"]
    td = register(ecs, "acct")
    assert td["taskDefinitionArn"] == "arn:aws:ecs:us-east-1:123456789012:task-definition/acct:1"
