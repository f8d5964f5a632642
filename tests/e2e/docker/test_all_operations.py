"""The walk over every operation of the botocore ECS model (77): each is called once or more with valid input,
built for it here, on a real ecsd with the docker backend (the resources an operation needs are made first by the
operations that make them: a cluster, a task definition, a running task, services, task sets, capacity providers,
container instances, daemons, express gateway services). Each answer must be either

* a success whose raw body conforms to the operation's output shape (conformance.validate_response: every member
  present exists in the shape with the shape's type, enums, epoch timestamps, required members), or
* an error whose __type is one of the errors the model lists for that operation (not a generic protocol error, and
  never UnknownOperationException).

The calls are raw HTTP (helpers.Raw), so that nothing on the client side (boto3's parameter validation, its
forgiving parser) hides what the server answered. The failure message lists every operation that failed and why."""

from __future__ import annotations

import json
import time

import botocore.session
from helpers import Raw
from tasklib import IMAGE

import conformance

MODEL = botocore.session.get_session().get_service_model("ecs")
ACCOUNT, REGION = "000000000000", "us-east-1"
ASG = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:uuid:autoScalingGroupName/walk-asg"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/walk"


def arn(kind: str, rest: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:{kind}/{rest}"


def find(doc, key: str):
    """The first value of `key` anywhere in `doc` (depth first), or None."""
    if isinstance(doc, dict):
        if key in doc:
            return doc[key]
        doc = list(doc.values())
    if isinstance(doc, list):
        for v in doc:
            got = find(v, key)
            if got is not None:
                return got
    return None


class Walk:
    """Calls operations and records, per operation, whether each answer was one the model allows."""

    def __init__(self, raw: Raw):
        self.raw = raw
        self.called: set[str] = set()
        self.failures: dict[str, list[str]] = {}
        self.refused: dict[str, str] = {}  # operations that answered one of their own errors (allowed), and which

    def call(self, op: str, body: dict) -> dict | None:
        """The decoded body of a success, None for an error; either way checked against the model."""
        self.called.add(op)
        model = MODEL.operation_model(op)
        resp = self.raw.post(op, body)
        problems = conformance.validate_response(model, resp.status, resp.body)
        if resp.status >= 300:
            code = (resp.error_type or "").rsplit("#", 1)[-1]
            own = {e.metadata.get("error", {}).get("code", e.name) for e in model.error_shapes}
            self.refused[op] = f"{code}: {resp.message[:120]}"
            if code not in own:
                problems.append(f"HTTP {resp.status} {code or resp.body[:200]!r} is not one of {op}'s errors "
                                f"({resp.message[:160]!r})")
        if problems:
            self.failures.setdefault(op, []).extend(problems)
        return resp.json if resp.status < 300 and not problems else None

    def report(self) -> str:
        lines = [f"  {op}: {'; '.join(why)}" for op, why in sorted(self.failures.items())]
        lines.append("(answered with one of their own errors, allowed: "
                     + ", ".join(f"{op} ({why})" for op, why in sorted(self.refused.items())
                                 if op not in self.failures) + ")")
        return "\n".join(lines)


def test_every_operation_answers_as_the_model_says(docker_server):
    srv = docker_server(["--service-healthy-after", "1"])
    w = Walk(Raw(srv))
    c = w.call

    # Account settings.
    c("ListAccountSettings", {})
    c("PutAccountSetting", {"name": "containerInsights", "value": "enabled"})
    c("PutAccountSettingDefault", {"name": "containerInsights", "value": "disabled"})
    c("DeleteAccountSetting", {"name": "containerInsights"})

    # Clusters and capacity providers.
    c("CreateCluster", {"clusterName": "walk", "tags": [{"key": "k", "value": "v"}]})
    c("DescribeClusters", {"clusters": ["walk", "default"], "include": ["SETTINGS", "TAGS"]})
    c("ListClusters", {})
    c("UpdateCluster", {"cluster": "walk", "settings": [{"name": "containerInsights", "value": "enabled"}]})
    c("UpdateClusterSettings", {"cluster": "walk", "settings": [{"name": "containerInsights", "value": "disabled"}]})
    c("CreateCapacityProvider", {"name": "walk-cp", "autoScalingGroupProvider": {"autoScalingGroupArn": ASG}})
    c("DescribeCapacityProviders", {"capacityProviders": ["walk-cp", "FARGATE"]})
    c("UpdateCapacityProvider", {"name": "walk-cp", "autoScalingGroupProvider": {
        "managedScaling": {"status": "ENABLED", "targetCapacity": 90}, "managedTerminationProtection": "DISABLED"}})
    c("PutClusterCapacityProviders", {"cluster": "walk", "capacityProviders": ["walk-cp"],
                                      "defaultCapacityProviderStrategy": [{"capacityProvider": "walk-cp"}]})

    # Task definitions and tags.
    td = find(c("RegisterTaskDefinition", {
        "family": "walk", "containerDefinitions": [{"name": "app", "image": IMAGE, "memory": 32, "essential": True,
                                                    "command": ["sleep", "600"], "stopTimeout": 1}]}),
              "taskDefinitionArn") or arn("task-definition", "walk:1")
    c("DescribeTaskDefinition", {"taskDefinition": "walk", "include": ["TAGS"]})
    c("ListTaskDefinitions", {"familyPrefix": "walk"})
    c("ListTaskDefinitionFamilies", {})
    c("TagResource", {"resourceArn": td, "tags": [{"key": "walk", "value": "yes"}]})
    c("ListTagsForResource", {"resourceArn": td})
    c("UntagResource", {"resourceArn": td, "tagKeys": ["walk"]})

    # A running task: DescribeTasks, ListTasks, ExecuteCommand, the agent's calls, task protection.
    run = c("RunTask", {"taskDefinition": td, "enableExecuteCommand": True, "startedBy": "walk"})
    task = find(run, "taskArn") or arn("task", "default/00000000000000000000000000000000")
    deadline = time.monotonic() + 60
    while True:
        got = c("DescribeTasks", {"tasks": [task], "include": ["TAGS"]})
        status = find(got, "lastStatus")
        if status in ("RUNNING", "STOPPED", None) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    c("ListTasks", {"startedBy": "walk", "desiredStatus": "RUNNING"})
    c("ExecuteCommand", {"task": task, "container": "app", "command": "true", "interactive": True})
    c("DiscoverPollEndpoint", {"cluster": "default"})
    c("SubmitTaskStateChange", {"task": task, "status": "RUNNING"})
    c("SubmitContainerStateChange", {"task": task, "containerName": "app", "status": "RUNNING"})
    c("SubmitAttachmentStateChanges", {"attachments": [
        {"attachmentArn": arn("attachment", "00000000-0000-0000-0000-000000000000"), "status": "ATTACHED"}]})
    c("GetTaskProtection", {"cluster": "default", "tasks": [task]})
    c("UpdateTaskProtection", {"cluster": "default", "tasks": [task], "protectionEnabled": False})

    # Container instances and attributes.
    inst = find(c("ListContainerInstances", {}), "containerInstanceArns")
    inst = inst[0] if inst else arn("container-instance", "default/00000000000000000000000000000000")
    c("DescribeContainerInstances", {"containerInstances": [inst], "include": ["TAGS"]})
    c("PutAttributes", {"attributes": [{"name": "walk", "value": "1", "targetType": "container-instance",
                                        "targetId": inst}]})
    c("ListAttributes", {"targetType": "container-instance", "attributeName": "walk"})
    c("DeleteAttributes", {"attributes": [{"name": "walk", "targetType": "container-instance", "targetId": inst}]})
    c("UpdateContainerAgent", {"containerInstance": inst})
    c("UpdateContainerInstancesState", {"containerInstances": [inst], "status": "ACTIVE"})
    started = c("StartTask", {"containerInstances": [inst], "taskDefinition": td, "startedBy": "walk-start"})
    ext = find(c("RegisterContainerInstance", {
        "instanceIdentityDocument": json.dumps({"instanceId": "mi-00000000000000077"}),
        "totalResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                           {"name": "MEMORY", "type": "INTEGER", "integerValue": 512}],
        "versionInfo": {"agentVersion": "1.80.0"}}), "containerInstanceArn")
    c("DeregisterContainerInstance", {"containerInstance": ext or inst, "force": True})

    # A service whose first deployment pauses at a PAUSE lifecycle hook, and the service deployment calls.
    c("CreateService", {"serviceName": "svc", "taskDefinition": td, "desiredCount": 1, "enableExecuteCommand": True,
                        "deploymentConfiguration": {"lifecycleHooks": [
                            {"targetType": "PAUSE", "lifecycleStages": ["PRE_SCALE_UP"]}]}})
    c("DescribeServices", {"services": ["svc"], "include": ["TAGS"]})
    c("ListServices", {})
    dep = find(c("ListServiceDeployments", {"service": "svc"}), "serviceDeploymentArn")
    dep = dep or arn("service-deployment", "default/svc/AAAAAAAAAAAAAAAAAAAAAA")
    hook, rev = None, None
    deadline = time.monotonic() + 30
    while hook is None and time.monotonic() < deadline:
        got = c("DescribeServiceDeployments", {"serviceDeploymentArns": [dep]})
        hook = find(got, "hookId")
        rev = find(find(got, "targetServiceRevision"), "arn")
        if hook is None:
            time.sleep(0.2)
    c("ContinueServiceDeployment", {"serviceDeploymentArn": dep, "hookId": hook or "none", "action": "CONTINUE"})
    c("DescribeServiceRevisions", {"serviceRevisionArns": [rev or arn("service-revision", "default/svc/1")]})
    c("UpdateService", {"service": "svc", "desiredCount": 1, "forceNewDeployment": True})
    newer = find(c("ListServiceDeployments", {"service": "svc"}), "serviceDeploymentArn") or dep
    c("StopServiceDeployment", {"serviceDeploymentArn": newer, "stopType": "ABORT"})
    c("ListServicesByNamespace", {"namespace": "walk-ns"})

    # Task sets of an EXTERNAL service.
    c("CreateService", {"serviceName": "ext", "desiredCount": 1, "deploymentController": {"type": "EXTERNAL"}})
    ts = find(c("CreateTaskSet", {"cluster": "default", "service": "ext", "taskDefinition": td}), "id") or "ecs-svc/1"
    c("DescribeTaskSets", {"cluster": "default", "service": "ext", "taskSets": [ts]})
    c("UpdateTaskSet", {"cluster": "default", "service": "ext", "taskSet": ts, "scale": {"value": 50.0,
                                                                                      "unit": "PERCENT"}})
    c("UpdateServicePrimaryTaskSet", {"cluster": "default", "service": "ext", "primaryTaskSet": ts})
    c("DeleteTaskSet", {"cluster": "default", "service": "ext", "taskSet": ts, "force": True})

    # Daemons.
    cp = arn("capacity-provider", "walk-cp")
    dtd = find(c("RegisterDaemonTaskDefinition", {
        "family": "walkd", "containerDefinitions": [{"name": "d", "image": IMAGE, "memory": 16,
                                                     "command": ["sleep", "600"], "stopTimeout": 1}]}),
               "daemonTaskDefinitionArn") or arn("daemon-task-definition", "walkd:1")
    c("ListDaemonTaskDefinitions", {})
    c("DescribeDaemonTaskDefinition", {"daemonTaskDefinition": dtd})
    daemon = find(c("CreateDaemon", {"daemonName": "walkd", "clusterArn": arn("cluster", "default"),
                                     "daemonTaskDefinitionArn": dtd, "capacityProviderArns": [cp]}),
                  "daemonArn") or arn("daemon", "default/walkd")
    c("ListDaemons", {})
    c("DescribeDaemon", {"daemonArn": daemon})
    c("UpdateDaemon", {"daemonArn": daemon, "daemonTaskDefinitionArn": dtd, "capacityProviderArns": [cp]})
    ddep = find(c("ListDaemonDeployments", {"daemonArn": daemon}), "daemonDeploymentArn")
    got = c("DescribeDaemonDeployments", {"daemonDeploymentArns": [ddep or arn("daemon-deployment",
                                                                              "default/walkd/x")]})
    drev = find(got, "daemonRevisionArn") or find(find(got, "targetDaemonRevision"), "arn")
    c("DescribeDaemonRevisions", {"daemonRevisionArns": [drev or arn("daemon-revision", "default/walkd/1")]})
    c("DeleteDaemon", {"daemonArn": daemon})
    c("DeleteDaemonTaskDefinition", {"daemonTaskDefinition": dtd})

    # Express gateway services.
    egs = find(c("CreateExpressGatewayService", {
        "executionRoleArn": ROLE, "infrastructureRoleArn": ROLE, "serviceName": "walk-egs",
        "primaryContainer": {"image": IMAGE, "containerPort": 8080, "command": ["httpd", "-f", "-p", "8080"]}}),
               "serviceArn") or arn("service", "default/walk-egs")
    c("DescribeExpressGatewayService", {"serviceArn": egs})
    c("UpdateExpressGatewayService", {"serviceArn": egs, "healthCheckPath": "/"})
    c("DeleteExpressGatewayService", {"serviceArn": egs})

    # Teardown through the API itself.
    c("StopTask", {"task": task, "reason": "walk done"})
    for t in find(started, "tasks") or []:
        c("StopTask", {"task": t["taskArn"]})
    c("DeleteService", {"service": "svc", "force": True})
    c("DeleteService", {"service": "ext", "force": True})
    c("DeregisterTaskDefinition", {"taskDefinition": td})
    c("DeleteTaskDefinitions", {"taskDefinitions": [td]})
    c("DeleteCluster", {"cluster": "walk"})
    c("DeleteCapacityProvider", {"capacityProvider": "walk-cp"})

    missing = sorted(set(MODEL.operation_names) - w.called)
    assert len(MODEL.operation_names) == 77 and not missing, f"operations the walk left out: {missing}"
    assert not w.failures, (f"{len(w.failures)} of 77 operations did not answer as the model says:\n"
                            + w.report())
