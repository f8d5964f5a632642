"""tcp-relay.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT — copy TCP connections both ways, nothing else.

The test control plane (tests/k8s/env) has no kube-proxy, and its kube-apiserver listens on 127.0.0.1 only, so a Pod
cannot reach the `kubernetes` Service (10.96.0.1:443) the kubelet tells it about. tests/deploy/helm-kubelet-test puts
10.96.0.1 on the node's bridge and runs this relay there, to the API server's loopback port: what kube-proxy does for
that one Service, in user space. TLS passes through untouched (the serving certificate names 10.96.0.1), so ecsd in
its Pod uses its in-cluster configuration exactly as in a real cluster.
"""
import asyncio
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction. At its end, pass the half-close on (a client that shuts down its sending side, as nc
    does after its request, still gets the whole answer); the sockets are closed once both directions are done."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def main() -> None:
    listen_host, listen_port, target_host, target_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))
        for w in (up_w, client_w):
            try:
                w.close()
            except OSError:
                pass

    server = await asyncio.start_server(handle, listen_host, listen_port, reuse_address=True)
    print(f"tcp-relay: {listen_host}:{listen_port} -> {target_host}:{target_port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
