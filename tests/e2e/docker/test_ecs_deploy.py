"""A real deploy tool, unchanged: fabfuel's ecs-deploy (PyPI `ecs-deploy`, pinned in tests/e2e/requirements.txt)
deploys a new image to a service through AWS_ENDPOINT_URL_ECS and ends in success; a broken image ends in its
failure path, through the deployment circuit breaker and through its own short timeout with its --rollback.

Run by ctest as e2e/services. The "new image" is a tag of busybox:local that the test makes and removes; the broken
image names a registry on 127.0.0.1:1, where nothing listens, so its pull fails at once without leaving loopback."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from tasklib import IMAGE, docker
from test_services import FAST, service, service_tasks, wait_stable

ECS_DEPLOY = Path(sys.executable).parent / "ecs"
BROKEN = "127.0.0.1:1/ecsd-test/broken:1"


@pytest.fixture
def dsrv(docker_server):
    return docker_server(["--service-healthy-after", "1"])


@pytest.fixture
def new_image():
    if not ECS_DEPLOY.exists():
        pytest.fail(f"{ECS_DEPLOY} is missing: install tests/e2e/requirements.txt into the test venv", pytrace=False)
    tag = f"ecsd-test/busybox:deploy-{uuid.uuid4().hex[:12]}"
    docker("tag", IMAGE, tag)
    yield tag
    docker("rmi", tag, check=False)


def ecs_deploy(server, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ENDPOINT_URL_ECS": server.url, "AWS_ACCESS_KEY_ID": "AKIDTESTTEST",
                "AWS_SECRET_ACCESS_KEY": "secret-test", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "AWS_EC2_METADATA_DISABLED": "true"})
    return subprocess.run([str(ECS_DEPLOY), "deploy", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def app_taskdef(ecs, family: str) -> str:
    return ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "app", "image": IMAGE, "memory": 32, "essential": True,
                               "command": ["sleep", "600"], "stopTimeout": 1}],
    )["taskDefinition"]["taskDefinitionArn"]


def images(ecs, name: str) -> set[str]:
    tasks = [t for t in service_tasks(ecs, name) if t["lastStatus"] == "RUNNING"]
    return {c["image"] for t in tasks for c in t["containers"]}


def test_ecs_deploy_new_image_succeeds(ecs, dsrv, new_image):
    ecs.create_service(serviceName="web", taskDefinition=app_taskdef(ecs, "deploy"), desiredCount=2,
                       deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 50})
    wait_stable(ecs, "web")
    res = ecs_deploy(dsrv, "default", "web", "-i", "app", new_image, "--timeout", "120")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Deployment successful" in res.stdout, res.stdout
    svc = wait_stable(ecs, "web")
    assert svc["taskDefinition"].endswith("task-definition/deploy:2")
    assert len(svc["deployments"]) == 1 and svc["deployments"][0]["rolloutState"] == "COMPLETED"
    assert images(ecs, "web") == {new_image}
    # ecs-deploy deregisters the definition it replaced.
    old = ecs.describe_task_definition(taskDefinition="deploy:1")["taskDefinition"]
    assert old["status"] == "INACTIVE"
    ecs.delete_service(service="web", force=True)
    ecs.get_waiter("services_inactive").wait(services=["web"], WaiterConfig=FAST)


def test_ecs_deploy_broken_image_trips_the_circuit_breaker(ecs, dsrv, new_image):
    """The breaker (without rollback) fails the deployment; ecs-deploy reads rolloutState FAILED and its reason and
    exits 1. The v1 tasks keep running (min 100 %)."""
    ecs.create_service(serviceName="cb", taskDefinition=app_taskdef(ecs, "brk"), desiredCount=1,
                       deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}})
    wait_stable(ecs, "cb")
    res = ecs_deploy(dsrv, "default", "cb", "-i", "app", BROKEN, "--timeout", "120")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Deployment Failed! ECS deployment circuit breaker: tasks failed to start." in res.stderr, res.stderr
    svc = service(ecs, "cb")
    assert svc["deployments"][0]["rolloutState"] == "FAILED"
    assert images(ecs, "cb") == {IMAGE}
    ecs.delete_service(service="cb", force=True)
    ecs.get_waiter("services_inactive").wait(services=["cb"], WaiterConfig=FAST)


def test_ecs_deploy_broken_image_times_out_and_rolls_back(ecs, dsrv, new_image):
    """Without the breaker, ecs-deploy's own timeout (short) ends the wait; its --rollback deploys the previous
    definition again, which ecsd completes."""
    ecs.create_service(serviceName="to", taskDefinition=app_taskdef(ecs, "tmo"), desiredCount=1)
    wait_stable(ecs, "to")
    res = ecs_deploy(dsrv, "default", "to", "-i", "app", BROKEN, "--timeout", "8", "--rollback")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Deployment failed due to timeout" in res.stderr, res.stderr
    assert "Rollback successful" in res.stdout, res.stdout
    svc = wait_stable(ecs, "to")
    assert svc["taskDefinition"].endswith("task-definition/tmo:1")
    assert images(ecs, "to") == {IMAGE}
    ecs.delete_service(service="to", force=True)
    ecs.get_waiter("services_inactive").wait(services=["to"], WaiterConfig=FAST)
