"""Task sets of EXTERNAL services on the docker backend: the real ecsd, the real engine, boto3 and the AWS CLI.

A task set's tasks really run (their containers are counted in the engine, not only in ecsd's answers), carry the
task set's id as startedBy, and are counted in the task set (runningCount, pendingCount, computedDesiredCount,
stabilityStatus) and in the service. Waiting is polling until a state is reached, bounded like a waiter."""

from __future__ import annotations


import botocore.exceptions
import pytest
from helpers import make_client, until
from tasklib import IMAGE, docker


def taskdef(ecs, marker: str) -> str:
    return ecs.register_task_definition(
        family="ts",
        containerDefinitions=[{"name": "app", "image": IMAGE, "memory": 32, "essential": True,
                               "command": ["sleep", "600"], "stopTimeout": 1,
                               "environment": [{"name": "MARKER", "value": marker}]}],
    )["taskDefinition"]["taskDefinitionArn"]


def task_set(ecs, ref: str, service: str = "ext") -> dict:
    resp = ecs.describe_task_sets(cluster="default", service=service, taskSets=[ref])
    assert resp["failures"] == [], resp["failures"]
    return resp["taskSets"][0]


def engine_tasks(started_by_arns: set[str]) -> int:
    """Running containers of the given task ARNs, read from the engine."""
    out = docker("ps", "--format", "{{.Label \"com.amazonaws.ecs.task-arn\"}}")
    return sum(1 for line in out.splitlines() if line.strip() in started_by_arns)


def live_tasks(ecs, started_by: str) -> list[dict]:
    arns = ecs.list_tasks(cluster="default", startedBy=started_by, desiredStatus="RUNNING")["taskArns"]
    return ecs.describe_tasks(cluster="default", tasks=arns)["tasks"] if arns else []


def steady(ecs, ref: str, n: int):
    ts = task_set(ecs, ref)
    return ts if ts["runningCount"] == n and ts["pendingCount"] == 0 and ts["stabilityStatus"] == "STEADY_STATE" \
        else None


def error_code(fn, **kw) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        fn(**kw)
    return exc.value.response["Error"]["Code"]


