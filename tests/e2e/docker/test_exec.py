"""ExecuteCommand against real containers, driven by boto3: the command really runs inside the task's container
(docker exec), its output and exit code are kept with the session (GET /_ecsd/exec/<session>[/output], the
session's streamUrl), DescribeTasks shows enableExecuteCommand and the ExecuteCommandAgent as ECS does, and each
refusal is the exception ECS answers with, changing nothing."""

from __future__ import annotations

import json
import select
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from helpers import make_client
from tasklib import container, describe, docker, register, run, wait_for, wait_stopped

NOT_ENABLED = ("The execute command failed because execute command was not enabled when the task was run or the "
               "execute command agent isn't running. Wait and try again or run a new task with execute command enabled "
               "and try again.")


def running(ecs, arn: str) -> dict:
    return wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")[0]


def session_status(srv, sid: str, wait: int = 30) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/_ecsd/exec/{sid}?wait={wait}", timeout=wait + 30) as r:
        return json.loads(r.read())


def sleeper(ecs, family: str = "exec", **kw) -> str:
    return register(ecs, [{"name": "main", "command": ["sleep", "600"], "stopTimeout": 1}], family=family, **kw)


def client_error(fn, **kw) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        fn(**kw)
    err = info.value.response["Error"]
    return err["Code"], err["Message"]


def test_execute_command_runs_in_the_container_and_keeps_output_and_exit_code(ecs, dsrv):
    arn = run(ecs, sleeper(ecs), enableExecuteCommand=True)["taskArn"]
    task = running(ecs, arn)
    assert task["enableExecuteCommand"] is True
    agents = container(task, "main")["managedAgents"]
    assert [(a["name"], a["lastStatus"]) for a in agents] == [("ExecuteCommandAgent", "RUNNING")]
    assert "lastStartedAt" in agents[0]

    resp = ecs.execute_command(task=arn, interactive=True,
                               command="sh -c 'touch /tmp/made-by-exec; echo \"to out\"; echo to-err >&2; exit 3'")
    session = resp["session"]
    assert resp["taskArn"] == arn and resp["containerName"] == "main" and resp["interactive"] is True
    assert resp["containerArn"] == container(task, "main")["containerArn"]
    assert resp["clusterArn"] == task["clusterArn"]
    assert session["sessionId"].startswith("ecs-execute-command-") and session["tokenValue"]
    assert session["streamUrl"] == f"http://127.0.0.1:{dsrv.port}/_ecsd/exec/{session['sessionId']}/output"

    status = session_status(dsrv, session["sessionId"])
    assert status["status"] == "EXITED" and status["exitCode"] == 3, status
    assert status["command"] == ["sh", "-c", 'touch /tmp/made-by-exec; echo "to out"; echo to-err >&2; exit 3']
    with urllib.request.urlopen(session["streamUrl"], timeout=30) as r:
        assert sorted(r.read().decode().splitlines()) == ["to out", "to-err"]
    # It ran in the task's container, not anywhere else.
    docker("exec", container(task, "main")["runtimeId"], "test", "-f", "/tmp/made-by-exec")
    # The task goes on running.
    assert describe(ecs, arn)["lastStatus"] == "RUNNING"


def test_execute_command_of_a_missing_program_reports_the_engines_exit_code(ecs, dsrv):
    arn = run(ecs, sleeper(ecs), enableExecuteCommand=True)["taskArn"]
    task = running(ecs, arn)
    sid = ecs.execute_command(task=arn, interactive=True, command="/no/such/program")["session"]["sessionId"]
    status = session_status(dsrv, sid)
    # What `docker exec` itself answers (126 or 127, by engine version), and the engine's sentence as output.
    direct = subprocess.run(["docker", "exec", container(task, "main")["runtimeId"], "/no/such/program"],
                            capture_output=True, text=True, timeout=60)
    assert direct.returncode in (126, 127)
    assert status["status"] == "EXITED" and status["exitCode"] == direct.returncode, status
    with urllib.request.urlopen(f"http://127.0.0.1:{dsrv.port}/_ecsd/exec/{sid}/output", timeout=30) as r:
        assert "/no/such/program" in r.read().decode()


def test_a_service_with_execute_command_enabled_runs_tasks_that_allow_it(ecs, dsrv):
    td = sleeper(ecs, family="exec-svc")
    svc = ecs.create_service(serviceName="web", taskDefinition=td, desiredCount=1, enableExecuteCommand=True)
    assert svc["service"]["enableExecuteCommand"] is True
    arns: list[str] = []
    for _ in range(600):
        arns = ecs.list_tasks(serviceName="web")["taskArns"]
        if arns:
            break
        time.sleep(0.05)
    assert arns, "the service started no task"
    running(ecs, arns[0])
    sid = ecs.execute_command(task=arns[0], interactive=True, command="true")["session"]["sessionId"]
    assert session_status(dsrv, sid)["exitCode"] == 0
    ecs.update_service(service="web", desiredCount=0)
    ecs.delete_service(service="web")
    wait_stopped(ecs, arns[0])


