"""Sustained load on the server: N concurrent streaming chats for S seconds through `tunesmith serve --ollama <fake>`,
counting requests and errors (there must be none), whole-answer latency p50/p99, and the server's RSS over the run
(psutil) to show that memory stays flat.

The fake Ollama and the load client are raw asyncio, each in its own process apart from the server's, as in
bench/proxy.py; the fake streams `--pieces` NDJSON pieces `--piece-delay` seconds apart, like a model generating.
Usage: .venv/bin/python bench/load.py [--concurrency 64] [--seconds 60] [--warmup 5] [--pieces 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.net import free_port, percentile, wait_for

MODEL = "load:latest"
DONE = b"data: [DONE]\n\n"


# ---- the fake Ollama ------------------------------------------------------------------------------------------------


def _chunk(line: str) -> bytes:
    data = line.encode() + b"\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _upstream(port: int, pieces: int, delay: float) -> None:
    part = {"model": MODEL, "created_at": "2025-01-01T00:00:00Z", "done": False}
    lines = [
        _chunk(json.dumps({**part, "message": {"role": "assistant", "content": f" word{i}"}})) for i in range(pieces)
    ]
    last = _chunk(
        json.dumps(
            {
                **part,
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 12,
                "eval_count": pieces,
            }
        )
    )
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n"
    tags = json.dumps(
        {
            "models": [
                {
                    "name": MODEL,
                    "model": MODEL,
                    "modified_at": "2025-01-01T00:00:00Z",
                    "size": 1,
                    "digest": "0" * 64,
                    "details": {},
                }
            ]
        }
    ).encode()
    tags_answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        len(tags),
        tags,
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (int(line[15:]) for line in request.split(b"\r\n") if line[:15].lower() == b"content-length:"), 0
                )
                if length:
                    await reader.readexactly(length)
                if request.startswith(b"GET /api/tags"):
                    writer.write(tags_answer)
                    continue
                writer.write(head + lines[0])
                for line in lines[1:]:
                    await asyncio.sleep(delay)
                    writer.write(line)
                await asyncio.sleep(delay)
                writer.write(last + b"0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


# ---- the load client ------------------------------------------------------------------------------------------------


class _Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> str | None:
    """One streamed chat on a kept-alive connection; None when it answered 200 and ended with [DONE]."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = head[9:12].decode(errors="replace")
    body = bytearray()
    while True:
        size = int((await reader.readline()).strip(), 16)
        if size == 0:
            await reader.readline()
            break
        body += (await reader.readexactly(size + 2))[:-2]
    if status != "200":
        return f"status {status}"
    if b'data: {"error"' in body:
        return "error event"
    return None if body.endswith(DONE) else "no [DONE]"


async def _load(port: int, concurrency: int, seconds: float, tally: _Tally | None) -> None:
    payload = json.dumps(
        {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "Say sixteen words."}]}
    ).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                problem = await _one(reader, writer, request)
            except (OSError, asyncio.IncompleteReadError, ValueError) as err:
                problem = type(err).__name__
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if tally is None:
                continue
            if problem is None:
                tally.latencies.append(time.perf_counter() - started)
            else:
                tally.error(problem)
        writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _sample_rss(process: psutil.Process, every: float, samples: list[tuple[float, int]]) -> None:
    started = time.perf_counter()
    while True:
        samples.append((time.perf_counter() - started, process.memory_info().rss))
        await asyncio.sleep(every)


async def _measured(port: int, process: psutil.Process, args: argparse.Namespace) -> tuple[_Tally, list, float]:
    tally, samples = _Tally(), []
    sampler = asyncio.create_task(_sample_rss(process, args.seconds / 12, samples))
    started = time.perf_counter()
    await _load(port, args.concurrency, args.seconds, tally)
    elapsed = time.perf_counter() - started
    sampler.cancel()
    return tally, samples, elapsed


# ---- the run --------------------------------------------------------------------------------------------------------


def _mib(value: int) -> str:
    return f"{value / 2**20:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent streaming chats")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before the first RSS reading")
    parser.add_argument("--pieces", type=int, default=16, help="content pieces per streamed answer")
    parser.add_argument("--piece-delay", type=float, default=0.005, help="seconds between the fake's pieces")
    parser.add_argument("--upstream-only", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream_only:
        asyncio.run(_upstream(args.upstream_only, args.pieces, args.piece_delay))
        return 0

    upstream_port, server_port = free_port(), free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    upstream = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--upstream-only",
            str(upstream_port),
            "--pieces",
            str(args.pieces),
            "--piece-delay",
            str(args.piece_delay),
        ],
        env=env,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tunesmith",
            "serve",
            "--ollama",
            f"http://127.0.0.1:{upstream_port}",
            "--port",
            str(server_port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        wait_for(f"http://127.0.0.1:{upstream_port}/api/tags")
        wait_for(f"http://127.0.0.1:{server_port}/health")
        process = psutil.Process(server.pid)
        rss_idle = process.memory_info().rss
        load_before = os.getloadavg()
        asyncio.run(_load(server_port, args.concurrency, args.warmup, None))
        rss_warm = process.memory_info().rss
        tally, samples, elapsed = asyncio.run(_measured(server_port, process, args))
        rss_end = process.memory_info().rss
        load_after = os.getloadavg()
    finally:
        for child in (server, upstream):
            child.terminate()
            child.wait(10)

    done, errors = len(tally.latencies), sum(tally.errors.values())
    print(
        f"machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(
        f"{args.concurrency} concurrent streaming chats for {elapsed:.1f} s after {args.warmup:g} s of warm-up; "
        f"{args.pieces} pieces per answer, {args.piece_delay * 1e3:g} ms apart\n"
    )
    print(
        "| requests | errors | req/s | latency p50 ms | latency p99 ms | RSS idle MiB | RSS after warm-up MiB "
        "| RSS end MiB | RSS peak MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    p50 = percentile(tally.latencies, 50) * 1e3 if done else float("nan")
    p99 = percentile(tally.latencies, 99) * 1e3 if done else float("nan")
    peak = max([rss for _, rss in samples] + [rss_end])
    print(
        f"| {done} | {errors} | {done / elapsed:.0f} | {p50:.1f} | {p99:.1f} | {_mib(rss_idle)} | {_mib(rss_warm)} "
        f"| {_mib(rss_end)} | {_mib(peak)} |"
    )
    print("\nRSS MiB over the run: " + ", ".join(f"{at:.0f} s {_mib(rss)}" for at, rss in samples))
    if errors:
        print(f"errors by kind: {tally.errors}")
    return 1 if errors or not done else 0


if __name__ == "__main__":
    sys.exit(main())
