"""What tunesmith's server adds over a fast fake Ollama: time to first byte (p50/p99) and requests/s at 1, 16, 64
concurrent streams, each stream read through tunesmith and straight from the upstream.

The fake upstream and the load client are raw asyncio (no HTTP library of their own to slow them), each in its own
process, as is the server (`tunesmith serve`, uvicorn). Prints a markdown table; anchor: LiteLLM's proxy over the
same kind of upstream added 17 ms p50 and served about 60 requests/s at 16 concurrent streams on this machine.
Usage: .venv/bin/python bench/proxy.py [--seconds 5] [--pieces 8] [--concurrency 1 16 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "bench:latest"


# ---- the fake Ollama ------------------------------------------------------------------------------------------------

def _ndjson_answer(pieces: int) -> bytes:
    lines = [json.dumps({"model": MODEL, "created_at": "2025-01-01T00:00:00Z",
                         "message": {"role": "assistant", "content": f" word{i}"}, "done": False})
             for i in range(pieces)]
    lines.append(json.dumps({"model": MODEL, "created_at": "2025-01-01T00:00:00Z",
                             "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
                             "prompt_eval_count": 12, "eval_count": pieces}))
    body = b"".join(f"{len(line) + 1:x}\r\n{line}\n\r\n".encode() for line in lines) + b"0\r\n\r\n"
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n" + body)


def _json_answer(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


async def _upstream(port: int, pieces: int) -> None:
    chat = _ndjson_answer(pieces)
    tags = _json_answer({"models": [{"name": MODEL, "model": MODEL, "modified_at": "2025-01-01T00:00:00Z",
                                     "size": 1, "digest": "0" * 64, "details": {}}]})

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                writer.write(tags if head.startswith(b"GET /api/tags") else chat)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


# ---- the load client ------------------------------------------------------------------------------------------------

async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> float:
    """Send one request on a kept-alive connection, read the whole chunked answer; return time to first byte."""
    started = time.perf_counter()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    first = None
    while True:
        size = int((await reader.readline()).strip(), 16)
        if size == 0:
            await reader.readline()
            return first if first is not None else time.perf_counter() - started
        await reader.readexactly(size + 2)
        if first is None:
            first = time.perf_counter() - started


async def _load(port: int, path: str, body: dict, concurrency: int, seconds: float) -> tuple[list[float], float]:
    payload = json.dumps(body).encode()
    request = (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
               f"content-length: {len(payload)}\r\n\r\n").encode() + payload
    ttfbs: list[float] = []
    stop_at = 0.0

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _one(reader, writer, request)  # warm the connection
        while time.perf_counter() < stop_at:
            ttfbs.append(await _one(reader, writer, request))
        writer.close()

    stop_at = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ttfbs, len(ttfbs) / (time.perf_counter() - started)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, path: str, timeout: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered on port {port}")


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pieces", type=int, default=8, help="content pieces per streamed answer")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--upstream-only", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream_only:
        asyncio.run(_upstream(args.upstream_only, args.pieces))
        return

    upstream_port, proxy_port = _free_port(), _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    upstream = subprocess.Popen([sys.executable, __file__, "--upstream-only", str(upstream_port),
                                 "--pieces", str(args.pieces)], env=env)
    proxy = subprocess.Popen([sys.executable, "-m", "tunesmith", "serve", "--ollama",
                              f"http://127.0.0.1:{upstream_port}", "--port", str(proxy_port), "--log-level",
                              "warning"], env=env, cwd=ROOT)
    try:
        _wait_for(upstream_port, "/api/tags")
        _wait_for(proxy_port, "/health")
        messages = [{"role": "user", "content": "Say eight words."}]
        direct = ("/api/chat", {"model": MODEL, "messages": messages, "stream": True})
        through = ("/v1/chat/completions", {"model": MODEL, "messages": messages, "stream": True})
        print(f"{args.pieces} pieces per answer, {args.seconds:g} s per cell, {os.cpu_count()} CPUs\n")
        print("| streams | direct TTFB p50 / p99 ms | tunesmith TTFB p50 / p99 ms | added p50 / p99 ms "
              "| direct req/s | tunesmith req/s |")
        print("|---|---|---|---|---|---|")
        for concurrency in args.concurrency:
            d_ttfb, d_rate = asyncio.run(_load(upstream_port, *direct, concurrency, args.seconds))
            t_ttfb, t_rate = asyncio.run(_load(proxy_port, *through, concurrency, args.seconds))
            d50, d99 = _percentile(d_ttfb, 50) * 1e3, _percentile(d_ttfb, 99) * 1e3
            t50, t99 = _percentile(t_ttfb, 50) * 1e3, _percentile(t_ttfb, 99) * 1e3
            print(f"| {concurrency} | {d50:.2f} / {d99:.2f} | {t50:.2f} / {t99:.2f} | {t50 - d50:.2f} / "
                  f"{t99 - d99:.2f} | {d_rate:.0f} | {t_rate:.0f} |", flush=True)
    finally:
        for process in (proxy, upstream):
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
