"""The AWS JSON 1.1 protocol layer: dispatch, decoding, error shapes, limits.

Bad input is sent as raw bytes (boto3 would refuse to send most of it). Every case
asserts the HTTP status, the `__type` error code and a non-empty message, and then
proves that nothing changed by comparing a full snapshot of the visible state.
"""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from helpers import TARGET_PREFIX, make_client, snapshot

CONTAINER = {"name": "app", "image": "busybox:local", "memory": 64, "essential": True}


def assert_error(resp, code: str | set[str], status: int = 400) -> None:
    assert resp.status == status, f"expected HTTP {status}, got {resp.status}: {resp.body[:300]!r}"
    try:
        doc = resp.json
    except ValueError:
        pytest.fail(f"error body is not JSON: {resp.body[:300]!r}")
    assert isinstance(doc, dict), f"error body is not an object: {doc!r}"
    codes = {code} if isinstance(code, str) else code
    assert doc.get("__type") in codes, f"expected __type in {sorted(codes)}, got {doc!r}"
    message = doc.get("message", doc.get("Message"))
    assert isinstance(message, str) and message.strip(), f"error without a message: {doc!r}"


@pytest.fixture
def seeded(raw):
    """Some state to protect, and its snapshot."""
    raw.call("CreateCluster", {"clusterName": "seed", "tags": [{"key": "k", "value": "v"}]})
    raw.call("RegisterTaskDefinition", {"family": "seed", "containerDefinitions": [CONTAINER]})
    raw.call("RegisterTaskDefinition", {"family": "seed", "containerDefinitions": [CONTAINER]})
    raw.call("DeregisterTaskDefinition", {"taskDefinition": "seed:1"})
    before = snapshot(raw)
    assert len(before["clusters"]) == 2
    assert before["active"] == ["arn:aws:ecs:us-east-1:000000000000:task-definition/seed:2"]
    return before


def assert_unchanged(raw, before) -> None:
    assert snapshot(raw) == before


# --- dispatch ---------------------------------------------------------------------------------

def test_unsigned_list_clusters_succeeds_with_json_11_content_type(raw):
    resp = raw.post("ListClusters", {})
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("application/x-amz-json-1.1")
    assert resp.json == {"clusterArns": ["arn:aws:ecs:us-east-1:000000000000:cluster/default"]}


def test_unknown_action_is_unknown_operation(raw, seeded):
    resp = raw.post("FlyToTheMoon", {"clusterName": "moon"})
    assert_error(resp, "UnknownOperationException")
    assert_unchanged(raw, seeded)


def test_action_name_is_case_sensitive(raw, seeded):
    resp = raw.post("createcluster", {"clusterName": "lower"})
    assert_error(resp, "UnknownOperationException")
    assert_unchanged(raw, seeded)


def test_target_of_another_service_is_unknown_operation(raw, seeded):
    resp = raw.post(None, {"clusterName": "x"}, target="DynamoDB_20120810.CreateCluster")
    assert_error(resp, "UnknownOperationException")
    assert_unchanged(raw, seeded)


def test_target_prefix_without_action_is_unknown_operation(raw, seeded):
    resp = raw.post(None, {}, target=f"{TARGET_PREFIX}.")
    assert_error(resp, "UnknownOperationException")
    assert_unchanged(raw, seeded)


def test_missing_target_header_is_rejected(raw, seeded):
    resp = raw.post(None, {"clusterName": "no-target"})
    assert_error(resp, {"UnknownOperationException", "SerializationException",
                        "InvalidParameterException", "ClientException"})
    assert_unchanged(raw, seeded)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_non_post_on_root_is_a_json_error(raw, seeded, method):
    resp = raw.request(method, "/", None if method != "PUT" else b"{}",
                       {"X-Amz-Target": f"{TARGET_PREFIX}.ListClusters"})
    assert resp.status in (400, 405), f"{method} /: HTTP {resp.status} {resp.body[:200]!r}"
    assert isinstance(resp.json.get("__type"), str) and resp.json["__type"]
    assert_unchanged(raw, seeded)


def test_health_endpoints(raw):
    assert raw.request("GET", "/_ecsd/healthz").status == 200
    assert raw.request("GET", "/_ecsd/readyz").status == 200


