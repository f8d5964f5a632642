"""The ECS scenario suite, run unchanged on either backend: ECSD_SCENARIO_BACKEND=docker (a real Docker engine,
DOCKER_HOST in the environment) or k8s (the test control plane of tests/k8s/env, prepared by tests/k8s/scenarios-test).

A scenario's task definition works on both: each container's `command` does the thing on Docker, and its
`dockerLabels` steer kwok, the fake kubelet of the k8s test control plane (docs/k8s-test-env.md): a Pod gets a
container's dockerLabels as annotations, and kwok reads `ecsd.test/*` annotations for exit codes, durations and image
pull errors. So the ECS behaviour each test asserts is the same on both backends; only the workload differs.

After every test nothing the test's ecsd servers made may be left: no container/network/volume (docker) or Pod (k8s)
with their owner label. Other users of the same engine or cluster (a benchmark, another suite) do not disturb it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "docker"))
sys.path.insert(0, str(HERE))
from helpers import make_client  # noqa: E402
from tasklib import IMAGE, docker  # noqa: E402

BACKEND = os.environ.get("ECSD_SCENARIO_BACKEND", "")
K8S_NAMESPACE = "ecsd"


def kubectl(*args: str, check: bool = True) -> str:
    proc = subprocess.run([os.environ["KUBECTL"], "--kubeconfig", os.environ["KUBECONFIG"], *args],
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def owners(servers) -> list[str]:
    """The instance ids (owner labels) of the servers a test started, from their "backend ready" log line."""
    found = set()
    for srv in servers:
        for path in srv.log_paths:
            found.update(re.findall(r'backend ready" owner=(\S+)', path.read_text(errors="replace")))
    return sorted(found)


def leftovers(owner: str) -> list[str]:
    if BACKEND == "docker":
        found = []
        for kind in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
            out = docker(*kind, "-q", "--filter", f"label=io.ecsd.owner={owner}")
            found += [f"{kind[0] if kind[0] != 'ps' else 'container'} {x}" for x in out.split()]
        return found
    out = kubectl("get", "pods", "-A", "-l", f"io.ecsd/owner={owner}", "-o",
                  "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}")
    return out.split()


@pytest.fixture(scope="session", autouse=True)
def backend_ready():
    if BACKEND == "docker":
        if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock"):
            pytest.fail("no Docker engine: run through ctest (fixture docker/engine-up)", pytrace=False)
        docker("image", "inspect", IMAGE)
    elif BACKEND == "k8s":
        for var in ("KUBECTL", "KUBECONFIG", "ECSD_TEST_SA_KUBECONFIG", "ECSD_K8S_NODE"):
            if not os.environ.get(var):
                pytest.fail(f"{var} is not set: run through tests/k8s/scenarios-test", pytrace=False)
        kubectl("get", "namespace", K8S_NAMESPACE)
    else:
        pytest.fail("set ECSD_SCENARIO_BACKEND to docker or k8s", pytrace=False)
    return BACKEND


def backend_args(namespace: bool) -> list[str]:
    if BACKEND == "docker":
        return ["--backend", "docker", "--image-pull-behavior", "prefer-cached"]
    return ["--backend", "k8s", "--kubeconfig", os.environ["ECSD_TEST_SA_KUBECONFIG"],
            *(["--k8s-namespace", K8S_NAMESPACE] if namespace else []),
            "--k8s-node-name", os.environ["ECSD_K8S_NODE"], "--k8s-start-timeout", "60"]


@pytest.fixture
def server(ecsd_factory):
    """Start an ecsd on the backend under test; stopped with SIGTERM (cleanup on exit) at teardown."""
    servers = []

    def start(args: list[str] | None = None, namespace: bool = True, **kw):
        srv = ecsd_factory(args=[*backend_args(namespace), "--cleanup-on-exit", "--stop-timeout", "5", *(args or [])], **kw)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        if srv.alive():
            assert srv.terminate(timeout=120) == 0
    ids = owners(servers)
    assert len(ids) == len({srv.data_dir for srv in servers}), f"no owner id in a server's log: {ids}"
    left = [item for owner in ids for item in leftovers(owner)]
    if left:
        for item in left:  # clean up so one failure does not cascade, then fail
            if BACKEND == "docker":
                kind, ident = item.split(" ", 1)
                docker(*(["rm", "-f"] if kind == "container" else [kind, "rm"]), ident, check=False)
            else:
                ns, name = item.split("/", 1)
                kubectl("delete", "pod", "-n", ns, name, "--grace-period=0", "--force", check=False)
        pytest.fail(f"ecsd's objects left after the test: {left}", pytrace=False)


@pytest.fixture
def srv(server):
    return server()


@pytest.fixture
def ecs(srv):
    return make_client(srv)