def test_task_sets_run_scale_switch_delete(ecs, dsrv, aws_for):
    aws = aws_for(dsrv)
    td1, td2 = taskdef(ecs, "v1"), taskdef(ecs, "v2")
    svc = ecs.create_service(serviceName="ext", desiredCount=2,
                             deploymentController={"type": "EXTERNAL"})["service"]
    assert svc["deploymentController"] == {"type": "EXTERNAL"}
    assert svc["deployments"] == [] and svc["taskSets"] == [] and "taskDefinition" not in svc

    ts1 = ecs.create_task_set(cluster="default", service="ext", taskDefinition=td1, externalId="blue",
                              scale={"value": 100, "unit": "PERCENT"},
                              tags=[{"key": "color", "value": "blue"}])["taskSet"]
    assert ts1["id"].startswith("ecs-svc/") and ts1["id"][8:].isdigit() and len(ts1["id"]) == 27
    assert ts1["taskSetArn"] == f"arn:aws:ecs:us-east-1:000000000000:task-set/default/ext/{ts1['id']}"
    assert ts1["status"] == "ACTIVE" and ts1["externalId"] == "blue" and ts1["taskDefinition"] == td1
    assert ts1["computedDesiredCount"] == 2 and ts1["stabilityStatus"] == "STABILIZING"
    assert ts1["scale"] == {"value": 100.0, "unit": "PERCENT"} and ts1["launchType"] == "EC2"

    got = until(lambda: steady(ecs, ts1["id"], 2), "task set 1 steady with 2 tasks")
    tasks1 = live_tasks(ecs, ts1["id"])
    assert len(tasks1) == 2 and all(t["group"] == "service:ext" and t["taskDefinitionArn"] == td1 for t in tasks1)
    assert engine_tasks({t["taskArn"] for t in tasks1}) == 2
    assert got["stabilityStatusAt"] >= got["createdAt"]
    svc = ecs.describe_services(services=["ext"])["services"][0]
    assert svc["runningCount"] == 2 and [t["id"] for t in svc["taskSets"]] == [ts1["id"]]
    tagged = ecs.describe_task_sets(cluster="default",
                                    service="ext", taskSets=[ts1["taskSetArn"]], include=["TAGS"])["taskSets"][0]
    assert tagged["tags"] == [{"key": "color", "value": "blue"}]

    # A second task set at 50 % of 2 (computed 1), made PRIMARY: the first becomes ACTIVE, the service runs td2.
    ts2 = ecs.create_task_set(cluster="default",
                              service="ext", taskDefinition=td2, scale={"value": 50, "unit": "PERCENT"})["taskSet"]
    assert ts2["computedDesiredCount"] == 1
    primary = ecs.update_service_primary_task_set(cluster="default",
                                                  service="ext", primaryTaskSet=ts2["taskSetArn"])["taskSet"]
    assert primary["id"] == ts2["id"] and primary["status"] == "PRIMARY"
    assert task_set(ecs, ts1["id"])["status"] == "ACTIVE"
    until(lambda: steady(ecs, ts2["id"], 1), "task set 2 steady with 1 task")
    svc = ecs.describe_services(services=["ext"])["services"][0]
    assert svc["taskDefinition"] == td2 and svc["runningCount"] == 3

    # Scaling the first down to 0 % stops its tasks (ServiceSchedulerInitiated); the AWS CLI does it here.
    out = aws("ecs", "update-task-set", "--cluster", "default", "--service", "ext", "--task-set", ts1["id"], "--scale",
              "value=0,unit=PERCENT")
    assert out["taskSet"]["scale"] == {"value": 0.0, "unit": "PERCENT"}
    until(lambda: steady(ecs, ts1["id"], 0), "task set 1 scaled to 0")
    # The stop code is written when the task's stop runs, after desiredStatus: wait for STOPPED to read it.
    arns1 = [t["taskArn"] for t in tasks1]
    ecs.get_waiter("tasks_stopped").wait(tasks=arns1, WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    for t in ecs.describe_tasks(tasks=arns1)["tasks"]:
        assert t["stopCode"] == "ServiceSchedulerInitiated", t
    until(lambda: engine_tasks({t["taskArn"] for t in tasks1}) == 0, "task set 1's containers gone")
    assert task_set(ecs, ts1["id"])["computedDesiredCount"] == 0

    # The service's desiredCount drives every task set, rounded up: 3 × 50 % = 1.5 → 2.
    ecs.update_service(service="ext", desiredCount=3)
    ts2_now = until(lambda: steady(ecs, ts2["id"], 2), "task set 2 follows desiredCount")
    assert ts2_now["computedDesiredCount"] == 2

    # DeleteTaskSet: refused while scaled above 0 unless forced; forced, it drains and goes.
    assert error_code(ecs.delete_task_set, cluster="default",
                                           service="ext", taskSet=ts2["id"]) == "InvalidParameterException"
    tasks2 = live_tasks(ecs, ts2["id"])
    deleted = ecs.delete_task_set(cluster="default", service="ext", taskSet=ts2["id"], force=True)["taskSet"]
    assert deleted["status"] == "DRAINING"
    until(lambda: ecs.describe_task_sets(cluster="default", service="ext", taskSets=[ts2["id"]])["failures"],
          "task set 2 gone after its tasks stopped")
    assert ecs.describe_task_sets(cluster="default", service="ext", taskSets=[ts2["id"]])["failures"] == [
        {"arn": ts2["id"], "reason": "MISSING"}]
    assert engine_tasks({t["taskArn"] for t in tasks2}) == 0
    assert ecs.delete_task_set(cluster="default", service="ext", taskSet=ts1["id"])["taskSet"]["status"] == "DRAINING"
    until(lambda: ecs.describe_services(services=["ext"])["services"][0]["taskSets"] == [], "no task set left")

    ecs.delete_service(service="ext", force=True)
    until(lambda: ecs.describe_services(services=["ext"])["services"][0]["status"] == "INACTIVE", "inactive")


def test_task_set_errors(ecs, dsrv, aws_for):
    aws = aws_for(dsrv)
    td = taskdef(ecs, "v1")
    ecs.create_service(serviceName="ext", desiredCount=0, deploymentController={"type": "EXTERNAL"})
    ecs.create_service(serviceName="plain", desiredCount=0, taskDefinition=td)
    ts = ecs.create_task_set(cluster="default", service="ext", taskDefinition=td)["taskSet"]
    assert ts["scale"] == {"value": 100.0, "unit": "PERCENT"} and ts["computedDesiredCount"] == 0

    # Task sets only on EXTERNAL services.
    assert error_code(ecs.create_task_set, cluster="default",
                                           service="plain", taskDefinition=td) == "InvalidParameterException"
    assert error_code(ecs.describe_task_sets, cluster="default", service="plain") == "InvalidParameterException"
    # Unknown task set, service, cluster; a bad scale; an unknown task definition; launchType with a strategy.
    for fn, kw in [(ecs.update_task_set, {"taskSet": "ecs-svc/1", "scale": {"value": 1, "unit": "PERCENT"}}),
                   (ecs.delete_task_set, {"taskSet": "ecs-svc/1"}),
                   (ecs.update_service_primary_task_set, {"primaryTaskSet": "ecs-svc/1"})]:
        assert error_code(fn, cluster="default", service="ext", **kw) == "TaskSetNotFoundException"
    assert error_code(ecs.create_task_set, cluster="default",
                                           service="nope", taskDefinition=td) == "ServiceNotFoundException"
    assert error_code(ecs.describe_task_sets, cluster="default", service="nope") == "ServiceNotFoundException"
    assert error_code(ecs.create_task_set, cluster="nope", service="ext",
                      taskDefinition=td) == "ClusterNotFoundException"
    assert error_code(ecs.update_task_set, cluster="default", service="ext", taskSet=ts["id"],
                      scale={"value": 150, "unit": "PERCENT"}) == "InvalidParameterException"
    assert error_code(ecs.create_task_set, cluster="default",
                                           service="ext", taskDefinition="ts:99") == "InvalidParameterException"
    assert error_code(ecs.create_task_set, cluster="default", service="ext", taskDefinition=td, launchType="EC2",
                      capacityProviderStrategy=[{"capacityProvider": "FARGATE"}]) == "InvalidParameterException"
    # A DAEMON service cannot be EXTERNAL (nor CODE_DEPLOY: test_code_deploy_service_runs_its_primary_task_set).
    assert error_code(ecs.create_service, serviceName="d", taskDefinition=td, schedulingStrategy="DAEMON",
                      deploymentController={"type": "EXTERNAL"}) == "InvalidParameterException"
    # An ECS service still needs a task definition.
    assert error_code(ecs.create_service, serviceName="np", desiredCount=1) == "InvalidParameterException"
    # What would start a deployment of an EXTERNAL service is a new task set's job.
    assert error_code(ecs.update_service, service="ext", taskDefinition=td) == "InvalidParameterException"
    assert error_code(ecs.update_service, service="ext", forceNewDeployment=True) == "InvalidParameterException"
    assert ecs.update_service(service="ext", desiredCount=0)["service"]["deployments"] == []
    # Nothing changed by the refused calls.
    sets = ecs.describe_task_sets(cluster="default", service="ext")["taskSets"]
    assert [(s["id"], s["status"], s["scale"]["value"]) for s in sets] == [(ts["id"], "ACTIVE", 100.0)]
    # The AWS CLI sees the same error shape.
    res = aws.run("ecs", "delete-task-set", "--cluster", "default", "--service", "ext", "--task-set", "ecs-svc/1",
                  check=False)
    assert res.returncode != 0 and "TaskSetNotFoundException" in res.stderr
    # A task set of a service being deleted: ServiceNotActiveException.
    ecs.delete_service(service="ext", force=True)
    assert error_code(ecs.update_task_set, cluster="default", service="ext", taskSet=ts["id"],
                      scale={"value": 1, "unit": "PERCENT"}) == "ServiceNotActiveException"


def test_kill9_restart_readopts_task_set_tasks(ecs, dsrv):
    """After kill -9 and a restart, a task set's running tasks are its tasks again: the same ones, none launched
    twice."""
    td = taskdef(ecs, "v1")
    ecs.create_service(serviceName="ext", desiredCount=2, deploymentController={"type": "EXTERNAL"})
    ts = ecs.create_task_set(cluster="default", service="ext", taskDefinition=td)["taskSet"]
    until(lambda: steady(ecs, ts["id"], 2), "task set steady with 2 tasks")
    before = {t["taskArn"] for t in live_tasks(ecs, ts["id"])}
    dsrv.kill9()
    dsrv.restart(kill=False)
    ecs2 = make_client(dsrv)
    got = until(lambda: steady(ecs2, ts["id"], 2), "task set steady again after the restart")
    assert got["computedDesiredCount"] == 2
    assert {t["taskArn"] for t in live_tasks(ecs2, ts["id"])} == before
    assert engine_tasks(before) == 2
    assert ecs2.list_tasks(startedBy=ts["id"], desiredStatus="STOPPED")["taskArns"] == []
    ecs2.delete_service(service="ext", force=True)
    until(lambda: ecs2.describe_services(services=["ext"])["services"][0]["status"] == "INACTIVE", "inactive")


def test_code_deploy_service_runs_its_primary_task_set(ecs, dsrv, aws_for):
    """CreateService with the CODE_DEPLOY controller makes one PRIMARY task set from the service's task definition,
    whose tasks really run and follow desiredCount; DescribeTaskSets shows it; the task set calls that CodeDeploy
    would make are refused, and UpdateService takes only the members ECS lists for CODE_DEPLOY services."""
    aws = aws_for(dsrv)
    td1, td2 = taskdef(ecs, "v1"), taskdef(ecs, "v2")
    svc = ecs.create_service(serviceName="cd", taskDefinition=td1, desiredCount=2, launchType="EC2",
                             deploymentController={"type": "CODE_DEPLOY"})["service"]
    assert svc["deploymentController"] == {"type": "CODE_DEPLOY"} and svc["deployments"] == []
    assert svc["taskDefinition"] == td1
    (ts,) = svc["taskSets"]
    assert ts["status"] == "PRIMARY" and ts["taskDefinition"] == td1 and ts["launchType"] == "EC2"
    assert ts["id"].startswith("ecs-svc/") and ts["startedBy"] == ts["id"]
    assert ts["scale"] == {"value": 100.0, "unit": "PERCENT"} and ts["computedDesiredCount"] == 2
    assert ts["taskSetArn"] == f"arn:aws:ecs:us-east-1:000000000000:task-set/default/cd/{ts['id']}"
    until(lambda: _steady(ecs, "cd", ts["id"], 2), "the PRIMARY task set runs 2 tasks")
    tasks = live_tasks(ecs, ts["id"])
    assert len(tasks) == 2 and {t["taskDefinitionArn"] for t in tasks} == {td1}
    assert {t["group"] for t in tasks} == {"service:cd"}
    assert engine_tasks({t["taskArn"] for t in tasks}) == 2  # really running in the engine
    # The service counts its task set's tasks. (As on ECS, deployments[] stays empty, so botocore's services_stable
    # waiter, which wants one deployment, never succeeds for a CODE_DEPLOY service: boto/botocore#2865.)
    until(lambda: (lambda d: d["runningCount"] == 2 and d["pendingCount"] == 0)(
        ecs.describe_services(services=["cd"])["services"][0]), "the service counts 2 running tasks")

    # desiredCount scales the PRIMARY task set (scale 100 %).
    ecs.update_service(service="cd", desiredCount=1, healthCheckGracePeriodSeconds=5, propagateTags="SERVICE",
                       deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100})
    until(lambda: _steady(ecs, "cd", ts["id"], 1), "the PRIMARY task set scaled to 1")

    # What CodeDeploy changes is refused, nothing changed.
    for kw in ({"taskDefinition": td2}, {"forceNewDeployment": True}, {"platformVersion": "LATEST"},
               {"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}},
               {"enableExecuteCommand": True}, {"desiredCount": 3, "taskDefinition": td2}):
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            ecs.update_service(service="cd", **kw)
        err = exc.value.response["Error"]
        assert err["Code"] == "InvalidParameterException" and "CODE_DEPLOY" in err["Message"], (kw, err)
    for fn, kw in [(ecs.create_task_set, {"taskDefinition": td2}),
                   (ecs.update_task_set, {"taskSet": ts["id"], "scale": {"value": 50, "unit": "PERCENT"}}),
                   (ecs.delete_task_set, {"taskSet": ts["id"]}),
                   (ecs.update_service_primary_task_set, {"primaryTaskSet": ts["id"]})]:
        assert error_code(fn, cluster="default", service="cd", **kw) == "InvalidParameterException", fn
    res = aws.run("ecs", "create-task-set", "--cluster", "default", "--service", "cd", "--task-definition", td2,
                  check=False)
    assert res.returncode != 0 and "InvalidParameterException" in res.stderr
    svc = ecs.describe_services(services=["cd"])["services"][0]
    assert svc["taskDefinition"] == td1 and svc["desiredCount"] == 1
    assert [(s["id"], s["status"], s["taskDefinition"]) for s in svc["taskSets"]] == [(ts["id"], "PRIMARY", td1)]
    assert error_code(ecs.create_service, serviceName="cdd", taskDefinition=td1, schedulingStrategy="DAEMON",
                      deploymentController={"type": "CODE_DEPLOY"}) == "InvalidParameterException"
    assert error_code(ecs.create_service, serviceName="cdn", desiredCount=1,
                      deploymentController={"type": "CODE_DEPLOY"}) == "InvalidParameterException"

    # DeleteService drains the task set's tasks.
    ecs.delete_service(service="cd", force=True)
    ecs.get_waiter("services_inactive").wait(services=["cd"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert engine_tasks({t["taskArn"] for t in tasks}) == 0


def _steady(ecs, service: str, ref: str, n: int):
    resp = ecs.describe_task_sets(cluster="default", service=service, taskSets=[ref])
    assert resp["failures"] == [], resp["failures"]
    t = resp["taskSets"][0]
    return t if t["runningCount"] == n and t["pendingCount"] == 0 and t["stabilityStatus"] == "STEADY_STATE" \
        else None
