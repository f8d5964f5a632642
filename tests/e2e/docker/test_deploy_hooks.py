"""Deployment lifecycle hooks and ContinueServiceDeployment on the docker backend: the real ecsd, the real engine,
boto3 and the AWS CLI.

A rolling deployment with a PAUSE hook stops at the hook's stage (shown by DescribeServiceDeployments as
lifecycleStage and an AWAITING_ACTION hook in lifecycleHookDetails) and does what the stage holds back: at
PRE_SCALE_UP no task of the new deployment starts, at POST_SCALE_UP the older deployment keeps its tasks. CONTINUE
goes on, ROLLBACK brings the last completed deployment back (StopServiceDeployment's rollback). AWS_LAMBDA hooks
count as SUCCEEDED at once (ecsd has no Lambda). Waiting is polling until a state is reached, bounded like a waiter."""

from __future__ import annotations

import time

import botocore.exceptions
import pytest
from helpers import make_client, until
from tasklib import IMAGE


@pytest.fixture
def dsrv(docker_server):
    return docker_server(["--service-healthy-after", "2"])


def taskdef(ecs, marker: str) -> str:
    return ecs.register_task_definition(
        family="hooks",
        containerDefinitions=[{"name": "app", "image": IMAGE, "memory": 32, "essential": True,
                               "command": ["sleep", "600"], "stopTimeout": 1,
                               "environment": [{"name": "MARKER", "value": marker}]}],
    )["taskDefinition"]["taskDefinitionArn"]


def error_of(fn, **kw) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        fn(**kw)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def newest(ecs, name: str) -> dict:
    arn = ecs.list_service_deployments(service=name)["serviceDeployments"][0]["serviceDeploymentArn"]
    out = ecs.describe_service_deployments(serviceDeploymentArns=[arn])
    assert out["failures"] == []
    return out["serviceDeployments"][0]


def paused_at(ecs, name: str, stage: str) -> dict:
    """The newest service deployment once it waits at `stage` with a hook AWAITING_ACTION."""
    def check():
        d = newest(ecs, name)
        waiting = [h for h in d.get("lifecycleHookDetails", []) if h["status"] == "AWAITING_ACTION"]
        return d if d.get("lifecycleStage") == stage and waiting else None
    return until(check, f"{name} paused at {stage}", lambda: newest(ecs, name))


def tasks_by_def(ecs, name: str) -> dict[str, int]:
    """RUNNING tasks of the service asked to run, by task definition."""
    arns = ecs.list_tasks(serviceName=name, desiredStatus="RUNNING")["taskArns"]
    out: dict[str, int] = {}
    for t in ecs.describe_tasks(tasks=arns)["tasks"] if arns else []:
        if t["lastStatus"] == "RUNNING":
            out[t["taskDefinitionArn"]] = out.get(t["taskDefinitionArn"], 0) + 1
    return out


def awaiting_hook(d: dict) -> str:
    (h,) = [h for h in d["lifecycleHookDetails"] if h["status"] == "AWAITING_ACTION"]
    assert h["targetType"] == "PAUSE" and "targetArn" not in h
    return h["hookId"]


PAUSES = {"lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["PRE_SCALE_UP"]},
                             {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}],
          "maximumPercent": 200, "minimumHealthyPercent": 100}


