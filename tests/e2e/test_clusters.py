"""Clusters through boto3: CreateCluster, DescribeClusters, ListClusters, DeleteCluster."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers import cluster_arn, error_code, http_status, list_all_clusters

DEFAULT_ARN = cluster_arn("default")
ZERO_COUNTS = {"registeredContainerInstancesCount": 0, "runningTasksCount": 0,
               "pendingTasksCount": 0, "activeServicesCount": 0}


def test_default_cluster_exists_from_the_start(ecs):
    assert ecs.list_clusters()["clusterArns"] == [DEFAULT_ARN]


def test_describe_default_cluster(ecs):
    resp = ecs.describe_clusters(clusters=["default"])
    assert resp["failures"] == []
    [c] = resp["clusters"]
    assert c["clusterArn"] == DEFAULT_ARN
    assert c["clusterName"] == "default"
    assert c["status"] == "ACTIVE"
    for key, value in ZERO_COUNTS.items():
        assert c[key] == value, key


def test_describe_without_names_describes_default(ecs):
    resp = ecs.describe_clusters()
    assert [c["clusterArn"] for c in resp["clusters"]] == [DEFAULT_ARN]


def test_create_cluster_returns_active_cluster(ecs):
    c = ecs.create_cluster(clusterName="alpha")["cluster"]
    assert c["clusterName"] == "alpha"
    assert c["clusterArn"] == cluster_arn("alpha")
    assert c["status"] == "ACTIVE"
    for key, value in ZERO_COUNTS.items():
        assert c[key] == value, key


def test_create_cluster_without_name_is_default(ecs):
    c = ecs.create_cluster()["cluster"]
    assert c["clusterArn"] == DEFAULT_ARN
    assert ecs.list_clusters()["clusterArns"] == [DEFAULT_ARN]


def test_create_cluster_is_idempotent(ecs):
    first = ecs.create_cluster(clusterName="same")["cluster"]
    second = ecs.create_cluster(clusterName="same")["cluster"]
    assert first["clusterArn"] == second["clusterArn"] == cluster_arn("same")
    assert second["status"] == "ACTIVE"
    assert sorted(ecs.list_clusters()["clusterArns"]) == sorted([DEFAULT_ARN, cluster_arn("same")])


def test_create_cluster_echoes_tags_and_settings(ecs):
    tags = [{"key": "team", "value": "payments"}, {"key": "env", "value": "dev"}]
    settings = [{"name": "containerInsights", "value": "enabled"}]
    c = ecs.create_cluster(clusterName="tagged", tags=tags, settings=settings)["cluster"]
    assert sorted(c["tags"], key=lambda t: t["key"]) == sorted(tags, key=lambda t: t["key"])
    assert c["settings"] == settings


def test_describe_include_tags(ecs):
    tags = [{"key": "team", "value": "payments"}]
    ecs.create_cluster(clusterName="tagged", tags=tags)
    [c] = ecs.describe_clusters(clusters=["tagged"], include=["TAGS"])["clusters"]
    assert c["tags"] == tags


def test_describe_omits_tags_unless_asked(ecs):
    ecs.create_cluster(clusterName="tagged", tags=[{"key": "team", "value": "payments"}])
    [c] = ecs.describe_clusters(clusters=["tagged"])["clusters"]
    assert c.get("tags", []) == []


def test_describe_include_settings(ecs):
    settings = [{"name": "containerInsights", "value": "disabled"}]
    ecs.create_cluster(clusterName="set", settings=settings)
    [c] = ecs.describe_clusters(clusters=["set"], include=["SETTINGS"])["clusters"]
    assert c["settings"] == settings


def test_describe_include_tags_and_settings(ecs):
    tags = [{"key": "a", "value": "1"}]
    settings = [{"name": "containerInsights", "value": "enabled"}]
    ecs.create_cluster(clusterName="both", tags=tags, settings=settings)
    [c] = ecs.describe_clusters(clusters=["both"], include=["TAGS", "SETTINGS"])["clusters"]
    assert c["tags"] == tags
    assert c["settings"] == settings


def test_describe_by_name_and_by_arn(ecs):
    ecs.create_cluster(clusterName="one")
    ecs.create_cluster(clusterName="two")
    resp = ecs.describe_clusters(clusters=["one", cluster_arn("two")])
    assert resp["failures"] == []
    assert [c["clusterName"] for c in resp["clusters"]] == ["one", "two"]


def test_describe_unknown_cluster_is_a_missing_failure(ecs):
    ecs.create_cluster(clusterName="known")
    resp = ecs.describe_clusters(clusters=["known", "unknown", cluster_arn("ghost")])
    assert [c["clusterName"] for c in resp["clusters"]] == ["known"]
    assert sorted(resp["failures"], key=lambda f: f["arn"]) == [
        {"arn": cluster_arn("ghost"), "reason": "MISSING"},
        {"arn": cluster_arn("unknown"), "reason": "MISSING"},
    ]


def test_list_clusters_pagination_visits_each_once(ecs):
    names = [f"c{i}" for i in range(7)]
    for n in names:
        ecs.create_cluster(clusterName=n)
    expected = sorted([DEFAULT_ARN] + [cluster_arn(n) for n in names])
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kw = {"maxResults": 3}
        if token:
            kw["nextToken"] = token
        resp = ecs.list_clusters(**kw)
        assert len(resp["clusterArns"]) <= 3
        seen.extend(resp["clusterArns"])
        pages += 1
        token = resp.get("nextToken")
        if not token:
            break
        assert pages < 10, "paging does not terminate"
    assert pages == 3
    assert sorted(seen) == expected
    assert len(seen) == len(set(seen))


def test_list_clusters_paginator_max_results_one(ecs):
    for n in ("p1", "p2", "p3"):
        ecs.create_cluster(clusterName=n)
    pages = list(ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 1}))
    arns = [a for p in pages for a in p["clusterArns"]]
    assert all(len(p["clusterArns"]) == 1 for p in pages)
    assert sorted(arns) == sorted([DEFAULT_ARN] + [cluster_arn(n) for n in ("p1", "p2", "p3")])


def test_delete_cluster_returns_inactive(ecs):
    ecs.create_cluster(clusterName="doomed")
    c = ecs.delete_cluster(cluster="doomed")["cluster"]
    assert c["clusterArn"] == cluster_arn("doomed")
    assert c["clusterName"] == "doomed"
    assert c["status"] == "INACTIVE"


def test_deleted_cluster_is_not_listed(ecs):
    ecs.create_cluster(clusterName="doomed")
    ecs.delete_cluster(cluster="doomed")
    assert list_all_clusters(ecs) == [DEFAULT_ARN]


def test_deleted_cluster_describes_inactive_or_missing(ecs):
    ecs.create_cluster(clusterName="doomed")
    ecs.delete_cluster(cluster="doomed")
    resp = ecs.describe_clusters(clusters=["doomed"])
    if resp["clusters"]:
        [c] = resp["clusters"]
        assert c["status"] == "INACTIVE"
        assert resp["failures"] == []
    else:
        assert resp["failures"] == [{"arn": cluster_arn("doomed"), "reason": "MISSING"}]


def test_delete_cluster_by_arn(ecs):
    ecs.create_cluster(clusterName="byarn")
    c = ecs.delete_cluster(cluster=cluster_arn("byarn"))["cluster"]
    assert c["status"] == "INACTIVE"
    assert cluster_arn("byarn") not in list_all_clusters(ecs)


def test_delete_unknown_cluster_is_cluster_not_found(ecs):
    with pytest.raises(ClientError) as exc:
        ecs.delete_cluster(cluster="never-existed")
    assert error_code(exc) == "ClusterNotFoundException"
    assert http_status(exc) == 400
    assert list_all_clusters(ecs) == [DEFAULT_ARN]


def test_delete_twice_is_cluster_not_found_or_inactive(ecs):
    ecs.create_cluster(clusterName="twice")
    ecs.delete_cluster(cluster="twice")
    try:
        c = ecs.delete_cluster(cluster="twice")["cluster"]
    except ClientError as err:
        assert err.response["Error"]["Code"] == "ClusterNotFoundException"
    else:
        assert c["status"] == "INACTIVE"
    assert list_all_clusters(ecs) == [DEFAULT_ARN]


def test_recreate_after_delete_is_active_again(ecs):
    ecs.create_cluster(clusterName="phoenix")
    ecs.delete_cluster(cluster="phoenix")
    c = ecs.create_cluster(clusterName="phoenix")["cluster"]
    assert c["status"] == "ACTIVE"
    assert c["clusterArn"] == cluster_arn("phoenix")
    assert cluster_arn("phoenix") in list_all_clusters(ecs)
    [d] = ecs.describe_clusters(clusters=["phoenix"])["clusters"]
    assert d["status"] == "ACTIVE"


@pytest.mark.parametrize("name", ["bad name", "bad/name", "bad:name", "x" * 256, "ümlaut"])
def test_invalid_cluster_name_is_rejected(ecs, name):
    with pytest.raises(ClientError) as exc:
        ecs.create_cluster(clusterName=name)
    assert error_code(exc) in ("InvalidParameterException", "ClientException")
    assert http_status(exc) == 400
    assert list_all_clusters(ecs) == [DEFAULT_ARN]


def test_longest_valid_cluster_name_is_accepted(ecs):
    name = "a-B_9" * 51  # 255 characters
    c = ecs.create_cluster(clusterName=name)["cluster"]
    assert c["clusterName"] == name
    assert c["clusterArn"] == cluster_arn(name)


def test_bad_include_value_is_invalid_parameter(ecs):
    with pytest.raises(ClientError) as exc:
        ecs.describe_clusters(clusters=["default"], include=["EVERYTHING"])
    assert error_code(exc) == "InvalidParameterException"
