"""One ecsd per address and per state directory, the ready file, and the state directory's permissions, against the
real binary.

A second ecsd on an address in use, or on a state directory in use, must exit at once with a line that says which,
and the first must keep answering every request: with the address shared through SO_REUSEPORT the kernel split the
requests between two servers, so ListClusters answered a different half of the clusters each time."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from helpers import list_all_clusters, make_client

START_TIMEOUT_S = 30  # a refused start exits long before; the bound only keeps a broken build from hanging the suite


def run_second(ecsd_bin: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Start another `ecsd serve` that is expected to refuse to start; returns its exit and output."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ECSD_")}
    full_env.update(env or {})
    try:
        return subprocess.run([ecsd_bin, "serve", *args], capture_output=True, text=True, timeout=START_TIMEOUT_S,
                              env=full_env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the second ecsd did not exit: it runs beside the first\n{exc.stderr}", pytrace=False)


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if "level=error" in line]


def test_second_server_on_the_same_address_exits_and_the_first_answers_everything(ecsd_factory, ecsd_bin):
    first = ecsd_factory(data_dir=":memory:")
    ecs = make_client(first)
    names = [f"c{i}" for i in range(1, 7)]
    for name in names:
        ecs.create_cluster(clusterName=name)
    address = f"127.0.0.1:{first.port}"
    ready = first.ready_path.read_text()
    second = run_second(ecsd_bin, "--listen", address, "--data-dir", ":memory:", "--ready-file",
                        str(first.ready_path))
    assert second.returncode == 1, second.stderr
    errors = error_lines(second)
    assert len(errors) == 1, second.stderr
    assert f"cannot listen on {address}" in errors[0] and "in use by another process" in errors[0], errors
    assert first.ready_path.read_text() == ready, "the refused server touched the running one's ready file"
    # Every request reaches the first server: ListClusters sees every cluster every time.
    for _ in range(50):
        got = {arn.rsplit("/", 1)[1] for arn in list_all_clusters(ecs)}
        assert got == {"default", *names}
    assert first.alive()


def test_second_server_on_the_metadata_address_exits(ecsd_factory, ecsd_bin):
    first = ecsd_factory(data_dir=":memory:")
    assert first.metadata_address
    second = run_second(ecsd_bin, "--listen", "127.0.0.1:0", "--metadata-listen", first.metadata_address,
                        "--data-dir", ":memory:")
    assert second.returncode == 1, second.stderr
    assert f"cannot listen on {first.metadata_address}" in second.stderr, second.stderr
    assert "in use by another process" in second.stderr


def reuseport_bind(address: str) -> OSError | None:
    """Bind a new socket with SO_REUSEPORT (and SO_REUSEADDR) to `address`; the error, or None if it was let in."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            s.bind((host, int(port)))
            s.listen()
        except OSError as exc:
            return exc
    return None


def test_no_listening_socket_lets_another_process_share_it(ecsd_factory):
    """Linux lets a second socket of the same user bind a listening address only if both set SO_REUSEPORT: a third
    process that asks for it is refused on every ecsd listener, so none of them sets it. (The credentials listener
    is put on loopback here, so the test does not depend on the host having 169.254.170.2.)"""
    ecsd = ecsd_factory(args=["--credentials-listen", "127.0.0.1:0"])
    assert ecsd.credentials_address and ecsd.credentials_address.startswith("127.0.0.1:")
    for address in (f"127.0.0.1:{ecsd.port}", ecsd.metadata_address, ecsd.credentials_address):
        exc = reuseport_bind(address)
        assert exc is not None, f"a SO_REUSEPORT socket could bind {address}: ecsd's listener sets SO_REUSEPORT"
        assert exc.errno == 98, exc  # EADDRINUSE


