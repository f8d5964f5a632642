"""Remove keys from the test control plane's etcd behind the API server's back, then compact etcd to its current
revision, through etcd's JSON gateway (/v3/kv/...) on ECSD_K8S_ETCD.

This stands in for changes a watch missed: run while kube-apiserver is down (tests/k8s/restart-apiserver runs it
there), it leaves a Pod gone and every older resourceVersion compacted away, so a watch that resumes from where it
was gets 410 Gone and must relist. A real part cannot make a watch miss events on demand; this is the fault.

Usage: python etcd_forget.py KEY...      (for example /registry/pods/NS/NAME)"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.request


def call(path: str, body: dict) -> dict:
    req = urllib.request.Request(os.environ["ECSD_K8S_ETCD"] + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def main(keys: list[str]) -> None:
    if not keys:
        sys.exit("usage: etcd_forget.py KEY...")
    for key in keys:
        deleted = int(call("/v3/kv/deleterange", {"key": b64(key)}).get("deleted", 0))
        if deleted != 1:
            sys.exit(f"etcd_forget: {key} was not in etcd")
    revision = int(call("/v3/kv/range", {"key": b64("/"), "limit": 1})["header"]["revision"])
    call("/v3/kv/compaction", {"revision": revision, "physical": True})
    print(f"etcd_forget: removed {len(keys)} key(s), compacted to revision {revision}")


if __name__ == "__main__":
    main(sys.argv[1:])
