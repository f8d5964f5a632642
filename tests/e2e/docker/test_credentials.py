"""Task role credentials on the Docker backend, as an SDK in a task gets them on ECS: ecsd serves them at 169.254.170.2
by an unguessable per-task credentials id, and injects a variable that botocore's own container provider accepts.

The containers call the endpoint with busybox nc; botocore is called from the host with the container's environment
as `docker inspect` shows it (the host has 169.254.170.2 too, which is how containers reach it)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import textwrap
import urllib.request
import uuid
from pathlib import Path

import pytest

from credlib import (CREDS_ADDR, FETCH_SCRIPT, answer_json, botocore_fetch, credential_vars, credentials_id,
                     credentials_url, ensure_address, env_list_to_dict, http, wait_output)
from helpers import make_client
from tasklib import container, docker, register, run, wait_for, wait_stopped

ROLE = "arn:aws:iam::000000000000:role/app-role"
OTHER_ROLE = "arn:aws:iam::000000000000:role/override-role"


@pytest.fixture(scope="module", autouse=True)
def address():
    ensure_address()


def logs(srv, task_arn: str, name: str) -> str:
    url = f"{srv.url}/_ecsd/tasks/{task_arn.rsplit('/', 1)[1]}/logs?container={name}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def env_of(task: dict, name: str) -> dict[str, str]:
    runtime_id = container(task, name)["runtimeId"]
    return env_list_to_dict(json.loads(docker("inspect", runtime_id, "--format", "{{json .Config.Env}}")))


def fetcher(name: str = "app") -> dict:
    """A container that fetches its credentials once, then stays up (its task keeps its credentials)."""
    return {"name": name, "stopTimeout": 1, "command": ["sh", "-c", FETCH_SCRIPT + "exec sleep 600"]}


def start_fetch(ecs, srv, **run_kw) -> tuple[dict, dict]:
    """Run the task, wait for its container's answer; returns the running task and the JSON answer."""
    arn = run(ecs, run_kw.pop("taskdef"), **run_kw)["taskArn"]
    task, _ = wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    out = wait_output(lambda: logs(srv, arn, "app"), lambda o: "{" in o or "no-credentials" in o)
    assert "no-credentials" not in out, out
    assert "HTTP/1.1 200" in out, out
    return task, answer_json(out)


