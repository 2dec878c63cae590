"""The load client of bench/proxy.py: raw asyncio on kept-alive HTTP/1.1 connections, no HTTP library of its own to
slow it, the same for every target (the fake Ollama read directly, tunesmith, LiteLLM).

Each request's latency is taken where a client starts to have its answer: the first body chunk of a streamed
(chunked) answer, the whole body of a whole (content-length) one. Every answer is read to its end either way.
"""

from __future__ import annotations

import asyncio
import json
import time

from bench.net import percentile

__all__ = ["load", "summary"]


def _request(path: str, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> float:
    """Send one request, read the whole answer; return its latency (first chunk, or the whole fixed-length body)."""
    started = time.perf_counter()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    lowered = head.lower()
    at = lowered.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lowered.find(b"\r\n", at + 2)
        await reader.readexactly(int(lowered[at + 17 : end if end >= 0 else len(lowered)]))
        return time.perf_counter() - started
    first = None
    while True:
        size = int((await reader.readline()).strip(), 16)
        if size == 0:
            await reader.readline()
            return first if first is not None else time.perf_counter() - started
        await reader.readexactly(size + 2)
        if first is None:
            first = time.perf_counter() - started


async def load(port: int, path: str, body: dict, concurrency: int, seconds: float) -> tuple[list[float], float]:
    """`concurrency` connections each sending requests back to back for `seconds`: (latencies, seconds taken)."""
    request = _request(path, body)
    latencies: list[float] = []
    stop_at = 0.0

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _one(reader, writer, request)  # warm the connection
        while time.perf_counter() < stop_at:
            latencies.append(await _one(reader, writer, request))
        writer.close()

    stop_at = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


def summary(latencies: list[float], seconds: float) -> dict:
    """p50 and p99 latency in milliseconds, and requests per second."""
    return {
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
        "requests_per_s": len(latencies) / seconds,
        "requests": len(latencies),
        "seconds": seconds,
    }
