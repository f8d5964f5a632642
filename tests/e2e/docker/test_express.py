"""Express gateway services on the docker backend: the real ecsd, the real engine, boto3 and the AWS CLI.

The primary container is busybox:local running `httpd` (busybox's wget does not work here; the test itself GETs the
URL ecsd reports, with urllib). The servers check health every second (--express-health-interval 1), so a task that
fails its health check path is replaced within a few seconds."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import botocore.exceptions
import pytest
from helpers import error_code, make_client, until
from tasklib import IMAGE, docker

ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"
INFRA = "arn:aws:iam::000000000000:role/ecsInfrastructureRole"


@pytest.fixture
def dsrv(docker_server):
    return docker_server(["--express-health-interval", "1"])


def web(body: str, port: int = 8080, health: bool = True) -> dict:
    script = "mkdir -p /www && echo {} > /www/index.html && {}exec httpd -f -p {} -h /www".format(
        body, "echo ok > /www/health && " if health else "", port)
    return {"image": IMAGE, "containerPort": port, "command": ["sh", "-c", script]}


def create(ecs, name: str, body: str = "hello-express", path: str = "/health", **kw) -> dict:
    return ecs.create_express_gateway_service(
        serviceName=name, executionRoleArn=ROLE, infrastructureRoleArn=INFRA, primaryContainer=web(body),
        healthCheckPath=path, scalingTarget={"minTaskCount": 1, "maxTaskCount": 3}, **kw)["service"]


def running_tasks(ecs, name: str) -> list[dict]:
    arns = ecs.list_tasks(serviceName=name, desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return []
    return [t for t in ecs.describe_tasks(tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"]


def get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read().decode().strip()
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


def test_create_serves_update_delete(ecs, dsrv):
    svc = create(ecs, "web", tags=[{"key": "team", "value": "a"}])
    assert svc["serviceArn"] == "arn:aws:ecs:us-east-1:000000000000:service/default/web"
    assert svc["status"]["statusCode"] == "ACTIVE"
    assert svc["tags"] == [{"key": "team", "value": "a"}]
    cfg = svc["activeConfigurations"][0]
    assert cfg["healthCheckPath"] == "/health" and cfg["cpu"] == "256" and cfg["memory"] == "512"
    endpoint = cfg["ingressPaths"][0]["endpoint"]
    assert endpoint.startswith("http://127.0.0.1:") and endpoint.endswith("/")

    # The primary container became a task definition of family CLUSTER-NAME and a service of the scheduler.
    ecs_svc = ecs.describe_services(services=["web"])["services"][0]
    assert ecs_svc["desiredCount"] == 1
    td = ecs.describe_task_definition(taskDefinition=ecs_svc["taskDefinition"])["taskDefinition"]
    assert td["family"] == "default-web" and td["containerDefinitions"][0]["name"] == "Main"

    # The URL ecsd reports answers with the container's own page.
    assert until(lambda: get(endpoint) == "hello-express", what="the container's answer at " + endpoint)
    # The answer can come a moment before ecsd has read the published port back and marked the task RUNNING.
    first = until(lambda: running_tasks(ecs, "web"), what="the task RUNNING")
    assert len(first) == 1

    described = ecs.describe_express_gateway_service(serviceArn=svc["serviceArn"], include=["TAGS"])["service"]
    assert described["activeConfigurations"][0]["ingressPaths"][0]["endpoint"] == endpoint
    assert described["tags"] == [{"key": "team", "value": "a"}]
    assert described["currentDeployment"]

    # Update: a new revision runs at the same URL, and the old task is gone.
    up = ecs.update_express_gateway_service(serviceArn=svc["serviceArn"], primaryContainer=web("second"))["service"]
    assert up["targetConfiguration"]["primaryContainer"]["command"][2].count("second") == 1
    assert until(lambda: get(endpoint) == "second", timeout=120, what="the updated container's answer")
    assert ecs.describe_services(services=["web"])["services"][0]["taskDefinition"].endswith("default-web:2")
    assert until(lambda: [t["taskArn"] for t in running_tasks(ecs, "web")] not in ([], [first[0]["taskArn"]]),
                 what="the new task alone")

    # Delete: DRAINING, then INACTIVE with nothing left running.
    gone = ecs.delete_express_gateway_service(serviceArn=svc["serviceArn"])["service"]
    assert gone["status"]["statusCode"] == "DRAINING"
    until(lambda: ecs.describe_express_gateway_service(serviceArn=svc["serviceArn"])["service"]["status"]
          ["statusCode"] == "INACTIVE", timeout=120, what="INACTIVE")
    assert running_tasks(ecs, "web") == []
    owner = [line for line in dsrv.logs().splitlines() if "backend ready" in line][0].split("owner=")[1].split()[0]
    assert docker("ps", "-q", "--filter", f"label=io.ecsd.owner={owner}").split() == []
    assert get(endpoint) is None
    with pytest.raises(botocore.exceptions.ClientError) as ex:
        ecs.update_express_gateway_service(serviceArn=svc["serviceArn"], cpu="512")
    assert error_code(ex) == "ServiceNotActiveException"
    with pytest.raises(botocore.exceptions.ClientError) as ex:
        ecs.delete_express_gateway_service(serviceArn=svc["serviceArn"])
    assert error_code(ex) == "ServiceNotActiveException"


def test_failing_health_check_replaces_task(ecs, dsrv):
    svc = create(ecs, "sick", path="/missing")
    first = until(lambda: running_tasks(ecs, "sick"), what="a RUNNING task")[0]
    stopped = until(lambda: [t for t in ecs.describe_tasks(tasks=[first["taskArn"]])["tasks"]
                             if t["lastStatus"] == "STOPPED"], timeout=60, what="the unhealthy task stopped")[0]
    assert stopped["stopCode"] == "ServiceSchedulerInitiated"
    assert stopped["stoppedReason"].startswith("Task failed ELB health checks")
    events = ecs.describe_services(services=["sick"])["services"][0]["events"]
    assert any("failed ELB health checks" in ev["message"] and first["taskArn"].split("/")[-1] in ev["message"]
               for ev in events)
    # The scheduler replaced it.
    until(lambda: [t for t in running_tasks(ecs, "sick") if t["taskArn"] != first["taskArn"]],
          what="a replacement task")
    ecs.delete_express_gateway_service(serviceArn=svc["serviceArn"])


def test_healthy_task_is_kept(ecs, dsrv):
    create(ecs, "fine")
    first = until(lambda: running_tasks(ecs, "fine"), what="a RUNNING task")[0]
    endpoint = ecs.describe_express_gateway_service(
        serviceArn=first["group"].replace("service:", "arn:aws:ecs:us-east-1:000000000000:service/default/")
    )["service"]["activeConfigurations"][0]["ingressPaths"][0]["endpoint"]
    assert until(lambda: get(endpoint) == "hello-express", what="the answer")
    # Several check rounds pass (ecsd logs each at debug): the task that answers its health path stays.
    task_id = first["taskArn"].split("/")[-1]
    until(lambda: dsrv.logs().count(f'"health check passed" service=fine task={task_id}') >= 4,
          what="four passed health checks")
    assert [t["taskArn"] for t in running_tasks(ecs, "fine")] == [first["taskArn"]]
    events = ecs.describe_services(services=["fine"])["services"][0]["events"]
    assert not [ev for ev in events if "health checks" in ev["message"]]


def test_survives_a_restart(ecs, dsrv):
    svc = create(ecs, "kept")
    endpoint = svc["activeConfigurations"][0]["ingressPaths"][0]["endpoint"]
    assert until(lambda: get(endpoint) == "hello-express", what="the answer")
    task = until(lambda: running_tasks(ecs, "kept"), what="a RUNNING task")[0]
    dsrv.restart(kill=True)  # kill -9: the container keeps running and is adopted again
    ecs = make_client(dsrv)
    got = ecs.describe_express_gateway_service(serviceArn=svc["serviceArn"])["service"]
    assert got["status"]["statusCode"] == "ACTIVE"
    assert got["activeConfigurations"][0]["ingressPaths"][0]["endpoint"] == endpoint
    assert get(endpoint) == "hello-express"
    assert [t["taskArn"] for t in running_tasks(ecs, "kept")] == [task["taskArn"]]
    ecs.delete_express_gateway_service(serviceArn=svc["serviceArn"])
    until(lambda: running_tasks(ecs, "kept") == [] or None, timeout=120, what="the task stopped")


def test_bad_input_changes_nothing(ecs, dsrv):
    arn = "arn:aws:ecs:us-east-1:000000000000:service/default/nope"
    cases = [
        (dict(primaryContainer={"image": IMAGE, "containerPort": 0}), "InvalidParameterException"),
        (dict(primaryContainer={"image": ""}), "InvalidParameterException"),
        (dict(primaryContainer={"image": IMAGE}, healthCheckPath="health"), "InvalidParameterException"),
        (dict(primaryContainer={"image": IMAGE}, scalingTarget={"minTaskCount": 3, "maxTaskCount": 2}),
         "InvalidParameterException"),
        (dict(primaryContainer={"image": IMAGE}, cpu="lots"), "InvalidParameterException"),
        (dict(primaryContainer={"image": IMAGE}, cluster="nosuch"), "ClusterNotFoundException"),
        (dict(primaryContainer={"image": IMAGE}, serviceName="bad name"), "InvalidParameterException"),
    ]
    for extra, code in cases:
        with pytest.raises(botocore.exceptions.ClientError) as ex:
            ecs.create_express_gateway_service(executionRoleArn=ROLE, infrastructureRoleArn=INFRA, **extra)
        assert error_code(ex) == code, extra
    assert ecs.list_services()["serviceArns"] == []
    assert ecs.list_task_definition_families()["families"] == []

    for call, code in [(ecs.describe_express_gateway_service, "ResourceNotFoundException"),
                       (ecs.update_express_gateway_service, "ServiceNotFoundException"),
                       (ecs.delete_express_gateway_service, "ServiceNotFoundException")]:
        with pytest.raises(botocore.exceptions.ClientError) as ex:
            call(serviceArn=arn)
        assert error_code(ex) == code
        with pytest.raises(botocore.exceptions.ClientError) as ex:
            call(serviceArn="not-an-arn")
        assert error_code(ex) == "InvalidParameterException"

    # A plain ECS service is not an express service; a name already taken is refused.
    td = ecs.register_task_definition(family="plain", containerDefinitions=[
        {"name": "a", "image": IMAGE, "memory": 16, "command": ["sleep", "60"]}])["taskDefinition"]
    ecs.create_service(serviceName="plain", taskDefinition=td["taskDefinitionArn"], desiredCount=0)
    with pytest.raises(botocore.exceptions.ClientError) as ex:
        ecs.describe_express_gateway_service(serviceArn=arn.replace("nope", "plain"))
    assert error_code(ex) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as ex:
        create(ecs, "plain")
    assert error_code(ex) == "InvalidParameterException"
    assert ecs.list_task_definition_families()["families"] == ["plain"]

    # A bad update of a real express service changes nothing either.
    svc = create(ecs, "keep")
    with pytest.raises(botocore.exceptions.ClientError) as ex:
        ecs.update_express_gateway_service(serviceArn=svc["serviceArn"], healthCheckPath="x y")
    assert error_code(ex) == "InvalidParameterException"
    after = ecs.describe_express_gateway_service(serviceArn=svc["serviceArn"])["service"]
    assert after["activeConfigurations"][0]["healthCheckPath"] == "/health"
    assert after["updatedAt"] == svc["updatedAt"]
    ecs.delete_express_gateway_service(serviceArn=svc["serviceArn"])


def test_aws_cli(dsrv, aws_for):
    aws = aws_for(dsrv)
    container = json.dumps({"image": IMAGE, "containerPort": 8080, "command": ["sleep", "600"]})
    out = aws("ecs", "create-express-gateway-service", "--service-name", "cli",
              "--execution-role-arn", ROLE, "--infrastructure-role-arn", INFRA,
              "--primary-container", container, "--scaling-target", "minTaskCount=1")
    arn = out["service"]["serviceArn"]
    got = aws("ecs", "describe-express-gateway-service", "--service-arn", arn)["service"]
    assert got["serviceName"] == "cli" and got["status"]["statusCode"] == "ACTIVE"
    assert got["activeConfigurations"][0]["primaryContainer"]["containerPort"] == 8080
    assert got["activeConfigurations"][0]["healthCheckPath"] == "/ping"
    res = aws.run("ecs", "describe-express-gateway-service", "--service-arn", arn + "x", check=False)
    assert res.returncode != 0 and "ResourceNotFoundException" in res.stderr
    aws("ecs", "delete-express-gateway-service", "--service-arn", arn)
    make_client(dsrv)  # the server still answers
