"""Load on the HTTP service: requests/s, median and p99 latency, and errors, on loopback only.

    python benchmarks/serve_load.py                                   # 5,000 at concurrency 16
    python benchmarks/serve_load.py --requests 200 --concurrency 4    # a smoke run

Starts `ctcocr serve MODEL` in a subprocess on a free 127.0.0.1 port, waits for /healthz, then
sends exactly --requests POST /v1/recognize requests (raw PNG bodies of default-style
CAPTCHAs) from --concurrency client tasks, each on one kept-alive connection, and stops the
server. Bounded in count and in time
(--timeout seconds per request); no address but 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter

import httpx

from ctcocr.data.synth import png_samples

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_server(serve_args: list[str], port: int) -> subprocess.Popen[bytes]:
    """`ctcocr serve SERVE_ARGS...` on HOST:port, once /healthz answers."""
    command = [sys.executable, "-m", "ctcocr", "serve", *serve_args]
    command += ["--host", HOST, "--port", str(port)]
    server = subprocess.Popen(command, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode}")
        try:
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not answer /healthz within 60 s")


def payloads(count: int) -> list[bytes]:
    return png_samples(count, seed=4242)


async def post(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    path: str,
    body: bytes,
    content_type: str = "image/png",
) -> tuple[int, bool]:
    """One POST on a kept-alive HTTP/1.1 connection -> (status code, whether the server
    closes the connection after it, as it does after refusing a body it did not read)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    status_line, *headers = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
    fields = dict(h.lower().split(b":", 1) for h in headers if b":" in h)
    await reader.readexactly(int(fields.get(b"content-length", b"0")))
    return int(status_line.split()[1]), fields.get(b"connection", b"").strip() == b"close"


async def load(
    port: int, bodies: list[bytes], total: int, concurrency: int, timeout: float
) -> tuple[list[float], Counter[str], float]:
    """--concurrency clients, each on its own kept-alive connection, share --requests.

    The client is a few lines of asyncio streams rather than an HTTP library: the load
    generator shares the 2 cores with the service, and a heavier client measures itself
    (with httpx, the same service gave 380 requests/s and a p99 of 191 ms instead of 29)."""
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    next_index = iter(range(total))

    async def client_task() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            for index in next_index:
                body = bodies[index % len(bodies)]
                start = time.perf_counter()
                try:
                    status, _ = await asyncio.wait_for(
                        post(reader, writer, "/v1/recognize", body), timeout
                    )
                    outcomes[str(status)] += 1
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
                    outcomes[type(error).__name__] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
                latencies.append(time.perf_counter() - start)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client_task() for _ in range(concurrency)))
    return latencies, outcomes, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="run, .onnx or shipped name (default: general)")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    args = parser.parse_args()
    port = free_port()
    server = start_server([] if args.model is None else [str(args.model)], port)
    try:
        bodies = payloads(64)
        latencies, outcomes, elapsed = asyncio.run(
            load(port, bodies, args.requests, args.concurrency, args.timeout)
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    ordered = sorted(latencies)
    errors = sum(n for status, n in outcomes.items() if status != "200")
    print(f"{args.requests} requests at concurrency {args.concurrency}, raw PNG bodies\n")
    print("| requests/s | median | p99 | errors |")
    print("|---|---|---|---|")
    print(
        f"| {args.requests / elapsed:,.0f} | {1e3 * statistics.median(ordered):.1f} ms "
        f"| {1e3 * ordered[int(0.99 * (len(ordered) - 1))]:.1f} ms | {errors} |"
    )
    if errors:
        print(f"outcomes: {dict(outcomes)}")


if __name__ == "__main__":
    main()
