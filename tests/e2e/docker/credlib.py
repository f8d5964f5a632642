"""Helpers for the task credentials tests, on either backend: the credentials address, the URL a server reports, a
container's environment as the engine shows it, and botocore's own container credential provider.

ecsd serves credentials at 169.254.170.2, as ECS does; containers reach it through their default route once the host
has that address. ecsd never adds it; the harness does (root in CI), as deploy/local/serve.sh does for a user."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest

CREDS_ADDR = "169.254.170.2"

# Fetch the task's credentials from inside a container with busybox nc (its wget segfaults here): the relative URI
# (ECS's address, port 80) or the full URL, whichever ecsd injected. Prints the HTTP answer; "no-credentials" when
# neither variable is set.
FETCH_SCRIPT = r"""
if [ -n "$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" ]; then
  h=169.254.170.2; p=80; path=$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
elif [ -n "$AWS_CONTAINER_CREDENTIALS_FULL_URI" ]; then
  u=${AWS_CONTAINER_CREDENTIALS_FULL_URI#http://}; hp=${u%%/*}; path=/${u#*/}; h=${hp%:*}; p=${hp##*:}
else
  echo no-credentials; h=
fi
if [ -n "$h" ]; then printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$h" | nc "$h" "$p"; echo; fi
"""


def ensure_address() -> None:
    """Put 169.254.170.2 on lo when it is missing (root only; it is left in place, as serve.sh leaves it)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True,
                         check=True).stdout
    if f" {CREDS_ADDR}/" in out:
        return
    if os.geteuid() != 0:
        pytest.fail(f"{CREDS_ADDR} is not on lo and the tests are not root: run as root, or add it "
                    f"(ip addr add {CREDS_ADDR}/32 dev lo)", pytrace=False)
    subprocess.run(["ip", "addr", "add", f"{CREDS_ADDR}/32", "dev", "lo"], check=True)


def credentials_url(srv) -> str:
    """The URL of the server's credentials listener, from its log line ("" when it runs none). Read from the log
    files whole: srv.logs() keeps only the last 20000 characters of each, and under load the debug lines of the
    test's own polling pushed the startup line out of them."""
    text = "".join(p.read_text(errors="replace") for p in srv.log_paths if p.exists())
    found = re.findall(r'msg="credentials listener" url=(\S+)', text)
    return found[-1] if found else ""


def http(url: str, method: str = "GET", data: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def env_list_to_dict(env: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in env)


def credential_vars(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("AWS_CONTAINER_CREDENTIALS_")}


def credentials_id(env: dict[str, str]) -> str:
    (value,) = credential_vars(env).values()
    return value.rsplit("/", 1)[1]


def botocore_fetch(env: dict[str, str]):
    """Credentials through botocore's own container provider, given a container's environment: it applies botocore's
    URL rule (ContainerMetadataFetcher._validate_allowed_url) and parses the answer as an SDK does."""
    from botocore.credentials import ContainerProvider

    creds = ContainerProvider(environ=env).load()
    assert creds is not None, f"botocore found no container credentials in {credential_vars(env)}"
    return creds.get_frozen_credentials(), creds


def answer_json(output: str) -> dict:
    """The JSON body of the one HTTP answer a container printed."""
    bodies = [line for line in output.splitlines() if line.startswith("{")]
    assert len(bodies) == 1, output
    return json.loads(bodies[0])


def wait_output(read, predicate, timeout: float = 60) -> str:
    """Read a container's output until predicate(output) holds."""
    deadline = time.monotonic() + timeout
    while True:
        out = read()
        if predicate(out):
            return out
        assert time.monotonic() < deadline, f"container output never matched; got {out!r}"
        time.sleep(0.1)
