"""ECS scenarios that must behave the same on the Docker and the Kubernetes backend (see conftest.py): exit codes,
essential exits, StopTask while running and during launch, pull failures, dependsOn, health, restart recovery."""

from __future__ import annotations

import time

from helpers import make_client
from tasklib import assert_never_running, container, describe, register, run, wait_for, wait_stopped
from workloads import exits, runs

IMAGE_THAT_CANNOT_BE_PULLED = "127.0.0.1:1/ecsd-test/missing:1"  # a closed loopback port: no registry is reached


def running(task: dict) -> bool:
    return task["lastStatus"] == "RUNNING"


def test_exit_code_reaches_the_task(ecs):
    arn = run(ecs, register(ecs, [exits("app", 3)], family="exit3"))["taskArn"]
    task, seen = wait_stopped(ecs, arn)
    assert "RUNNING" in seen, seen
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    assert container(task, "app")["exitCode"] == 3
    assert container(task, "app")["lastStatus"] == "STOPPED"
    assert task["desiredStatus"] == "STOPPED"
    order = ["createdAt", "pullStartedAt", "pullStoppedAt", "startedAt", "stoppingAt", "executionStoppedAt",
             "stoppedAt"]
    stamps = [task[k] for k in order]
    assert stamps == sorted(stamps), dict(zip(order, stamps))


def test_essential_exit_stops_the_other_containers(ecs):
    td = register(ecs, [exits("app", 0), runs("side", essential=False)], family="sidecar")
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
    assert task["stopCode"] == "EssentialContainerExited"
    assert container(task, "app")["exitCode"] == 0
    assert container(task, "side")["exitCode"] == 143


def test_non_essential_exit_keeps_the_task_running(ecs):
    td = register(ecs, [runs("app"), exits("helper", 4, essential=False)], family="helper")
    arn = run(ecs, td)["taskArn"]
    task, _ = wait_for(ecs, arn, lambda t: container(t, "helper").get("exitCode") == 4)
    assert task["lastStatus"] == "RUNNING"
    assert task["desiredStatus"] == "RUNNING"
    ecs.stop_task(task=arn)
    task, _ = wait_stopped(ecs, arn)
    assert task["stopCode"] == "UserInitiated"


def test_stop_task_while_running(ecs):
    arn = run(ecs, register(ecs, [runs("app")], family="long"))["taskArn"]
    wait_for(ecs, arn, running)
    resp = ecs.stop_task(task=arn, reason="scenario says stop")
    assert resp["task"]["desiredStatus"] == "STOPPED"
    task, _ = wait_stopped(ecs, arn)
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "scenario says stop"
    assert container(task, "app")["exitCode"] == 143


def test_stop_task_during_launch_never_runs(srv, ecs):
    # The launch waits 3 s on `gate` (a dependency on Docker; an init container plus a start delay on Kubernetes),
    # and the stop lands inside that wait.
    gate = exits("gate", 0, after_s=3, essential=False)
    gate["dockerLabels"]["ecsd.test/start-delay"] = "3s"
    app = runs("app", dependsOn=[{"containerName": "gate", "condition": "SUCCESS"}])
    arn = run(ecs, register(ecs, [gate, app], family="gated"))["taskArn"]
    time.sleep(1)
    ecs.stop_task(task=arn)
    task, _ = wait_stopped(ecs, arn)
    assert_never_running(srv, task)
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "Task stopped during launch"


def test_pull_failure_fails_the_task(srv, ecs):
    td = register(ecs, [{"name": "app", "image": IMAGE_THAT_CANNOT_BE_PULLED, "command": ["true"],
                         "dockerLabels": {"ecsd.test/image-pull-error": "true"}}], family="nopull")
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
    assert_never_running(srv, task)
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotPullContainerError: "), task["stoppedReason"]


def test_depends_on_success_runs_in_order(ecs):
    gate = exits("gate", 0, essential=False)
    app = exits("app", 0, dependsOn=[{"containerName": "gate", "condition": "SUCCESS"}])
    app["dockerLabels"].pop("ecsd.test/run-duration")
    task, seen = wait_stopped(ecs, run(ecs, register(ecs, [gate, app], family="order"))["taskArn"])
    assert "RUNNING" in seen, seen
    assert task["stopCode"] == "EssentialContainerExited"
    assert container(task, "gate")["exitCode"] == 0
    assert container(task, "app")["exitCode"] == 0


