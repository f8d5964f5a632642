"""ListTasks is answered from the store's tasks_list index (the ARN and every filtered member as columns, store
migration 5) and written as text without a JSON tree (docs/internals/store.md). This pins that every page is, byte for
byte, what the earlier path gave on the same data: that path listed the rows the SQL below selects, took each ARN out
of the stored task document (json_extract here, as the store did), and encoded {"nextToken", "taskArns"} compactly.

Real tasks on the Docker engine (RUNNING ones, stopped ones, a service's), so that every filter has rows to tell
apart: cluster, family, startedBy, serviceName, desiredStatus, launchType, containerInstance (ARN and bare id), and
pagination through nextToken with several page sizes. The expected answers are read from ecsd's own database file
(read-only) while it runs."""

from __future__ import annotations

import base64
import itertools
import json
import sqlite3
import time
from pathlib import Path

from helpers import Raw, served_pages
from tasklib import register, wait_for

# The earlier listing, as the store ran it before the ARN had a column of its own (documents decoded per row).
BEFORE_SQL = (
    "SELECT id, json_extract(doc, '$.taskArn') FROM tasks WHERE region = ?1 AND cluster = ?2"
    " AND (?3 IS NULL OR family = ?3) AND (?4 IS NULL OR started_by = ?4)"
    " AND (?5 IS NULL OR desired = ?5) AND (?6 IS NULL OR launch_type = ?6)"
    " AND (?9 IS NULL OR grp = ?9) AND (?10 IS NULL OR instance = ?10) ORDER BY id")


def token(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"ListTasks\n{last_id}".encode()).rstrip(b"=").decode()


def before_pages(db: Path, query: dict, instance_arn: str | None, page: int) -> list[bytes]:
    """Each page's answer as the decoding path wrote it: json_dumps(JSON_COMPACT), nextToken first when set."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        desired = query.get("desiredStatus", "RUNNING")
        group = f"service:{query['serviceName']}" if "serviceName" in query else None
        params = ("us-east-1", query.get("cluster", "default"), query.get("family"), query.get("startedBy"),
                  desired, query.get("launchType"), None, None, group, instance_arn)  # ?1 .. ?10
        rows = [] if desired == "PENDING" else conn.execute(BEFORE_SQL, params).fetchall()
    finally:
        conn.close()
    pages = []
    for start in itertools.count(0, page):
        chunk = rows[start:start + page]
        out = {}
        if len(rows) > start + page:
            out["nextToken"] = token(chunk[-1][1].rsplit("/", 1)[1])
        out["taskArns"] = [arn for _, arn in chunk]
        pages.append(json.dumps(out, separators=(",", ":")).encode())
        if "nextToken" not in out:
            return pages


def run_all(ecs, taskdef: str, **kw) -> list[dict]:
    resp = ecs.run_task(taskDefinition=taskdef, **kw)
    assert resp["failures"] == [], resp["failures"]
    return resp["tasks"]


def test_list_tasks_pages_are_what_the_decoding_path_gave(dsrv, ecs):
    raw = Raw(dsrv)
    db = Path(dsrv.data_dir) / "ecsd.db"
    ecs.create_cluster(clusterName="lt")
    fam_a = register(ecs, [{"name": "app", "image": "busybox:local", "memory": 16, "command": ["sleep", "600"]}],
                     family="lt-a")
    fam_b = register(ecs, [{"name": "app", "image": "busybox:local", "memory": 16, "command": ["sleep", "600"]}],
                     family="lt-b")
    arns = []
    arns += [t["taskArn"] for t in run_all(ecs, fam_a, cluster="lt", count=3, startedBy="alpha")]
    arns += [t["taskArn"] for t in run_all(ecs, fam_b, cluster="lt", count=2, startedBy="beta",
                                       launchType="EC2")]
    arns += [t["taskArn"] for t in run_all(ecs, fam_a, cluster="lt", count=2)]
    arns += [t["taskArn"] for t in run_all(ecs, fam_b, count=1)]  # another cluster: never listed with lt's
    ecs.create_service(cluster="lt", serviceName="web", taskDefinition=fam_b, desiredCount=2)
    for arn in arns:
        wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING", timeout=120,
                 cluster="lt" if "/lt/" in arn else "default")
    # Two stopped by hand: desiredStatus STOPPED, and RUNNING no longer lists them.
    for arn in (arns[0], arns[4]):
        ecs.stop_task(cluster="lt", task=arn)
    deadline = time.monotonic() + 120
    while len(ecs.list_tasks(cluster="lt", serviceName="web")["taskArns"]) != 2:
        assert time.monotonic() < deadline, "the service's two tasks were not started"
        time.sleep(0.5)
    for arn in ecs.list_tasks(cluster="lt", serviceName="web")["taskArns"]:
        wait_for(ecs, arn, lambda t: t["lastStatus"] == "RUNNING", timeout=120, cluster="lt")
    instance_arn = ecs.list_container_instances(cluster="lt")["containerInstanceArns"][0]

    queries = [
        {"cluster": "lt"},
        {"cluster": "lt", "desiredStatus": "RUNNING"},
        {"cluster": "lt", "desiredStatus": "STOPPED"},
        {"cluster": "lt", "desiredStatus": "PENDING"},
        {},  # the default cluster
        {"cluster": "lt", "family": "lt-a"},
        {"cluster": "lt", "family": "lt-a", "desiredStatus": "STOPPED"},
        {"cluster": "lt", "family": "nope"},
        {"cluster": "lt", "startedBy": "alpha"},
        {"cluster": "lt", "startedBy": "beta", "desiredStatus": "STOPPED"},
        {"cluster": "lt", "serviceName": "web"},
        {"cluster": "lt", "launchType": "EC2"},
        {"cluster": "lt", "launchType": "FARGATE"},
        {"cluster": "lt", "containerInstance": instance_arn},
        {"cluster": "lt", "containerInstance": instance_arn.rsplit("/", 1)[1], "family": "lt-b"},
        {"cluster": "lt", "family": "lt-b", "startedBy": "beta", "launchType": "EC2"},
    ]
    checked = 0
    for query in queries:
        inst = query.get("containerInstance")
        if inst and not inst.startswith("arn:"):
            inst = instance_arn
        for page in (None, 1, 2, 3, 100):
            want = before_pages(db, query, inst, page or 100)
            got = served_pages(raw, "ListTasks", query, page)
            assert got == want, (query, page)
            checked += len(got)
    # Not all empty: the filters selected tasks, and pages were followed.
    assert checked > 100
    assert json.loads(served_pages(raw, "ListTasks", {"cluster": "lt"}, None)[0])["taskArns"]
    # boto3 (its model checks the shape) agrees with the raw answer.
    assert ecs.list_tasks(cluster="lt", maxResults=2)["taskArns"] == json.loads(
        served_pages(raw, "ListTasks", {"cluster": "lt"}, 2)[0])["taskArns"]
    ecs.update_service(cluster="lt", service="web", desiredCount=0)