def test_execute_command_refusals_are_the_ecs_exceptions(ecs, dsrv):
    plain = run(ecs, sleeper(ecs))["taskArn"]
    two = run(ecs, register(ecs, [{"name": "a", "command": ["sleep", "600"], "stopTimeout": 1},
                                  {"name": "b", "command": ["sleep", "600"], "stopTimeout": 1}], family="exec-two"),
              enableExecuteCommand=True)["taskArn"]
    running(ecs, plain)
    running(ecs, two)
    assert describe(ecs, plain)["enableExecuteCommand"] is False
    assert "managedAgents" not in container(describe(ecs, plain), "main")

    ex = ecs.execute_command
    assert client_error(ex, task=plain, interactive=True, command="true") == ("InvalidParameterException",
                                                                              NOT_ENABLED)
    assert client_error(ex, task=two, container="a", interactive=False, command="true") == (
        "InvalidParameterException", "Interactive is the only mode supported currently.")
    code, msg = client_error(ex, task=two, container="nope", interactive=True, command="true")
    assert code == "InvalidParameterException" and "nope" in msg
    code, msg = client_error(ex, task=two, interactive=True, command="true")
    assert code == "InvalidParameterException" and "name the container" in msg
    code, msg = client_error(ex, task="0123456789abcdef0123456789abcdef", interactive=True, command="true")
    assert (code, msg) == ("InvalidParameterException", "The referenced task was not found.")
    code, _ = client_error(ex, cluster="nosuch", task=two, interactive=True, command="true")
    assert code == "ClusterNotFoundException"
    code, msg = client_error(ex, task=two, container="a", interactive=True, command="sh -c 'unclosed")
    assert code == "InvalidParameterException" and "quote" in msg

    ecs.stop_task(task=two)
    stopped, _ = wait_stopped(ecs, two)
    code, msg = client_error(ex, task=two, container="a", interactive=True, command="true")
    assert code == "InvalidParameterException" and "not running" in msg, msg
    assert [a["lastStatus"] for a in container(stopped, "a")["managedAgents"]] == ["STOPPED"]


# ---- `ecsd exec` (POST /_ecsd/exec, then the streamed output and the exit code) ----

