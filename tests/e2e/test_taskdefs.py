"""Task definitions through boto3: register, describe, list, families, deregister, delete."""

from __future__ import annotations

import copy
import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from helpers import (error_code, http_status, list_all_families, list_all_taskdefs, make_client,
                     register, simple_container, taskdef_arn)

ROLE = "arn:aws:iam::000000000000:role/web-task"
EXEC_ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"

WEB = {
    "name": "web",
    "image": "public.ecr.aws/nginx/nginx:1.25",
    "cpu": 256,
    "memory": 512,
    "memoryReservation": 256,
    "links": ["sidecar:side"],
    "portMappings": [
        {"containerPort": 80, "hostPort": 8080, "protocol": "tcp", "name": "http", "appProtocol": "http"},
        {"containerPort": 53, "hostPort": 0, "protocol": "udp"},
    ],
    "essential": True,
    "entryPoint": ["/docker-entrypoint.sh"],
    "command": ["nginx", "-g", "daemon off;"],
    "environment": [{"name": "ZED", "value": "last"}, {"name": "ALPHA", "value": "first"},
                    {"name": "EMPTY", "value": ""}],
    "environmentFiles": [{"value": "arn:aws:s3:::config-bucket/web.env", "type": "s3"}],
    "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": False},
                    {"sourceVolume": "scratch", "containerPath": "/scratch", "readOnly": True}],
    "volumesFrom": [{"sourceContainer": "init", "readOnly": True}],
    "linuxParameters": {
        "capabilities": {"add": ["NET_ADMIN", "SYS_TIME"], "drop": ["MKNOD"]},
        "devices": [{"hostPath": "/dev/fuse", "containerPath": "/dev/fuse",
                     "permissions": ["read", "write"]}],
        "initProcessEnabled": True,
        "sharedMemorySize": 128,
        "tmpfs": [{"containerPath": "/run", "size": 64, "mountOptions": ["rw", "noexec"]}],
        "maxSwap": 1024,
        "swappiness": 60,
    },
    "secrets": [
        {"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf"},
        {"name": "API_KEY", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/api-key"},
    ],
    "dependsOn": [{"containerName": "init", "condition": "SUCCESS"},
                  {"containerName": "sidecar", "condition": "HEALTHY"}],
    "startTimeout": 60,
    "stopTimeout": 20,
    "hostname": "web-host",
    "user": "101:101",
    "workingDirectory": "/usr/share/nginx",
    "disableNetworking": False,
    "privileged": False,
    "readonlyRootFilesystem": False,
    "dnsServers": ["10.0.0.2", "10.0.0.3"],
    "dnsSearchDomains": ["svc.local"],
    "extraHosts": [{"hostname": "db.local", "ipAddress": "10.0.0.5"}],
    "dockerSecurityOptions": ["no-new-privileges"],
    "interactive": False,
    "pseudoTerminal": False,
    "dockerLabels": {"com.example.team": "web", "tier": "frontend"},
    "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096},
                {"name": "nproc", "softLimit": 512, "hardLimit": 512}],
    "logConfiguration": {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "web"},
        "secretOptions": [{"name": "token",
                           "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/log-token"}],
    },
    "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
                    "interval": 10, "timeout": 3, "retries": 4, "startPeriod": 15},
    "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
    "restartPolicy": {"enabled": True, "ignoredExitCodes": [0], "restartAttemptPeriod": 300},
}

SIDECAR = {
    "name": "sidecar",
    "image": "busybox:local",
    "memoryReservation": 64,
    "essential": False,
    "command": ["sh", "-c", "sleep 3600"],
    "mountPoints": [{"sourceVolume": "docker-vol", "containerPath": "/cache", "readOnly": False}],
    "healthCheck": {"command": ["CMD", "true"], "interval": 5, "timeout": 2, "retries": 3,
                    "startPeriod": 0},
}

INIT = {
    "name": "init",
    "image": "busybox:local",
    "memory": 32,
    "essential": False,
    "command": ["true"],
    "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": False}],
}

