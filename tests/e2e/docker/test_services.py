"""ECS services on the docker backend: the real ecsd, the real engine, boto3 (its waiters too) and the AWS CLI.

Run by ctest as e2e/services (e2e/docker leaves this file out). The tasks are busybox:local `sleep`s with a 1 s
stopTimeout: sleep as PID 1 ignores SIGTERM, so each stop costs about a second, which keeps the suite short."""

from __future__ import annotations

import json
import time

import botocore.exceptions
import pytest
from helpers import make_client
from tasklib import IMAGE, docker

FAST = {"Delay": 1, "MaxAttempts": 120}


@pytest.fixture
def dsrv(docker_server):
    """A task without a health check counts as healthy for a rolling update after 2 s of RUNNING here (ECS: 40 s)."""
    return docker_server(["--service-healthy-after", "2"])


def taskdef(ecs, family: str = "svc", marker: str = "v1") -> str:
    return ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "app", "image": IMAGE, "memory": 32, "essential": True,
                               "command": ["sleep", "600"], "stopTimeout": 1,
                               "environment": [{"name": "MARKER", "value": marker}]}],
    )["taskDefinition"]["taskDefinitionArn"]


def service(ecs, name: str, cluster: str = "default") -> dict:
    resp = ecs.describe_services(cluster=cluster, services=[name])
    assert resp["failures"] == [], resp["failures"]
    return resp["services"][0]


def service_tasks(ecs, name: str, cluster: str = "default") -> list[dict]:
    arns = ecs.list_tasks(cluster=cluster, serviceName=name)["taskArns"]
    return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


def wait_stable(ecs, name: str, cluster: str = "default") -> dict:
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=[name], WaiterConfig=FAST)
    return service(ecs, name, cluster)


def messages(svc: dict) -> list[str]:
    return [e["message"] for e in svc["events"]]


def running_containers(owner_task_arns: set[str]) -> int:
    """Containers of the given tasks that the engine runs (read from the engine, not from ecsd)."""
    out = docker("ps", "--format", "{{json .Labels}}", "--filter", "label=com.amazonaws.ecs.task-arn")
    n = 0
    for line in out.splitlines():
        labels = dict(kv.split("=", 1) for kv in json.loads(line).split(",") if "=" in kv)
        if labels.get("com.amazonaws.ecs.task-arn") in owner_task_arns:
            n += 1
    return n


