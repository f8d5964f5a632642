"""Crash safety: state written before a reply survives `kill -9`; restarts continue revisions."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError

from helpers import (Raw, cluster_arn, list_all_clusters, list_all_families, list_all_taskdefs,
                     make_client, register, snapshot, taskdef_arn)


def test_everything_survives_kill_9(ecsd, ecs):
    for _ in range(3):
        register(ecs, "web")
    register(ecs, "worker")
    ecs.tag_resource(resourceArn=taskdef_arn("worker", 1), tags=[{"key": "t", "value": "1"}])
    ecs.deregister_task_definition(taskDefinition="web:1")
    ecs.create_cluster(clusterName="keep", tags=[{"key": "k", "value": "v"}],
                       settings=[{"name": "containerInsights", "value": "enabled"}])
    ecs.create_cluster(clusterName="gone")
    ecs.delete_cluster(cluster="gone")
    before = snapshot(Raw(ecsd))
    web3 = ecs.describe_task_definition(taskDefinition="web:3")["taskDefinition"]

    ecsd.kill9()
    ecsd.start()
    ecs = make_client(ecsd)

    assert snapshot(Raw(ecsd)) == before
    assert ecs.describe_task_definition(taskDefinition="web:3")["taskDefinition"] == web3
    assert ecs.describe_task_definition(taskDefinition="web:1")["taskDefinition"]["status"] == "INACTIVE"
    assert ecs.list_tags_for_resource(resourceArn=taskdef_arn("worker", 1))["tags"] == [
        {"key": "t", "value": "1"}]
    [c] = ecs.describe_clusters(clusters=["keep"], include=["TAGS", "SETTINGS"])["clusters"]
    assert c["tags"] == [{"key": "k", "value": "v"}]
    assert c["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert cluster_arn("gone") not in list_all_clusters(ecs)


def test_revisions_continue_after_kill_9(ecsd, ecs):
    for _ in range(3):
        register(ecs, "web")
    ecsd.kill9()
    ecsd.start()
    ecs = make_client(ecsd)
    assert register(ecs, "web")["taskDefinitionArn"] == taskdef_arn("web", 4)


def test_revision_of_deleted_latest_is_not_reused_after_restart(ecsd, ecs):
    register(ecs, "web")
    register(ecs, "web")
    ecs.deregister_task_definition(taskDefinition="web:2")
    ecs.delete_task_definitions(taskDefinitions=["web:2"])
    ecsd.kill9()
    ecsd.start()
    assert register(make_client(ecsd), "web")["revision"] == 3


def test_write_acknowledged_just_before_kill_9_is_durable(ecsd, ecs):
    arn = register(ecs, "last-second")["taskDefinitionArn"]
    ecsd.kill9()  # immediately after the reply
    ecsd.start()
    assert list_all_taskdefs(make_client(ecsd)) == [arn]


def test_repeated_crashes_lose_nothing(ecsd, ecs):
    for round_ in range(1, 4):
        register(ecs, "loop")
        ecs.create_cluster(clusterName=f"c{round_}")
        ecsd.kill9()
        ecsd.start()
        ecs = make_client(ecsd)
        assert list_all_taskdefs(ecs) == [taskdef_arn("loop", r) for r in range(1, round_ + 1)]
        assert len(list_all_clusters(ecs)) == round_ + 1


def test_other_regions_survive_kill_9(ecsd):
    eu = make_client(ecsd, "eu-west-1")
    eu.create_cluster(clusterName="euro")
    register(eu, "eu-fam")
    ecsd.kill9()
    ecsd.start()
    eu = make_client(ecsd, "eu-west-1")
    assert cluster_arn("euro", "eu-west-1") in list_all_clusters(eu)
    assert list_all_families(eu) == ["eu-fam"]
    assert list_all_taskdefs(make_client(ecsd, "us-east-1")) == []


def test_sigterm_exits_cleanly_and_keeps_state(ecsd, ecs):
    register(ecs, "graceful")
    assert ecsd.terminate() == 0
    ecsd.start()
    assert list_all_taskdefs(make_client(ecsd)) == [taskdef_arn("graceful", 1)]


def test_restart_on_a_fresh_data_dir_starts_empty(ecsd_factory, tmp_path):
    first = ecsd_factory()
    register(make_client(first), "only-first")
    second = ecsd_factory()  # its own, different data dir
    assert list_all_taskdefs(make_client(second)) == []
    assert list_all_clusters(make_client(second)) == [cluster_arn("default")]


def test_memory_data_dir_is_throwaway(ecsd_factory):
    srv = ecsd_factory(data_dir=":memory:")
    ecs = make_client(srv)
    register(ecs, "mem")
    ecs.create_cluster(clusterName="mem")
    assert list_all_taskdefs(ecs) == [taskdef_arn("mem", 1)]
    srv.kill9()
    srv.start()
    ecs = make_client(srv)
    assert list_all_taskdefs(ecs) == []
    assert list_all_clusters(ecs) == [cluster_arn("default")]
    with pytest.raises(ClientError):
        ecs.describe_task_definition(taskDefinition="mem:1")


def test_kill_9_under_concurrent_writes_loses_no_acknowledged_write(ecsd):
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n):
        client = make_client(ecsd)
        while not stop.is_set():
            try:
                arn = register(client, f"w{n}")["taskDefinitionArn"]
            except Exception:  # the kill lands mid-request: unacknowledged, may or may not exist
                return
            with lock:
                acked.append(arn)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline_hit = threading.Event()
    # let the writers run until at least 40 writes are acknowledged (bounded by a deadline)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= 40:
                break
        time.sleep(0.01)
    else:
        deadline_hit.set()
    ecsd.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert not deadline_hit.is_set(), f"only {len(acked)} writes acknowledged in 10 s"

    ecsd.start()
    ecs = make_client(ecsd)
    present = set(list_all_taskdefs(ecs))
    missing = [a for a in acked if a not in present]
    assert missing == [], f"acknowledged but lost after kill -9: {missing}"
    for n in range(4):
        revs = sorted(int(a.rsplit(":", 1)[1]) for a in present if f"/w{n}:" in a)
        if revs:
            assert revs == list(range(1, len(revs) + 1)), f"w{n} revisions have holes: {revs}"
            assert register(ecs, f"w{n}")["revision"] == len(revs) + 1
