"""The ECS agent's calls (DiscoverPollEndpoint, SubmitTaskStateChange, SubmitContainerStateChange,
SubmitAttachmentStateChanges) against tasks ecsd really runs, driven by boto3. ecsd is its own agent: a report that
agrees is acknowledged and changes nothing, a stop is applied through the lifecycle (the containers really stop),
anything else is refused with what ecsd sees, and a refused call changes nothing at all."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tasklib import container, describe, docker, register, run, wait_for, wait_stopped


def running(ecs, arn: str) -> dict:
    return wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")[0]


def two_containers(ecs) -> tuple[str, dict]:
    td = register(ecs, [{"name": "main", "command": ["sleep", "600"], "stopTimeout": 1},
                        {"name": "side", "essential": False, "command": ["sleep", "600"], "stopTimeout": 1}],
                  family="agent")
    arn = run(ecs, td)["taskArn"]
    return arn, running(ecs, arn)


def refused(fn, **kw) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        fn(**kw)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def live(runtime_id: str) -> bool:
    return docker("inspect", "-f", "{{.State.Running}}", runtime_id, check=False).strip() == "true"


def test_discover_poll_endpoint_names_ecsd(ecs, dsrv):
    resp = ecs.discover_poll_endpoint(cluster="default", containerInstance="0123456789abcdef")
    url = f"http://127.0.0.1:{dsrv.port}/"
    assert (resp["endpoint"], resp["telemetryEndpoint"], resp["serviceConnectEndpoint"]) == (url, url, url)
    assert ecs.discover_poll_endpoint()["endpoint"] == url
    assert refused(ecs.discover_poll_endpoint, cluster="nosuch")[0] == "ClientException"
    assert refused(ecs.discover_poll_endpoint, containerInstance="arn:aws:ecs:us-east-1:000000000000:task/x/y") == (
        "InvalidParameterException", "Invalid container instance 'arn:aws:ecs:us-east-1:000000000000:task/x/y'.")


def test_reports_that_agree_are_acknowledged_and_change_nothing(ecs, dsrv):
    arn, task = two_containers(ecs)
    main = container(task, "main")
    resp = ecs.submit_task_state_change(task=arn, status="RUNNING", containers=[
        {"containerName": "main", "status": "RUNNING", "runtimeId": main["runtimeId"]},
        {"containerName": "side", "status": "RUNNING"}],
        managedAgents=[{"containerName": "main", "managedAgentName": "ExecuteCommandAgent", "status": "RUNNING"}])
    assert resp["acknowledgment"] == "true"
    assert ecs.submit_container_state_change(task=arn.rsplit("/", 1)[1], containerName="side",
                                             status="RUNNING")["acknowledgment"] == "true"
    after = describe(ecs, arn)
    assert after["version"] == task["version"] and after["lastStatus"] == "RUNNING"
    assert after["desiredStatus"] == "RUNNING"


def test_refused_reports_say_why_and_change_nothing(ecs, dsrv):
    arn, task = two_containers(ecs)
    side = container(task, "side")["runtimeId"]
    cases = [
        (ecs.submit_task_state_change, dict(task=arn, status="PENDING"), "is RUNNING"),
        (ecs.submit_task_state_change, dict(task=arn, status="BOGUS"), "Invalid task status"),
        # A stop of the task together with a report ecsd refuses: the whole call is refused, the task goes on.
        (ecs.submit_task_state_change, dict(task=arn, status="STOPPED", containers=[
            {"containerName": "side", "status": "STOPPED", "exitCode": 1}]), "non-essential"),
        (ecs.submit_task_state_change, dict(task=arn, containers=[
            {"containerName": "main", "status": "STOPPED"}, {"containerName": "nope", "status": "STOPPED"}]),
         "no container named nope"),
        (ecs.submit_task_state_change, dict(task=arn, status="STOPPED", managedAgents=[
            {"containerName": "nope", "managedAgentName": "ExecuteCommandAgent", "status": "STOPPED"}]),
         "no container named nope"),
        (ecs.submit_task_state_change, dict(task=arn, status="STOPPED", attachments=[
            {"attachmentArn": "arn:aws:ecs:us-east-1:000000000000:attachment/abc", "status": "ATTACHED"}]),
         "no attachments"),
        (ecs.submit_container_state_change, dict(task=arn, containerName="main", status="RUNNING",
                                                 runtimeId=side), "is not the one of container main"),
        (ecs.submit_container_state_change, dict(task=arn, containerName="main", status="PENDING"), "is RUNNING"),
        (ecs.submit_container_state_change, dict(task=arn, containerName="main", status="RUNNING", exitCode=0),
         "exitCode"),
        (ecs.submit_container_state_change, dict(task=arn, containerName="side", status="STOPPED"),
         "non-essential"),
        (ecs.submit_container_state_change, dict(task="0123456789abcdef0123456789abcdef", containerName="main",
                                                 status="STOPPED"), "The referenced task was not found."),
        (ecs.submit_container_state_change, dict(containerName="main", status="STOPPED"), "task must be specified"),
    ]
    for fn, kw, want in cases:
        code, msg = refused(fn, **kw)
        assert code == "InvalidParameterException" and want in msg, (kw, code, msg)
    assert refused(ecs.submit_task_state_change, cluster="nosuch", task=arn, status="STOPPED")[0] == \
        "ClusterNotFoundException"
    after = describe(ecs, arn)
    assert (after["lastStatus"], after["desiredStatus"], after["version"]) == ("RUNNING", "RUNNING", task["version"])
    assert live(side) and live(container(task, "main")["runtimeId"])


def test_a_reported_task_stop_is_applied_through_the_lifecycle(ecs, dsrv):
    arn, task = two_containers(ecs)
    resp = ecs.submit_task_state_change(task=arn, status="STOPPED", reason="host is going away")
    assert resp["acknowledgment"] == "true"
    stopped, _ = wait_stopped(ecs, arn)
    assert stopped["stopCode"] == "UserInitiated" and stopped["stoppedReason"] == "host is going away"
    for c in task["containers"]:
        assert not live(c["runtimeId"])
    # Once stopped, a STOPPED report agrees; any other is refused.
    assert ecs.submit_task_state_change(task=arn, status="STOPPED")["acknowledgment"] == "true"
    code, msg = refused(ecs.submit_task_state_change, task=arn, status="RUNNING")
    assert code == "InvalidParameterException" and "is STOPPED" in msg


def test_a_reported_exit_of_an_essential_container_stops_the_task(ecs, dsrv):
    arn, task = two_containers(ecs)
    resp = ecs.submit_container_state_change(task=arn, containerName="main", status="STOPPED", exitCode=1,
                                             runtimeId=container(task, "main")["runtimeId"])
    assert resp["acknowledgment"] == "true"
    stopped, _ = wait_stopped(ecs, arn)
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["stoppedReason"] == "Essential container in task exited"
    assert not live(container(task, "main")["runtimeId"])


def test_attachment_state_changes_name_no_attachment_of_ecsd(ecs, dsrv):
    arn = "arn:aws:ecs:us-east-1:000000000000:attachment/0123"
    code, msg = refused(ecs.submit_attachment_state_changes, attachments=[{"attachmentArn": arn, "status": "x"}])
    assert code == "InvalidParameterException" and "no attachments" in msg
    code, _ = refused(ecs.submit_attachment_state_changes, attachments=[{"attachmentArn": "nope", "status": "x"}])
    assert code == "InvalidParameterException"
    code, _ = refused(ecs.submit_attachment_state_changes, cluster="nosuch",
                      attachments=[{"attachmentArn": arn, "status": "x"}])
    assert code == "ClusterNotFoundException"
