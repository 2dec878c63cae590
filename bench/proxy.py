"""What tunesmith's server adds over a fast fake Ollama: time to first byte (p50/p99) and requests/s at 1, 16, 64
concurrent streams, each stream read through tunesmith and straight from the upstream, and with --litellm through
LiteLLM's proxy over the same upstream, in the same run. With --rounds N each cell is measured N times, the
targets taking turns, and the rounds pooled: a slow spell on a shared machine then falls on every target. With
--tools, a tool request too (two tools in the request, a tool call in the streamed answer), read directly and through
tunesmith beside the plain chat: what tools add to the proxy's work (checking them, mapping the call and its id).

The fake upstream and the load client are raw asyncio (no HTTP library of their own to slow them), each in its own
process, as are the servers (`tunesmith serve` and `litellm`, one uvicorn worker each). Each proxy gets --warmup
seconds of load at 16 streams before it is measured (LiteLLM's first few hundred requests are slower). Prints
markdown tables; --json PATH writes the results and the ratios (bench/report.py).
Usage: .venv/bin/python bench/proxy.py [--seconds 5] [--rounds 1] [--pieces 8] [--concurrency 1 16 64] [--litellm]
                                      [--tools] [--warmup 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.litellm_proxy import ensure_litellm, litellm_versions, start_litellm, write_config
from bench.net import free_port, percentile, wait_for
from bench.report import limit_row, ratio_row, versions, write_json

MODEL = "bench:latest"
# The project's goals for the proxy: added time to first byte at one stream, and requests/s at 16 streams against
# LiteLLM's proxy run side by side.
ADDED_P50_MS, ADDED_P99_MS, LITELLM_RATE_RATIO = 1.0, 5.0, 10.0
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"Get the {name.split('_')[1]} in a city.",
            "parameters": {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}},
        },
    }
    for name in ("get_weather", "get_time")
]


# ---- the fake Ollama ------------------------------------------------------------------------------------------------


def _ndjson_answer(pieces: int) -> bytes:
    lines = [
        json.dumps(
            {
                "model": MODEL,
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": f" word{i}"},
                "done": False,
            }
        )
        for i in range(pieces)
    ]
    lines.append(
        json.dumps(
            {
                "model": MODEL,
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 12,
                "eval_count": pieces,
            }
        )
    )
    body = b"".join(f"{len(line) + 1:x}\r\n{line}\n\r\n".encode() for line in lines) + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n" + body


def _tool_call_answer() -> bytes:
    """Ollama's stream for a tool call: the call in one line (as Ollama sends parsed calls), then the final line."""
    call = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    lines = [
        json.dumps(
            {
                "model": MODEL,
                "created_at": "2025-01-01T00:00:00Z",
                "done": False,
                "message": {"role": "assistant", "content": "", "tool_calls": [call]},
            }
        ),
        json.dumps(
            {
                "model": MODEL,
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 180,
                "eval_count": 20,
            }
        ),
    ]
    body = b"".join(f"{len(line) + 1:x}\r\n{line}\n\r\n".encode() for line in lines) + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n" + body


def _json_answer(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


async def _upstream(port: int, pieces: int) -> None:
    chat, tool_call = _ndjson_answer(pieces), _tool_call_answer()
    tags = _json_answer(
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
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length) if length else b""
                answer = tool_call if b'"tools"' in body else chat
                writer.write(tags if head.startswith(b"GET /api/tags") else answer)
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
    """`concurrency` connections each sending requests back to back for `seconds`: (times to first byte, seconds)."""
    payload = json.dumps(body).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    ).encode() + payload
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
    return ttfbs, time.perf_counter() - started


def _summary(ttfbs: list[float], seconds: float) -> dict:
    return {
        "ttfb_p50_ms": percentile(ttfbs, 50) * 1e3,
        "ttfb_p99_ms": percentile(ttfbs, 99) * 1e3,
        "requests_per_s": len(ttfbs) / seconds,
        "requests": len(ttfbs),
        "seconds": seconds,
    }


def _added(side: dict, direct: dict) -> tuple[float, float]:
    return side["ttfb_p50_ms"] - direct["ttfb_p50_ms"], side["ttfb_p99_ms"] - direct["ttfb_p99_ms"]