def test_healthy_dependency_without_health_check_fails(srv, ecs):
    # Real ECS: a HEALTHY condition on a container without a health check can never be met.
    td = register(ecs, [runs("side", essential=False),
                        runs("app", dependsOn=[{"containerName": "side", "condition": "HEALTHY"}])],
                  family="nohealth")
    task, _ = wait_stopped(ecs, run(ecs, td)["taskArn"])
    assert_never_running(srv, task)
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("DependencyConditionError: "), task["stoppedReason"]


def test_health_check_makes_the_task_healthy(ecs):
    app = runs("app", healthCheck={"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2, "retries": 2})
    arn = run(ecs, register(ecs, [app], family="healthy"))["taskArn"]
    task, _ = wait_for(ecs, arn, lambda t: t.get("healthStatus") == "HEALTHY")
    assert container(task, "app")["healthStatus"] == "HEALTHY"
    ecs.stop_task(task=arn)
    wait_stopped(ecs, arn)


def test_restart_readopts_a_running_task(server):
    srv = server()
    ecs = make_client(srv)
    arn = run(ecs, register(ecs, [runs("app")], family="adopt"))["taskArn"]
    wait_for(ecs, arn, running)
    srv.restart(kill=True)
    ecs = make_client(srv)
    time.sleep(2)  # let the restarted server reconcile with what runs
    assert describe(ecs, arn)["lastStatus"] == "RUNNING"
    ecs.stop_task(task=arn)
    task, _ = wait_stopped(ecs, arn)
    assert task["stopCode"] == "UserInitiated"
    assert container(task, "app")["exitCode"] == 143


def test_exit_while_ecsd_is_down_is_noticed(server):
    srv = server()
    ecs = make_client(srv)
    arn = run(ecs, register(ecs, [exits("app", 5, after_s=4)], family="downexit"))["taskArn"]
    wait_for(ecs, arn, running)
    srv.kill9()
    time.sleep(6)
    srv.start()
    ecs = make_client(srv)
    task, _ = wait_stopped(ecs, arn)
    assert task["stopCode"] == "EssentialContainerExited"
    assert container(task, "app")["exitCode"] == 5


def test_service_keeps_its_count_and_drains(ecs):
    """The service scheduler over this backend: 3 tasks reach a steady state, a task stopped by hand is replaced,
    scale-in stops tasks with ServiceSchedulerInitiated, a forced delete drains the service to INACTIVE."""
    fast = {"Delay": 1, "MaxAttempts": 120}
    td = register(ecs, [runs("app", stopTimeout=2)], family="svc")
    dep = ecs.create_service(serviceName="keep", taskDefinition=td, desiredCount=3)["service"]["deployments"][0]
    ecs.get_waiter("services_stable").wait(services=["keep"], WaiterConfig=fast)
    arns = ecs.list_tasks(serviceName="keep")["taskArns"]
    tasks = ecs.describe_tasks(tasks=arns)["tasks"]
    assert len(tasks) == 3 and {t["startedBy"] for t in tasks} == {dep["id"]}
    assert {t["lastStatus"] for t in tasks} == {"RUNNING"}
    svc = ecs.describe_services(services=["keep"])["services"][0]
    assert svc["events"][0]["message"] == "(service keep) has reached a steady state."

    ecs.stop_task(task=arns[0])
    deadline = time.monotonic() + 60
    while arns[0] in ecs.list_tasks(serviceName="keep")["taskArns"] or \
            len(ecs.list_tasks(serviceName="keep")["taskArns"]) < 3:
        assert time.monotonic() < deadline, "the stopped task was not replaced"
        time.sleep(0.2)
    ecs.get_waiter("services_stable").wait(services=["keep"], WaiterConfig=fast)

    before = ecs.list_tasks(serviceName="keep")["taskArns"]
    ecs.update_service(service="keep", desiredCount=1)
    ecs.get_waiter("services_stable").wait(services=["keep"], WaiterConfig=fast)
    gone = [t["taskArn"] for t in ecs.describe_tasks(tasks=before)["tasks"] if t["desiredStatus"] == "STOPPED"]
    assert len(gone) == 2
    # stopCode is written when the stop begins, a moment after desiredStatus: read it once they are STOPPED.
    ecs.get_waiter("tasks_stopped").wait(tasks=gone, WaiterConfig=fast)
    assert {t["stopCode"] for t in ecs.describe_tasks(tasks=gone)["tasks"]} == {"ServiceSchedulerInitiated"}

    assert ecs.delete_service(service="keep", force=True)["service"]["status"] == "DRAINING"
    ecs.get_waiter("services_inactive").wait(services=["keep"], WaiterConfig=fast)
    assert ecs.list_tasks(serviceName="keep")["taskArns"] == []
