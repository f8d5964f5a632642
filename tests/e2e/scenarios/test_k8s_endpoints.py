"""The endpoints Pods call, on the Kubernetes backend: the task metadata endpoint on the metadata-only listener (the
ECS API and ecsd's operator paths are not there, so the API need not listen where Pods can reach it), the
NetworkPolicy shipped in deploy/k8s, and, on the real kubelet node, task credentials and metadata fetched from inside a
real Pod. Run by tests/k8s/scenarios-test (kwok, and --kubelet for the Pod tests)."""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import BACKEND, K8S_NAMESPACE, kubectl
from credlib import (CREDS_ADDR, FETCH_SCRIPT, botocore_fetch, credential_vars, credentials_id,
                     credentials_url, ensure_address, http, wait_output)
from helpers import make_client
from tasklib import describe, register, run, wait_for, wait_stopped
from workloads import runs

pytestmark = pytest.mark.skipif(BACKEND != "k8s", reason="Kubernetes backend only")
KUBELET = os.environ.get("ECSD_SCENARIO_KUBELET") == "1"
REPO = Path(__file__).resolve().parents[3]
ROLE = "arn:aws:iam::000000000000:role/pod-role"
OTHER_ROLE = "arn:aws:iam::000000000000:role/pod-override-role"


def task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def pod_env(arn: str, name: str) -> dict[str, str]:
    pod = json.loads(kubectl("get", "pod", "-n", K8S_NAMESPACE, "ecsd-" + task_id(arn), "-o", "json"))
    c = next(c for c in pod["spec"]["containers"] if c["name"] == name)
    return {v["name"]: v["value"] for v in c.get("env", []) if "value" in v}


def logs(srv, arn: str, name: str) -> str:
    with urllib.request.urlopen(f"{srv.url}/_ecsd/tasks/{task_id(arn)}/logs?container={name}", timeout=30) as r:
        return r.read().decode()


def test_the_metadata_listener_serves_metadata_and_nothing_else(server):
    """Regression: Pods reached the metadata endpoint through the API listener, so the API had to listen on the Pod
    network, where any Pod could ListTasks, StopTask or POST /_ecsd/cleanup."""
    srv = server(["--metadata-listen", "127.0.0.1:0"])
    ecs = make_client(srv)
    arn = run(ecs, register(ecs, [runs("app")], family="md-listener"))["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    url = pod_env(arn, "app")["ECS_CONTAINER_METADATA_URI_V4"]
    parts = urllib.parse.urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    assert parts.hostname == "127.0.0.1" and parts.port != srv.port, url  # not the API listener

    status, body = http(url)
    assert status == 200 and json.loads(body)["Name"] == "app"
    status, body = http(url + "/task")
    assert status == 200 and json.loads(body)["TaskARN"] == arn

    list_tasks = {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListTasks",
                  "Content-Type": "application/x-amz-json-1.1"}
    stop_task = {**list_tasks, "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.StopTask"}
    assert http(base + "/", "POST", b"{}", list_tasks)[0] == 404
    assert http(base + "/", "POST", json.dumps({"task": arn}).encode(), stop_task)[0] == 404
    assert http(base + "/_ecsd/cleanup", "POST", b"")[0] == 404
    for path in (f"/_ecsd/tasks/{task_id(arn)}/logs", "/_ecsd/stats", "/_ecsd/healthz",
                 f"/v2/credentials/{task_id(arn)}"):
        assert http(base + path)[0] == 404, path
    # Nothing of that reached the task.
    task = describe(ecs, arn)
    assert task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "RUNNING"
    ecs.stop_task(task=arn)
    wait_stopped(ecs, arn, timeout=60)


def test_k8s_endpoint_names_how_pods_reach_the_metadata_listener(server):
    srv = server(["--metadata-listen", "127.0.0.1:0", "--k8s-endpoint", "http://ecsd-metadata.ecsd.svc:4567"])
    ecs = make_client(srv)
    arn = run(ecs, register(ecs, [runs("app")], family="md-endpoint"))["taskArn"]
    wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING")
    env = pod_env(arn, "app")
    assert env["ECS_CONTAINER_METADATA_URI_V4"] == \
        f"http://ecsd-metadata.ecsd.svc:4567/_ecsd/metadata/{task_id(arn)}/app"
    ecs.stop_task(task=arn)
    wait_stopped(ecs, arn, timeout=60)


def test_the_network_policy_is_valid_for_the_api_server():
    out = kubectl("apply", "--dry-run=server", "-o", "json", "-f", str(REPO / "deploy/k8s/networkpolicy.yaml"))
    policy = json.loads(out)
    assert policy["kind"] == "NetworkPolicy" and policy["metadata"]["namespace"] == "ecsd"
    rules = policy["spec"]["ingress"]
    task_rule = next(r for r in rules if r["from"][0]["podSelector"]["matchLabels"] ==
                     {"app.kubernetes.io/managed-by": "ecsd"})
    assert task_rule["ports"] == [{"protocol": "TCP", "port": 4567}]
    # Task Pods carry the label the policy selects them by, and never the API clients' one.
    assert all(r is task_rule or "app.kubernetes.io/managed-by" not in r["from"][0]["podSelector"]["matchLabels"]
               for r in rules)


def node_ip() -> str:
    return kubectl("get", "node", os.environ["ECSD_K8S_NODE"], "-o",
                   'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}').strip()


# From inside the Pod: credentials (credlib.FETCH_SCRIPT), then the task metadata through the metadata listener.
POD_SCRIPT = FETCH_SCRIPT + r"""
u=${ECS_CONTAINER_METADATA_URI_V4#http://}; hp=${u%%/*}; path=/${u#*/}; h=${hp%:*}; p=${hp##*:}
printf 'GET %s/task HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" | nc "$h" "$p"
echo
echo fetched
exec sleep 600
"""


@pytest.mark.skipif(not KUBELET, reason="needs the real kubelet node")
def test_a_pod_gets_its_credentials_and_metadata(server):
    ensure_address()
    srv = server(["--metadata-listen", f"{node_ip()}:0", "--credentials-listen", f"{CREDS_ADDR}:0"])
    ecs = make_client(srv)
    url = credentials_url(srv)
    assert url.startswith(f"http://{CREDS_ADDR}:")
    td = register(ecs, [{"name": "app", "stopTimeout": 1, "command": ["sh", "-c", POD_SCRIPT]}],
                  family="pod-creds", taskRoleArn=ROLE)
    arns = [run(ecs, td)["taskArn"], run(ecs, td, overrides={"taskRoleArn": OTHER_ROLE})["taskArn"]]
    for arn, role in zip(arns, (ROLE, OTHER_ROLE)):
        wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING", timeout=60)
        out = wait_output(lambda a=arn: logs(srv, a, "app"), lambda o: "fetched" in o)
        bodies = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert len(bodies) == 2, out
        creds, metadata = bodies
        assert creds["RoleArn"] == role and creds["AccessKeyId"]
        assert metadata["TaskARN"] == arn
        env = pod_env(arn, "app")
        cred_id = credentials_id(env)
        assert credential_vars(env) == {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{url}/v2/credentials/{cred_id}"}
        frozen, _ = botocore_fetch(env)
        assert frozen.access_key == creds["AccessKeyId"] and frozen.token == creds["Token"]
        assert http(f"{url}/v2/credentials/{task_id(arn)}")[0] == 404
    for arn in arns:
        ecs.stop_task(task=arn)
    for arn in arns:
        wait_stopped(ecs, arn, timeout=60)
