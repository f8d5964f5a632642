"""Small helpers shared by the e2e test modules (constants, ARNs, listing, error codes)."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

import conformance

ACCOUNT = "000000000000"
REGION = "us-east-1"
TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
JSON_11 = "application/x-amz-json-1.1"

@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def error_type(self) -> str | None:
        try:
            doc = self.json
        except ValueError:
            return None
        return doc.get("__type") if isinstance(doc, dict) else None

    @property
    def message(self) -> str:
        doc = self.json
        return doc.get("message") or doc.get("Message") or ""


class Raw:
    """Unsigned HTTP requests with http.client, so that any bytes can be sent."""

    def __init__(self, server: EcsdServer):
        self.server = server

    def request(self, method: str, path: str = "/", body: bytes | None = None,
                headers: dict[str, str] | None = None) -> RawResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            try:
                conn.request(method, path, body=body, headers=headers or {})
            except (BrokenPipeError, ConnectionResetError):
                # The server may answer (e.g. 400 for an oversize body) and close before it has
                # read everything; like urllib3 and curl, read the answer it sent.
                pass
            resp = conn.getresponse()
            return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()},
                               resp.read())
        finally:
            conn.close()

    def post(self, action: str | None, body: Any = None, *, target: str | None = None,
             headers: dict[str, str] | None = None,
             content_type: str = JSON_11) -> RawResponse:
        """POST / for `action`. `body` may be bytes/str (sent as is) or an object (JSON-encoded)."""
        if body is None:
            data = b"{}"
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        hdrs = {"Content-Type": content_type}
        if target is not None:
            hdrs["X-Amz-Target"] = target
        elif action is not None:
            hdrs["X-Amz-Target"] = f"{TARGET_PREFIX}.{action}"
        hdrs.update(headers or {})
        return self.request("POST", "/", data, hdrs)

    def call(self, action: str, body: Any = None) -> Any:
        """POST and require HTTP 200; return the decoded body."""
        resp = self.post(action, body)
        assert resp.status == 200, f"{action}: HTTP {resp.status} {resp.body[:500]!r}"
        return resp.json


def served_pages(raw: Raw, action: str, query: dict, page: int | None) -> list[bytes]:
    """Every page a List action serves for `query` (with maxResults `page`, if given), as the raw bodies, following
    nextToken (at most 50 pages)."""
    pages, body = [], dict(query)
    if page:
        body["maxResults"] = page
    while True:
        resp = raw.post(action, body)
        assert resp.status == 200, resp.body[:300]
        pages.append(resp.body)
        nxt = json.loads(resp.body).get("nextToken")
        if not nxt:
            return pages
        body["nextToken"] = nxt
        assert len(pages) < 50


def until(fn, what: str = "condition", seen=None, timeout: float = 90):
    """Poll fn until it returns something true and return that (a waiter's bound, not a timed assertion); past
    `timeout` seconds fail, saying `what` was awaited and, when `seen` is given, what seen() finds instead."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"not reached: {what}" + (f"; seen: {seen()}" if seen else ""))
        time.sleep(0.3)


def make_client(server, region: str = REGION):
    """A boto3 ECS client for `server` (anything with .url), signing for `region`, retries off,
    with the conformance check on every response."""
    client = boto3.client(
        "ecs",
        endpoint_url=server.url,
        region_name=region,
        aws_access_key_id="AKIDTESTTEST",
        aws_secret_access_key="secret-test",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1},
                      connect_timeout=5, read_timeout=30),
    )
    conformance.attach(client)
    return client


# --- small helpers shared by the test modules ---------------------------------------------

def cluster_arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:ecs:{region}:{account}:cluster/{name}"


def taskdef_arn(family: str, rev: int, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:ecs:{region}:{account}:task-definition/{family}:{rev}"


def simple_container(name: str = "app", **extra) -> dict:
    c = {"name": name, "image": "busybox:local", "memory": 64, "essential": True,
         "command": ["sleep", "3600"]}
    c.update(extra)
    return c


def register(ecs, family: str, containers: list[dict] | None = None, **extra) -> dict:
    resp = ecs.register_task_definition(family=family,
                                        containerDefinitions=containers or [simple_container()],
                                        **extra)
    return resp["taskDefinition"]


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def http_status(excinfo) -> int:
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def list_all_taskdefs(ecs, **kw) -> list[str]:
    out: list[str] = []
    for page in ecs.get_paginator("list_task_definitions").paginate(**kw):
        out.extend(page["taskDefinitionArns"])
    return out


def list_all_clusters(ecs) -> list[str]:
    out: list[str] = []
    for page in ecs.get_paginator("list_clusters").paginate():
        out.extend(page["clusterArns"])
    return out


def list_all_families(ecs, **kw) -> list[str]:
    out: list[str] = []
    for page in ecs.get_paginator("list_task_definition_families").paginate(**kw):
        out.extend(page["families"])
    return out


def snapshot(raw) -> dict:
    """Everything the foundation API can show in the server's default region, via raw calls.

    Used to prove that a rejected request changed nothing.
    """

    def pages(action: str, key: str, body: dict) -> list:
        out, token = [], None
        while True:
            req = dict(body)
            if token:
                req["nextToken"] = token
            doc = raw.call(action, req)
            out.extend(doc.get(key, []))
            token = doc.get("nextToken")
            if not token:
                return out

    clusters = pages("ListClusters", "clusterArns", {})
    described = raw.call("DescribeClusters", {"clusters": clusters, "include": ["TAGS", "SETTINGS"]})
    tags = {arn: raw.call("ListTagsForResource", {"resourceArn": arn}).get("tags", [])
            for arn in clusters}
    return {
        "clusters": sorted(clusters),
        "cluster_docs": sorted(described.get("clusters", []), key=lambda c: c["clusterArn"]),
        "cluster_tags": tags,
        "active": pages("ListTaskDefinitions", "taskDefinitionArns", {"status": "ACTIVE"}),
        "inactive": pages("ListTaskDefinitions", "taskDefinitionArns", {"status": "INACTIVE"}),
        "families": pages("ListTaskDefinitionFamilies", "families", {"status": "ALL"}),
    }
