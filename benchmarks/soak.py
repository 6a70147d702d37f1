"""Soak the HTTP service: many requests, good and bad, then count what came back and how its
memory moved. Every request has the status it must get; any other is unexpected.

    python benchmarks/soak.py                                  # 20,000 at concurrency 16
    python benchmarks/soak.py --requests 2000                  # a shorter run

Starts `ctcocr serve DIR --default a --max-bytes 200000` in a subprocess on a free 127.0.0.1
port, DIR holding the model twice (a.onnx and b.onnx, so that the named routes and the
folder's reload checks are soaked too), waits for /healthz, sends --warmup requests of the
mix, reads the service's resident memory (VmRSS in /proc/PID/status), sends --requests more
from --concurrency clients on kept-alive connections (the raw asyncio client of
serve_load.py), reads its memory again, and prints the counts per kind of request, the
latencies and the memory. Targets: 0 unexpected statuses, under 10% memory growth.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import shutil
import statistics
import struct
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from serve_load import HOST, free_port, post, start_server

from ctcocr import Recognizer
from ctcocr.data.synth import png_samples

MAX_BYTES = 200_000


@dataclass(frozen=True)
class Kind:
    """One kind of request in the mix: what it sends, where, how often, what it must get."""

    name: str
    path: str
    content_type: str
    bodies: tuple[bytes, ...]
    expected: int
    weight: int


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG that claims width x height pixels: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))


def _multipart(png: bytes) -> bytes:
    return (
        b'--soak\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--soak--\r\n"
    )


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def mix() -> list[Kind]:
    """About 70% good requests, the rest each kind of bad one a client may send."""
    pngs = tuple(png_samples(32, seed=2024))
    b64 = [base64.b64encode(png).decode() for png in pngs]
    too_big = pngs[0] + random.Random(0).randbytes(MAX_BYTES)  # over the limit with any header
    return [
        Kind("raw PNG, default model", "/v1/recognize", "image/png", pngs, 200, 30),
        Kind("raw PNG, model b", "/v1/models/b/recognize", "image/png", pngs, 200, 15),
        Kind(
            "multipart",
            "/v1/models/a/recognize",
            "multipart/form-data; boundary=soak",
            tuple(_multipart(png) for png in pngs),
            200,
            10,
        ),
        Kind(
            "JSON base64",
            "/v1/recognize",
            "application/json",
            tuple(_json({"image": text}) for text in b64),
            200,
            10,
        ),
        Kind(
            "JSON batch of 4, beam 5",
            "/v1/models/b/recognize/batch",
            "application/json",
            tuple(
                _json({"images": b64[i : i + 4], "options": {"beam": 5}}) for i in range(0, 32, 4)
            ),
            200,
            5,
        ),
        Kind("not an image", "/v1/recognize", "image/png", (b"hello, not an image",), 415, 4),
        Kind(
            "truncated PNG",
            "/v1/recognize",
            "image/png",
            tuple(p[: len(p) // 2] for p in pngs),
            422,
            4,
        ),
        Kind("bad base64", "/v1/recognize", "application/json", (_json({"image": "@@@"}),), 422, 3),
        Kind("malformed JSON", "/v1/recognize", "application/json", (b'{"image": ',), 422, 3),
        Kind(
            "JSON nested 20,000 deep", "/v1/recognize", "application/json", (b"[" * 20_000,), 422, 3
        ),
        Kind("bad decoding option", "/v1/recognize?beam=0", "image/png", pngs[:1], 422, 3),
        Kind("unknown model", "/v1/models/nope/recognize", "image/png", pngs[:1], 404, 3),
        Kind("25M+ pixel header", "/v1/recognize", "image/png", (_png_header(6000, 6000),), 413, 3),
        Kind("body over --max-bytes", "/v1/recognize", "image/png", (too_big,), 413, 1),
        Kind("empty body", "/v1/recognize", "image/png", (b"",), 422, 3),
    ]


def schedule(kinds: list[Kind], seed: int = 7) -> list[Kind]:
    """The mix as 100 slots in a fixed shuffled order: request i is slot i % 100."""
    slots = [kind for kind in kinds for _ in range(kind.weight)]
    random.Random(seed).shuffle(slots)
    return slots


@dataclass
class Tally:
    latencies: dict[str, list[float]]
    statuses: dict[str, Counter[str]]


async def soak(port: int, slots: list[Kind], total: int, concurrency: int, timeout: float) -> Tally:
    tally = Tally(defaultdict(list), defaultdict(Counter))
    next_index = iter(range(total))

    async def client_task() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            for index in next_index:
                kind = slots[index % len(slots)]
                body = kind.bodies[index % len(kind.bodies)]
                start = time.perf_counter()
                closed = True
                try:
                    status, closed = await asyncio.wait_for(
                        post(reader, writer, kind.path, body, kind.content_type), timeout
                    )
                    outcome = str(status)
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
                    outcome = type(error).__name__
                tally.latencies[kind.name].append(time.perf_counter() - start)
                tally.statuses[kind.name][outcome] += 1
                if closed:  # the server ends a connection after a body it did not read
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
        finally:
            writer.close()

    await asyncio.gather(*(client_task() for _ in range(concurrency)))
    return tally


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit(f"no VmRSS for process {pid}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))]


def report(kinds: list[Kind], tally: Tally, elapsed: float, memory: tuple[int, int, int]) -> int:
    print("| request | must get | sent | statuses | unexpected | p50 | p99 |")
    print("|---|---|---|---|---|---|---|")
    unexpected_total = 0
    for kind in kinds:
        statuses, latencies = tally.statuses[kind.name], tally.latencies[kind.name]
        unexpected = sum(n for status, n in statuses.items() if status != str(kind.expected))
        unexpected_total += unexpected
        shown = ", ".join(f"{status}: {n:,}" for status, n in sorted(statuses.items()))
        p50, p99 = 1e3 * statistics.median(latencies), 1e3 * percentile(latencies, 0.99)
        print(
            f"| {kind.name} | {kind.expected} | {len(latencies):,} | {shown} | {unexpected} "
            f"| {p50:.1f} ms | {p99:.1f} ms |"
        )
    every = [t for latencies in tally.latencies.values() for t in latencies]
    start, before, after = memory
    growth = (after - before) / before
    print()
    print(
        "| requests | requests/s | p50 | p99 | unexpected | RSS: start | before | after | growth |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {len(every):,} | {len(every) / elapsed:,.0f} | {1e3 * statistics.median(every):.1f} ms "
        f"| {1e3 * percentile(every, 0.99):.1f} ms | {unexpected_total} | {start / 1024:.1f} MiB "
        f"| {before / 1024:.1f} MiB | {after / 1024:.1f} MiB | {growth:+.1%} |"
    )
    verdict = unexpected_total == 0 and growth < 0.10
    print(f"\ntargets (0 unexpected, growth < 10%): {'met' if verdict else 'NOT met'}")
    return 0 if verdict else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help=".onnx or shipped name (default: general)")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=1_000, help="requests before 'before'")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    args = parser.parse_args()
    model = Recognizer(args.model).path  # a path, a shipped name, or None: the default
    kinds = mix()
    slots = schedule(kinds)
    with tempfile.TemporaryDirectory(prefix="ctcocr-soak-") as folder:
        for name in ("a", "b"):
            shutil.copyfile(model, Path(folder) / f"{name}.onnx")
        port = free_port()
        serve_args = [folder, "--default", "a", "--max-bytes", str(MAX_BYTES)]
        server = start_server(serve_args, port)
        try:
            start_rss = rss_kib(server.pid)
            asyncio.run(soak(port, slots, args.warmup, args.concurrency, args.timeout))
            before = rss_kib(server.pid)
            began = time.perf_counter()
            tally = asyncio.run(soak(port, slots, args.requests, args.concurrency, args.timeout))
            elapsed = time.perf_counter() - began
            after = rss_kib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"\n{args.requests:,} requests at concurrency {args.concurrency} to `ctcocr serve` "
        f"({model.name} as a and b), after {args.warmup:,} to warm up\n"
    )
    return report(kinds, tally, elapsed, (start_rss, before, after))


if __name__ == "__main__":
    raise SystemExit(main())