def ecsd_exec(ecsd_bin, srv, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([ecsd_bin, "exec", *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "ECSD_ENDPOINT_URL": f"http://127.0.0.1:{srv.port}"}, **kw)


def test_ecsd_exec_streams_output_as_written_and_exits_with_the_commands_code(ecs, dsrv, ecsd_bin):
    # No enableExecuteCommand: `ecsd exec` is the operator's tool, like `docker exec`.
    arn = run(ecs, sleeper(ecs))["taskArn"]
    task = running(ecs, arn)
    cid = container(task, "main")["runtimeId"]
    proc = subprocess.Popen([ecsd_bin, "exec", arn.rsplit("/", 1)[1], "--", "sh", "-c",
                             "echo first; until [ -f /tmp/go ]; do sleep 0.05; done; echo second >&2; exit 42"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={"PATH": "/usr/bin:/bin", "ECSD_ENDPOINT_URL": f"http://127.0.0.1:{dsrv.port}"})
    try:
        # The command cannot go on before /tmp/go exists: a client that got its output only at the end would hang.
        # A guard against hanging, not a timing: the line is due long before.
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "ecsd exec delivered nothing while the command waited"
        assert proc.stdout.readline() == b"first\n"
        docker("exec", cid, "touch", "/tmp/go")
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rest == b"second\n" and err == b""
    assert proc.returncode == 42


def test_ecsd_exec_by_arn_container_and_cluster(ecs, dsrv, ecsd_bin):
    ecs.create_cluster(clusterName="other")
    td = register(ecs, [{"name": "a", "command": ["sleep", "600"], "stopTimeout": 1},
                        {"name": "b", "command": ["sleep", "600"], "stopTimeout": 1,
                         "environment": [{"name": "WHO", "value": "bee"}]}], family="exec-cli")
    arn = run(ecs, td, cluster="other")["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING", cluster="other")
    ok = ecsd_exec(ecsd_bin, dsrv, arn, "--cluster", "other", "--container", "b", "--", "sh", "-c", "echo $WHO")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "bee\n", "")

    # Refusals: exit code 125 and ecsd's sentence, nothing run.
    cases = [
        (["--", "true"], "name the container"),
        (["--container", "c", "--", "true"], "The container c was not found in the task."),
        (["--cluster", "default", "--container", "a", "--", "true"], "not found in cluster default"),
    ]
    for args, want in cases:
        res = ecsd_exec(ecsd_bin, dsrv, arn, *args)
        assert res.returncode == 125 and want in res.stderr and res.stdout == "", (args, res)
    res = ecsd_exec(ecsd_bin, dsrv, "0123456789abcdef0123456789abcdef", "--", "true")
    assert res.returncode == 125 and "The referenced task was not found." in res.stderr
    # Usage errors: 2.
    assert ecsd_exec(ecsd_bin, dsrv, arn).returncode == 2
    assert ecsd_exec(ecsd_bin, dsrv, "--", "true").returncode == 2

    ecs.stop_task(cluster="other", task=arn)
    wait_stopped(ecs, arn, cluster="other")
    res = ecsd_exec(ecsd_bin, dsrv, arn, "--container", "a", "--", "true")
    assert res.returncode == 125 and "not running" in res.stderr, res


def test_exec_operator_endpoint_refuses_bad_requests(ecs, dsrv):
    arn = run(ecs, sleeper(ecs))["taskArn"]
    running(ecs, arn)

    def post(body: bytes) -> tuple[int, dict]:
        req = urllib.request.Request(f"http://127.0.0.1:{dsrv.port}/_ecsd/exec", data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    for body in [b"not json", b"[]", b'{"task": "' + arn.encode() + b'"}',
                 json.dumps({"task": arn, "command": "true"}).encode(),
                 json.dumps({"task": arn, "command": [1]}).encode(),
                 json.dumps({"task": arn, "command": []}).encode(),
                 json.dumps({"task": arn, "command": [""]}).encode(),
                 json.dumps({"task": arn, "command": ["x"] * 257}).encode()]:
        status, doc = post(body)
        assert status == 400 and doc["__type"] == "InvalidParameterException", (body, status, doc)
    status, doc = post(json.dumps({"task": arn, "command": ["true"]}).encode())
    assert status == 200 and doc["sessionId"].startswith("ecs-execute-command-") and "tokenValue" not in doc
    sid = doc["sessionId"]
    assert session_status(dsrv, sid, wait=0)["status"] == "PENDING"
    with urllib.request.urlopen(f"http://127.0.0.1:{dsrv.port}/_ecsd/exec/{sid}/output", timeout=30) as r:
        assert r.read() == b""
    assert session_status(dsrv, sid)["exitCode"] == 0
    # An attached session's output is followed once.
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{dsrv.port}/_ecsd/exec/{sid}/output", timeout=30)
    assert info.value.code == 409
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{dsrv.port}/_ecsd/exec/ecs-execute-command-0/output", timeout=30)
    assert info.value.code == 404


def exec_clis(marker: str) -> list[int]:
    """`docker exec` processes whose arguments hold `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"exec" in args and marker.encode() in args:
            found.append(int(entry.name))
    return found


def test_a_running_command_ends_with_ecsd(ecsd_factory, docker_server):
    """ecsd's shutdown ends the `docker exec` of a command still running (ExecuteCommand's session thread is woken and
    kills it) and ecsd exits. Without --cleanup-on-exit, so that the task (and with it the command) goes on running
    and only the wake-up can end the session; a second ecsd re-adopts the task and removes it at the end."""
    srv = ecsd_factory(args=["--image-pull-behavior", "prefer-cached", "--stop-timeout", "5"])
    ecs = make_client(srv)
    arn = run(ecs, sleeper(ecs), enableExecuteCommand=True)["taskArn"]
    running(ecs, arn)
    marker = "612.5"
    sid = ecs.execute_command(task=arn, interactive=True, command=f"sleep {marker}")["session"]["sessionId"]
    assert session_status(srv, sid, wait=0)["status"] == "RUNNING"
    assert exec_clis(marker), "no docker exec runs the command"
    assert srv.terminate(timeout=60) == 0
    assert exec_clis(marker) == []
    again = docker_server(data_dir=srv.data_dir)
    assert describe(make_client(again), arn)["lastStatus"] == "RUNNING"


def test_execute_command_splits_its_string_without_a_shell(ecs, dsrv):
    """Blanks separate arguments; '...' and "..." quote (\\" and \\\\ escape inside "..."), \\ keeps the next character;
    nothing is expanded: $HOME reaches the command as written."""
    arn = run(ecs, sleeper(ecs), enableExecuteCommand=True)["taskArn"]
    running(ecs, arn)
    command = r"""printf %s| "a b" 'c  d' e\ f "q\"q" '$HOME' """
    sid = ecs.execute_command(task=arn, interactive=True, command=command)["session"]["sessionId"]
    assert session_status(dsrv, sid)["command"] == ["printf", "%s|", "a b", "c  d", "e f", 'q"q', "$HOME"]
    with urllib.request.urlopen(f"http://127.0.0.1:{dsrv.port}/_ecsd/exec/{sid}/output", timeout=30) as r:
        assert r.read() == b'a b|c  d|e f|q"q|$HOME|'
