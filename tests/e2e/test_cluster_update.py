"""UpdateCluster, UpdateClusterSettings and DescribeClusters' `include`, through boto3 and the AWS CLI."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers import error_code, http_status, make_client

EXEC_CONFIG = {"executeCommandConfiguration": {
    "kmsKeyId": "alias/exec", "logging": "OVERRIDE",
    "logConfiguration": {"cloudWatchLogGroupName": "/exec", "cloudWatchEncryptionEnabled": True}}}


def test_update_cluster_settings_is_stored_and_described(ecs):
    ecs.create_cluster(clusterName="ci")
    c = ecs.update_cluster_settings(cluster="ci", settings=[{"name": "containerInsights",
                                                             "value": "enhanced"}])["cluster"]
    assert c["clusterName"] == "ci" and c["status"] == "ACTIVE"
    assert c["settings"] == [{"name": "containerInsights", "value": "enhanced"}]
    [d] = ecs.describe_clusters(clusters=["ci"], include=["SETTINGS"])["clusters"]
    assert d["settings"] == [{"name": "containerInsights", "value": "enhanced"}]


def test_update_cluster_configuration_and_service_connect_defaults(ecs):
    ecs.create_cluster(clusterName="conf")
    ns = "arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-local"
    c = ecs.update_cluster(cluster="conf", configuration=EXEC_CONFIG,
                           serviceConnectDefaults={"namespace": ns},
                           settings=[{"name": "containerInsights", "value": "enabled"}])["cluster"]
    assert c["configuration"] == EXEC_CONFIG
    assert c["serviceConnectDefaults"] == {"namespace": ns}
    assert c["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    [d] = ecs.describe_clusters(clusters=["conf"], include=["CONFIGURATIONS", "SETTINGS"])["clusters"]
    assert d["configuration"] == EXEC_CONFIG
    assert d["serviceConnectDefaults"] == {"namespace": ns}
    # An empty namespace removes the default, as in ECS; what was not named stays.
    c = ecs.update_cluster(cluster="conf", serviceConnectDefaults={"namespace": ""})["cluster"]
    assert "serviceConnectDefaults" not in c
    assert c["configuration"] == EXEC_CONFIG


def test_update_survives_restart(ecsd, ecs):
    ecs.create_cluster(clusterName="keep")
    ecs.update_cluster(cluster="keep", configuration=EXEC_CONFIG)
    ecsd.restart()
    ecs2 = make_client(ecsd)
    [d] = ecs2.describe_clusters(clusters=["keep"], include=["CONFIGURATIONS"])["clusters"]
    assert d["configuration"] == EXEC_CONFIG


def test_describe_leaves_out_what_include_does_not_name(ecs):
    ecs.create_cluster(clusterName="quiet", tags=[{"key": "k", "value": "v"}],
                       settings=[{"name": "containerInsights", "value": "enabled"}], configuration=EXEC_CONFIG)
    [c] = ecs.describe_clusters(clusters=["quiet"])["clusters"]
    assert c["settings"] == []
    assert c["statistics"] == []
    assert c["tags"] == []
    assert "configuration" not in c
    assert "attachments" not in c
    [c] = ecs.describe_clusters(clusters=["quiet"], include=["ATTACHMENTS"])["clusters"]
    assert c["attachments"] == []
    assert "configuration" not in c and c["settings"] == []


def test_describe_statistics_by_launch_type(ecs):
    ecs.create_cluster(clusterName="stats")
    [c] = ecs.describe_clusters(clusters=["stats"], include=["STATISTICS"])["clusters"]
    assert c["statistics"] == [
        {"name": "runningEC2TasksCount", "value": "0"},
        {"name": "runningFargateTasksCount", "value": "0"},
        {"name": "pendingEC2TasksCount", "value": "0"},
        {"name": "pendingFargateTasksCount", "value": "0"},
        {"name": "activeEC2ServiceCount", "value": "0"},
        {"name": "activeFargateServiceCount", "value": "0"},
        {"name": "drainingEC2ServiceCount", "value": "0"},
        {"name": "drainingFargateServiceCount", "value": "0"},
    ]


def test_update_unknown_cluster_is_cluster_not_found(ecs):
    with pytest.raises(ClientError) as exc:
        ecs.update_cluster(cluster="nope", settings=[{"name": "containerInsights", "value": "enabled"}])
    assert error_code(exc) == "ClusterNotFoundException"
    with pytest.raises(ClientError) as exc:
        ecs.update_cluster_settings(cluster="nope", settings=[{"name": "containerInsights", "value": "enabled"}])
    assert error_code(exc) == "ClusterNotFoundException"
    ecs.create_cluster(clusterName="gone")
    ecs.delete_cluster(cluster="gone")
    with pytest.raises(ClientError) as exc:
        ecs.update_cluster_settings(cluster="gone", settings=[{"name": "containerInsights", "value": "enabled"}])
    assert error_code(exc) == "ClusterNotFoundException"


@pytest.mark.parametrize("call", [
    lambda ecs: ecs.update_cluster_settings(cluster="bad", settings=[{"name": "containerInsights",
                                                                      "value": "sometimes"}]),
    lambda ecs: ecs.update_cluster(cluster="bad", configuration={"executeCommandConfiguration": {
        "logging": "OVERRIDE"}}),
    lambda ecs: ecs.update_cluster(cluster="bad", configuration={"executeCommandConfiguration": {
        "logging": "NONE", "logConfiguration": {"s3BucketName": "b"}}}),
    lambda ecs: ecs.create_cluster(clusterName="bad2", settings=[{"name": "containerInsights", "value": "on"}]),
])
def test_bad_settings_and_configuration_are_invalid_and_change_nothing(ecs, call):
    ecs.create_cluster(clusterName="bad")
    with pytest.raises(ClientError) as exc:
        call(ecs)
    assert error_code(exc) == "InvalidParameterException"
    assert http_status(exc) == 400
    [c] = ecs.describe_clusters(clusters=["bad"], include=["SETTINGS", "CONFIGURATIONS"])["clusters"]
    assert c["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    assert "configuration" not in c
    assert ecs.describe_clusters(clusters=["bad2"])["clusters"] == []


def test_update_cluster_settings_needs_settings(raw):
    # botocore refuses to send it without `settings`; the server must refuse it too.
    resp = raw.post("UpdateClusterSettings", {"cluster": "default"})
    assert resp.status == 400
    assert resp.error_type in ("InvalidParameterException", "SerializationException")


def test_cli_update_cluster_and_describe_include(aws):
    aws("ecs", "create-cluster", "--cluster-name", "cli")
    out = aws("ecs", "update-cluster-settings", "--cluster", "cli", "--settings",
              "name=containerInsights,value=enabled")
    assert out["cluster"]["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    out = aws("ecs", "update-cluster", "--cluster", "cli", "--configuration",
              "executeCommandConfiguration={logging=NONE}")
    assert out["cluster"]["configuration"] == {"executeCommandConfiguration": {"logging": "NONE"}}
    out = aws("ecs", "describe-clusters", "--clusters", "cli", "--include", "SETTINGS", "CONFIGURATIONS",
              "STATISTICS")
    [c] = out["clusters"]
    assert c["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert c["configuration"] == {"executeCommandConfiguration": {"logging": "NONE"}}
    assert len(c["statistics"]) == 8
    res = aws.run("ecs", "update-cluster-settings", "--cluster", "missing", "--settings",
                  "name=containerInsights,value=enabled", check=False)
    assert res.returncode != 0 and "ClusterNotFoundException" in res.stderr
