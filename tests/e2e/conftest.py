"""Fixtures for the end-to-end suite: the real ecsd binary, boto3, the AWS CLI, raw HTTP.

Every test that touches the server gets its own ecsd process with its own data directory
under the pytest tmp dir. The server listens on 127.0.0.1:0 (the kernel picks the port,
so no two servers can race for one) and reports the ports it got in its --ready-file,
which start() reads. The server's stderr goes to a file that is attached to the report
of any failing test.

ECSD_BIN must name the binary; without it every server test ERRORS (never skips).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.dont_write_bytecode = True  # keep the work tree free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import ACCOUNT, REGION, Raw, make_client  # noqa: E402

READY_TIMEOUT_S = 10.0

_servers_key = pytest.StashKey[list]()
_call_failed_key = pytest.StashKey[bool]()


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class EcsdServer:
    """One ecsd process. start() waits for its ready file, then reads its ports from it (.port: the API;
    .metadata_address, .credentials_address: "host:port" of those listeners, or None); kill9()/restart() keep the data dir
    (a restarted server gets new ports)."""

    def __init__(self, binary: str, workdir: Path, data_dir: str, region: str,
                 account_id: str, extra_args: list[str], env: dict[str, str] | None,
                 use_flags: bool):
        self.binary = binary
        self.workdir = workdir
        self.data_dir = data_dir
        self.region = region
        self.account_id = account_id
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.use_flags = use_flags
        self.port = 0
        self.metadata_address: str | None = None
        self.credentials_address: str | None = None
        self.ready_path: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.stopped_by_test = False
        self.log_paths: list[Path] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [self.binary, "serve"]
        if self.use_flags:
            cmd += ["--listen", "127.0.0.1:0", "--ready-file", str(self.ready_path),
                    "--data-dir", self.data_dir, "--region", self.region,
                    "--account-id", self.account_id, "--log-level", "debug"]
        return cmd + self.extra_args

    def start(self) -> "EcsdServer":
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        self.port = 0
        self.metadata_address = None
        self.credentials_address = None
        self.starts += 1
        self.ready_path = self.workdir / f"ready-{self.starts}.json"
        self.stopped_by_test = False
        log_path = self.workdir / f"ecsd-stderr-{self.starts}.log"
        self.log_paths.append(log_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ECSD_")}
        if not self.use_flags:
            env.update({"ECSD_LISTEN": "127.0.0.1:0", "ECSD_READY_FILE": str(self.ready_path),
                        "ECSD_DATA_DIR": self.data_dir,
                        "ECSD_REGION": self.region, "ECSD_ACCOUNT_ID": self.account_id,
                        "ECSD_LOG_LEVEL": "debug"})
        env.update(self.extra_env)
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Wait for the ready file (ecsd writes it atomically once every listener is up), take the ports from it,
        then require /_ecsd/readyz to answer 200."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no ready file"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise RuntimeError(f"ecsd exited with {rc} before it was ready\n{self.logs()}")
            if not self.port:
                if not self.ready_path.exists():
                    time.sleep(0.02)
                    continue
                ready = json.loads(self.ready_path.read_text())
                assert ready["pid"] == self.proc.pid, f"ready file of another process: {ready}"
                host, _, port = ready["api"].rpartition(":")
                assert host == "127.0.0.1", ready
                self.port = int(port)
                self.metadata_address = ready["metadata"]
                self.credentials_address = ready["credentials"]
            try:
                status, body = http_get(self.port, "/_ecsd/readyz", timeout=0.5)
                if status == 200:
                    return
                last = f"HTTP {status} {body[:200]!r}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.02)
        self.kill9()
        raise RuntimeError(f"ecsd not ready within {READY_TIMEOUT_S}s (last: {last})\n{self.logs()}")

    def crashed(self) -> str | None:
        """A description of the exit if the process ended without us stopping it, else None."""
        if self.proc is None or self.stopped_by_test:
            return None
        rc = self.proc.poll()
        if rc is None:
            return None
        how = f"signal {-rc} ({signal.Signals(-rc).name})" if rc < 0 else f"exit code {rc}"
        return f"ecsd (pid {self.proc.pid}, port {self.port}) died on its own: {how}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        self.stopped_by_test = True
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code (kills -9 and fails if it hangs)."""
        assert self.proc is not None
        self.stopped_by_test = True
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
                raise AssertionError(f"ecsd did not exit within {timeout}s of SIGTERM")
        return self.proc.returncode

    def restart(self, kill: bool = True) -> "EcsdServer":
        if kill:
            self.kill9()
        else:
            self.terminate()
        return self.start()

    def logs(self) -> str:
        out = []
        for p in self.log_paths:
            try:
                text = p.read_text(errors="replace")
            except OSError:
                text = "(missing)"
            if len(text) > 20000:
                text = "...(truncated)...\n" + text[-20000:]
            out.append(f"----- {p.name} -----\n{text}")
        return "\n".join(out)


