"""Clusters that hold tasks, on real containers: DescribeClusters counts the cluster's RUNNING and not-yet-running
tasks, and DeleteCluster refuses a cluster with a task that is not STOPPED (ClusterContainsTasksException), as ECS
does, and deletes it once every task has stopped."""

from __future__ import annotations

import pytest

from tasklib import container, register, run, wait_for, wait_stopped


def counts(ecs, cluster: str) -> tuple[int, int, str]:
    c = ecs.describe_clusters(clusters=[cluster])["clusters"][0]
    return c["runningTasksCount"], c["pendingTasksCount"], c["status"]


def test_task_counts_and_delete_refused_until_stopped(ecs):
    ecs.create_cluster(clusterName="busy")
    sleeper = register(ecs, [{"name": "main", "stopTimeout": 1, "command": ["sleep", "600"]}], family="sleeper")
    # Kept PENDING: "second" waits for "first" to complete, which takes as long as the test lets it.
    waiting = register(ecs, [
        {"name": "first", "essential": False, "stopTimeout": 1, "command": ["sleep", "600"]},
        {"name": "second", "command": ["sleep", "600"],
         "dependsOn": [{"containerName": "first", "condition": "COMPLETE"}]},
    ], family="waiting")
    assert counts(ecs, "busy") == (0, 0, "ACTIVE")

    running = [run(ecs, sleeper, cluster="busy")["taskArn"] for _ in range(2)]
    for arn in running:
        wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING", cluster="busy")
    pending = run(ecs, waiting, cluster="busy")["taskArn"]
    wait_for(ecs, pending, lambda t: container(t, "first")["lastStatus"] == "RUNNING", cluster="busy")
    assert counts(ecs, "busy") == (2, 1, "ACTIVE")
    assert counts(ecs, "default")[:2] == (0, 0)  # other clusters are not counted

    with pytest.raises(ecs.exceptions.ClusterContainsTasksException):
        ecs.delete_cluster(cluster="busy")
    assert counts(ecs, "busy") == (2, 1, "ACTIVE")
    assert "busy" in [a.rsplit("/", 1)[1] for a in ecs.list_clusters()["clusterArns"]]

    for arn in running + [pending]:
        ecs.stop_task(cluster="busy", task=arn)
    for arn in running + [pending]:
        wait_stopped(ecs, arn, cluster="busy")
    assert counts(ecs, "busy") == (0, 0, "ACTIVE")

    deleted = ecs.delete_cluster(cluster="busy")["cluster"]
    assert deleted["status"] == "INACTIVE" and deleted["runningTasksCount"] == 0
    # The stopped tasks stay describable, and the cluster takes no new task.
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.run_task(cluster="busy", taskDefinition=sleeper)


def test_delete_refused_while_a_task_is_stopping(ecs):
    # A task on its way to STOPPED still counts: its container takes its stopTimeout to go (it ignores SIGTERM).
    ecs.create_cluster(clusterName="draining")
    td = register(ecs, [{"name": "main", "stopTimeout": 3, "command": ["sh", "-c", "trap '' TERM; sleep 600"]}],
                  family="stubborn")
    arn = run(ecs, td, cluster="draining")["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING", cluster="draining")
    ecs.stop_task(cluster="draining", task=arn)
    # The stop takes 3 s (SIGKILL after stopTimeout), far longer than one DescribeTasks.
    task, _ = wait_for(ecs, arn, lambda t: t["lastStatus"] != "RUNNING", cluster="draining")
    assert task["lastStatus"] == "STOPPING"
    assert counts(ecs, "draining")[:2] == (0, 0)
    with pytest.raises(ecs.exceptions.ClusterContainsTasksException):
        ecs.delete_cluster(cluster="draining")
    assert ecs.describe_tasks(cluster="draining", tasks=[arn])["tasks"][0]["lastStatus"] != "STOPPED"
    wait_stopped(ecs, arn, cluster="draining")
    assert ecs.delete_cluster(cluster="draining")["cluster"]["status"] == "INACTIVE"