# --- decoding ---------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b"{", b'{"clusterName": }', b"not json", b'{"clusterName": "a"} trailing',
    b'{"clusterName": "\xff\xfe"}', b"{'clusterName': 'single'}", b'{"clusterName": "a",}',
], ids=["unterminated", "missing-value", "bare-word", "trailing-garbage", "invalid-utf8",
        "single-quotes", "trailing-comma"])
def test_malformed_json_is_serialization_exception(raw, seeded, body):
    resp = raw.post("CreateCluster", body)
    assert_error(resp, "SerializationException")
    assert_unchanged(raw, seeded)


@pytest.mark.parametrize("body", [b"[]", b'[{"clusterName": "arr"}]', b'"arr"', b"5", b"null",
                                  b"true"])
def test_non_object_json_is_serialization_exception(raw, seeded, body):
    resp = raw.post("CreateCluster", body)
    assert_error(resp, "SerializationException")
    assert_unchanged(raw, seeded)


@pytest.mark.parametrize("action,body", [
    ("RegisterTaskDefinition", {"family": 5, "containerDefinitions": [CONTAINER]}),
    ("RegisterTaskDefinition", {"family": "wt", "containerDefinitions": CONTAINER}),
    ("RegisterTaskDefinition", {"family": "wt", "containerDefinitions": [dict(CONTAINER, memory="64")]}),
    ("RegisterTaskDefinition", {"family": "wt", "containerDefinitions": [dict(CONTAINER, essential="true")]}),
    ("RegisterTaskDefinition", {"family": "wt", "containerDefinitions": [dict(CONTAINER, command="sleep 1")]}),
    ("RegisterTaskDefinition", {"family": "wt", "containerDefinitions": [dict(CONTAINER, dockerLabels=["a"])]}),
    ("RegisterTaskDefinition", {"family": "wt", "containerDefinitions": [CONTAINER], "cpu": 256}),
    ("CreateCluster", {"clusterName": ["wt"]}),
    ("CreateCluster", {"clusterName": "wt", "tags": {"key": "k", "value": "v"}}),
    ("ListClusters", {"maxResults": "10"}),
    ("ListClusters", {"maxResults": 1.5}),
    ("ListClusters", {"maxResults": True}),
    ("DescribeClusters", {"clusters": "seed"}),
    ("DeleteCluster", {"cluster": {"name": "seed"}}),
], ids=["family-int", "containers-object", "memory-string", "essential-string", "command-string",
        "labels-list", "task-cpu-int", "cluster-name-list", "tags-object", "maxresults-string",
        "maxresults-float", "maxresults-bool", "clusters-string", "cluster-object"])
def test_wrong_member_type_is_serialization_exception(raw, seeded, action, body):
    resp = raw.post(action, body)
    assert_error(resp, "SerializationException")
    assert_unchanged(raw, seeded)


@pytest.mark.parametrize("action,body", [
    ("RegisterTaskDefinition", {"family": "mr"}),
    ("RegisterTaskDefinition", {"containerDefinitions": [CONTAINER]}),
    ("DescribeTaskDefinition", {}),
    ("DeregisterTaskDefinition", {}),
    ("DeleteTaskDefinitions", {}),
    ("DeleteCluster", {}),
    ("TagResource", {"resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/seed"}),
    ("TagResource", {"tags": [{"key": "a", "value": "b"}]}),
    ("UntagResource", {"resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/seed"}),
    ("ListTagsForResource", {}),
])
def test_missing_required_member_is_invalid_parameter(raw, seeded, action, body):
    resp = raw.post(action, body)
    assert_error(resp, "InvalidParameterException")
    assert_unchanged(raw, seeded)


@pytest.mark.parametrize("action,body", [
    ("ListTaskDefinitions", {"status": "BOGUS"}),
    ("ListTaskDefinitions", {"sort": "SIDEWAYS"}),
    ("ListTaskDefinitionFamilies", {"status": "SOMETIMES"}),
    ("DescribeClusters", {"clusters": ["seed"], "include": ["EVERYTHING"]}),
    ("DescribeTaskDefinition", {"taskDefinition": "seed:2", "include": ["NOPE"]}),
    ("RegisterTaskDefinition", {"family": "enum", "networkMode": "wormhole",
                                "containerDefinitions": [CONTAINER]}),
    ("RegisterTaskDefinition", {"family": "enum", "containerDefinitions": [
        dict(CONTAINER, portMappings=[{"containerPort": 80, "protocol": "icmp"}])]}),
], ids=["taskdef-status", "sort", "family-status", "cluster-include", "taskdef-include",
        "network-mode", "port-protocol"])
