"""The task actions' API surface with real tasks: ids and ARNs, DescribeTasks failures and tags, ListTasks filters
and paging, StartTask, bad input, retention of stopped tasks."""

from __future__ import annotations

import time

import pytest

from helpers import make_client
from tasklib import register, run, wait_for, wait_stopped


def test_describe_missing_and_include_tags(ecs):
    td = register(ecs, [{"name": "main", "command": ["true"]}])
    arn = run(ecs, td, tags=[{"key": "team", "value": "a"}])["taskArn"]
    resp = ecs.describe_tasks(tasks=[arn, "0" * 32, arn.replace("default", "other")], include=["TAGS"])
    assert [t["taskArn"] for t in resp["tasks"]] == [arn]
    assert resp["tasks"][0]["tags"] == [{"key": "team", "value": "a"}]
    assert sorted(f["reason"] for f in resp["failures"]) == ["MISSING", "MISSING"]
    assert "tags" not in ecs.describe_tasks(tasks=[arn])["tasks"][0]
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "a"}]
    wait_stopped(ecs, arn)


def test_list_tasks_filters_and_paging(ecs):
    td_a = register(ecs, [{"name": "main", "stopTimeout": 1, "command": ["sleep", "600"]}], family="fa")
    td_b = register(ecs, [{"name": "main", "command": ["true"]}], family="fb")
    ecs.create_cluster(clusterName="other")
    long_running = [t["taskArn"] for t in ecs.run_task(taskDefinition=td_a, count=5, startedBy="me")["tasks"]]
    done = run(ecs, td_b)["taskArn"]
    other = run(ecs, td_a, cluster="other")["taskArn"]
    wait_stopped(ecs, done)
    assert sorted(ecs.list_tasks()["taskArns"]) == sorted(long_running)
    assert ecs.list_tasks(desiredStatus="STOPPED")["taskArns"] == [done]
    assert sorted(ecs.list_tasks(family="fa")["taskArns"]) == sorted(long_running)
    assert ecs.list_tasks(family="fb")["taskArns"] == []
    assert sorted(ecs.list_tasks(startedBy="me")["taskArns"]) == sorted(long_running)
    assert ecs.list_tasks(cluster="other")["taskArns"] == [other]
    pages = list(ecs.get_paginator("list_tasks").paginate(PaginationConfig={"PageSize": 2}))
    seen = [a for p in pages for a in p["taskArns"]]
    assert len(pages) == 3 and sorted(seen) == sorted(long_running)
    for arn in long_running:
        ecs.stop_task(task=arn)
    ecs.stop_task(cluster="other", task=other)
    for arn in long_running:
        wait_stopped(ecs, arn)
    wait_stopped(ecs, other, cluster="other")


def test_run_task_bad_input_changes_nothing(ecs):
    td = register(ecs, [{"name": "main", "command": ["true"]}])
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.run_task(taskDefinition=td, count=11)
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.run_task(taskDefinition=td, cluster="nope")
    with pytest.raises(ecs.exceptions.ClientException):
        ecs.run_task(taskDefinition="never-registered")
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.run_task(taskDefinition=td, overrides={"containerOverrides": [{"name": "ghost", "command": ["x"]}]})
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.stop_task(task="0" * 32)
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.describe_tasks(tasks=[])
    ecs.deregister_task_definition(taskDefinition=td)
    with pytest.raises(ecs.exceptions.ClientException):
        ecs.run_task(taskDefinition=td)
    assert ecs.list_tasks()["taskArns"] == [] and ecs.list_tasks(desiredStatus="STOPPED")["taskArns"] == []


def test_overrides_command_and_environment(ecs, dsrv):
    import urllib.request
    td = register(ecs, [{"name": "main", "command": ["sh", "-c", "echo original"],
                         "environment": [{"name": "A", "value": "from-def"}]}])
    task = run(ecs, td, overrides={"containerOverrides": [{
        "name": "main", "command": ["sh", "-c", "echo A=$A B=$B"],
        "environment": [{"name": "B", "value": "from-override"}]}]})
    task, _ = wait_stopped(ecs, task["taskArn"])
    assert task["overrides"]["containerOverrides"][0]["name"] == "main"
    url = f"{dsrv.url}/_ecsd/tasks/{task['taskArn'].rsplit('/', 1)[1]}/logs?container=main"
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read().decode().strip() == "A=from-def B=from-override"


def test_start_task_runs_on_named_instance(ecs):
    td = register(ecs, [{"name": "main", "command": ["true"]}])
    engine = ecs.list_container_instances()["containerInstanceArns"][0]
    resp = ecs.start_task(taskDefinition=td, containerInstances=[engine, engine.rsplit("/", 1)[1], "i-2"])
    assert len(resp["tasks"]) == 2
    assert resp["failures"] == [{"arn": "i-2", "reason": "MISSING"}]
    for t in resp["tasks"]:
        assert t["launchType"] == "EC2" and t["containerInstanceArn"] == engine
        wait_stopped(ecs, t["taskArn"])


def test_stopped_task_expires_after_retention(docker_server):
    srv = docker_server(args=["--task-retention", "1"])
    ecs = make_client(srv)
    td = register(ecs, [{"name": "main", "command": ["true"]}])
    arn = run(ecs, td)["taskArn"]
    wait_stopped(ecs, arn)
    deadline = time.monotonic() + 15
    while ecs.describe_tasks(tasks=[arn])["tasks"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ecs.describe_tasks(tasks=[arn])["failures"] == [{"arn": arn, "reason": "MISSING"}]


def test_cleanup_request_stops_everything(ecs, dsrv):
    import urllib.request
    td = register(ecs, [{"name": "main", "stopTimeout": 1, "command": ["sleep", "600"]}])
    arns = [t["taskArn"] for t in ecs.run_task(taskDefinition=td, count=3)["tasks"]]
    for arn in arns:
        wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    req = urllib.request.Request(f"{dsrv.url}/_ecsd/cleanup", method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        assert r.status == 200
    for arn in arns:
        assert ecs.describe_tasks(tasks=[arn])["tasks"][0]["lastStatus"] == "STOPPED"
