"""What tunesmith's server adds over a fast fake Ollama, for streamed and whole (non-streamed) chats: latency p50/p99
and requests/s at 1, 16, 64 concurrent clients, each mode read through tunesmith and straight from the upstream, and
with --litellm through LiteLLM's proxy over the same upstream, in the same run, by the same client. With --rounds N
each cell is measured N times, the targets taking turns, and the rounds pooled: a slow spell on a shared machine
then falls on every target. With --tools, a tool request too (two tools in the request, a tool call in the streamed
answer), read directly and through tunesmith: what tools add to the proxy's work.

The fake upstream (bench/fake_ollama.py) and the load client (bench/load_client.py) are raw asyncio, each in its
own process, as are the servers (`tunesmith serve` and `litellm`, one uvicorn worker each). Each proxy gets --warmup
seconds of load at 16 clients before it is measured (LiteLLM's first few hundred requests are slower). The fake's
CPU time is read around every measurement, to show it is never what limits a proxy. Prints markdown tables
(bench/proxy_tables.py); --json PATH writes the results and the ratios (bench/report.py).
With --against REV, tunesmith as of that git revision runs beside the working tree's (bench/checkout.py).
Usage: .venv/bin/python bench/proxy.py [--seconds 5] [--rounds 1] [--pieces 8] [--concurrency 1 16 64]
                                      [--modes stream whole] [--litellm] [--tools] [--against REV] [--warmup 5]
                                      [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.checkout import checkout
from bench.fake_ollama import MODEL
from bench.litellm_proxy import ensure_litellm, litellm_versions, start_litellm, write_config
from bench.load_client import load, summary
from bench.net import free_port, wait_for
from bench.proxy_tables import print_tables, rows
from bench.report import versions, write_json

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
MESSAGES = [{"role": "user", "content": "Say eight words."}]


def _targets(ports: dict[str, int], modes: list[str]) -> dict[str, tuple[int, str, dict]]:
    """`"<side> <mode>"` -> (port, path, body): each mode read directly and through each proxy."""
    bodies = {
        "stream": {"model": MODEL, "messages": MESSAGES, "stream": True},
        "whole": {"model": MODEL, "messages": MESSAGES, "stream": False},
        "tools": {"model": MODEL, "messages": MESSAGES, "stream": True, "tools": TOOLS},
    }
    targets = {}
    for mode in modes:
        for side, port in ports.items():
            if mode == "tools" and side == "litellm":
                continue
            path = "/api/chat" if side == "direct" else "/v1/chat/completions"
            targets[f"{side} {mode}"] = (port, path, bodies[mode])
    return targets


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _measure(targets: dict, concurrency: int, args: argparse.Namespace, fake: psutil.Process) -> dict:
    """One cell: every target measured `args.rounds` times, in turns, pooled."""
    runs: dict[str, list] = {name: [[], 0.0, 0.0] for name in targets}
    names = list(targets)
    for round_ in range(args.rounds):
        # Take turns, so that a slow spell on a shared machine does not always hit the same target.
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            cpu = _cpu_seconds(fake)
            latencies, seconds = asyncio.run(load(*targets[name], concurrency, args.seconds))
            run = runs[name]
            run[0] += latencies
            run[1] += seconds
            run[2] += _cpu_seconds(fake) - cpu
    cell: dict = {"clients": concurrency}
    for name, (latencies, seconds, cpu) in runs.items():
        cell[name] = {**summary(latencies, seconds), "fake_cpu_share": cpu / seconds}
    return cell


def _tunesmith(upstream_url: str, port: int, env: dict) -> subprocess.Popen:
    command = ["-m", "tunesmith", "serve", "--ollama", upstream_url, "--port", str(port), "--log-level", "warning"]
    # An empty working directory: a runs/ folder in the repository's would add the runs' packages to the server.
    cwd = ROOT / ".cache" / "bench" / "serve"
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, *command], env=env, cwd=cwd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="of load per target, cell and round")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each cell, pooled")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load on each proxy before measuring")
    parser.add_argument("--pieces", type=int, default=8, help="content pieces per answer")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--modes", nargs="+", choices=["stream", "whole"], default=["stream", "whole"])
    parser.add_argument("--litellm", action="store_true", help="also measure LiteLLM's proxy, side by side")
    parser.add_argument("--tools", action="store_true", help="also measure a tool request, directly and through us")
    parser.add_argument("--against", metavar="REV", help="also measure tunesmith as of this git revision, side by side")
    parser.add_argument(
        "--litellm-venv",
        type=Path,
        default=ROOT / ".cache" / "bench" / "litellm-venv",
        help="LiteLLM's own virtual environment, created on first use",
    )
    parser.add_argument("--json", type=Path, help="write the results and ratios here")
    args = parser.parse_args()
    modes = args.modes + (["tools"] if args.tools else [])

    upstream_port, proxy_port, litellm_port, against_port = free_port(), free_port(), free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    packages = versions("litestar", "uvicorn", "httptools", "httpx", "ollama", "msgspec")
    load_before = os.getloadavg()
    fake_command = [sys.executable, str(ROOT / "bench" / "fake_ollama.py"), str(upstream_port), "--pieces"]
    processes = [subprocess.Popen([*fake_command, str(args.pieces)], env=env)]
    try:
        wait_for(f"{upstream_url}/api/tags", processes[0])
        processes.append(_tunesmith(upstream_url, proxy_port, env))
        ports = {"direct": upstream_port, "tunesmith": proxy_port}
        if args.against:
            commit, path = checkout(args.against, ROOT)
            processes.append(_tunesmith(upstream_url, against_port, {**env, "PYTHONPATH": str(path)}))
            wait_for(f"http://127.0.0.1:{against_port}/health", processes[-1])
            ports[f"tunesmith@{commit}"] = against_port
        if args.litellm:
            command = ensure_litellm(args.litellm_venv)
            packages["litellm-venv"] = litellm_versions(args.litellm_venv)
            config = write_config(args.litellm_venv.parent / "litellm-config.yaml", MODEL, upstream_url)
            processes.append(start_litellm(command, config, litellm_port))
        wait_for(f"http://127.0.0.1:{proxy_port}/health", processes[1])
        if args.litellm:
            try:
                wait_for(f"http://127.0.0.1:{litellm_port}/health/liveliness", processes[-1], timeout=180)
            except RuntimeError as err:
                raise RuntimeError(f"LiteLLM's proxy did not start: see {config.with_suffix('.log')}") from err
            ports["litellm"] = litellm_port
        targets = _targets(ports, modes)
        for name, target in targets.items():  # imports done lazily, pools filled, caches warm
            if not name.startswith("direct"):
                asyncio.run(load(*target, 16, args.warmup / len(modes)))
        fake = psutil.Process(processes[0].pid)
        cells = [_measure(targets, concurrency, args, fake) for concurrency in args.concurrency]
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(30)
    load_after = os.getloadavg()

    sides = [side for side in ports if side != "direct"]
    print(
        f"{args.pieces} pieces per answer, {args.rounds} x {args.seconds:g} s per target and cell, "
        f"{os.cpu_count()} CPUs; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    if args.litellm:
        print(f"LiteLLM {packages['litellm-venv']['litellm']} over the same upstream, in the same run")
    print_tables(cells, modes, sides)
    if args.json:
        settings = {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "pieces": args.pieces,
            "concurrency": args.concurrency,
            "modes": modes,
            "litellm": args.litellm,
            "against": args.against,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        }
        write_json(args.json, "proxy", settings, cells, rows(cells, modes), packages)


if __name__ == "__main__":
    main()