def _rows(cells: list[dict]) -> list[dict]:
    """The ratios and goals of bench/run_all.py's table."""
    rows = []
    for cell in cells:
        streams, direct, ours, litellm = cell["streams"], cell["direct"], cell["tunesmith"], cell.get("litellm")
        added = _added(ours, direct)
        name = f"{streams} stream{'s' if streams > 1 else ''}"
        if litellm:
            goal = LITELLM_RATE_RATIO if streams == 16 else None
            rows.append(
                ratio_row(
                    "proxy",
                    f"requests/s, {name}",
                    "req/s",
                    ours["requests_per_s"],
                    litellm["requests_per_s"],
                    "LiteLLM proxy",
                    "higher",
                    goal,
                )
            )
        their_added = _added(litellm, direct) if litellm else (None, None)
        if streams == 1:
            rows.append(
                limit_row(
                    "proxy",
                    "added TTFB p50, 1 stream",
                    "ms",
                    added[0],
                    ADDED_P50_MS,
                    their_added[0],
                    "LiteLLM proxy" if litellm else None,
                )
            )
            rows.append(
                limit_row(
                    "proxy",
                    "added TTFB p99, 1 stream",
                    "ms",
                    added[1],
                    ADDED_P99_MS,
                    their_added[1],
                    "LiteLLM proxy" if litellm else None,
                )
            )
        elif litellm:
            rows.append(
                ratio_row("proxy", f"added TTFB p50, {name}", "ms", added[0], their_added[0], "LiteLLM proxy", "lower")
            )
        rows.append(
            ratio_row(
                "proxy",
                f"requests/s, {name}",
                "req/s",
                ours["requests_per_s"],
                direct["requests_per_s"],
                "fake Ollama direct",
                "higher",
            )
        )
        if "tunesmith tools" in cell:
            tools_added = _added(cell["tunesmith tools"], cell["direct tools"])
            rows.append(
                ratio_row(
                    "proxy", f"added TTFB p50 with tools, {name}", "ms", tools_added[0], added[0], "plain chat", "lower"
                )
            )
            rows.append(
                ratio_row(
                    "proxy",
                    f"requests/s with tools, {name}",
                    "req/s",
                    cell["tunesmith tools"]["requests_per_s"],
                    ours["requests_per_s"],
                    "plain chat",
                    "higher",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="of load per target, cell and round")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each cell, pooled")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load on each proxy before measuring")
    parser.add_argument("--pieces", type=int, default=8, help="content pieces per streamed answer")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--litellm", action="store_true", help="also measure LiteLLM's proxy, side by side")
    parser.add_argument("--tools", action="store_true", help="also measure a tool request, directly and through us")
    parser.add_argument(
        "--litellm-venv",
        type=Path,
        default=ROOT / ".cache" / "bench" / "litellm-venv",
        help="LiteLLM's own virtual environment, created on first use",
    )
    parser.add_argument("--json", type=Path, help="write the results and ratios here")
    parser.add_argument("--upstream-only", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream_only:
        asyncio.run(_upstream(args.upstream_only, args.pieces))
        return

    upstream_port, proxy_port, litellm_port = free_port(), free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    packages = versions("litestar", "uvicorn", "httptools", "httpx", "ollama")
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--upstream-only", str(upstream_port), "--pieces", str(args.pieces)], env=env
        )
    ]
    try:
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tunesmith",
                    "serve",
                    "--ollama",
                    upstream_url,
                    "--port",
                    str(proxy_port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                cwd=ROOT,
            )
        )
        if args.litellm:
            command = ensure_litellm(args.litellm_venv)
            packages["litellm-venv"] = litellm_versions(args.litellm_venv)
            config = write_config(args.litellm_venv.parent / "litellm-config.yaml", MODEL, upstream_url)
            processes.append(start_litellm(command, config, litellm_port))
        wait_for(f"http://127.0.0.1:{upstream_port}/api/tags")
        wait_for(f"http://127.0.0.1:{proxy_port}/health")
        messages = [{"role": "user", "content": "Say eight words."}]
        direct = ("/api/chat", {"model": MODEL, "messages": messages, "stream": True})
        through = ("/v1/chat/completions", {"model": MODEL, "messages": messages, "stream": True})
        sides = {"tunesmith": proxy_port}
        if args.litellm:
            try:
                wait_for(f"http://127.0.0.1:{litellm_port}/health/liveliness", timeout=180)
            except RuntimeError as err:
                raise RuntimeError(f"LiteLLM's proxy did not start: see {config.with_suffix('.log')}") from err
            sides["litellm"] = litellm_port
        for port in sides.values():  # imports done lazily, pools filled, caches warm
            asyncio.run(_load(port, *through, 16, args.warmup))
        targets = {"direct": (upstream_port, *direct), **{name: (port, *through) for name, port in sides.items()}}
        if args.tools:
            targets["direct tools"] = (upstream_port, direct[0], {**direct[1], "tools": TOOLS})
            targets["tunesmith tools"] = (proxy_port, through[0], {**through[1], "tools": TOOLS})
        cells = []
        for concurrency in args.concurrency:
            runs: dict[str, tuple[list[float], float]] = {name: ([], 0.0) for name in targets}
            for round_ in range(args.rounds):
                # Take turns, so that a slow spell on a shared machine does not always hit the same target.
                names = list(targets)[round_ % len(targets) :] + list(targets)[: round_ % len(targets)]
                for name in names:
                    port, path, body = targets[name]
                    ttfbs, seconds = asyncio.run(_load(port, path, body, concurrency, args.seconds))
                    runs[name] = (runs[name][0] + ttfbs, runs[name][1] + seconds)
            cells.append({"streams": concurrency, **{name: _summary(*run) for name, run in runs.items()}})
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(30)

    print(
        f"{args.pieces} pieces per answer, {args.rounds} x {args.seconds:g} s per target and cell, "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        "| streams | direct TTFB p50 / p99 ms | tunesmith TTFB p50 / p99 ms | added p50 / p99 ms "
        "| direct req/s | tunesmith req/s |"
    )
    print("|---|---|---|---|---|---|")
    for cell in cells:
        d, t = cell["direct"], cell["tunesmith"]
        added = _added(t, d)
        print(
            f"| {cell['streams']} | {d['ttfb_p50_ms']:.2f} / {d['ttfb_p99_ms']:.2f} | {t['ttfb_p50_ms']:.2f} / "
            f"{t['ttfb_p99_ms']:.2f} | {added[0]:.2f} / {added[1]:.2f} | {d['requests_per_s']:.0f} | "
            f"{t['requests_per_s']:.0f} |"
        )
    if args.litellm:
        print(f"\nLiteLLM {packages['litellm-venv']['litellm']} over the same upstream, in the same run\n")
        print(
            "| streams | LiteLLM TTFB p50 / p99 ms | LiteLLM added p50 / p99 ms | LiteLLM req/s "
            "| tunesmith / LiteLLM req/s |"
        )
        print("|---|---|---|---|---|")
        for cell in cells:
            d, t, lite = cell["direct"], cell["tunesmith"], cell["litellm"]
            added = _added(lite, d)
            print(
                f"| {cell['streams']} | {lite['ttfb_p50_ms']:.2f} / {lite['ttfb_p99_ms']:.2f} | {added[0]:.2f} / "
                f"{added[1]:.2f} | {lite['requests_per_s']:.0f} | "
                f"{t['requests_per_s'] / lite['requests_per_s']:.1f}x |"
            )
    if args.tools:
        print("\nA tool request (two tools in, one call out) beside the plain chat, through the same tunesmith\n")
        print(
            "| streams | direct TTFB p50 / p99 ms | tunesmith TTFB p50 / p99 ms | added p50 / p99 ms "
            "| plain chat added p50 / p99 ms | tunesmith req/s | tools / plain req/s |"
        )
        print("|---|---|---|---|---|---|---|")
        for cell in cells:
            d, t = cell["direct tools"], cell["tunesmith tools"]
            added, plain = _added(t, d), _added(cell["tunesmith"], cell["direct"])
            print(
                f"| {cell['streams']} | {d['ttfb_p50_ms']:.2f} / {d['ttfb_p99_ms']:.2f} | {t['ttfb_p50_ms']:.2f} / "
                f"{t['ttfb_p99_ms']:.2f} | {added[0]:.2f} / {added[1]:.2f} | {plain[0]:.2f} / {plain[1]:.2f} | "
                f"{t['requests_per_s']:.0f} | {t['requests_per_s'] / cell['tunesmith']['requests_per_s']:.2f}x |"
            )
    if args.json:
        settings = {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "pieces": args.pieces,
            "concurrency": args.concurrency,
            "litellm": args.litellm,
            "tools": args.tools,
        }
        write_json(args.json, "proxy", settings, cells, _rows(cells), packages)


if __name__ == "__main__":
    main()