def test_pause_hooks_continue_then_rollback(ecs, dsrv, aws_for):
    aws = aws_for(dsrv)
    v1, v2 = taskdef(ecs, "v1"), taskdef(ecs, "v2")
    ecs.create_service(serviceName="h", taskDefinition=v1, desiredCount=2, deploymentConfiguration=PAUSES)

    # The first deployment waits before scaling up: the pass that paused it started nothing.
    d = paused_at(ecs, "h", "PRE_SCALE_UP")
    assert d["status"] == "IN_PROGRESS"
    assert ecs.list_tasks(serviceName="h")["taskArns"] == []
    first_arn, hook = d["serviceDeploymentArn"], awaiting_hook(d)
    # Nothing to roll back to on a first deployment; an unknown hook; a malformed and an unknown deployment.
    code, msg = error_of(ecs.continue_service_deployment, serviceDeploymentArn=first_arn, hookId=hook,
                         action="ROLLBACK")
    assert code == "ClientException" and "no previous service revision" in msg
    assert error_of(ecs.continue_service_deployment, serviceDeploymentArn=first_arn,
                    hookId="nope")[0] == "InvalidParameterException"
    assert error_of(ecs.continue_service_deployment, serviceDeploymentArn="nope",
                    hookId=hook)[0] == "InvalidParameterException"
    assert error_of(ecs.continue_service_deployment, serviceDeploymentArn=first_arn[:-3] + "xyz",
                    hookId=hook)[0] == "ServiceDeploymentNotFoundException"
    assert awaiting_hook(newest(ecs, "h")) == hook  # the refusals changed nothing

    # CONTINUE (the AWS CLI, action left to its default): the tasks start, and it waits again once they run.
    out = aws("ecs", "continue-service-deployment", "--service-deployment-arn", first_arn, "--hook-id", hook)
    assert out == {"serviceDeploymentArn": first_arn}
    d = paused_at(ecs, "h", "POST_SCALE_UP")
    assert tasks_by_def(ecs, "h") == {v1: 2}
    assert d["status"] == "IN_PROGRESS"  # a hook that waits keeps the deployment from completing
    statuses = {h["hookId"]: h["status"] for h in d["lifecycleHookDetails"]}
    assert statuses[hook] == "SUCCEEDED"
    code, _ = error_of(ecs.continue_service_deployment, serviceDeploymentArn=first_arn, hookId=hook)
    assert code == "ClientException"  # that hook no longer waits
    ecs.continue_service_deployment(serviceDeploymentArn=first_arn, hookId=awaiting_hook(d), action="CONTINUE")
    until(lambda: newest(ecs, "h")["status"] == "SUCCESSFUL", "first deployment SUCCESSFUL")
    assert newest(ecs, "h")["lifecycleStage"] == "CLEAN_UP"

    # v2: paused before scaling up, v1 keeps running and no v2 task starts.
    ecs.update_service(service="h", taskDefinition=v2)
    d = paused_at(ecs, "h", "PRE_SCALE_UP")
    second_arn = d["serviceDeploymentArn"]
    assert second_arn != first_arn
    assert tasks_by_def(ecs, "h") == {v1: 2}
    ecs.continue_service_deployment(serviceDeploymentArn=second_arn, hookId=awaiting_hook(d))
    # After scaling up, v1 does not drain, though v2's tasks count as healthy after 2 s of RUNNING here (the pass
    # at that moment would stop v1's tasks under min 100 % without the hook): checked once they have run 4 s.
    d = paused_at(ecs, "h", "POST_SCALE_UP")
    assert tasks_by_def(ecs, "h") == {v1: 2, v2: 2}
    arns = ecs.list_tasks(serviceName="h", desiredStatus="RUNNING")["taskArns"]
    started = [t["startedAt"].timestamp() for t in ecs.describe_tasks(tasks=arns)["tasks"]
               if t["taskDefinitionArn"] == v2]
    until(lambda: time.time() > max(started) + 4, "v2 tasks healthy for 2 s")
    assert tasks_by_def(ecs, "h") == {v1: 2, v2: 2}
    assert len(ecs.describe_services(services=["h"])["services"][0]["deployments"]) == 2
    # ROLLBACK: v1 is PRIMARY again and v2 drains.
    ecs.continue_service_deployment(serviceDeploymentArn=second_arn, hookId=awaiting_hook(d), action="ROLLBACK")
    until(lambda: newest(ecs, "h")["status"] == "ROLLBACK_SUCCESSFUL", "rollback SUCCESSFUL")
    d = newest(ecs, "h")
    assert d["serviceDeploymentArn"] == second_arn
    assert [h["status"] for h in d["lifecycleHookDetails"]] == ["SUCCEEDED", "FAILED"]
    until(lambda: tasks_by_def(ecs, "h") == {v1: 2}, "only v1 tasks")
    svc = ecs.describe_services(services=["h"])["services"][0]
    assert svc["taskDefinition"] == v1


