"""ListServices is answered from the store's services_list index (the ARN as a column, store migration 5) and
DescribeServices serves each stored Service document as its text; both write their answer without a JSON tree
(docs/internals/store.md). These pin that the answers are, byte for byte, what the decoding path gives on the same
data: for ListServices, the rows the earlier SQL selects with each ARN taken out of its document (json_extract, as the
store did) encoded compactly, page by page through nextToken; for DescribeServices, the answer with include TAGS, which
still decodes each document, adds its tags and encodes it again with jansson.

The services have desired count 0, so no engine is needed (--docker-cli /bin/false)."""

from __future__ import annotations

import base64
import itertools
import json
import sqlite3
from pathlib import Path

from helpers import Raw, make_client, served_pages

BEFORE_SQL = (
    "SELECT name, json_extract(doc, '$.serviceArn') FROM services WHERE region = ?1 AND cluster = ?2"
    " AND status = 'ACTIVE' AND (?3 IS NULL OR launch_type = ?3) AND (?4 IS NULL OR strategy = ?4) ORDER BY name")


def before_pages(db: Path, query: dict, page: int) -> list[bytes]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(BEFORE_SQL, ("us-east-1", query.get("cluster", "default"), query.get("launchType"),
                                         query.get("schedulingStrategy"))).fetchall()
    finally:
        conn.close()
    pages = []
    for start in itertools.count(0, page):
        chunk = rows[start:start + page]
        out = {"serviceArns": [arn or "" for _, arn in chunk]}
        if len(rows) > start + page:
            last = f"ListServices\n{chunk[-1][0]}".encode()
            out["nextToken"] = base64.urlsafe_b64encode(last).rstrip(b"=").decode()
        pages.append(json.dumps(out, separators=(",", ":")).encode())
        if "nextToken" not in out:
            return pages


def test_list_and_describe_services_text_is_what_decoding_gives(ecsd_factory):
    srv = ecsd_factory(args=["--docker-cli", "/bin/false"])
    ecs, raw = make_client(srv), Raw(srv)
    db = Path(srv.data_dir) / "ecsd.db"
    ecs.register_task_definition(family="svc", containerDefinitions=[
        {"name": "main", "image": "busybox:local", "memory": 32, "command": ["sleep", "60"]}])
    ecs.create_cluster(clusterName="ls")
    names = [f"s{i:02d}" for i in range(7)]
    for i, name in enumerate(names):
        kw = {"launchType": "EC2"} if i % 2 else {}
        ecs.create_service(cluster="ls", serviceName=name, taskDefinition="svc", desiredCount=0, **kw)
    ecs.create_service(serviceName="elsewhere", taskDefinition="svc", desiredCount=0)
    ecs.create_service(cluster="ls", serviceName="tagged", taskDefinition="svc", desiredCount=0,
                       tags=[{"key": "team", "value": "a\"b"}])
    ecs.delete_service(cluster="ls", service="s03")  # DRAINING or INACTIVE: no longer listed

    checked = 0
    for query in ({"cluster": "ls"}, {}, {"cluster": "ls", "launchType": "EC2"},
                  {"cluster": "ls", "launchType": "FARGATE"}, {"cluster": "ls", "schedulingStrategy": "REPLICA"},
                  {"cluster": "ls", "schedulingStrategy": "DAEMON"}):
        for page in (None, 1, 3, 100):
            got = served_pages(raw, "ListServices", query, page)
            assert got == before_pages(db, query, page or 10), (query, page)
            checked += len(got)
    assert checked > 20
    assert len(json.loads(served_pages(raw, "ListServices", {"cluster": "ls"}, 100)[0])["serviceArns"]) == 7

    # DescribeServices: the stored text, and with include TAGS the decoded document with its tags appended.
    plain = raw.post("DescribeServices", {"cluster": "ls", "services": ["s01", "nope", "tagged", "s00"]})
    assert plain.status == 200
    tags = raw.post("DescribeServices", {"cluster": "ls", "services": ["s01", "nope", "tagged", "s00"],
                                         "include": ["TAGS"]})
    docs = json.loads(plain.body)["services"]
    assert [d["serviceName"] for d in docs] == ["s01", "tagged", "s00"]
    head, tail = b'{"services":[', b'],"failures":[{"arn":"arn:aws:ecs:us-east-1:000000000000:service/ls/nope",' \
                                      b'"reason":"MISSING"}]}'
    assert plain.body.startswith(head) and plain.body.endswith(tail)
    texts = split_docs(plain.body[len(head):-len(tail)])
    assert len(texts) == 3
    with_tags = [t[:-1] + (b',"tags":[{"key":"team","value":"a\\"b"}]}' if b'"serviceName":"tagged"' in t
                           else b',"tags":[]}') for t in texts]
    assert tags.body == head + b",".join(with_tags) + tail
    # boto3 (its model checks the shape) reads the same.
    assert ecs.describe_services(cluster="ls", services=["s01"])["services"][0]["serviceArn"] == docs[0]["serviceArn"]