BIG = {
    "family": "big-web",
    "taskRoleArn": ROLE,
    "executionRoleArn": EXEC_ROLE,
    "networkMode": "bridge",
    "containerDefinitions": [WEB, SIDECAR, INIT],
    "volumes": [
        {"name": "data", "host": {"sourcePath": "/var/lib/app"}},
        {"name": "scratch"},
        {"name": "docker-vol", "dockerVolumeConfiguration": {
            "scope": "shared", "autoprovision": True, "driver": "local",
            "driverOpts": {"type": "tmpfs", "device": "tmpfs"}, "labels": {"purpose": "cache"}}},
    ],
    "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}],
    "requiresCompatibilities": ["EC2"],
    "cpu": "1024",
    "memory": "2048",
    "pidMode": "task",
    "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
}
BIG_TAGS = [{"key": "team", "value": "web"}, {"key": "cost-center", "value": "42"}]


def assert_echo(sent, got, path="$"):
    """Everything that was sent comes back equal (the server may add defaults beside it)."""
    if isinstance(sent, dict):
        assert isinstance(got, dict), f"{path}: sent an object, got {got!r}"
        for key, value in sent.items():
            assert key in got, f"{path}.{key}: sent but not echoed back"
            assert_echo(value, got[key], f"{path}.{key}")
    elif isinstance(sent, list):
        assert isinstance(got, list) and len(got) == len(sent), \
            f"{path}: sent {sent!r}, got {got!r}"
        for i, (s, g) in enumerate(zip(sent, got)):
            assert_echo(s, g, f"{path}[{i}]")
    else:
        assert got == sent and type(got) is type(sent), f"{path}: sent {sent!r}, got {got!r}"


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# --- register ---------------------------------------------------------------------------------

def test_register_minimal_definition(ecs):
    before = now_utc()
    td = register(ecs, "mini")
    assert td["family"] == "mini"
    assert td["revision"] == 1
    assert td["taskDefinitionArn"] == taskdef_arn("mini", 1)
    assert td["status"] == "ACTIVE"
    assert abs((td["registeredAt"] - before).total_seconds()) < 120
    assert isinstance(td["registeredBy"], str) and td["registeredBy"]
    assert "deregisteredAt" not in td
    assert "EC2" in td["compatibilities"]
    assert_echo([simple_container()], td["containerDefinitions"])


def test_revisions_increase_per_family(ecs):
    assert [register(ecs, "fam")["revision"] for _ in range(3)] == [1, 2, 3]
    assert register(ecs, "other")["revision"] == 1
    assert register(ecs, "fam")["taskDefinitionArn"] == taskdef_arn("fam", 4)


def test_large_definition_is_echoed_faithfully(ecs):
    resp = ecs.register_task_definition(**copy.deepcopy(BIG), tags=BIG_TAGS)
    td = resp["taskDefinition"]
    assert sorted(resp["tags"], key=lambda t: t["key"]) == sorted(BIG_TAGS, key=lambda t: t["key"])
    assert td["taskDefinitionArn"] == taskdef_arn("big-web", 1)
    assert td["revision"] == 1
    assert td["status"] == "ACTIVE"
    assert_echo(BIG, td)
    assert [c["name"] for c in td["containerDefinitions"]] == ["web", "sidecar", "init"]


def test_large_definition_describes_identically(ecs):
    registered = ecs.register_task_definition(**copy.deepcopy(BIG))["taskDefinition"]
    described = ecs.describe_task_definition(taskDefinition="big-web:1")["taskDefinition"]
    assert described == registered
    assert_echo(BIG, described)


def test_requires_attributes_reflect_the_definition(ecs):
    td = ecs.register_task_definition(**copy.deepcopy(BIG))["taskDefinition"]
    names = [a["name"] for a in td.get("requiresAttributes", [])]
    assert any(n.endswith("logging-driver.awslogs") for n in names), names
    assert any(n.endswith("task-iam-role") for n in names), names