def test_create_scale_replace_delete(ecs, dsrv, aws_for):
    aws = aws_for(dsrv)
    td = taskdef(ecs)
    created = ecs.create_service(serviceName="web", taskDefinition=td, desiredCount=3,
                                 deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100},
                                 tags=[{"key": "team", "value": "a"}])["service"]
    assert created["status"] == "ACTIVE"
    assert created["serviceArn"] == "arn:aws:ecs:us-east-1:000000000000:service/default/web"
    assert len(created["deployments"]) == 1
    dep = created["deployments"][0]
    assert dep["status"] == "PRIMARY" and dep["rolloutState"] == "IN_PROGRESS"
    assert dep["id"].startswith("ecs-svc/") and len(dep["id"]) == len("ecs-svc/") + 19 and dep["id"][8:].isdigit()

    svc = wait_stable(ecs, "web")
    assert svc["runningCount"] == 3 and svc["pendingCount"] == 0
    assert svc["deployments"][0]["rolloutState"] == "COMPLETED"
    assert svc["deployments"][0]["rolloutStateReason"] == f"ECS deployment {dep['id']} completed."
    msgs = messages(svc)
    assert msgs[0] == "(service web) has reached a steady state.", msgs
    assert msgs[1] == f"(service web) (deployment {dep['id']}) deployment completed.", msgs
    assert any(m.startswith("(service web) has started 3 tasks: (task ") for m in msgs), msgs
    tasks = service_tasks(ecs, "web")
    assert len(tasks) == 3
    assert {t["startedBy"] for t in tasks} == {dep["id"]}
    assert {t["group"] for t in tasks} == {"service:web"}
    assert {t["lastStatus"] for t in tasks} == {"RUNNING"}
    assert running_containers({t["taskArn"] for t in tasks}) == 3
    assert ecs.describe_clusters(clusters=["default"])["clusters"][0]["activeServicesCount"] == 1
    tagged = ecs.describe_services(services=["web"], include=["TAGS"])["services"][0]
    assert tagged["tags"] == [{"key": "team", "value": "a"}]

    # The same name again is not idempotent; an unknown name is MISSING.
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ecs.create_service(serviceName="web", taskDefinition=td, desiredCount=1)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert err.value.response["Error"]["Message"] == "Creation of service was not idempotent."
    missing = ecs.describe_services(services=["nope"])
    assert missing["failures"] == [{"arn": "arn:aws:ecs:us-east-1:000000000000:service/default/nope",
                                    "reason": "MISSING"}]

    # Scale out and in.
    ecs.update_service(service="web", desiredCount=5)
    svc = wait_stable(ecs, "web")
    assert svc["runningCount"] == 5 and len(service_tasks(ecs, "web")) == 5
    before = {t["taskArn"] for t in service_tasks(ecs, "web")}
    ecs.update_service(service="web", desiredCount=1)
    svc = wait_stable(ecs, "web")
    assert svc["runningCount"] == 1
    assert any(m.startswith("(service web) has stopped 4 running tasks: (task ") for m in messages(svc)), messages(svc)
    stopped = ecs.describe_tasks(tasks=sorted(before))["tasks"]
    scaled_in = [t["taskArn"] for t in stopped if t["desiredStatus"] == "STOPPED"]
    assert len(scaled_in) == 4
    # stopCode is written when the stop begins, a moment after desiredStatus: read it once they are STOPPED.
    ecs.get_waiter("tasks_stopped").wait(tasks=scaled_in, WaiterConfig=FAST)
    scaled_in = ecs.describe_tasks(tasks=scaled_in)["tasks"]
    for t in scaled_in:
        assert t["stopCode"] == "ServiceSchedulerInitiated", t
        assert t["stoppedReason"] == f"Scaling activity initiated by (deployment {dep['id']})", t

    # A task stopped by hand is replaced.
    (only,) = service_tasks(ecs, "web")
    ecs.stop_task(task=only["taskArn"], reason="by hand")
    deadline = time.monotonic() + 60
    while True:
        now = [t for t in service_tasks(ecs, "web") if t["lastStatus"] == "RUNNING"]
        if now and now[0]["taskArn"] != only["taskArn"]:
            break
        assert time.monotonic() < deadline, "the stopped task was not replaced"
        time.sleep(0.2)
    svc = wait_stable(ecs, "web")
    assert svc["runningCount"] == 1
    ecs.get_waiter("tasks_stopped").wait(tasks=[only["taskArn"]], WaiterConfig=FAST)
    replaced = ecs.describe_tasks(tasks=[only["taskArn"]])["tasks"][0]
    assert replaced["stopCode"] == "UserInitiated" and replaced["stoppedReason"] == "by hand"
    new_id = now[0]["taskArn"].rsplit("/", 1)[1]
    assert f"(service web) has started 1 tasks: (task {new_id})." in messages(svc), messages(svc)

    # The cluster cannot go while it has a service; the service cannot go while scaled above 0 without force.
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ecs.delete_cluster(cluster="default")
    assert err.value.response["Error"]["Code"] == "ClusterContainsServicesException"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ecs.delete_service(service="web")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert err.value.response["Error"]["Message"] == "The service cannot be stopped while it is scaled above 0."
    ecs.update_service(service="web", desiredCount=0)
    wait_stable(ecs, "web")
    gone = ecs.delete_service(service="web")["service"]
    assert gone["status"] == "DRAINING"
    ecs.get_waiter("services_inactive").wait(services=["web"], WaiterConfig=FAST)
    assert ecs.list_services()["serviceArns"] == []
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ecs.update_service(service="web", desiredCount=1)
    assert err.value.response["Error"]["Code"] == "ServiceNotActiveException"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ecs.update_service(service="never", desiredCount=1)
    assert err.value.response["Error"]["Code"] == "ServiceNotFoundException"

    # With force, a service scaled above 0 drains its tasks and goes INACTIVE; the AWS CLI's waiter sees it stable
    # before.
    ecs.create_service(serviceName="web", taskDefinition=td, desiredCount=2)
    aws("ecs", "wait", "services-stable", "--services", "web")
    arns = {t["taskArn"] for t in service_tasks(ecs, "web")}
    assert len(arns) == 2
    assert ecs.delete_service(service="web", force=True)["service"]["status"] == "DRAINING"
    ecs.get_waiter("services_inactive").wait(services=["web"], WaiterConfig=FAST)
    for t in ecs.describe_tasks(tasks=sorted(arns))["tasks"]:
        assert t["lastStatus"] == "STOPPED" and t["stopCode"] == "ServiceSchedulerInitiated", t
    assert running_containers(arns) == 0
    assert ecs.describe_clusters(clusters=["default"])["clusters"][0]["activeServicesCount"] == 0


