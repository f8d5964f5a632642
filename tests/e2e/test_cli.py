"""The real `aws ecs` CLI (v1) against ecsd, and ecsd's own command line."""

from __future__ import annotations

import json
import os
import re
import subprocess

from helpers import cluster_arn, taskdef_arn

TASKDEF = {
    "family": "cli-web",
    "networkMode": "bridge",
    "containerDefinitions": [
        {
            "name": "web",
            "image": "busybox:local",
            "cpu": 128,
            "memory": 128,
            "essential": True,
            "command": ["httpd", "-f", "-p", "8080"],
            "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
            "environment": [{"name": "MODE", "value": "cli"}],
            "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2,
                            "retries": 3},
            "dockerLabels": {"via": "cli"},
        }
    ],
    "tags": [{"key": "made-by", "value": "aws-cli"}],
}


def write_taskdef(tmp_path, doc=TASKDEF):
    path = tmp_path / "taskdef.json"
    path.write_text(json.dumps(doc))
    return f"file://{path}"


# --- aws ecs ---------------------------------------------------------------------------------

def test_cli_register_with_cli_input_json_file(aws, tmp_path):
    out = aws("ecs", "register-task-definition", "--cli-input-json", write_taskdef(tmp_path))
    td = out["taskDefinition"]
    assert td["taskDefinitionArn"] == taskdef_arn("cli-web", 1)
    assert td["revision"] == 1
    assert td["status"] == "ACTIVE"
    sent = TASKDEF["containerDefinitions"][0]
    got = td["containerDefinitions"][0]
    for key, value in sent.items():
        assert got[key] == value, key
    assert out["tags"] == TASKDEF["tags"]
    # CLI v1 prints timestamps as received (cli_timestamp_format=none): epoch seconds
    assert isinstance(td["registeredAt"], (int, float))


def test_cli_register_with_container_definitions_file(aws, tmp_path):
    path = tmp_path / "containers.json"
    path.write_text(json.dumps(TASKDEF["containerDefinitions"]))
    out = aws("ecs", "register-task-definition", "--family", "cli-flags",
              "--container-definitions", f"file://{path}")
    assert out["taskDefinition"]["taskDefinitionArn"] == taskdef_arn("cli-flags", 1)


def test_cli_describe_task_definition(aws, tmp_path):
    aws("ecs", "register-task-definition", "--cli-input-json", write_taskdef(tmp_path))
    aws("ecs", "register-task-definition", "--cli-input-json", write_taskdef(tmp_path))
    out = aws("ecs", "describe-task-definition", "--task-definition", "cli-web", "--include", "TAGS")
    assert out["taskDefinition"]["revision"] == 2
    assert out["tags"] == TASKDEF["tags"]
    out = aws("ecs", "describe-task-definition", "--task-definition", taskdef_arn("cli-web", 1))
    assert out["taskDefinition"]["revision"] == 1


def test_cli_list_task_definitions_paging(aws, tmp_path):
    for _ in range(5):
        aws("ecs", "register-task-definition", "--cli-input-json", write_taskdef(tmp_path))
    expected = [taskdef_arn("cli-web", r) for r in range(1, 6)]

    first = aws("ecs", "list-task-definitions", "--max-items", "2", "--page-size", "1")
    assert first["taskDefinitionArns"] == expected[:2]
    assert first["NextToken"]
    second = aws("ecs", "list-task-definitions", "--max-items", "2", "--page-size", "1",
                 "--starting-token", first["NextToken"])
    assert second["taskDefinitionArns"] == expected[2:4]
    third = aws("ecs", "list-task-definitions", "--max-items", "2", "--page-size", "1",
                "--starting-token", second["NextToken"])
    assert third["taskDefinitionArns"] == expected[4:]
    assert "NextToken" not in third

    everything = aws("ecs", "list-task-definitions", "--page-size", "2")
    assert everything["taskDefinitionArns"] == expected
    desc = aws("ecs", "list-task-definitions", "--sort", "DESC", "--page-size", "3")
    assert desc["taskDefinitionArns"] == list(reversed(expected))


def test_cli_list_families(aws, tmp_path):
    aws("ecs", "register-task-definition", "--cli-input-json", write_taskdef(tmp_path))
    aws("ecs", "register-task-definition", "--family", "cli-other", "--container-definitions",
        json.dumps([{"name": "a", "image": "busybox:local", "memory": 32}]))
    out = aws("ecs", "list-task-definition-families", "--page-size", "1")
    assert out["families"] == ["cli-other", "cli-web"]
    out = aws("ecs", "list-task-definition-families", "--family-prefix", "cli-w")
    assert out["families"] == ["cli-web"]


def test_cli_deregister_and_delete(aws, tmp_path):
    aws("ecs", "register-task-definition", "--cli-input-json", write_taskdef(tmp_path))
    out = aws("ecs", "deregister-task-definition", "--task-definition", "cli-web:1")
    assert out["taskDefinition"]["status"] == "INACTIVE"
    assert out["taskDefinition"]["deregisteredAt"]
    out = aws("ecs", "list-task-definitions", "--status", "INACTIVE")
    assert out["taskDefinitionArns"] == [taskdef_arn("cli-web", 1)]
    out = aws("ecs", "delete-task-definitions", "--task-definitions", "cli-web:1")
    assert [t["status"] for t in out["taskDefinitions"]] == ["DELETE_IN_PROGRESS"]
    assert out["failures"] == []


