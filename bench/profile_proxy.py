"""Where `tunesmith serve --ollama` spends a request: the server under the load of bench/proxy.py (same fake Ollama,
same client), profiled from outside with py-spy (sampling; `pip install py-spy`) or from inside with cProfile
(deterministic, slower, with call counts). Prints the server's CPU time per request, then py-spy's busiest frames
(own time) and the share of samples under each of a few landmarks, or cProfile's functions by time per request.
Usage: .venv/bin/python bench/profile_proxy.py [--mode stream|whole] [--clients 16] [--seconds 10]
                                              [--profiler py-spy|cprofile] [--top 30]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fake_ollama import MODEL
from bench.load_client import load, summary
from bench.net import free_port, wait_for

# Frames whose share of the samples (with everything they call) says where a request's time goes (any of the names:
# revisions before ollama_wire.py sent the upstream request through the `ollama` client).
LANDMARKS: dict[str, str | tuple[str, ...]] = {
    "socket writes (send)": "_SelectorSocketTransport.write",
    "uvicorn's HTTP parsing": "HttpToolsProtocol.data_received",
    "the app (Litestar, with all below)": "Litestar.__call__",
    "the guards": "authorize_connection",
    "the request body into its struct": "to_kwargs",
    "the route handler (with all below)": "create_chat_completion",
    "the upstream request (wire, httpx, pool)": ("/ollama_wire.py", "/upstream_transport.py", "ollama/_client.py"),
    "SSE events": "(tunesmith/server/streaming.py",
    "the response body": "ASGIResponse.__call__",
    "the access log and metrics": "middleware.<locals>.finish",
}


# Frames around the whole server's life (start-up, the event loop's run), not a request's.
_OUTER = ("importlib", "runpy", "click/", "cli.py", "serve.py", "uvicorn/main.py", "uvicorn/server.py", "_compat.py")
_OUTER += ("runners.py", "run_until_complete", "run_forever", "builtins.exec")


def _py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    command = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(command).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy (or use --profiler cprofile)")
    record = [command, "record", "--pid", str(pid), "--rate", "500", "--format", "raw", "--nonblocking"]
    return subprocess.Popen([*record, "-d", str(int(seconds)), "-o", str(out)], stdout=subprocess.DEVNULL)


def _print_py_spy(path: Path, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    under: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, samples = stack.split(";"), int(count)
        total += samples
        own[frames[-1]] += samples
        for name, landmarks in LANDMARKS.items():
            marks = (landmarks,) if isinstance(landmarks, str) else landmarks
            if any(mark in frame for frame in frames for mark in marks):
                under[name] += samples
    print(f"\n{total} samples; the share under each landmark (with what it calls):\n")
    for name in LANDMARKS:
        print(f"  {100 * under[name] / total:5.1f}%  {name}")
    print(f"\nthe {top} frames with the most samples of their own:\n")
    for frame, samples in own.most_common(top):
        print(f"  {100 * samples / total:5.1f}%  {frame}")


def _print_cprofile(path: Path, requests: int, top: int) -> None:
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows = sorted(
        (
            (total / requests * 1e6, own / requests * 1e6, calls / requests, key)
            for key, (_, calls, own, total, _) in stats.items()
        ),
        reverse=True,
    )
    print("\nper request, under cProfile (which slows Python about 3x): cumulative us, own us, calls, function\n")
    shown = 0
    for total, own, calls, (file, line, name) in rows:
        if total < 5 or name == "<module>" or any(outer in f"{file}:{name}" for outer in _OUTER):
            continue
        print(f"  {total:7.0f} {own:6.1f} {calls:5.1f}  {file.split('site-packages/')[-1]}:{line}({name})")
        shown += 1
        if shown == top:
            break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["stream", "whole"], default="whole")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--profiler", choices=["py-spy", "cprofile"], default="py-spy")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tunesmith-profile-"))
    upstream, port = free_port(), free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    fake = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fake_ollama.py"), str(upstream)], env=env)
    profile = workdir / "serve.prof"
    under = ["-m", "cProfile", "-o", str(profile)] if args.profiler == "cprofile" else []
    serve = ["-m", "tunesmith", "serve", "--ollama", f"http://127.0.0.1:{upstream}", "--port", str(port)]
    server = subprocess.Popen([sys.executable, *under, *serve, "--log-level", "warning"], env=env, cwd=workdir)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Say eight words."}]}
    body["stream"] = args.mode == "stream"
    try:
        wait_for(f"http://127.0.0.1:{upstream}/api/tags", fake)
        wait_for(f"http://127.0.0.1:{port}/health", server)
        warm, _ = asyncio.run(load(port, "/v1/chat/completions", body, 16, 3))  # imports, pools, caches
        process = psutil.Process(server.pid)
        cpu = sum(process.cpu_times()[:2])
        spy = _py_spy(server.pid, args.seconds, workdir / "py-spy.txt") if args.profiler == "py-spy" else None
        latencies, seconds = asyncio.run(load(port, "/v1/chat/completions", body, args.clients, args.seconds))
        cpu = sum(process.cpu_times()[:2]) - cpu
        if spy is not None:
            spy.wait(60)
    finally:
        server.send_signal(signal.SIGINT)  # cProfile writes its file as the server exits
        server.wait(60)
        fake.terminate()
        fake.wait(10)
    result = summary(latencies, seconds)
    print(
        f"{args.mode}, {args.clients} clients, {args.profiler}: {result['requests_per_s']:.0f} requests/s, "
        f"p50 {result['p50_ms']:.2f} ms, server CPU {cpu / len(latencies) * 1e6:.0f} us per request"
    )
    if args.profiler == "py-spy":
        _print_py_spy(workdir / "py-spy.txt", args.top)
    else:
        # cProfile saw every request: the warm-up's and each connection's first, uncounted one, too.
        _print_cprofile(profile, len(warm) + 16 + len(latencies) + args.clients, args.top)


if __name__ == "__main__":
    main()
