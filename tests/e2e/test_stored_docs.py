"""DescribeTasks serves each task's stored document as text, without decoding it, and ListTasks reads task ARNs
without decoding documents (docs/internals/api.md, "The request path"). These tests pin that the answers are what
the decoding path gives, byte for byte.

The tasks need no engine: ecsd runs with --docker-cli /bin/false, a docker CLI that fails every command, so each
RunTask stores a task that fails to start and is finalized STOPPED (TaskFailedToStart). A STOPPED task's document is
a whole Task object, stop fields included."""

from __future__ import annotations

import json
import time

import pytest

from helpers import Raw, make_client

PREFIX = '{"tasks":['
SUFFIX_NO_FAILURES = '],"failures":[]}'


@pytest.fixture
def stopped(ecsd_factory):
    srv = ecsd_factory(args=["--docker-cli", "/bin/false"])
    ecs = make_client(srv)
    ecs.register_task_definition(family="docs", containerDefinitions=[
        {"name": "main", "image": "busybox:local", "memory": 32, "command": ["sleep", "60"]}])
    plain = [t["taskArn"] for t in ecs.run_task(taskDefinition="docs", count=3)["tasks"]]
    tagged = ecs.run_task(taskDefinition="docs", tags=[{"key": "team", "value": "a\"b"}])["tasks"][0]["taskArn"]
    arns = plain + [tagged]
    deadline = time.monotonic() + 30
    while True:
        tasks = ecs.describe_tasks(tasks=arns)["tasks"]
        if len(tasks) == len(arns) and all(t["lastStatus"] == "STOPPED" for t in tasks):
            break
        assert time.monotonic() < deadline, f"tasks not finalized: {[t['lastStatus'] for t in tasks]}"
        time.sleep(0.1)
    return srv, ecs, plain, tagged


def describe(raw: Raw, arns: list[str], include: list[str] | None = None) -> str:
    body = {"tasks": arns}
    if include:
        body["include"] = include
    resp = raw.post("DescribeTasks", body)
    assert resp.status == 200, resp.body[:300]
    return resp.body.decode()


def test_describe_tasks_text_is_what_decoding_gives(stopped):
    srv, _, plain, _ = stopped
    raw = Raw(srv)
    # include TAGS takes the decoding path (decode, drop tags, append the tags table's): for an untagged task it
    # must be the stored text with "tags":[] appended, and the stored text is what the plain answer serves.
    for arn in plain:
        served = describe(raw, [arn])
        assert served.startswith(PREFIX) and served.endswith(SUFFIX_NO_FAILURES)
        doc = served[len(PREFIX):-len(SUFFIX_NO_FAILURES)]
        assert json.loads(doc)["taskArn"] == arn
        assert json.loads(doc)["lastStatus"] == "STOPPED"
        decoded = describe(raw, [arn], ["TAGS"])
        assert decoded == PREFIX + doc[:-1] + ',"tags":[]}' + SUFFIX_NO_FAILURES
    # Several tasks: the documents in the order asked, comma-separated, with the unknown one a failure.
    missing = "0123456789abcdef0123456789abcdef"
    both = describe(raw, [plain[1], missing, plain[0]])
    one = [describe(raw, [a])[len(PREFIX):-len(SUFFIX_NO_FAILURES)] for a in (plain[1], plain[0])]
    assert both == (PREFIX + ",".join(one) + '],"failures":[{"arn":"' + missing + '","reason":"MISSING"}]}')


def test_describe_tasks_shows_tags_only_when_asked(stopped):
    srv, ecs, plain, tagged = stopped
    raw = Raw(srv)
    task = json.loads(describe(raw, [tagged]))["tasks"][0]
    assert "tags" not in task
    with_tags = json.loads(describe(raw, [tagged, plain[0]], ["TAGS"]))["tasks"]
    assert with_tags[0]["tags"] == [{"key": "team", "value": "a\"b"}]
    assert with_tags[1]["tags"] == []
    # The same through boto3, conformance-checked.
    assert "tags" not in ecs.describe_tasks(tasks=[tagged])["tasks"][0]


def test_list_tasks_arns_pages(stopped):
    _, ecs, plain, tagged = stopped
    every = sorted(plain + [tagged], key=lambda a: a.rsplit("/", 1)[1])
    assert ecs.list_tasks(desiredStatus="STOPPED")["taskArns"] == every
    first = ecs.list_tasks(desiredStatus="STOPPED", maxResults=3)
    assert first["taskArns"] == every[:3]
    rest = ecs.list_tasks(desiredStatus="STOPPED", maxResults=3, nextToken=first["nextToken"])
    assert rest["taskArns"] == every[3:] and "nextToken" not in rest