def test_ready_file_names_the_bound_addresses(ecsd_factory):
    srv = ecsd_factory(use_flags=False, env={"ECSD_CREDENTIALS_LISTEN": "127.0.0.1:0"})
    # ECSD_LISTEN=127.0.0.1:0 and ECSD_READY_FILE from the environment
    ready = json.loads(srv.ready_path.read_text())
    assert set(ready) == {"api", "metadata", "credentials", "pid"}
    assert ready["pid"] == srv.proc.pid
    assert ready["api"] == f"127.0.0.1:{srv.port}" and srv.port > 0
    mhost, _, mport = ready["metadata"].rpartition(":")
    assert mhost and int(mport) > 0
    chost, _, cport = ready["credentials"].rpartition(":")
    assert chost == "127.0.0.1" and int(cport) > 0
    line = next(line for line in srv.logs().splitlines() if 'msg="listening"' in line)
    assert f"addr={ready['api']}" in line and f"metadata={ready['metadata']}" in line, line
    assert not list(srv.ready_path.parent.glob("*.tmp")), "the ready file's temporary was left"
    assert srv.terminate() == 0
    assert not srv.ready_path.exists(), "the ready file outlived the server"


def test_second_server_on_the_same_state_dir_exits_naming_dir_and_pid(ecsd_factory, ecsd_bin):
    first = ecsd_factory()
    ecs = make_client(first)
    ecs.create_cluster(clusterName="kept")
    second = run_second(ecsd_bin, "--listen", "127.0.0.1:0", "--data-dir", first.data_dir)
    assert second.returncode == 1, second.stderr
    errors = error_lines(second)
    assert len(errors) == 1, second.stderr
    assert f"state directory {first.data_dir} is in use" in errors[0], errors
    assert f"pid {first.proc.pid}" in errors[0], errors
    assert "kept" in {arn.rsplit("/", 1)[1] for arn in list_all_clusters(ecs)}

    # kill -9 releases the lock: a new server starts on the same directory and has the state.
    first.restart(kill=True)
    ecs = make_client(first)
    assert "kept" in {arn.rsplit("/", 1)[1] for arn in list_all_clusters(ecs)}
    lock = Path(first.data_dir, "ecsd.lock").read_text().strip()
    assert lock == str(first.proc.pid)


def test_memory_state_takes_no_lock(ecsd_factory):
    a = ecsd_factory(data_dir=":memory:")
    b = ecsd_factory(data_dir=":memory:")
    assert a.alive() and b.alive() and a.port != b.port


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_files_are_private_whatever_the_umask(ecsd_factory, tmp_path):
    data = tmp_path / "new" / "state"
    old = os.umask(0)
    try:
        srv = ecsd_factory(data_dir=data)
    finally:
        os.umask(old)
    make_client(srv).create_cluster(clusterName="c")
    assert mode(data) == 0o700
    for name in ("ecsd.db", "ecsd.db-wal", "ecsd.db-shm", "ecsd.lock"):
        assert mode(data / name) == 0o600, name


def test_existing_readable_dir_is_used_and_its_files_made_private(ecsd_factory, tmp_path):
    """A 0755 directory (made by hand, or by an older ecsd with its 0644 database) is accepted: others can list it
    but no longer read the files."""
    data = tmp_path / "state"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    first = ecsd_factory(data_dir=data)
    make_client(first).create_cluster(clusterName="c")
    first.terminate()
    for name in ("ecsd.db", "ecsd.db-wal", "ecsd.db-shm"):
        if (data / name).exists():
            os.chmod(data / name, 0o644)
    srv = ecsd_factory(data_dir=data)
    assert "c" in {arn.rsplit("/", 1)[1] for arn in list_all_clusters(make_client(srv))}
    assert mode(data) == 0o755
    for name in ("ecsd.db", "ecsd.lock"):
        assert mode(data / name) == 0o600, name


@pytest.mark.parametrize("dir_mode", [0o770, 0o757])
def test_dir_others_can_write_is_refused(ecsd_bin, tmp_path, dir_mode):
    data = tmp_path / "loose"
    data.mkdir()
    os.chmod(data, dir_mode)
    proc = run_second(ecsd_bin, "--listen", "127.0.0.1:0", "--data-dir", str(data))
    assert proc.returncode == 1, proc.stderr
    errors = error_lines(proc)
    assert len(errors) == 1, proc.stderr
    assert f"state directory {data} can be written by other users" in errors[0], errors
    assert f"chmod 700 {data}" in errors[0], errors
    assert list(data.iterdir()) == [], "a refused directory was written"