def test_bad_enum_value_is_invalid_parameter(raw, seeded, action, body):
    resp = raw.post(action, body)
    assert_error(resp, "InvalidParameterException")
    assert_unchanged(raw, seeded)


# --- limits -----------------------------------------------------------------------------------

def test_oversize_body_is_client_exception_mentioning_size(raw, seeded):
    padding = "x" * (1536 * 1024)
    body = json.dumps({"clusterName": "huge", "tags": [{"key": "pad", "value": padding}]}).encode()
    assert len(body) > 1024 * 1024 * 1.4
    resp = raw.post("CreateCluster", body)
    assert_error(resp, "ClientException")
    assert any(word in resp.message.lower() for word in ("size", "large", "bytes", "limit")), \
        f"message does not mention the size: {resp.message!r}"
    assert_unchanged(raw, seeded)
    assert raw.request("GET", "/_ecsd/healthz").status == 200


def test_oversize_body_through_boto3_is_client_exception(ecsd, raw, seeded):
    with pytest.raises(ClientError) as exc:
        make_client(ecsd).create_cluster(clusterName="huge",
                                         tags=[{"key": "pad", "value": "y" * (1536 * 1024)}])
    assert exc.value.response["Error"]["Code"] == "ClientException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert_unchanged(raw, seeded)


@pytest.mark.parametrize("action", ["ListClusters", "ListTaskDefinitions",
                                    "ListTaskDefinitionFamilies"])
@pytest.mark.parametrize("max_results", [0, 101, -1])
def test_out_of_range_max_results_is_invalid_parameter(raw, seeded, action, max_results):
    resp = raw.post(action, {"maxResults": max_results})
    assert_error(resp, "InvalidParameterException")
    assert_unchanged(raw, seeded)


@pytest.mark.parametrize("action", ["ListClusters", "ListTaskDefinitions",
                                    "ListTaskDefinitionFamilies"])
@pytest.mark.parametrize("token", ["garbage", "eyJub3QiOiAidGhpcyJ9", "%%%"])
def test_bad_next_token_is_invalid_parameter(raw, seeded, action, token):
    resp = raw.post(action, {"nextToken": token})
    assert_error(resp, "InvalidParameterException")
    assert_unchanged(raw, seeded)


def test_next_token_of_another_operation_is_invalid_parameter(raw, seeded):
    for i in range(3):
        raw.call("RegisterTaskDefinition", {"family": f"tok{i}", "containerDefinitions": [CONTAINER]})
    before = snapshot(raw)
    token = raw.call("ListTaskDefinitionFamilies", {"maxResults": 1})["nextToken"]
    resp = raw.post("ListClusters", {"nextToken": token})
    assert_error(resp, "InvalidParameterException")
    assert_unchanged(raw, before)


@pytest.mark.parametrize("action,key", [("ListClusters", "clusterArns"),
                                        ("ListTaskDefinitions", "taskDefinitionArns"),
                                        ("ListTaskDefinitionFamilies", "families")])
@pytest.mark.parametrize("max_results", [1, 100])
def test_boundary_max_results_are_accepted(raw, seeded, action, key, max_results):
    doc = raw.call(action, {"maxResults": max_results})
    assert 1 <= len(doc[key]) <= max_results


def test_server_survives_a_burst_of_bad_requests(raw, seeded):
    for body in (b"{", b"[]", b'{"family": 5}', b"\x00" * 100, b'{"a":' * 500):
        resp = raw.post("RegisterTaskDefinition", body)
        assert resp.status == 400
    resp = raw.post("RegisterTaskDefinition", b'[' * 100000 + b']' * 100000)
    assert resp.status == 400
    assert raw.request("GET", "/_ecsd/healthz").status == 200
    assert_unchanged(raw, seeded)


def test_request_ids_are_distinct_uuid4(raw):
    seen = set()
    for _ in range(20):
        rid = raw.post("ListClusters", {}).headers["x-amzn-requestid"]
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", rid), rid
        seen.add(rid)
    assert len(seen) == 20
