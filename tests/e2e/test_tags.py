"""TagResource / UntagResource / ListTagsForResource on clusters and task definitions."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers import cluster_arn, error_code, http_status, register, taskdef_arn

# Rejections of a bad tagging request: the client errors botocore's model lists for these
# operations (ClusterNotFoundException / ResourceNotFoundException for a well-formed ARN naming
# nothing). The conformance hook additionally requires the code to be modeled for the operation.
REJECT_CODES = ("InvalidParameterException", "ClientException", "ClusterNotFoundException",
                "ResourceNotFoundException")


def tags_of(ecs, arn):
    return sorted(ecs.list_tags_for_resource(resourceArn=arn)["tags"], key=lambda t: t["key"])


def test_new_cluster_has_no_tags(ecs):
    ecs.create_cluster(clusterName="plain")
    assert ecs.list_tags_for_resource(resourceArn=cluster_arn("plain"))["tags"] == []


def test_tags_from_create_cluster_are_listed(ecs):
    tags = [{"key": "team", "value": "core"}, {"key": "env", "value": "dev"}]
    ecs.create_cluster(clusterName="c", tags=tags)
    assert tags_of(ecs, cluster_arn("c")) == sorted(tags, key=lambda t: t["key"])


def test_tag_and_untag_cluster(ecs):
    ecs.create_cluster(clusterName="c")
    arn = cluster_arn("c")
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
    assert tags_of(ecs, arn) == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    ecs.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert tags_of(ecs, arn) == [{"key": "b", "value": "2"}]


def test_tag_overwrites_value_of_existing_key(ecs):
    ecs.create_cluster(clusterName="c", tags=[{"key": "a", "value": "old"}])
    ecs.tag_resource(resourceArn=cluster_arn("c"), tags=[{"key": "a", "value": "new"}])
    assert tags_of(ecs, cluster_arn("c")) == [{"key": "a", "value": "new"}]


def test_untag_absent_key_is_a_no_op(ecs):
    ecs.create_cluster(clusterName="c", tags=[{"key": "a", "value": "1"}])
    ecs.untag_resource(resourceArn=cluster_arn("c"), tagKeys=["zzz"])
    assert tags_of(ecs, cluster_arn("c")) == [{"key": "a", "value": "1"}]


def test_cluster_tags_show_in_describe(ecs):
    ecs.create_cluster(clusterName="c")
    ecs.tag_resource(resourceArn=cluster_arn("c"), tags=[{"key": "k", "value": "v"}])
    [c] = ecs.describe_clusters(clusters=["c"], include=["TAGS"])["clusters"]
    assert c["tags"] == [{"key": "k", "value": "v"}]


def test_tag_default_cluster(ecs):
    ecs.tag_resource(resourceArn=cluster_arn("default"), tags=[{"key": "k", "value": "v"}])
    assert tags_of(ecs, cluster_arn("default")) == [{"key": "k", "value": "v"}]


def test_tags_from_register_are_listed(ecs):
    tags = [{"key": "app", "value": "web"}]
    ecs.register_task_definition(family="t", containerDefinitions=[
        {"name": "a", "image": "busybox:local", "memory": 64}], tags=tags)
    assert tags_of(ecs, taskdef_arn("t", 1)) == tags


def test_tag_and_untag_task_definition(ecs):
    register(ecs, "t")
    arn = taskdef_arn("t", 1)
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "x", "value": "1"}, {"key": "y", "value": "2"}])
    resp = ecs.describe_task_definition(taskDefinition="t:1", include=["TAGS"])
    assert sorted(resp["tags"], key=lambda t: t["key"]) == [{"key": "x", "value": "1"},
                                                             {"key": "y", "value": "2"}]
    ecs.untag_resource(resourceArn=arn, tagKeys=["x", "y"])
    assert tags_of(ecs, arn) == []


def test_tags_are_per_revision(ecs):
    register(ecs, "t")
    register(ecs, "t")
    ecs.tag_resource(resourceArn=taskdef_arn("t", 2), tags=[{"key": "rev", "value": "2"}])
    assert tags_of(ecs, taskdef_arn("t", 1)) == []
    assert tags_of(ecs, taskdef_arn("t", 2)) == [{"key": "rev", "value": "2"}]


@pytest.mark.parametrize("arn", [
    cluster_arn("ghost"),
    taskdef_arn("ghost", 1),
    "not-an-arn",
    "arn:aws:ecs:us-east-1:000000000000:widget/thing",
])
def test_tag_unknown_resource_is_rejected_and_changes_nothing(ecs, arn):
    with pytest.raises(ClientError) as exc:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}])
    assert error_code(exc) in REJECT_CODES
    assert http_status(exc) == 400
    assert [a for a in ecs.list_clusters()["clusterArns"]] == [cluster_arn("default")]
    assert ecs.list_task_definitions()["taskDefinitionArns"] == []


@pytest.mark.parametrize("arn", [cluster_arn("ghost"), taskdef_arn("ghost", 1)])
def test_untag_unknown_resource_is_rejected(ecs, arn):
    with pytest.raises(ClientError) as exc:
        ecs.untag_resource(resourceArn=arn, tagKeys=["k"])
    assert error_code(exc) in REJECT_CODES
    assert http_status(exc) == 400


@pytest.mark.parametrize("arn", [cluster_arn("ghost"), taskdef_arn("ghost", 1)])
def test_list_tags_of_unknown_resource_is_rejected(ecs, arn):
    with pytest.raises(ClientError) as exc:
        ecs.list_tags_for_resource(resourceArn=arn)
    assert error_code(exc) in REJECT_CODES
    assert http_status(exc) == 400


def test_failed_tag_leaves_existing_tags_alone(ecs, raw):
    # boto3 refuses an empty key client-side, so this one goes out raw.
    ecs.create_cluster(clusterName="c", tags=[{"key": "a", "value": "1"}])
    resp = raw.post("TagResource", {"resourceArn": cluster_arn("c"),
                                    "tags": [{"key": "b", "value": "2"}, {"key": "", "value": "x"}]})
    assert resp.status == 400
    assert resp.error_type in REJECT_CODES
    assert tags_of(ecs, cluster_arn("c")) == [{"key": "a", "value": "1"}]


def test_too_many_tags_is_rejected(ecs):
    ecs.create_cluster(clusterName="c")
    with pytest.raises(ClientError) as exc:
        ecs.tag_resource(resourceArn=cluster_arn("c"),
                         tags=[{"key": f"k{i}", "value": "v"} for i in range(51)])
    assert error_code(exc) in REJECT_CODES
    assert tags_of(ecs, cluster_arn("c")) == []