def test_fargate_definition_compatibilities(ecs):
    td = ecs.register_task_definition(
        family="fg", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
        memory="512", containerDefinitions=[{"name": "app", "image": "busybox:local",
                                             "portMappings": [{"containerPort": 8080}]}],
    )["taskDefinition"]
    assert td["requiresCompatibilities"] == ["FARGATE"]
    assert "FARGATE" in td["compatibilities"]
    assert td["cpu"] == "256" and td["memory"] == "512"
    assert td["networkMode"] == "awsvpc"
    names = [a["name"] for a in td.get("requiresAttributes", [])]
    assert any(n.endswith("task-eni") for n in names), names


def test_awsvpc_port_mapping_defaults(ecs):
    td = ecs.register_task_definition(
        family="vpc", networkMode="awsvpc", containerDefinitions=[
            simple_container(portMappings=[{"containerPort": 8080}])])["taskDefinition"]
    assert td["containerDefinitions"][0]["portMappings"] == [
        {"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]


def test_essential_defaults_to_true(ecs):
    td = register(ecs, "ess", [{"name": "app", "image": "busybox:local", "memory": 64}])
    assert td["containerDefinitions"][0]["essential"] is True


def test_register_echoes_tags(ecs):
    tags = [{"key": "a", "value": "1"}]
    resp = ecs.register_task_definition(family="tg", containerDefinitions=[simple_container()],
                                        tags=tags)
    assert resp["tags"] == tags


# --- describe ---------------------------------------------------------------------------------

def test_describe_by_family_returns_latest_active(ecs):
    for i in range(3):
        register(ecs, "d", [simple_container(command=["echo", str(i)])])
    td = ecs.describe_task_definition(taskDefinition="d")["taskDefinition"]
    assert td["revision"] == 3
    assert td["containerDefinitions"][0]["command"] == ["echo", "2"]


def test_describe_by_family_skips_deregistered_latest(ecs):
    register(ecs, "d")
    register(ecs, "d")
    ecs.deregister_task_definition(taskDefinition="d:2")
    assert ecs.describe_task_definition(taskDefinition="d")["taskDefinition"]["revision"] == 1


def test_describe_by_family_and_revision(ecs):
    register(ecs, "d", [simple_container(command=["one"])])
    register(ecs, "d", [simple_container(command=["two"])])
    td = ecs.describe_task_definition(taskDefinition="d:1")["taskDefinition"]
    assert td["revision"] == 1
    assert td["containerDefinitions"][0]["command"] == ["one"]


def test_describe_by_arn(ecs):
    register(ecs, "d")
    register(ecs, "d")
    td = ecs.describe_task_definition(taskDefinition=taskdef_arn("d", 2))["taskDefinition"]
    assert td["taskDefinitionArn"] == taskdef_arn("d", 2)
    assert td["revision"] == 2


def test_describe_include_tags(ecs):
    tags = [{"key": "owner", "value": "me"}]
    ecs.register_task_definition(family="t", containerDefinitions=[simple_container()], tags=tags)
    resp = ecs.describe_task_definition(taskDefinition="t:1", include=["TAGS"])
    assert resp["tags"] == tags


def test_describe_omits_tags_unless_asked(ecs):
    ecs.register_task_definition(family="t", containerDefinitions=[simple_container()],
                                 tags=[{"key": "owner", "value": "me"}])
    resp = ecs.describe_task_definition(taskDefinition="t:1")
    assert resp.get("tags", []) == []


@pytest.mark.parametrize("ref", ["nope", "nope:1", "known:7", taskdef_arn("nope", 1)])
def test_describe_unknown_is_client_exception(ecs, ref):
    register(ecs, "known")
    with pytest.raises(ClientError) as exc:
        ecs.describe_task_definition(taskDefinition=ref)
    assert error_code(exc) == "ClientException"
    assert http_status(exc) == 400
    assert exc.value.response["Error"]["Message"] == "Unable to describe task definition."


# --- list ------------------------------------------------------------------------------------

def _seed(ecs) -> None:
    """b:1 b:2 a:1 a:2 a:3 c:1 registered out of order; a:2 deregistered."""
    for fam in ("b", "b", "a", "a", "a", "c"):
        register(ecs, fam)
    ecs.deregister_task_definition(taskDefinition="a:2")


ACTIVE_ASC = [taskdef_arn("a", 1), taskdef_arn("a", 3), taskdef_arn("b", 1), taskdef_arn("b", 2),
              taskdef_arn("c", 1)]


def test_list_defaults_to_active_ascending(ecs):
    _seed(ecs)
    assert ecs.list_task_definitions()["taskDefinitionArns"] == ACTIVE_ASC


def test_list_sort_desc(ecs):
    _seed(ecs)
    resp = ecs.list_task_definitions(sort="DESC")
    assert resp["taskDefinitionArns"] == list(reversed(ACTIVE_ASC))


def test_list_status_inactive(ecs):
    _seed(ecs)
    assert ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"] == [taskdef_arn("a", 2)]


def test_list_family_prefix_is_the_full_family(ecs):
    register(ecs, "web")
    register(ecs, "web")
    register(ecs, "webapp")
    resp = ecs.list_task_definitions(familyPrefix="web")
    assert resp["taskDefinitionArns"] == [taskdef_arn("web", 1), taskdef_arn("web", 2)]


@pytest.mark.parametrize("page_size", [1, 2, 3, 100])
@pytest.mark.parametrize("sort", ["ASC", "DESC"])
def test_list_paging_visits_every_item_once(ecs, page_size, sort):
    _seed(ecs)
    expected = ACTIVE_ASC if sort == "ASC" else list(reversed(ACTIVE_ASC))
    seen, token, pages = [], None, 0
    while True:
        kw = {"maxResults": page_size, "sort": sort}
        if token:
            kw["nextToken"] = token
        resp = ecs.list_task_definitions(**kw)
        assert len(resp["taskDefinitionArns"]) <= page_size
        seen.extend(resp["taskDefinitionArns"])
        pages += 1
        assert pages <= len(expected) + 1, "paging does not terminate"
        token = resp.get("nextToken")
        if not token:
            break
    assert seen == expected


def test_list_paging_with_family_and_status(ecs):
    for _ in range(5):
        register(ecs, "many")
    for rev in (1, 3, 5):
        ecs.deregister_task_definition(taskDefinition=f"many:{rev}")
    got = list_all_taskdefs(ecs, familyPrefix="many", status="INACTIVE",
                            PaginationConfig={"PageSize": 1})
    assert got == [taskdef_arn("many", r) for r in (1, 3, 5)]


def test_list_more_than_one_hundred(ecs):
    for _ in range(105):
        register(ecs, "bulk")
    first = ecs.list_task_definitions(familyPrefix="bulk")
    assert len(first["taskDefinitionArns"]) == 100
    assert "nextToken" in first
    assert list_all_taskdefs(ecs, familyPrefix="bulk") == [taskdef_arn("bulk", r) for r in range(1, 106)]


# --- families --------------------------------------------------------------------------------

def test_families_status_filters(ecs):
    _seed(ecs)
    register(ecs, "gone")
    ecs.deregister_task_definition(taskDefinition="gone:1")
    assert ecs.list_task_definition_families()["families"] == ["a", "b", "c"]
    assert ecs.list_task_definition_families(status="ACTIVE")["families"] == ["a", "b", "c"]
    assert ecs.list_task_definition_families(status="INACTIVE")["families"] == ["gone"]
    assert ecs.list_task_definition_families(status="ALL")["families"] == ["a", "b", "c", "gone"]


def test_families_prefix_matches_beginning(ecs):
    for fam in ("web", "webapp", "worker", "api"):
        register(ecs, fam)
    assert ecs.list_task_definition_families(familyPrefix="web")["families"] == ["web", "webapp"]
    assert ecs.list_task_definition_families(familyPrefix="w")["families"] == ["web", "webapp", "worker"]
    assert ecs.list_task_definition_families(familyPrefix="zzz")["families"] == []


@pytest.mark.parametrize("page_size", [1, 2, 100])
def test_families_paging_visits_every_family_once(ecs, page_size):
    names = [f"fam-{i:02d}" for i in range(7)]
    for n in reversed(names):
        register(ecs, n)
    got = list_all_families(ecs, PaginationConfig={"PageSize": page_size})
    assert got == names


# --- deregister ------------------------------------------------------------------------------

def test_deregister_marks_inactive(ecs):
    registered = register(ecs, "dr")
    td = ecs.deregister_task_definition(taskDefinition="dr:1")["taskDefinition"]
    assert td["status"] == "INACTIVE"
    assert td["taskDefinitionArn"] == taskdef_arn("dr", 1)
    assert td["deregisteredAt"] >= registered["registeredAt"]
    assert abs((td["deregisteredAt"] - now_utc()).total_seconds()) < 120


def test_deregistered_is_still_describable(ecs):
    register(ecs, "dr", [simple_container(command=["keep"])])
    ecs.deregister_task_definition(taskDefinition=taskdef_arn("dr", 1))
    td = ecs.describe_task_definition(taskDefinition="dr:1")["taskDefinition"]
    assert td["status"] == "INACTIVE"
    assert "deregisteredAt" in td
    assert td["containerDefinitions"][0]["command"] == ["keep"]


def test_deregistered_moves_between_lists(ecs):
    register(ecs, "dr")
    register(ecs, "dr")
    ecs.deregister_task_definition(taskDefinition="dr:1")
    assert ecs.list_task_definitions(familyPrefix="dr")["taskDefinitionArns"] == [taskdef_arn("dr", 2)]
    assert ecs.list_task_definitions(familyPrefix="dr", status="INACTIVE")["taskDefinitionArns"] == [
        taskdef_arn("dr", 1)]


@pytest.mark.parametrize("ref", ["ghost:1", taskdef_arn("ghost", 1), "dr:9"])
def test_deregister_unknown_is_client_exception(ecs, ref):
    register(ecs, "dr")
    with pytest.raises(ClientError) as exc:
        ecs.deregister_task_definition(taskDefinition=ref)
    assert error_code(exc) == "ClientException"
    assert ecs.list_task_definitions()["taskDefinitionArns"] == [taskdef_arn("dr", 1)]


# --- delete ----------------------------------------------------------------------------------

def test_delete_inactive_definition(ecs):
    register(ecs, "del")
    ecs.deregister_task_definition(taskDefinition="del:1")
    resp = ecs.delete_task_definitions(taskDefinitions=["del:1"])
    assert resp["failures"] == []
    [td] = resp["taskDefinitions"]
    assert td["taskDefinitionArn"] == taskdef_arn("del", 1)
    assert td["status"] == "DELETE_IN_PROGRESS"


def test_delete_active_definition_is_a_failure(ecs):
    register(ecs, "del")
    resp = ecs.delete_task_definitions(taskDefinitions=["del:1"])
    assert resp["taskDefinitions"] == []
    [failure] = resp["failures"]
    assert failure["arn"] == taskdef_arn("del", 1)
    assert isinstance(failure["reason"], str) and failure["reason"]
    td = ecs.describe_task_definition(taskDefinition="del:1")["taskDefinition"]
    assert td["status"] == "ACTIVE"


def test_delete_mixed_batch(ecs):
    register(ecs, "del")
    register(ecs, "del")
    ecs.deregister_task_definition(taskDefinition="del:1")
    resp = ecs.delete_task_definitions(taskDefinitions=[taskdef_arn("del", 1), "del:2"])
    assert [t["taskDefinitionArn"] for t in resp["taskDefinitions"]] == [taskdef_arn("del", 1)]
    assert [f["arn"] for f in resp["failures"]] == [taskdef_arn("del", 2)]
    assert ecs.list_task_definitions(familyPrefix="del")["taskDefinitionArns"] == [taskdef_arn("del", 2)]


def test_delete_unknown_is_a_failure(ecs):
    resp = ecs.delete_task_definitions(taskDefinitions=["ghost:1"])
    assert resp["taskDefinitions"] == []
    assert len(resp["failures"]) == 1
    assert resp["failures"][0]["arn"] == taskdef_arn("ghost", 1)


def test_revisions_are_not_reused_after_delete(ecs):
    register(ecs, "reuse")
    register(ecs, "reuse")
    ecs.deregister_task_definition(taskDefinition="reuse:2")
    ecs.delete_task_definitions(taskDefinitions=["reuse:2"])
    assert register(ecs, "reuse")["revision"] == 3


# --- validation: one rejected definition per rule ---------------------------------------------

def C(**kw):  # noqa: N802 - short container builder for the table below
    c = {"name": "app", "image": "busybox:local", "memory": 64, "essential": True}
    for k, v in kw.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


INVALID = {
    "no-essential-container": dict(containerDefinitions=[C(essential=False), C(name="b", essential=False)]),
    "duplicate-container-names": dict(containerDefinitions=[C(), C()]),
    "empty-container-list": dict(containerDefinitions=[]),
    "missing-image": dict(containerDefinitions=[C(image=None)]),
    "empty-image": dict(containerDefinitions=[C(image="")]),
    "missing-container-name": dict(containerDefinitions=[C(name=None)]),
    "bad-container-name": dict(containerDefinitions=[C(name="web app")]),
    "no-memory-anywhere": dict(containerDefinitions=[C(memory=None)]),
    "reservation-above-memory": dict(containerDefinitions=[C(memory=64, memoryReservation=128)]),
    "container-port-out-of-range": dict(containerDefinitions=[C(portMappings=[{"containerPort": 70000}])]),
    "awsvpc-host-port-differs": dict(networkMode="awsvpc", containerDefinitions=[
        C(portMappings=[{"containerPort": 80, "hostPort": 8080}])]),
    "depends-on-missing-container": dict(containerDefinitions=[
        C(dependsOn=[{"containerName": "ghost", "condition": "START"}])]),
    "mount-of-undeclared-volume": dict(containerDefinitions=[
        C(mountPoints=[{"sourceVolume": "nope", "containerPath": "/x"}])]),
    "fargate-with-bridge-network": dict(requiresCompatibilities=["FARGATE"], networkMode="bridge",
                                        cpu="256", memory="512", containerDefinitions=[C()]),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_definition_is_client_exception(ecs, case):
    register(ecs, "rule")  # rule:1 exists; a rejected register must not create rule:2
    with pytest.raises(ClientError) as exc:
        ecs.register_task_definition(family="rule", **copy.deepcopy(INVALID[case]))
    assert error_code(exc) == "ClientException", exc.value.response["Error"]
    assert http_status(exc) == 400
    assert exc.value.response["Error"]["Message"]
    assert list_all_taskdefs(ecs, status="ACTIVE") == [taskdef_arn("rule", 1)]
    assert list_all_taskdefs(ecs, status="INACTIVE") == []
    assert register(ecs, "rule")["revision"] == 2


@pytest.mark.parametrize("family", ["bad family", "fam/ily", "fam:1", "x" * 256])
def test_invalid_family_name_is_client_exception(ecs, family):
    with pytest.raises(ClientError) as exc:
        ecs.register_task_definition(family=family, containerDefinitions=[C()])
    assert error_code(exc) == "ClientException", exc.value.response["Error"]
    assert list_all_families(ecs, status="ALL") == []


def test_longest_family_name_is_accepted(ecs):
    family = "F-_9a" * 51  # 255 characters
    td = register(ecs, family)
    assert td["family"] == family
    assert td["taskDefinitionArn"] == taskdef_arn(family, 1)


# --- concurrency -----------------------------------------------------------------------------

def test_concurrent_registers_get_distinct_consecutive_revisions(ecsd):
    clients = [make_client(ecsd) for _ in range(8)]

    def work(i):
        return [register(clients[i], "race")["revision"] for _ in range(10)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        revisions = [r for rs in pool.map(work, range(8)) for r in rs]
    assert sorted(revisions) == list(range(1, 81))
    assert list_all_taskdefs(clients[0], familyPrefix="race") == [taskdef_arn("race", r)
                                                                  for r in range(1, 81)]


def test_request_id_header_is_returned(ecs):
    meta = ecs.list_clusters()["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200
    assert meta["RequestId"]
    with pytest.raises(ClientError) as exc:
        ecs.describe_task_definition(taskDefinition="nope")
    assert exc.value.response["ResponseMetadata"]["RequestId"]
