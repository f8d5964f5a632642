"""The API listener spreads connections over its worker threads.

A client that opens its keep-alive connections in a burst (an SDK's connection pool, a load test) must not have them
all served by one worker thread while the others idle: ecsd accepts every connection on a thread of its own and hands
it to the pool, which spreads connections by socket number. Left to libmicrohttpd, the worker that woke first
accepted the whole burst.

What is observed is the work each worker thread did (its run time in /proc/PID/task/TID/schedstat, nanoseconds) while
the connections carried the same number of requests each: every worker must have done a fair share of it. No timing
is asserted; the bound is on the count of requests.
"""

from __future__ import annotations

import errno
import json
import select
import socket
from pathlib import Path

from helpers import TARGET_PREFIX

WORKERS = 2
CONNECTIONS = 8
ROUNDS = 150  # requests per connection


def worker_run_ns(pid: int) -> dict[str, int]:
    """Run time so far of each libmicrohttpd worker thread of `pid`, by thread id."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() != "MHD-worker":
                continue
            out[task.name] = int((task / "schedstat").read_text().split()[0])
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return out


def request_bytes(port: int, action: str, doc: dict) -> bytes:
    body = json.dumps(doc).encode()
    head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Amz-Target: {TARGET_PREFIX}.{action}\r\n"
            f"Content-Type: application/x-amz-json-1.1\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed a keep-alive connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed a keep-alive connection"
        body += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return body


def test_a_burst_of_connections_is_spread_over_the_workers(ecsd_factory):
    srv = ecsd_factory(args=["--threads", str(WORKERS)])
    before = worker_run_ns(srv.proc.pid)
    assert len(before) == WORKERS, before
    request = request_bytes(srv.port, "ListClusters", {})
    # The burst: every connection is begun at once (non-blocking connects, back to back), as a pool opening.
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(CONNECTIONS)]
    for s in socks:
        s.setblocking(False)
    for s in socks:
        assert s.connect_ex(("127.0.0.1", srv.port)) in (0, errno.EINPROGRESS)
    for s in socks:
        select.select([], [s], [], 30)
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        s.setblocking(True)
        s.settimeout(30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        socks[0].sendall(request_bytes(srv.port, "CreateCluster", {"clusterName": "default"}))
        read_answer(socks[0])
        for _ in range(ROUNDS):
            for s in socks:
                s.sendall(request)
            for s in socks:
                assert b'cluster/default"' in read_answer(s)
    finally:
        for s in socks:
            s.close()
    after = worker_run_ns(srv.proc.pid)
    work = {tid: after[tid] - before.get(tid, 0) for tid in after}
    total = sum(work.values())
    assert total > 0, work
    # An even spread gives each worker half the work (0.45 to 0.55 seen); all on one thread gives the other close to
    # none (libmicrohttpd's own accept: under 0.01 in most runs).
    for tid, ns in work.items():
        assert ns >= total * 0.3, f"worker {tid} did {ns} of {total} ns: {work}"
