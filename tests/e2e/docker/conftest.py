"""Fixtures for the task tests on the Docker backend: a real engine (deploy/local/docker-engine-up, DOCKER_HOST in the
environment), busybox:local, and after every test a check that nothing carrying the owner label of the test's own
ecsd servers was left behind.

The servers here run with --image-pull-behavior prefer-cached (busybox:local cannot be pulled: no registry is
reachable, and the tests must not reach for one) and --cleanup-on-exit, and are stopped with SIGTERM so that
cleanup runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import make_client  # noqa: E402
from tasklib import IMAGE, docker, leftovers, owners_in  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def docker_engine():
    if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock"):
        pytest.fail("no Docker engine: run through ctest (fixture docker/engine-up) or source its env file",
                    pytrace=False)
    docker("image", "inspect", IMAGE)


@pytest.fixture
def run_owners() -> list[str]:
    """Owner labels of `ecsd run` processes a test ran (they are not ecsd_factory servers); no_leftovers checks them."""
    return []


@pytest.fixture(autouse=True)
def no_leftovers(docker_engine, ecsd_factory, run_owners):
    """After the test (and after docker_server's SIGTERM cleanup, which is torn down first), nothing the test's own
    servers made may be left. Scoped by their owner labels: other users of the engine (other suites, benchmarks, a
    CI job) may have objects of their own at any time."""
    yield
    ids = set(run_owners)
    for srv in ecsd_factory.servers:
        for path in srv.log_paths:
            ids |= owners_in(path.read_text(errors="replace"))
    left = [item for owner in sorted(ids) for item in leftovers(owner)]
    if left:
        # Clean up so one failure does not cascade, then fail.
        for item in left:
            kind, ident = item.split(" ", 1)
            docker(*(["rm", "-f"] if kind == "container" else [kind, "rm"]), ident, check=False)
        pytest.fail(f"objects with the test's owner labels left after the test: {left}", pytrace=False)


@pytest.fixture
def docker_server(ecsd_factory):
    """Start an ecsd on the docker backend; stopped with SIGTERM (cleanup on exit) at teardown."""
    servers = []

    def start(args: list[str] | None = None, **kw):
        srv = ecsd_factory(args=["--image-pull-behavior", "prefer-cached", "--cleanup-on-exit",
                                 "--stop-timeout", "5", *(args or [])], **kw)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        if srv.alive():
            assert srv.terminate(timeout=120) == 0


@pytest.fixture
def dsrv(docker_server):
    return docker_server()


@pytest.fixture
def ecs(dsrv):
    return make_client(dsrv)


