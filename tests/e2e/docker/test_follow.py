"""Following a task's output as it is written: GET /_ecsd/tasks/<id>/logs?follow=1[&container=NAME], against real
containers. The stream must deliver output before the container writes its next line (the container waits for the
test, so a server that buffered until the end would never deliver it), end when the container's output ends, end
with an error when ecsd shuts down, and leave no `docker logs` process behind when the client goes away."""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path

import pytest

from helpers import make_client
from tasklib import container, docker, register, run, wait_for, wait_stopped

# Prints a line, then waits until the test creates /tmp/go inside the container, then prints a second line and exits.
WAIT_FOR_GO = "echo first; until [ -f /tmp/go ]; do sleep 0.05; done; echo second >&2; echo third"


def task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def follow(srv, arn: str, query: str = "") -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    conn.request("GET", f"/_ecsd/tasks/{task_id(arn)}/logs?follow=1{query}")
    return conn, conn.getresponse()


def follow_error(srv, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def running(ecs, arn: str) -> dict:
    return wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")[0]


def log_followers(pid: int) -> list[int]:
    """Children of ecsd that run `docker logs --follow`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"logs" in args and b"--follow" in args:
            found.append(int(entry.name))
    return found


def test_follow_delivers_each_line_as_written_and_ends_with_the_task(ecs, dsrv):
    td = register(ecs, [{"name": "main", "command": ["sh", "-c", WAIT_FOR_GO]}])
    arn = run(ecs, td)["taskArn"]
    task = running(ecs, arn)
    conn, resp = follow(dsrv, arn)
    try:
        assert resp.status == 200 and resp.getheader("Content-Type", "").startswith("text/plain")
        assert resp.readline() == b"first\n"
        # The container cannot have written more: it waits for /tmp/go, which does not exist yet.
        assert describe_status(ecs, arn) == "RUNNING"
        docker("exec", container(task, "main")["runtimeId"], "touch", "/tmp/go")
        rest = resp.read()  # to the end of the stream: a cut stream raises IncompleteRead
    finally:
        conn.close()
    assert sorted(rest.decode().splitlines()) == ["second", "third"]
    task, _ = wait_stopped(ecs, arn)
    assert task["stopCode"] == "EssentialContainerExited" and container(task, "main")["exitCode"] == 0


def describe_status(ecs, arn: str) -> str:
    return ecs.describe_tasks(tasks=[arn])["tasks"][0]["lastStatus"]


def test_follow_ends_when_the_task_is_stopped(ecs, dsrv):
    td = register(ecs, [
        {"name": "app", "stopTimeout": 1, "command": ["sh", "-c", "echo ready; sleep 600"]},
        {"name": "side", "essential": False, "stopTimeout": 1, "command": ["sh", "-c", "echo side; sleep 600"]},
    ])
    arn = run(ecs, td)["taskArn"]
    running(ecs, arn)
    conn, resp = follow(dsrv, arn, "&container=side")
    try:
        assert resp.status == 200
        assert resp.readline() == b"side\n"
        ecs.stop_task(task=arn, reason="follow test")
        assert resp.read() == b""  # the stream ends cleanly once the container has stopped
    finally:
        conn.close()
    task, _ = wait_stopped(ecs, arn)
    assert task["stoppedReason"] == "follow test"


def test_follow_of_a_finished_task_is_its_captured_output(ecs, dsrv):
    td = register(ecs, [{"name": "main", "command": ["sh", "-c", "echo out-line; echo err-line >&2; exit 2"]}])
    arn = run(ecs, td)["taskArn"]
    wait_stopped(ecs, arn)
    conn, resp = follow(dsrv, arn)
    try:
        assert resp.status == 200
        body = resp.read()
    finally:
        conn.close()
    assert sorted(body.decode().splitlines()) == ["err-line", "out-line"]
    conn, resp = follow(dsrv, arn, "&container=main")
    try:
        assert resp.read() == body
    finally:
        conn.close()


def test_follow_client_going_away_ends_docker_logs(ecs, dsrv):
    td = register(ecs, [{"name": "main", "stopTimeout": 1, "command": ["sh", "-c", "echo ready; sleep 600"]}])
    arn = run(ecs, td)["taskArn"]
    running(ecs, arn)
    socks = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", dsrv.port), timeout=30)
        s.sendall(f"GET /_ecsd/tasks/{task_id(arn)}/logs?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got = b""
        while b"ready" not in got:
            chunk = s.recv(4096)
            assert chunk, f"stream ended early: {got!r}"
            got += chunk
        socks.append(s)
    assert len(log_followers(dsrv.proc.pid)) == 2
    for s in socks:
        s.close()
    deadline = time.monotonic() + 30
    while log_followers(dsrv.proc.pid):
        assert time.monotonic() < deadline, f"docker logs still running: {log_followers(dsrv.proc.pid)}"
        time.sleep(0.05)
    # The server still serves, and a new follower works.
    conn, resp = follow(dsrv, arn)
    try:
        assert resp.readline() == b"ready\n"
    finally:
        conn.close()
    ecs.stop_task(task=arn)
    wait_stopped(ecs, arn)


def test_follow_errors(ecs, dsrv):
    td = register(ecs, [
        {"name": "first", "essential": False, "stopTimeout": 1, "command": ["sleep", "600"]},
        {"name": "second", "command": ["sleep", "600"],
         "dependsOn": [{"containerName": "first", "condition": "COMPLETE"}]},
    ])
    arn = run(ecs, td)["taskArn"]
    wait_for(ecs, arn, lambda t: container(t, "first")["lastStatus"] == "RUNNING")
    tid = task_id(arn)
    status, body = follow_error(dsrv, f"/_ecsd/tasks/{tid}/logs?follow=1")
    assert status == 400 and body["__type"] == "InvalidParameterException"
    assert "first" in body["message"] and "second" in body["message"]
    status, body = follow_error(dsrv, f"/_ecsd/tasks/{tid}/logs?follow=1&container=nope")
    assert status == 404 and body["__type"] == "NotFound"
    status, body = follow_error(dsrv, f"/_ecsd/tasks/{tid}/logs?follow=yes&container=first")
    assert status == 400 and body["__type"] == "InvalidParameterException"
    # "second" waits for "first" to complete: it has not started, so there is nothing to follow yet.
    status, body = follow_error(dsrv, f"/_ecsd/tasks/{tid}/logs?follow=1&container=second")
    assert status == 409 and body["__type"] == "ConflictException"
    status, body = follow_error(dsrv, "/_ecsd/tasks/0123456789abcdef0123456789abcdef/logs?follow=1")
    assert status == 404
    ecs.stop_task(task=arn)
    wait_stopped(ecs, arn)
    # Once stopped, the container that never started has an empty output.
    conn, resp = follow(dsrv, arn, "&container=second")
    try:
        assert resp.status == 200 and resp.read() == b""
    finally:
        conn.close()


def test_shutdown_ends_an_idle_follow(ecsd_factory):
    """A follower waiting for output (its connection suspended) must not keep ecsd from exiting on SIGTERM. Without
    --cleanup-on-exit the task keeps running, so the stream is cut by the shutdown, not ended by the task."""
    srv = ecsd_factory(args=["--image-pull-behavior", "prefer-cached", "--stop-timeout", "1"])
    ecs = make_client(srv)
    td = register(ecs, [{"name": "main", "stopTimeout": 1, "command": ["sh", "-c", "echo ready; sleep 600"]}])
    arn = run(ecs, td)["taskArn"]
    try:
        running(ecs, arn)
        conn, resp = follow(srv, arn)
        assert resp.readline() == b"ready\n"
        assert srv.terminate(timeout=60) == 0
        with pytest.raises(http.client.IncompleteRead):
            resp.read()
        conn.close()
    finally:
        if srv.alive():
            srv.kill9()
        for cid in docker("ps", "-aq", "--filter", f"label=io.ecsd.task-id={task_id(arn)}").split():
            docker("rm", "-f", cid)
