"""Unit tests of the conformance checker itself (no ecsd needed).

The checker guards every boto3 call of the suite, so it must itself be able to fail:
each test feeds a hand-made body with one known defect and asserts the violation is
reported with its JSON path. The last tests run a throwaway HTTP server that answers
with a bad body and prove the after-call hook really fires on a boto3 client.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import conformance
from conformance import ConformanceError, validate_response

MODEL = botocore.session.get_session().get_service_model("ecs")


def op(name: str):
    return MODEL.operation_model(name)


def check(name: str, doc, status: int = 200) -> list[str]:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return validate_response(op(name), status, body)


GOOD_CLUSTER = {
    "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/default",
    "clusterName": "default",
    "status": "ACTIVE",
    "registeredContainerInstancesCount": 0,
    "runningTasksCount": 0,
    "pendingTasksCount": 0,
    "activeServicesCount": 0,
    "statistics": [],
    "tags": [{"key": "team", "value": "a"}],
    "settings": [{"name": "containerInsights", "value": "enabled"}],
}

GOOD_TASKDEF = {
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
    "family": "web",
    "revision": 1,
    "status": "ACTIVE",
    "registeredAt": 1700000000.123,
    "registeredBy": "arn:aws:iam::000000000000:root",
    "compatibilities": ["EC2"],
    "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
    "containerDefinitions": [
        {
            "name": "app",
            "image": "busybox",
            "cpu": 0,
            "memory": 64,
            "essential": True,
            "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
            "environment": [{"name": "A", "value": "1"}],
            "dockerLabels": {"k": "v"},
            "healthCheck": {"command": ["CMD", "true"], "interval": 30},
        }
    ],
}


def test_valid_describe_clusters_body_has_no_violations():
    assert check("DescribeClusters", {"clusters": [GOOD_CLUSTER], "failures": []}) == []


def test_valid_register_task_definition_body_has_no_violations():
    assert check("RegisterTaskDefinition", {"taskDefinition": GOOD_TASKDEF, "tags": []}) == []


def test_integer_timestamp_is_accepted():
    td = dict(GOOD_TASKDEF, registeredAt=1700000000)
    assert check("DescribeTaskDefinition", {"taskDefinition": td}) == []


def test_unknown_top_level_member_is_caught():
    errors = check("ListClusters", {"clusterArns": [], "bogus": 1})
    assert errors == ["$.bogus: unknown member (not in structure ListClustersResponse)"]


def test_unknown_nested_member_is_caught_with_its_path():
    cluster = dict(GOOD_CLUSTER, createdAt=5)
    errors = check("DescribeClusters", {"clusters": [cluster]})
    assert len(errors) == 1
    assert errors[0].startswith("$.clusters[0].createdAt: unknown member")


def test_string_timestamp_is_caught():
    td = dict(GOOD_TASKDEF, registeredAt="2024-01-01T00:00:00Z")
    errors = check("RegisterTaskDefinition", {"taskDefinition": td})
    assert len(errors) == 1
    assert errors[0].startswith("$.taskDefinition.registeredAt: expected epoch-seconds number")


def test_wrong_enum_value_is_caught():
    td = dict(GOOD_TASKDEF, status="DELETED")
    errors = check("DescribeTaskDefinition", {"taskDefinition": td})
    assert len(errors) == 1
    assert errors[0].startswith("$.taskDefinition.status: 'DELETED' is not in enum TaskDefinitionStatus")


def test_wrong_enum_deep_in_a_list_is_caught():
    td = json.loads(json.dumps(GOOD_TASKDEF))
    td["containerDefinitions"][0]["portMappings"][0]["protocol"] = "TCP"
    errors = check("DescribeTaskDefinition", {"taskDefinition": td})
    assert len(errors) == 1
    assert errors[0].startswith(
        "$.taskDefinition.containerDefinitions[0].portMappings[0].protocol: 'TCP' is not in enum")


def test_boolean_where_integer_is_caught():
    td = dict(GOOD_TASKDEF, revision=True)
    assert check("DescribeTaskDefinition", {"taskDefinition": td}) == [
        "$.taskDefinition.revision: expected integer (Integer), got boolean True"]


def test_string_where_integer_is_caught():
    errors = check("DescribeClusters", {"clusters": [dict(GOOD_CLUSTER, runningTasksCount="0")]})
    assert errors == ["$.clusters[0].runningTasksCount: expected integer (Integer), got string '0'"]


def test_integer_where_string_is_caught():
    errors = check("ListClusters", {"clusterArns": [5]})
    assert errors == ["$.clusterArns[0]: expected string (String), got integer 5"]


def test_integer_where_boolean_is_caught():
    td = json.loads(json.dumps(GOOD_TASKDEF))
    td["containerDefinitions"][0]["essential"] = 1
    errors = check("DescribeTaskDefinition", {"taskDefinition": td})
    assert errors == ["$.taskDefinition.containerDefinitions[0].essential: "
                      "expected boolean (BoxedBoolean), got integer 1"]


def test_object_where_list_is_caught():
    errors = check("ListClusters", {"clusterArns": {"a": "b"}})
    assert errors == ["$.clusterArns: expected array (list StringList), got object"]


def test_list_where_map_is_caught():
    td = json.loads(json.dumps(GOOD_TASKDEF))
    td["containerDefinitions"][0]["dockerLabels"] = [{"key": "k", "value": "v"}]
    errors = check("DescribeTaskDefinition", {"taskDefinition": td})
    assert len(errors) == 1
    assert errors[0].startswith("$.taskDefinition.containerDefinitions[0].dockerLabels: expected object")


def test_null_member_is_caught():
    errors = check("ListClusters", {"clusterArns": [], "nextToken": None})
    assert len(errors) == 1 and errors[0].startswith("$.nextToken: null value")


def test_missing_required_member_is_caught():
    td = json.loads(json.dumps(GOOD_TASKDEF))
    td["containerDefinitions"][0]["healthCheck"] = {"interval": 30}
    errors = check("DescribeTaskDefinition", {"taskDefinition": td})
    assert errors == ["$.taskDefinition.containerDefinitions[0].healthCheck.command: "
                      "required member of HealthCheck is missing"]


def test_several_violations_are_all_reported():
    errors = check("ListClusters", {"clusterArns": [1, 2], "x": 1})
    assert len(errors) == 3


def test_non_json_body_is_caught():
    errors = validate_response(op("ListClusters"), 200, b"<html>ok</html>")
    assert len(errors) == 1 and errors[0].startswith("$: body is not JSON")


def test_array_body_is_caught():
    errors = validate_response(op("ListClusters"), 200, b"[]")
    assert errors == ["$: response body must be a JSON object, got array"]


def test_good_error_body_passes():
    assert check("DeleteCluster", {"__type": "ClusterNotFoundException", "message": "x"}, 400) == []


def test_error_body_without_type_is_caught():
    errors = check("DeleteCluster", {"message": "Cluster not found."}, 400)
    assert len(errors) == 1 and errors[0].startswith("$.__type: error body lacks")


def test_error_body_with_unknown_code_is_caught():
    errors = check("DeleteCluster", {"__type": "NotFound", "message": "x"}, 400)
    assert errors == ["$.__type: 'NotFound' is not an error code of the ECS model"]


def test_error_code_not_modeled_for_the_operation_is_caught():
    # ResourceNotFoundException exists in the ECS model, but not for ListTagsForResource.
    assert check("TagResource", {"__type": "ResourceNotFoundException", "message": "x"}, 400) == []
    errors = check("ListTagsForResource", {"__type": "ResourceNotFoundException", "message": "x"}, 400)
    assert errors == ["$.__type: 'ResourceNotFoundException' is not an error the model lists "
                      "for ListTagsForResource"]


def test_generic_protocol_error_is_accepted_for_any_operation():
    assert check("ListClusters", {"__type": "SerializationException", "message": "x"}, 400) == []


def test_error_body_with_non_string_message_is_caught():
    errors = check("DeleteCluster", {"__type": "ClientException", "message": 3}, 400)
    assert errors == ["$.message: expected string, got integer"]


# --- the hook on a real boto3 client ------------------------------------------------------

class _Canned(BaseHTTPRequestHandler):
    status = 200
    body = b"{}"

    def do_POST(self):  # noqa: N802 (http.server API)
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(self.server.canned_status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(self.server.canned_body)))
        self.end_headers()
        self.wfile.write(self.server.canned_body)

    def log_message(self, *args):
        pass


@pytest.fixture
def canned_server():
    srv = HTTPServer(("127.0.0.1", 0), _Canned)
    srv.canned_status, srv.canned_body = 200, b"{}"
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _client(srv):
    c = boto3.client("ecs", endpoint_url=f"http://127.0.0.1:{srv.server_address[1]}",
                     region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b",
                     config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    conformance.attach(c)
    return c


def test_hook_rejects_a_bad_body_that_boto3_alone_accepts(canned_server):
    canned_server.canned_body = json.dumps(
        {"taskDefinition": dict(GOOD_TASKDEF, registeredAt="2024-01-01T00:00:00Z", extra=1)}).encode()
    plain = boto3.client("ecs", endpoint_url=f"http://127.0.0.1:{canned_server.server_address[1]}",
                         region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    # boto3 by itself parses this without complaint ...
    assert plain.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 1
    # ... the checked client does not.
    with pytest.raises(ConformanceError) as exc:
        _client(canned_server).describe_task_definition(taskDefinition="web")
    msg = str(exc.value)
    assert "$.taskDefinition.registeredAt" in msg
    assert "$.taskDefinition.extra: unknown member" in msg


def test_hook_passes_a_good_body(canned_server):
    canned_server.canned_body = json.dumps({"clusterArns": ["arn:aws:ecs:us-east-1:0:cluster/a"]}).encode()
    assert _client(canned_server).list_clusters()["clusterArns"] == ["arn:aws:ecs:us-east-1:0:cluster/a"]


def test_hook_checks_error_bodies_before_clienterror(canned_server):
    canned_server.canned_status = 400
    canned_server.canned_body = b'{"__type": "ClientException", "message": "nope"}'
    with pytest.raises(ClientError) as exc:
        _client(canned_server).describe_task_definition(taskDefinition="web")
    assert exc.value.response["Error"]["Code"] == "ClientException"

    canned_server.canned_body = b'{"message": "nope"}'
    with pytest.raises(ConformanceError):
        _client(canned_server).describe_task_definition(taskDefinition="web")
