"""Task scale-in protection on the docker backend: GetTaskProtection / UpdateTaskProtection (boto3 and the AWS CLI),
the scheduler keeping a protected task through a scale-in, and the agent endpoint ${ECS_AGENT_URI}/task-protection/
v1/state called from inside the task's container."""

from __future__ import annotations

import http.client
import json
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from helpers import error_code
from tasklib import IMAGE, register, run, wait_for

FAST = {"Delay": 1, "MaxAttempts": 120}


@pytest.fixture
def dsrv(docker_server):
    return docker_server(["--service-healthy-after", "1"])


def sleeper(ecs, family="prot", command=None) -> str:
    return register(ecs, [{"name": "app", "image": IMAGE, "memory": 32, "stopTimeout": 1,
                           "command": command or ["sleep", "600"]}], family=family)


def service_tasks(ecs, name):
    arns = ecs.list_tasks(serviceName=name)["taskArns"]
    return ecs.describe_tasks(tasks=arns)["tasks"] if arns else []


def logs(srv, task_arn: str) -> str:
    with urllib.request.urlopen(f"{srv.url}/_ecsd/tasks/{task_arn.rsplit('/', 1)[1]}/logs", timeout=10) as r:
        return r.read().decode()


def test_scale_in_skips_the_protected_task(ecs, aws_for, dsrv):
    td = sleeper(ecs)
    ecs.create_service(serviceName="web", taskDefinition=td, desiredCount=2)
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST)
    tasks = sorted(service_tasks(ecs, "web"), key=lambda t: t["createdAt"])
    older, newer = tasks[0]["taskArn"], tasks[1]["taskArn"]
    # Protect the newer one, which a scale-in would stop first; the CLI this time.
    aws = aws_for(dsrv)
    out = aws("ecs", "update-task-protection", "--cluster", "default", "--tasks", newer, "--protection-enabled",
              "--expires-in-minutes", "30")
    [p] = out["protectedTasks"]
    assert p["taskArn"] == newer and p["protectionEnabled"] is True and "expirationDate" in p
    got = ecs.get_task_protection(cluster="default", tasks=[newer, older])["protectedTasks"]
    assert [(g["taskArn"], g["protectionEnabled"]) for g in got] == [(newer, True), (older, False)]
    assert 29 * 60 <= got[0]["expirationDate"].timestamp() - time.time() <= 30 * 60
    # Scale in by one: the unprotected (older) task is the one stopped.
    ecs.update_service(service="web", desiredCount=1)
    wait_for(ecs, older, lambda t: t["lastStatus"] == "STOPPED")
    kept = ecs.describe_tasks(tasks=[newer])["tasks"][0]
    assert kept["lastStatus"] == "RUNNING" and kept["desiredStatus"] == "RUNNING"
    # Scale in to zero, then lift the protection: the task goes once it is no longer protected.
    ecs.update_service(service="web", desiredCount=0)
    ecs.update_task_protection(cluster="default", tasks=[newer], protectionEnabled=False)
    wait_for(ecs, newer, lambda t: t["lastStatus"] == "STOPPED")
    [g] = ecs.get_task_protection(cluster="default", tasks=[newer])["failures"]
    assert g["reason"] == "TASK_NOT_VALID"
    ecs.delete_service(service="web")


def test_standalone_and_unknown_tasks_are_failures(ecs, dsrv):
    td = sleeper(ecs, family="alone")
    task = run(ecs, td)["taskArn"]
    resp = ecs.update_task_protection(cluster="default", tasks=[task, "0123456789abcdef0123456789abcdef"],
                                      protectionEnabled=True)
    assert resp["protectedTasks"] == []
    assert [(f["arn"], f["reason"]) for f in resp["failures"]] == [
        (task, "TASK_NOT_VALID"), ("0123456789abcdef0123456789abcdef", "MISSING")]
    ecs.stop_task(task=task)
    wait_for(ecs, task, lambda t: t["lastStatus"] == "STOPPED")


@pytest.mark.parametrize("call, code", [
    (lambda ecs: ecs.get_task_protection(cluster="ghost", tasks=["0123"]), "ClusterNotFoundException"),
    (lambda ecs: ecs.update_task_protection(cluster="ghost", tasks=["0123"], protectionEnabled=True),
     "ClusterNotFoundException"),
    (lambda ecs: ecs.update_task_protection(cluster="default", tasks=["0123"], protectionEnabled=True,
                                            expiresInMinutes=2881), "InvalidParameterException"),
    (lambda ecs: ecs.update_task_protection(cluster="default", tasks=["0123"], protectionEnabled=True,
                                            expiresInMinutes=0), "InvalidParameterException"),
    (lambda ecs: ecs.update_task_protection(cluster="default", tasks=[f"{i:032x}" for i in range(11)],
                                            protectionEnabled=True), "InvalidParameterException"),
    (lambda ecs: ecs.get_task_protection(cluster="default", tasks=[]), "InvalidParameterException"),
    (lambda ecs: ecs.get_task_protection(cluster="default", tasks=["not a task!"]), "InvalidParameterException"),
])
def test_errors(ecs, call, code):
    with pytest.raises(ClientError) as exc:
        call(ecs)
    assert error_code(exc) == code