def test_list_services_pages_and_filters(ecs, dsrv):
    td = taskdef(ecs)
    for name in ("a", "b", "c"):
        ecs.create_service(serviceName=name, taskDefinition=td, desiredCount=0, launchType="EC2")
    page = ecs.list_services(maxResults=2)
    assert [a.rsplit("/", 1)[1] for a in page["serviceArns"]] == ["a", "b"]
    rest = ecs.list_services(maxResults=2, nextToken=page["nextToken"])
    assert [a.rsplit("/", 1)[1] for a in rest["serviceArns"]] == ["c"] and "nextToken" not in rest
    assert ecs.list_services(launchType="FARGATE")["serviceArns"] == []
    assert len(ecs.list_services(launchType="EC2", schedulingStrategy="REPLICA")["serviceArns"]) == 3
    assert ecs.list_services(schedulingStrategy="DAEMON")["serviceArns"] == []
    for name in ("a", "b", "c"):
        ecs.delete_service(service=name)


def family_containers(family: str) -> int:
    """Containers of the task definition family that the engine runs, stopping ones included."""
    return len(docker("ps", "-q", "--filter", f"label=com.amazonaws.ecs.task-definition-family={family}").split())


def test_rolling_update_keeps_min_and_max(ecs, dsrv):
    """v1 → v2 of 4 tasks under min 50 % / max 150 %: at every observed step at least 2 tasks run and at most 6 are
    running or pending across deployments, and the engine never runs more than 6 of the family's containers (a task
    being stopped counts until it is gone); the old deployment drains and leaves deployments[]."""
    v1 = taskdef(ecs, family="roll", marker="v1")
    v2 = taskdef(ecs, family="roll", marker="v2")
    ecs.create_service(serviceName="roll", taskDefinition=v1, desiredCount=4,
                       deploymentConfiguration={"maximumPercent": 150, "minimumHealthyPercent": 50})
    wait_stable(ecs, "roll")
    ecs.update_service(service="roll", taskDefinition=v2)
    deadline = time.monotonic() + 180
    observed = 0
    saw_two = False
    while True:
        svc = service(ecs, "roll")
        deps = svc["deployments"]
        running = sum(d["runningCount"] for d in deps)
        inflight = sum(d["runningCount"] + d["pendingCount"] for d in deps)
        assert running >= 2, deps
        assert inflight <= 6, deps
        assert family_containers("roll") <= 6, deps
        assert deps[0]["status"] == "PRIMARY" and deps[0]["taskDefinition"] == v2, deps
        saw_two = saw_two or len(deps) == 2
        observed += 1
        if len(deps) == 1 and deps[0]["runningCount"] == 4:
            break
        assert time.monotonic() < deadline, deps
        time.sleep(0.1)
    assert saw_two and observed > 3
    svc = wait_stable(ecs, "roll")
    assert svc["taskDefinition"] == v2 and svc["deployments"][0]["rolloutState"] == "COMPLETED"
    # One service deployment per deployment, newest first, both SUCCESSFUL; the newer one's source is the older's
    # target revision.
    briefs = ecs.list_service_deployments(service="roll")["serviceDeployments"]
    assert [b["status"] for b in briefs] == ["SUCCESSFUL", "SUCCESSFUL"], briefs
    assert briefs[0]["serviceDeploymentArn"].startswith(
        "arn:aws:ecs:us-east-1:000000000000:service-deployment/default/roll/")
    assert svc["currentServiceDeployment"] == briefs[0]["serviceDeploymentArn"]
    full = ecs.describe_service_deployments(
        serviceDeploymentArns=[b["serviceDeploymentArn"] for b in briefs] + [briefs[0]["serviceDeploymentArn"] + "x"])
    assert [f["reason"] for f in full["failures"]] == ["MISSING"]
    newer, older = full["serviceDeployments"]
    assert newer["sourceServiceRevisions"][0]["arn"] == older["targetServiceRevision"]["arn"]
    assert newer["targetServiceRevision"]["runningTaskCount"] == 4
    assert newer["targetServiceRevision"]["arn"].startswith(
        "arn:aws:ecs:us-east-1:000000000000:service-revision/default/roll/")
    assert newer["deploymentCircuitBreaker"]["status"] == "DISABLED"
    assert ecs.list_service_deployments(service="roll", status=["STOPPED"])["serviceDeployments"] == []
    page = ecs.list_service_deployments(service="roll", maxResults=1)
    assert page["serviceDeployments"] == briefs[:1]
    assert ecs.list_service_deployments(service="roll", maxResults=1,
                                        nextToken=page["nextToken"])["serviceDeployments"] == briefs[1:]
    tasks = service_tasks(ecs, "roll")
    assert len(tasks) == 4 and {t["taskDefinitionArn"] for t in tasks} == {v2}
    ecs.delete_service(service="roll", force=True)
    ecs.get_waiter("services_inactive").wait(services=["roll"], WaiterConfig=FAST)