def assert_expires_later(body: dict) -> None:
    expiration = datetime.datetime.strptime(body["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    assert expiration > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1), body


def test_role_from_the_definition_reaches_the_container_and_botocore(docker_server):
    """Regression: the endpoint read the role only from the overrides (a definition's role answered 404), and the
    variable was an http URL to host.docker.internal, which botocore refuses."""
    srv = docker_server(["--credentials-listen", f"{CREDS_ADDR}:0"])
    ecs = make_client(srv)
    td = register(ecs, [fetcher()], family="creds-def", taskRoleArn=ROLE)
    task, body = start_fetch(ecs, srv, taskdef=td)
    assert body["RoleArn"] == ROLE
    assert body["AccessKeyId"] and body["SecretAccessKey"] and body["Token"]
    assert_expires_later(body)

    env = env_of(task, "app")
    url = credentials_url(srv)
    cred_id = credentials_id(env)
    assert credential_vars(env) == {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{url}/v2/credentials/{cred_id}"}
    assert url.startswith(f"http://{CREDS_ADDR}:")
    assert url == f"http://{srv.credentials_address}"  # the ready file names the same listener
    uuid.UUID(cred_id, version=4)  # a random id, not the task id
    assert cred_id != task["taskArn"].rsplit("/", 1)[1]
    frozen, creds = botocore_fetch(env)
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (body["AccessKeyId"], body["SecretAccessKey"],
                                                                     body["Token"])
    assert not creds.refresh_needed()  # the expiry botocore parsed is in the future

    ecs.stop_task(task=task["taskArn"])
    wait_stopped(ecs, task["taskArn"])
    # A stopped task's credentials are gone.
    assert http(f"{url}/v2/credentials/{cred_id}")[0] == 404


def test_role_from_the_overrides_and_a_task_without_role(docker_server):
    srv = docker_server(["--credentials-listen", f"{CREDS_ADDR}:0"])
    ecs = make_client(srv)
    td = register(ecs, [fetcher()], family="creds-ovr")
    task, body = start_fetch(ecs, srv, taskdef=td, overrides={"taskRoleArn": OTHER_ROLE})
    assert body["RoleArn"] == OTHER_ROLE
    assert botocore_fetch(env_of(task, "app"))[0].access_key == body["AccessKeyId"]

    # The override wins over the definition's role.
    td2 = register(ecs, [fetcher()], family="creds-both", taskRoleArn=ROLE)
    task2, body2 = start_fetch(ecs, srv, taskdef=td2, overrides={"taskRoleArn": OTHER_ROLE})
    assert body2["RoleArn"] == OTHER_ROLE
    assert credentials_id(env_of(task2, "app")) != credentials_id(env_of(task, "app"))

    # No role: no credentials variables, but the metadata endpoint still is there.
    arn = run(ecs, td)["taskArn"]
    out = wait_output(lambda: logs(srv, arn, "app"), lambda o: "no-credentials" in o or "{" in o)
    assert "no-credentials" in out, out
    task3, _ = wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    env3 = env_of(task3, "app")
    assert credential_vars(env3) == {}
    assert env3["ECS_CONTAINER_METADATA_URI_V4"].endswith(f"/{arn.rsplit('/', 1)[1]}/app")
    for t in (task["taskArn"], task2["taskArn"], arn):
        ecs.stop_task(task=t)
    for t in (task["taskArn"], task2["taskArn"], arn):
        wait_stopped(ecs, t)


def test_a_guessed_id_or_the_task_id_is_refused(docker_server):
    srv = docker_server(["--credentials-listen", f"{CREDS_ADDR}:0"])
    ecs = make_client(srv)
    td = register(ecs, [fetcher()], family="creds-guess", taskRoleArn=ROLE)
    task, _ = start_fetch(ecs, srv, taskdef=td)
    url = credentials_url(srv)
    task_id = task["taskArn"].rsplit("/", 1)[1]
    cred_id = credentials_id(env_of(task, "app"))
    assert http(f"{url}/v2/credentials/{cred_id}")[0] == 200
    for path in (f"/v2/credentials/{task_id}", f"/v2/credentials/{uuid.uuid4()}", f"/v2/credentials/{cred_id}/x",
                 f"/v2/credentials/{cred_id.upper()}", f"/_ecsd/credentials/{task_id}",
                 f"/_ecsd/metadata/{task_id}/app", "/_ecsd/healthz", "/"):
        assert http(url + path)[0] == 404, path
    # The credentials listener is not the API, and the API does not serve credentials.
    status, _ = http(url + "/", "POST", b"{}", {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListTasks",
                                                "Content-Type": "application/x-amz-json-1.1"})
    assert status == 404
    assert http(url + "/_ecsd/cleanup", "POST", b"")[0] == 404
    assert http(f"{srv.url}/v2/credentials/{cred_id}")[0] == 404
    assert http(f"{srv.url}/_ecsd/credentials/{task_id}")[0] == 404
    ecs.stop_task(task=task["taskArn"])
    wait_stopped(ecs, task["taskArn"])


def test_credentials_file_and_restart(docker_server, tmp_path):
    """Keys from --task-credentials-file, by role or "*", never in the log; the credentials id is kept with the task,
    so a restarted ecsd still answers it."""
    keys = {ROLE: {"AccessKeyId": "AKIAROLEKEY000000001", "SecretAccessKey": "role-secret-value-1",
                   "Token": "role-token-value-1"},
            "*": {"AccessKeyId": "AKIAANYKEY0000000002", "SecretAccessKey": "any-secret-value-2",
                  "Token": "any-token-value-2"}}
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(keys))
    path.chmod(0o600)
    srv = docker_server(["--credentials-listen", f"{CREDS_ADDR}:0"], env={"ECSD_TASK_CREDENTIALS_FILE": str(path)})
    ecs = make_client(srv)
    td = register(ecs, [fetcher()], family="creds-file", taskRoleArn=ROLE)
    task, body = start_fetch(ecs, srv, taskdef=td)
    assert {k: body[k] for k in keys[ROLE]} == keys[ROLE]
    other, body2 = start_fetch(ecs, srv, taskdef=td, overrides={"taskRoleArn": OTHER_ROLE})
    assert {k: body2[k] for k in keys["*"]} == keys["*"]

    cred_id = credentials_id(env_of(task, "app"))
    srv.restart()
    url = credentials_url(srv)
    status, answer = http(f"{url}/v2/credentials/{cred_id}")
    assert status == 200, answer
    assert json.loads(answer)["AccessKeyId"] == keys[ROLE]["AccessKeyId"]
    for secret in ("role-secret-value-1", "role-token-value-1", "any-secret-value-2", "any-token-value-2"):
        assert secret not in srv.logs()
    ecs = make_client(srv)
    for t in (task["taskArn"], other["taskArn"]):
        ecs.stop_task(task=t)
    for t in (task["taskArn"], other["taskArn"]):
        wait_stopped(ecs, t)


@pytest.mark.parametrize("content, says", [
    ('{"arn:aws:iam::000000000000:role/r": {"AccessKeyId": "AKIA1", "SecretAccessKey": "s3cr3t-value"}}',
     "the entry of arn:aws:iam::000000000000:role/r must be an object of exactly AccessKeyId"),
    ('{"*": {"AccessKeyId": "", "SecretAccessKey": "s3cr3t-value", "Token": "t"}}',
     "AccessKeyId must be a non-empty string"),
    ('["s3cr3t-value"]', "expected a JSON object"),
    ('{"*": {"AccessKeyId": s3cr3t-value}}', "not valid JSON (line 1"),
])
def test_a_bad_credentials_file_stops_ecsd_without_printing_it(ecsd_bin, tmp_path, content, says):
    path = tmp_path / "keys.json"
    path.write_text(content)
    proc = subprocess.run([ecsd_bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", ":memory:",
                           "--task-credentials-file", str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc
    assert says in proc.stderr + proc.stdout
    assert "s3cr3t-value" not in proc.stderr + proc.stdout


def test_without_the_address_ecsd_warns_and_tasks_get_no_credentials(docker_server):
    """An address that is not on the host (169.254.170.2 missing, here another one): ecsd starts, says how to add
    it, and a task with a role gets no credentials variables; its metadata works."""
    srv = docker_server(["--credentials-listen", "169.254.170.99:0"])
    ecs = make_client(srv)
    assert "169.254.170.99 is not an address of this host" in srv.logs()
    assert "ip addr add 169.254.170.99/32 dev lo" in srv.logs()
    assert credentials_url(srv) == ""
    assert srv.credentials_address is None
    td = register(ecs, [fetcher()], family="creds-noaddr", taskRoleArn=ROLE)
    arn = run(ecs, td)["taskArn"]
    out = wait_output(lambda: logs(srv, arn, "app"), lambda o: "no-credentials" in o or "{" in o)
    assert "no-credentials" in out
    task, _ = wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    env = env_of(task, "app")
    assert credential_vars(env) == {} and "ECS_CONTAINER_METADATA_URI_V4" in env
    ecs.stop_task(task=arn)
    wait_stopped(ecs, arn)


# Run inside a private network namespace that has 169.254.170.2 on its own lo, so port 80 of it is this test's alone
# (other servers on the host may hold the host's): ecsd with the default --credentials-listen binds port 80 there, and
# a task with a role gets exactly ECS's relative URI, which botocore resolves against http://169.254.170.2.
RELATIVE_CHILD = textwrap.dedent(r"""
    import json, os, re, signal, subprocess, sys, time, urllib.request
    sys.path[:0] = [os.environ["TESTS_E2E"], os.environ["TESTS_E2E"] + "/docker"]
    from helpers import make_client
    from credlib import botocore_fetch, credential_vars
    from tasklib import docker, register, run, wait_for, wait_stopped
    log = open(os.environ["LOG"], "wb")
    proc = subprocess.Popen([os.environ["ECSD_BIN"], "serve", "--listen", "127.0.0.1:4566", "--data-dir", ":memory:",
                             "--metadata-listen", "127.0.0.1:0", "--image-pull-behavior", "prefer-cached",
                             "--cleanup-on-exit"], stdout=log, stderr=subprocess.STDOUT)
    class Srv: url = "http://127.0.0.1:4566"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(Srv.url + "/_ecsd/readyz", timeout=1); break
            except OSError:
                time.sleep(0.05)
        ecs = make_client(Srv)
        td = register(ecs, [{"name": "app", "stopTimeout": 1, "command": ["sleep", "600"]}], family="rel",
                      taskRoleArn="arn:aws:iam::000000000000:role/rel")
        arn = run(ecs, td)["taskArn"]
        task, _ = wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
        env = dict(e.split("=", 1) for e in json.loads(docker("inspect", task["containers"][0]["runtimeId"],
                                                               "--format", "{{json .Config.Env}}")))
        frozen, _ = botocore_fetch(env)
        print(json.dumps({"vars": credential_vars(env), "key": frozen.access_key}))
        ecs.stop_task(task=arn)
        wait_stopped(ecs, arn)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
""")


def test_port_80_gives_the_relative_uri_as_on_ecs(ecsd_bin, tmp_path):
    if os.geteuid() != 0:
        pytest.fail("this test needs root (a network namespace with 169.254.170.2 on port 80)", pytrace=False)
    script = tmp_path / "child.py"
    script.write_text(RELATIVE_CHILD)
    log = tmp_path / "ecsd.log"
    env = {**os.environ, "ECSD_BIN": ecsd_bin, "LOG": str(log), "TESTS_E2E": str(Path(__file__).resolve().parents[1])}
    env = {k: v for k, v in env.items() if not k.startswith("ECSD_") or k == "ECSD_BIN"}
    proc = subprocess.run(["unshare", "--net", "sh", "-c",
                           f"ip link set lo up && ip addr add {CREDS_ADDR}/32 dev lo && exec \"$0\" \"$1\"",
                           sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{log.read_text(errors='replace')}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    (name, value), = result["vars"].items()
    assert name == "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
    assert value.startswith("/v2/credentials/") and len(value) == len("/v2/credentials/") + 36
    assert result["key"] == "ASIAECSDLOCAL0000000"
    assert 'msg="credentials listener" url=http://169.254.170.2\n' in log.read_text()