def split_docs(text: bytes) -> list[bytes]:
    """Top-level JSON objects of a comma-separated list, by decoding each in turn."""
    out, dec, s, i = [], json.JSONDecoder(), text.decode(), 0
    while i < len(s):
        _, end = dec.raw_decode(s, i)
        out.append(s[i:end].encode())
        i = end + 1
    return out


def test_describe_task_definition_text_is_what_decoding_gives(ecsd_factory):
    """DescribeTaskDefinition serves the stored document as text; with include TAGS it still decodes it (and adds the
    tags): the two must agree byte for byte, by family, family:revision and ARN, an old revision included."""
    srv = ecsd_factory()
    ecs, raw = make_client(srv), Raw(srv)
    for cmd in (["sleep", "60"], ["echo", "h\u00e9llo \"q\" \\ \t"]):
        ecs.register_task_definition(family="td", cpu="256", memory="512", containerDefinitions=[
            {"name": "main", "image": "busybox:local", "memory": 32, "command": cmd,
             "environment": [{"name": "E", "value": "\u2603"}]}])
    arn1 = ecs.describe_task_definition(taskDefinition="td:1")["taskDefinition"]["taskDefinitionArn"]
    for ref in ("td", "td:1", "td:2", arn1):
        plain = raw.post("DescribeTaskDefinition", {"taskDefinition": ref})
        tags = raw.post("DescribeTaskDefinition", {"taskDefinition": ref, "include": ["TAGS"]})
        assert plain.status == 200 and tags.status == 200
        assert plain.body.startswith(b'{"taskDefinition":{')
        assert tags.body == plain.body[:-1] + b',"tags":[]}', ref
    assert json.loads(raw.post("DescribeTaskDefinition", {"taskDefinition": "td"}).body)[
        "taskDefinition"]["revision"] == 2
    missing = raw.post("DescribeTaskDefinition", {"taskDefinition": "td:9"})
    assert missing.status == 400 and b"Unable to describe task definition." in missing.body


def test_describe_clusters_without_an_engine_exits_clean(ecsd_factory):
    """DescribeClusters asks the backend for its hosts (the instance count); with no engine `docker info` fails every
    time, and what that failed command printed must still be freed: under AddressSanitizer a leak makes ecsd's exit
    status non-zero at SIGTERM (it did: op_hosts returned without freeing the command's captured output)."""
    srv = ecsd_factory(args=["--docker-cli", "/bin/false"])
    raw = Raw(srv)
    for _ in range(3):
        resp = raw.post("DescribeClusters", {"clusters": ["default"]})
        assert resp.status == 200
        assert json.loads(resp.body)["clusters"][0]["registeredContainerInstancesCount"] == 0
    assert srv.terminate(timeout=60) == 0