def test_kill9_mid_scale_restart_no_duplicates(ecs, dsrv):
    td = taskdef(ecs)
    ecs.create_service(serviceName="crash", taskDefinition=td, desiredCount=2)
    wait_stable(ecs, "crash")
    ecs.update_service(service="crash", desiredCount=6)
    dsrv.kill9()
    dsrv.restart(kill=False)
    ecs2 = make_client(dsrv)
    svc = wait_stable(ecs2, "crash")
    assert svc["runningCount"] == 6
    live = [t for t in service_tasks(ecs2, "crash") if t["lastStatus"] == "RUNNING"]
    assert len(live) == 6
    # Every task the service ever started that is still asked to run runs exactly once in the engine.
    assert running_containers({t["taskArn"] for t in live}) == 6
    all_arns = ecs2.list_tasks(serviceName="crash", desiredStatus="RUNNING")["taskArns"]
    assert len(all_arns) == 6
    # Nothing was launched twice: had the restarted scheduler started tasks beyond the count, it would have had to
    # stop the extra ones (ServiceSchedulerInitiated). The only stopped tasks may be launches the kill interrupted.
    stopped = ecs2.list_tasks(serviceName="crash", desiredStatus="STOPPED")["taskArns"]
    if stopped:
        ecs2.get_waiter("tasks_stopped").wait(tasks=stopped, WaiterConfig=FAST)
    for t in (ecs2.describe_tasks(tasks=stopped)["tasks"] if stopped else []):
        assert t["stopCode"] == "TaskFailedToStart", t
    ecs2.delete_service(service="crash", force=True)
    ecs2.get_waiter("services_inactive").wait(services=["crash"], WaiterConfig=FAST)