def test_lambda_hooks_succeed_and_bad_hooks_are_refused(ecs, dsrv):
    v1 = taskdef(ecs, "v1")
    lam = "arn:aws:lambda:us-east-1:000000000000:function:check"
    cfg = {"lifecycleHooks": [{"hookTargetArn": lam, "roleArn": "arn:aws:iam::000000000000:role/r",
                               "lifecycleStages": ["PRE_SCALE_UP", "POST_SCALE_UP"]},
                              {"targetType": "PAUSE", "lifecycleStages": ["POST_PRODUCTION_TRAFFIC_SHIFT"],
                               "timeoutConfiguration": {"timeoutInMinutes": 30, "action": "CONTINUE"}}]}
    ecs.create_service(serviceName="lam", taskDefinition=v1, desiredCount=1, deploymentConfiguration=cfg)
    d = paused_at(ecs, "lam", "POST_PRODUCTION_TRAFFIC_SHIFT")
    hooks = d["lifecycleHookDetails"]
    assert [(h["targetType"], h["status"]) for h in hooks] == [("AWS_LAMBDA", "SUCCEEDED"),
                                                               ("AWS_LAMBDA", "SUCCEEDED"),
                                                               ("PAUSE", "AWAITING_ACTION")]
    assert hooks[0]["targetArn"] == lam
    assert hooks[2]["timeoutAction"] == "CONTINUE"
    left = hooks[2]["expiresAt"].timestamp() - time.time()
    assert 28 * 60 < left <= 30 * 60, left
    assert tasks_by_def(ecs, "lam") == {v1: 1}

    # Refused, and no service is made.
    for bad in ({"lifecycleHooks": [{"hookTargetArn": lam, "lifecycleStages": []}]},
                {"lifecycleHooks": [{"lifecycleStages": ["PRE_SCALE_UP"]}]}):
        code, _ = error_of(ecs.create_service, serviceName="bad", taskDefinition=v1, desiredCount=1,
                           deploymentConfiguration=bad)
        assert code == "InvalidParameterException", bad
        code, _ = error_of(ecs.update_service, service="lam", deploymentConfiguration=bad)
        assert code == "InvalidParameterException", bad
    assert ecs.describe_services(services=["bad"])["failures"][0]["reason"] == "MISSING"


def test_a_pause_survives_kill9_and_restart(ecs, dsrv):
    """The stage and the awaiting hook are in the stored service: after kill -9 and a restart the deployment is still
    paused at the same hook, and that hookId continues it."""
    v1 = taskdef(ecs, "v1")
    ecs.create_service(serviceName="k", taskDefinition=v1, desiredCount=1, deploymentConfiguration=PAUSES)
    d = paused_at(ecs, "k", "PRE_SCALE_UP")
    dsrv.restart(kill=True)
    ecs2 = make_client(dsrv)
    again = paused_at(ecs2, "k", "PRE_SCALE_UP")
    assert awaiting_hook(again) == awaiting_hook(d)
    assert ecs2.list_tasks(serviceName="k")["taskArns"] == []
    ecs2.continue_service_deployment(serviceDeploymentArn=d["serviceDeploymentArn"], hookId=awaiting_hook(d))
    paused_at(ecs2, "k", "POST_SCALE_UP")
    assert tasks_by_def(ecs2, "k") == {v1: 1}


def test_a_pause_that_times_out_takes_its_action(ecs, dsrv):
    """timeoutConfiguration (1 minute, the model's least) with action ROLLBACK: nobody continues v2, so when the hook
    expires it is TIMED_OUT and the deployment rolls back to v1, which never lost a task."""
    v1, v2 = taskdef(ecs, "v1"), taskdef(ecs, "v2")
    ecs.create_service(serviceName="t", taskDefinition=v1, desiredCount=1)
    until(lambda: newest(ecs, "t")["status"] == "SUCCESSFUL", "v1 deployed")
    ecs.update_service(service="t", taskDefinition=v2, deploymentConfiguration={"lifecycleHooks": [
        {"targetType": "PAUSE", "lifecycleStages": ["PRE_SCALE_UP"],
         "timeoutConfiguration": {"timeoutInMinutes": 1, "action": "ROLLBACK"}}]})
    d = paused_at(ecs, "t", "PRE_SCALE_UP")
    (hook,) = d["lifecycleHookDetails"]
    assert hook["timeoutAction"] == "ROLLBACK"
    done = until(lambda: (lambda r: r if r["status"] == "ROLLBACK_SUCCESSFUL" else None)(newest(ecs, "t")),
                 "rolled back after the timeout", lambda: newest(ecs, "t"), timeout=150)
    assert [h["status"] for h in done["lifecycleHookDetails"]] == ["TIMED_OUT"]
    assert time.time() >= hook["expiresAt"].timestamp()
    assert tasks_by_def(ecs, "t") == {v1: 1}
    assert ecs.describe_services(services=["t"])["services"][0]["taskDefinition"] == v1