@pytest.fixture(scope="session")
def ecsd_bin() -> str:
    path = os.environ.get("ECSD_BIN")
    if not path:
        pytest.fail("ECSD_BIN is not set: point it at the ecsd binary "
                    "(e.g. ECSD_BIN=build/cmd/ecsd/ecsd)", pytrace=False)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"ECSD_BIN={path!r} is not an executable file", pytrace=False)
    return os.path.abspath(path)


@pytest.fixture
def ecsd_factory(ecsd_bin, tmp_path, request):
    """Start any number of servers: factory(data_dir=None, region=..., account_id=..., args=[], env={}, use_flags=True)."""
    servers: list[EcsdServer] = []
    request.node.stash[_servers_key] = servers
    counter = iter(range(1, 1000))

    def factory(data_dir: str | Path | None = None, region: str = REGION,
                account_id: str = ACCOUNT, args: list[str] | None = None,
                env: dict[str, str] | None = None, use_flags: bool = True,
                start: bool = True) -> EcsdServer:
        n = next(counter)
        workdir = tmp_path / f"server{n}"
        workdir.mkdir()
        if data_dir is None:
            data_dir = workdir / "data"
            Path(data_dir).mkdir()
        srv = EcsdServer(ecsd_bin, workdir, str(data_dir), region, account_id,
                         args or [], env, use_flags)
        servers.append(srv)
        if start:
            try:
                srv.start()
            except RuntimeError as exc:
                pytest.fail(str(exc), pytrace=False)
        return srv

    factory.servers = servers  # for suites that check what the test's servers left behind
    yield factory
    crashes = [msg for msg in (srv.crashed() for srv in servers) if msg]
    for srv in servers:
        srv.kill9()
    # A crash the test itself did not notice (e.g. after its last request) still fails it.
    if crashes and not request.node.stash.get(_call_failed_key, False):
        pytest.fail("\n".join(crashes) + "\n" + "\n".join(s.logs() for s in servers), pytrace=False)


@pytest.fixture
def ecsd(ecsd_factory) -> EcsdServer:
    return ecsd_factory()


@pytest.fixture
def ecs(ecsd):
    """boto3 ECS client (us-east-1) for the per-test server, conformance-checked."""
    return make_client(ecsd)


@pytest.fixture
def ecs_for():
    """ecs_for(server, region) -> a conformance-checked boto3 client."""
    return make_client


@pytest.fixture
def raw(ecsd) -> Raw:
    return Raw(ecsd)


class CliError(AssertionError):
    pass


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else None


class AwsCli:
    """The real `aws` CLI against a server, isolated from any user configuration."""

    def __init__(self, server: EcsdServer, tmp_path: Path, region: str = REGION):
        self.server = server
        self.region = region
        self.home = tmp_path / "aws-home"
        self.home.mkdir(exist_ok=True)
        exe = shutil.which("aws")
        if exe is None:
            pytest.fail("the `aws` CLI is not on PATH (pip install -r tests/e2e/requirements.txt)",
                        pytrace=False)
        self.exe = exe

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_ACCESS_KEY_ID": "AKIDTESTTEST",
            "AWS_SECRET_ACCESS_KEY": "secret-test",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_PAGER": "",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
            "AWS_EC2_METADATA_DISABLED": "true",
            "HOME": str(self.home),
        })
        return env

    def run(self, *args: str, check: bool = True, region: str | None = None) -> CliResult:
        cmd = [self.exe, "--endpoint-url", self.server.url, "--region", region or self.region,
               "--output", "json", *args]
        proc = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=60,
                              cwd=self.home)
        res = CliResult(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise CliError(f"`aws {' '.join(args)}` exited {proc.returncode}\n"
                           f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return res

    def __call__(self, *args: str, region: str | None = None) -> Any:
        """Run, require exit 0, return parsed JSON output (None when empty)."""
        return self.run(*args, region=region).json


@pytest.fixture
def aws(ecsd, tmp_path) -> AwsCli:
    """The real AWS CLI against the per-test server (us-east-1)."""
    return AwsCli(ecsd, tmp_path)


@pytest.fixture
def aws_for(tmp_path):
    """aws_for(server, region="us-east-1") -> an AwsCli for another server."""
    return lambda server, region=REGION: AwsCli(server, tmp_path, region)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        item.stash[_call_failed_key] = True
        servers = item.stash.get(_servers_key, [])
        for i, srv in enumerate(servers, 1):
            crash = srv.crashed()
            title = f"ecsd server {i} stderr" + (f" -- {crash}" if crash else "")
            report.sections.append((title, srv.logs()))