def test_circuit_breaker_rolls_back_a_crash_looping_deployment(ecs, dsrv):
    """v2 exits at once: its tasks fail, the circuit breaker trips at 3 failures (3 tasks: half, at least 3), the
    deployment FAILS and the last COMPLETED deployment (v1) comes back as PRIMARY under its own id and completes."""
    v1 = taskdef(ecs, family="cb", marker="v1")
    v2 = ecs.register_task_definition(
        family="cb",
        containerDefinitions=[{"name": "app", "image": IMAGE, "memory": 32, "essential": True,
                               "command": ["sh", "-c", "exit 1"], "stopTimeout": 1}],
    )["taskDefinition"]["taskDefinitionArn"]
    first = ecs.create_service(
        serviceName="cb", taskDefinition=v1, desiredCount=3,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )["service"]["deployments"][0]["id"]
    wait_stable(ecs, "cb")
    v1_tasks = {t["taskArn"] for t in service_tasks(ecs, "cb")}
    second = ecs.update_service(service="cb", taskDefinition=v2)["service"]["deployments"][0]["id"]
    assert second != first
    deadline = time.monotonic() + 120
    while True:
        svc = service(ecs, "cb")
        msgs = messages(svc)
        if f"(service cb) rolling back to deployment {first}." in msgs:
            break
        assert time.monotonic() < deadline, msgs
        time.sleep(0.2)
    assert f"(service cb) (deployment {second}) deployment failed: tasks failed to start." in msgs, msgs
    svc = wait_stable(ecs, "cb")
    deps = svc["deployments"]
    assert len(deps) == 1 and deps[0]["id"] == first and deps[0]["taskDefinition"] == v1, deps
    assert deps[0]["rolloutState"] == "COMPLETED"
    assert deps[0]["rolloutStateReason"] == f"ECS deployment {first} completed."
    assert svc["taskDefinition"] == v1
    # min 100 %: the v1 tasks were never stopped while v2 failed.
    assert {t["taskArn"] for t in service_tasks(ecs, "cb")} == v1_tasks
    briefs = ecs.list_service_deployments(service="cb")["serviceDeployments"]
    assert [b["status"] for b in briefs] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"], briefs
    (failed_dep,) = ecs.describe_service_deployments(
        serviceDeploymentArns=[briefs[0]["serviceDeploymentArn"]])["serviceDeployments"]
    assert failed_dep["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert failed_dep["deploymentCircuitBreaker"]["threshold"] == 3
    assert failed_dep["rollback"]["serviceRevisionArn"] == briefs[1]["targetServiceRevisionArn"]
    assert failed_dep["rollback"]["reason"] == \
        f"ECS deployment circuit breaker: rolling back to deploymentId {first}."
    failed = [t for t in ecs.describe_tasks(tasks=ecs.list_tasks(serviceName="cb", desiredStatus="STOPPED")
                                            ["taskArns"])["tasks"]]
    assert len(failed) >= 3 and {t["taskDefinitionArn"] for t in failed} == {v2}
    ecs.delete_service(service="cb", force=True)
    ecs.get_waiter("services_inactive").wait(services=["cb"], WaiterConfig=FAST)


def test_rolling_update_waits_for_health_checks(ecs, dsrv):
    """With a health check, a new task counts only once HEALTHY: under min 100 % / max 150 % of 2 tasks, at every
    observed step at least 2 of the service's tasks that are asked to run are RUNNING and HEALTHY."""
    def td(marker: str) -> str:
        return ecs.register_task_definition(
            family="hc",
            containerDefinitions=[{"name": "app", "image": IMAGE, "memory": 32, "essential": True,
                                   "command": ["sleep", "600"], "stopTimeout": 1,
                                   "environment": [{"name": "MARKER", "value": marker}],
                                   "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2,
                                                   "retries": 1}}],
        )["taskDefinition"]["taskDefinitionArn"]
    v1, v2 = td("v1"), td("v2")
    ecs.create_service(serviceName="hc", taskDefinition=v1, desiredCount=2,
                       deploymentConfiguration={"maximumPercent": 150, "minimumHealthyPercent": 100})
    # runningCount counts RUNNING tasks, as in ECS, so the waiter can succeed before the health checks pass; the
    # steady-state event waits for them.
    wait_stable(ecs, "hc")
    deadline = time.monotonic() + 60
    while messages(service(ecs, "hc"))[0] != "(service hc) has reached a steady state.":
        assert time.monotonic() < deadline, messages(service(ecs, "hc"))
        time.sleep(0.2)
    assert {t["healthStatus"] for t in service_tasks(ecs, "hc")} == {"HEALTHY"}
    ecs.update_service(service="hc", taskDefinition=v2)
    deadline = time.monotonic() + 120
    saw_unhealthy_new = False
    while True:
        tasks = [t for t in service_tasks(ecs, "hc") if t["desiredStatus"] == "RUNNING"]
        healthy = [t for t in tasks if t["lastStatus"] == "RUNNING" and t["healthStatus"] == "HEALTHY"]
        assert len(healthy) >= 2, [(t["taskDefinitionArn"], t["lastStatus"], t["healthStatus"]) for t in tasks]
        saw_unhealthy_new = saw_unhealthy_new or any(
            t["taskDefinitionArn"] == v2 and t["healthStatus"] != "HEALTHY" for t in tasks)
        deps = service(ecs, "hc")["deployments"]
        if len(deps) == 1 and len(healthy) == 2 and {t["taskDefinitionArn"] for t in healthy} == {v2}:
            break
        assert time.monotonic() < deadline, deps
        time.sleep(0.2)
    assert saw_unhealthy_new  # the check above ran while a v2 task was not yet HEALTHY
    wait_stable(ecs, "hc")
    ecs.delete_service(service="hc", force=True)
    ecs.get_waiter("services_inactive").wait(services=["hc"], WaiterConfig=FAST)


def test_force_new_deployment_replaces_every_task(ecs, dsrv):
    td = taskdef(ecs, family="force")
    ecs.create_service(serviceName="force", taskDefinition=td, desiredCount=2,
                       deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 50})
    wait_stable(ecs, "force")
    before = {t["taskArn"] for t in service_tasks(ecs, "force")}
    first = service(ecs, "force")["deployments"][0]["id"]
    # The same task definition without forceNewDeployment starts nothing new.
    same = ecs.update_service(service="force", taskDefinition=td)["service"]["deployments"]
    assert [d["id"] for d in same] == [first]
    second = ecs.update_service(service="force", forceNewDeployment=True)["service"]["deployments"]
    assert len(second) == 2 and second[1]["id"] == first and second[1]["status"] == "ACTIVE"
    deadline = time.monotonic() + 120
    while len(service(ecs, "force")["deployments"]) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    svc = wait_stable(ecs, "force")
    after = {t["taskArn"] for t in service_tasks(ecs, "force") if t["desiredStatus"] == "RUNNING"}
    assert len(after) == 2 and not (after & before)
    assert svc["deployments"][0]["id"] == second[0]["id"]
    ecs.delete_service(service="force", force=True)
    ecs.get_waiter("services_inactive").wait(services=["force"], WaiterConfig=FAST)