def test_cli_describe_unknown_task_definition_fails(aws):
    res = aws.run("ecs", "describe-task-definition", "--task-definition", "nope:1", check=False)
    assert res.returncode != 0
    assert "ClientException" in res.stderr
    assert "Unable to describe task definition." in res.stderr


def test_cli_clusters(aws):
    out = aws("ecs", "create-cluster", "--cluster-name", "cli-cluster",
              "--tags", "key=team,value=cli", "--settings", "name=containerInsights,value=enabled")
    assert out["cluster"]["clusterArn"] == cluster_arn("cli-cluster")
    assert out["cluster"]["status"] == "ACTIVE"
    out = aws("ecs", "list-clusters")
    assert sorted(out["clusterArns"]) == sorted([cluster_arn("default"), cluster_arn("cli-cluster")])
    out = aws("ecs", "describe-clusters", "--clusters", "cli-cluster", "nope", "--include", "TAGS")
    assert out["clusters"][0]["tags"] == [{"key": "team", "value": "cli"}]
    assert out["failures"] == [{"arn": cluster_arn("nope"), "reason": "MISSING"}]
    out = aws("ecs", "delete-cluster", "--cluster", "cli-cluster")
    assert out["cluster"]["status"] == "INACTIVE"
    assert aws("ecs", "list-clusters")["clusterArns"] == [cluster_arn("default")]


def test_cli_list_clusters_paging(aws):
    for i in range(4):
        aws("ecs", "create-cluster", "--cluster-name", f"pc{i}")
    first = aws("ecs", "list-clusters", "--max-items", "3", "--page-size", "2")
    assert len(first["clusterArns"]) == 3
    rest = aws("ecs", "list-clusters", "--starting-token", first["NextToken"], "--page-size", "2")
    seen = first["clusterArns"] + rest["clusterArns"]
    assert sorted(seen) == sorted([cluster_arn("default")] + [cluster_arn(f"pc{i}") for i in range(4)])


def test_cli_delete_unknown_cluster_fails(aws):
    res = aws.run("ecs", "delete-cluster", "--cluster", "ghost", check=False)
    assert res.returncode != 0
    assert "ClusterNotFoundException" in res.stderr


def test_cli_tags(aws):
    aws("ecs", "create-cluster", "--cluster-name", "tc")
    aws("ecs", "tag-resource", "--resource-arn", cluster_arn("tc"), "--tags", "key=a,value=1")
    out = aws("ecs", "list-tags-for-resource", "--resource-arn", cluster_arn("tc"))
    assert out["tags"] == [{"key": "a", "value": "1"}]
    aws("ecs", "untag-resource", "--resource-arn", cluster_arn("tc"), "--tag-keys", "a")
    assert aws("ecs", "list-tags-for-resource", "--resource-arn", cluster_arn("tc"))["tags"] == []


def test_cli_region_from_signature(aws):
    out = aws("ecs", "create-cluster", "--cluster-name", "euro", region="eu-west-1")
    assert out["cluster"]["clusterArn"] == cluster_arn("euro", "eu-west-1")
    assert aws("ecs", "list-clusters")["clusterArns"] == [cluster_arn("default")]


# --- ecsd's own command line --------------------------------------------------------------------

def run_ecsd(ecsd_bin, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECSD_")}
    return subprocess.run([ecsd_bin, *args], capture_output=True, text=True, timeout=20, env=env,
                          stdin=subprocess.DEVNULL)


def test_ecsd_help(ecsd_bin):
    res = run_ecsd(ecsd_bin, "--help")
    assert res.returncode == 0, res.stderr
    assert "serve" in res.stdout + res.stderr


def test_ecsd_version(ecsd_bin):
    res = run_ecsd(ecsd_bin, "version")
    assert res.returncode == 0, res.stderr
    assert re.search(r"\d+\.\d+", res.stdout), res.stdout


def test_ecsd_unknown_flag_exits_2(ecsd_bin):
    res = run_ecsd(ecsd_bin, "--definitely-not-a-flag")
    assert res.returncode == 2
    assert res.stderr.strip()


def test_ecsd_serve_unknown_flag_exits_2(ecsd_bin, tmp_path):
    res = run_ecsd(ecsd_bin, "serve", "--data-dir", str(tmp_path), "--no-such-option", "1")
    assert res.returncode == 2
    assert res.stderr.strip()


def test_ecsd_configured_by_environment(ecsd_factory, aws_for):
    srv = ecsd_factory(use_flags=False, region="eu-central-1", account_id="111122223333")
    out = aws_for(srv, "eu-central-1")("ecs", "create-cluster", "--cluster-name", "envcfg")
    assert out["cluster"]["clusterArn"] == "arn:aws:ecs:eu-central-1:111122223333:cluster/envcfg"
    # the data dir came from ECSD_DATA_DIR: state survives a restart
    srv.kill9()
    srv.start()
    out = aws_for(srv, "eu-central-1")("ecs", "list-clusters")
    assert "arn:aws:ecs:eu-central-1:111122223333:cluster/envcfg" in out["clusterArns"]
