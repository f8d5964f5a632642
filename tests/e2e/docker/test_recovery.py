"""Crash safety on Docker: kill -9 of ecsd mid-flight, containers that exit while ecsd is down, an engine restart
under running tasks."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from helpers import make_client
from tasklib import assert_never_running, container, describe, docker, register, run, wait_for, wait_stopped


def test_kill9_readopts_running_task(docker_server):
    srv = docker_server()
    ecs = make_client(srv)
    td = register(ecs, [{"name": "main", "stopTimeout": 1,
                         "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]}])
    arn = run(ecs, td)["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    srv.restart(kill=True)
    ecs = make_client(srv)
    task = describe(ecs, arn)
    assert task["lastStatus"] == "RUNNING"
    time.sleep(1)  # the resync after the restart must not stop a healthy task
    assert describe(ecs, arn)["lastStatus"] == "RUNNING"
    ecs.stop_task(task=arn)
    task, _ = wait_stopped(ecs, arn)
    assert task["stopCode"] == "UserInitiated" and container(task, "main")["exitCode"] == 0


def wait_log(srv, needle: str, timeout: float = 60) -> None:
    """Wait until the running server's log (its latest start) has a line containing `needle`."""
    deadline = time.monotonic() + timeout
    while needle not in srv.log_paths[-1].read_text(errors="replace"):
        assert time.monotonic() < deadline, f"no {needle!r} in the log:\n{srv.logs()}"
        time.sleep(0.05)


def test_kill9_keeps_the_family_for_list_tasks(docker_server):
    srv = docker_server()
    ecs = make_client(srv)
    td = register(ecs, [{"name": "main", "stopTimeout": 1, "command": ["sleep", "600"]}], family="keepfam")
    arn = run(ecs, td)["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    assert ecs.list_tasks(family="keepfam")["taskArns"] == [arn]
    srv.restart(kill=True)
    # Recovery writes every re-adopted task again once the backend's event stream is up (the resync): after that,
    # the task must still be listed under its family.
    wait_log(srv, 'msg="resynced"')
    ecs = make_client(srv)
    assert ecs.list_tasks(family="keepfam")["taskArns"] == [arn]
    assert describe(ecs, arn)["lastStatus"] == "RUNNING"
    ecs.stop_task(task=arn)
    wait_stopped(ecs, arn)
    assert ecs.list_tasks(family="keepfam", desiredStatus="STOPPED")["taskArns"] == [arn]


def test_container_exit_while_ecsd_down_is_noticed(docker_server):
    srv = docker_server()
    ecs = make_client(srv)
    td = register(ecs, [{"name": "main", "command": ["sleep", "600"]}])
    arn = run(ecs, td)["taskArn"]
    task, _ = wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    srv.kill9()
    docker("kill", "--signal", "KILL", container(task, "main")["runtimeId"])
    srv.start()
    ecs = make_client(srv)
    task, _ = wait_stopped(ecs, arn)
    assert task["stopCode"] == "EssentialContainerExited"
    assert container(task, "main")["exitCode"] == 137


def test_kill9_during_launch_finishes_cleanly(docker_server):
    srv = docker_server()
    ecs = make_client(srv)
    td = register(ecs, [
        {"name": "first", "essential": False, "command": ["sleep", "600"]},
        {"name": "second", "command": ["sleep", "600"],
         "dependsOn": [{"containerName": "first", "condition": "COMPLETE"}]},
    ])
    arn = run(ecs, td)["taskArn"]
    wait_for(ecs, arn, lambda t: container(t, "first")["lastStatus"] == "RUNNING")
    srv.restart(kill=True)
    ecs = make_client(srv)
    task, _ = wait_stopped(ecs, arn)
    assert_never_running(srv, task)
    assert task["stopCode"] == "TaskFailedToStart"
    assert "restarted" in task["stoppedReason"]


def test_engine_restart_under_running_tasks(docker_server):
    engine_dir = "/tmp/ecsd-docker-env"
    if os.environ.get("DOCKER_HOST") != f"unix://{engine_dir}/d.sock":
        pytest.skip("the engine is not the private test engine, so this test may not restart it")
    srv = docker_server()
    ecs = make_client(srv)
    td = register(ecs, [{"name": "main", "command": ["sleep", "600"]}])
    arn = run(ecs, td)["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    here = os.path.dirname(os.path.abspath(__file__))
    scripts = os.path.join(here, "..", "..", "..", "deploy", "local")
    subprocess.run([os.path.join(scripts, "docker-engine-down")], check=True, timeout=120)
    subprocess.run([os.path.join(scripts, "docker-engine-up")], check=True, timeout=300, capture_output=True)
    task, _ = wait_stopped(ecs, arn, timeout=60)
    assert task["stopCode"] == "EssentialContainerExited"
    assert "exitCode" in container(task, "main")
    # The event stream reconnected: a new task runs and its exit is seen.
    td2 = register(ecs, [{"name": "main", "command": ["sh", "-c", "exit 5"]}], family="after")
    task, _ = wait_stopped(ecs, run(ecs, td2)["taskArn"])
    assert container(task, "main")["exitCode"] == 5
