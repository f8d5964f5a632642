"""Express gateway services on the Kubernetes backend: ecsd makes a Service of type ClusterIP in front of the
service's Pods (with the Role of deploy/k8s/rbac.yaml), reports its clusterIP as the endpoint, and deletes it with
the express service. On kwok's node nothing really listens, so what is checked is the Kubernetes objects."""

from __future__ import annotations

import json

import pytest

from conftest import BACKEND, K8S_NAMESPACE, kubectl
from helpers import until
from tasklib import IMAGE

pytestmark = pytest.mark.skipif(BACKEND != "k8s", reason="Kubernetes backend only")

ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"


def live_pods(selector: str) -> list[dict]:
    items = json.loads(kubectl("get", "pods", "-n", K8S_NAMESPACE, "-l", selector, "-o", "json"))["items"]
    return [p for p in items if p["metadata"].get("deletionTimestamp") is None]


def test_express_service_gets_a_kubernetes_service(srv, ecs):
    svc = ecs.create_express_gateway_service(
        serviceName="Web_App", executionRoleArn=ROLE, infrastructureRoleArn=ROLE,
        primaryContainer={"image": IMAGE, "containerPort": 8080,
                          "command": ["sh", "-c", "trap 'exit 143' TERM; while true; do sleep 1; done"]},
        scalingTarget={"minTaskCount": 2})["service"]
    endpoint = svc["activeConfigurations"][0]["ingressPaths"][0]["endpoint"]

    obj = json.loads(kubectl("get", "service", "-n", K8S_NAMESPACE, "ecsd-x-default-web-app", "-o", "json"))
    spec = obj["spec"]
    assert spec["type"] == "ClusterIP"
    assert endpoint == f"http://{spec['clusterIP']}:8080/"
    assert spec["ports"][0]["port"] == 8080 and spec["ports"][0]["targetPort"] == 8080
    selector = ",".join(f"{k}={v}" for k, v in sorted(spec["selector"].items()))
    # The selector picks exactly the service's Pods.
    pods = until(lambda: live_pods(selector) if len(live_pods(selector)) == 2 else None,
                 what="the two Pods behind the Service")
    arns = ecs.list_tasks(serviceName="Web_App")["taskArns"]
    assert sorted(p["metadata"]["name"] for p in pods) == sorted("ecsd-" + a.split("/")[-1] for a in arns)

    # A port change keeps the Service's address.
    ecs.update_express_gateway_service(serviceArn=svc["serviceArn"],
                                       primaryContainer={"image": IMAGE, "containerPort": 9090,
                                                         "command": ["sleep", "600"]})
    again = json.loads(kubectl("get", "service", "-n", K8S_NAMESPACE, "ecsd-x-default-web-app", "-o", "json"))
    assert again["spec"]["clusterIP"] == spec["clusterIP"] and again["spec"]["ports"][0]["port"] == 9090
    got = ecs.describe_express_gateway_service(serviceArn=svc["serviceArn"])["service"]
    assert got["activeConfigurations"][0]["ingressPaths"][0]["endpoint"] == f"http://{spec['clusterIP']}:9090/"

    ecs.delete_express_gateway_service(serviceArn=svc["serviceArn"])
    out = kubectl("get", "service", "-n", K8S_NAMESPACE, "ecsd-x-default-web-app", check=False)
    assert "ecsd-x-default-web-app" not in out
    until(lambda: ecs.describe_express_gateway_service(serviceArn=svc["serviceArn"])["service"]["status"]
          ["statusCode"] == "INACTIVE", timeout=120, what="INACTIVE")