AGENT_SCRIPT = r"""
u=${ECS_AGENT_URI#http://}; hp=${u%%/*}; path=/${u#*/}/task-protection/v1/state; h=${hp%:*}; p=${hp##*:}
body='{"ProtectionEnabled":true,"ExpiresInMinutes":60}'
printf 'PUT %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
  "$path" "$hp" "${#body}" "$body" | nc "$h" "$p"
echo
printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" | nc "$h" "$p"
echo
echo agent-done
exec sleep 600
"""


def test_agent_endpoint_from_inside_the_container(ecs, dsrv):
    td = sleeper(ecs, family="agent", command=["sh", "-c", AGENT_SCRIPT])
    ecs.create_service(serviceName="self", taskDefinition=td, desiredCount=1)
    ecs.get_waiter("services_stable").wait(services=["self"], WaiterConfig=FAST)
    [task] = service_tasks(ecs, "self")
    arn = task["taskArn"]
    deadline = time.monotonic() + 60
    while "agent-done" not in (out := logs(dsrv, arn)):
        assert time.monotonic() < deadline, out
        time.sleep(0.1)
    bodies = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(bodies) == 2, out
    put, get = bodies
    assert put["protection"]["ProtectionEnabled"] is True and put["protection"]["TaskArn"] == arn
    assert get["protection"] == put["protection"]
    assert get["protection"]["ExpirationDate"].endswith("Z")
    # The API sees what the container set.
    [p] = ecs.get_task_protection(cluster="default", tasks=[arn])["protectedTasks"]
    assert p["protectionEnabled"] is True and 59 * 60 <= p["expirationDate"].timestamp() - time.time() <= 60 * 60
    # The same endpoint, with a bad body and with protection lifted (from this side of the metadata listener).
    host, _, port = dsrv.metadata_address.rpartition(":")
    path = f"/_ecsd/metadata/{arn.rsplit('/', 1)[1]}/app/agent/task-protection/v1/state"

    def put_state(body: bytes):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("PUT", path, body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, json.loads(r.read())
        finally:
            conn.close()

    status, doc = put_state(b'{"ProtectionEnabled":"yes"}')
    assert status == 400 and doc["error"]["Arn"] == arn
    status, doc = put_state(b'{"ProtectionEnabled":true,"ExpiresInMinutes":5000}')
    assert status == 400 and doc["error"]["Code"] == "InvalidParameterException"
    status, doc = put_state(b'{"ProtectionEnabled":false}')
    assert status == 200 and doc["protection"] == {"ExpirationDate": None, "ProtectionEnabled": False,
                                                   "TaskArn": arn}
    [p] = ecs.get_task_protection(cluster="default", tasks=[arn])["protectedTasks"]
    assert p["protectionEnabled"] is False and "expirationDate" not in p
    ecs.delete_service(service="self", force=True)
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "STOPPED")


def test_deployment_keeps_the_protected_task_until_protection_is_lifted(ecs, dsrv):
    td = sleeper(ecs, family="deploy")
    ecs.create_service(serviceName="api", taskDefinition=td, desiredCount=1)
    ecs.get_waiter("services_stable").wait(services=["api"], WaiterConfig=FAST)
    [old] = service_tasks(ecs, "api")
    ecs.update_task_protection(cluster="default", tasks=[old["taskArn"]], protectionEnabled=True)
    ecs.update_service(service="api", forceNewDeployment=True)
    deadline = time.monotonic() + 60
    while not (new := [t for t in service_tasks(ecs, "api")
                       if t["taskArn"] != old["taskArn"] and t["lastStatus"] == "RUNNING"]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # The new task counts as healthy 1 s after it started (--service-healthy-after 1): from then on a pass of the
    # scheduler would drain the old deployment. Wait that out, then make a pass happen for certain: the scheduler
    # reconciles every service in each pass, so the pass that starts another service's task reconciles this one too.
    while time.time() < new[0]["startedAt"].timestamp() + 1.5:
        time.sleep(0.1)
    ecs.create_service(serviceName="nudge", taskDefinition=td, desiredCount=1)
    while not ecs.list_tasks(serviceName="nudge")["taskArns"]:
        assert time.monotonic() < deadline + 60
        time.sleep(0.1)
    kept = ecs.describe_tasks(tasks=[old["taskArn"]])["tasks"][0]
    assert kept["desiredStatus"] == "RUNNING" and kept["lastStatus"] == "RUNNING"
    assert len(ecs.describe_services(services=["api"])["services"][0]["deployments"]) == 2
    # Lifted: the deployment finishes.
    ecs.update_task_protection(cluster="default", tasks=[old["taskArn"]], protectionEnabled=False)
    wait_for(ecs, old["taskArn"], lambda t: t["lastStatus"] == "STOPPED")
    ecs.get_waiter("services_stable").wait(services=["api"], WaiterConfig=FAST)
    for name in ("api", "nudge"):
        ecs.delete_service(service=name, force=True)
    ecs.get_waiter("services_inactive").wait(services=["api", "nudge"], WaiterConfig=FAST)
