"""Tokens per second of the embedded backend (`tunesmith serve --model`) against llama-cpp-python's own server on the
same GGUF, with the same threads, context and greedy sampling; requests alternate between the two to share the noise.

Each server runs in its own process; the client sends raw completions that never end early (counting numbers, greedy)
and divides the completion tokens each server reports by the wall time of the request. --json PATH writes the results
and the ratio (bench/report.py).
Usage: .venv/bin/python bench/embedded.py [--requests 6] [--tokens 200] [--threads 2] [--gguf PATH] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.net import free_port, wait_for
from bench.report import ratio_row, versions, write_json

# The project's goal: the embedded backend keeps at least this share of llama-cpp-python's own server's tokens/s.
RATIO_GOAL = 0.95
PROMPT = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"
# Ollama's defaults, greedy: what the package's Modelfile gives the embedded backend, sent to the reference as well.
SAMPLING = {"temperature": 0.0, "top_k": 40, "top_p": 0.9, "min_p": 0.0, "repeat_penalty": 1.1}


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def _package(gguf: Path, folder: Path, n_ctx: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "bench-Q4_1.gguf"
    if not target.exists():
        try:
            os.link(gguf, target)
        except OSError:
            target.write_bytes(gguf.read_bytes())
    parameters = "".join(f"PARAMETER {name} {value}\n" for name, value in SAMPLING.items())
    (folder / "Modelfile").write_text(f"FROM ./{target.name}\n{parameters}PARAMETER num_ctx {n_ctx}\n")
    return folder


def _rate(base: str, model: str, tokens: int, reference: bool) -> float:
    body = {"model": model, "prompt": PROMPT, "max_tokens": tokens}
    if reference:
        body.update(SAMPLING)
    started = time.perf_counter()
    answer = _post(f"{base}/v1/completions", body)
    elapsed = time.perf_counter() - started
    return answer["usage"]["completion_tokens"] / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=6, help="requests per server (after one warm-up each)")
    parser.add_argument("--tokens", type=int, default=200, help="completion tokens per request")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--gguf", type=Path, default=None, help="default: the embedded SmolLM2-135M-Instruct Q4_1")
    parser.add_argument("--json", type=Path, help="write the results and the ratio here")
    args = parser.parse_args()
    if args.gguf is None:
        from tunesmith.embedded_base import embedded_gguf_path

        args.gguf = embedded_gguf_path()

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ours_port, ref_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as work:
        package = _package(args.gguf, Path(work) / "package", args.ctx)
        ours = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tunesmith",
                "serve",
                "--model",
                str(package),
                "--port",
                str(ours_port),
                "--threads",
                str(args.threads),
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
        )
        reference = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(args.gguf),
                "--port",
                str(ref_port),
                "--n_threads",
                str(args.threads),
                "--n_threads_batch",
                str(args.threads),
                "--n_ctx",
                str(args.ctx),
                "--verbose",
                "False",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(f"http://127.0.0.1:{ours_port}/health", ours, timeout=180)
            wait_for(f"http://127.0.0.1:{ref_port}/v1/models", reference, timeout=180)
            targets = {
                "tunesmith": (f"http://127.0.0.1:{ours_port}", "bench", False),
                "llama-cpp-python": (f"http://127.0.0.1:{ref_port}", str(args.gguf), True),
            }
            rates: dict[str, list[float]] = {name: [] for name in targets}
            for base, model, is_reference in targets.values():
                _rate(base, model, 16, is_reference)  # warm-up
            for _ in range(args.requests):
                for name, (base, model, is_reference) in targets.items():
                    rates[name].append(_rate(base, model, args.tokens, is_reference))
        finally:
            for process in (ours, reference):
                process.terminate()
                process.wait(30)
    ours_median = statistics.median(rates["tunesmith"])
    ref_median = statistics.median(rates["llama-cpp-python"])
    print(
        f"{args.gguf.name}, {args.tokens} tokens per request, {args.requests} requests each, "
        f"{args.threads} threads, {os.cpu_count()} CPUs\n"
    )
    print("| server | tokens/s median | min | max |")
    print("|---|---|---|---|")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |")
    print(f"\nratio tunesmith / llama-cpp-python: {ours_median / ref_median:.3f}")
    if args.json:
        settings = {
            "gguf": args.gguf.name,
            "requests": args.requests,
            "tokens": args.tokens,
            "threads": args.threads,
            "ctx": args.ctx,
        }
        row = ratio_row(
            "embedded",
            f"tokens/s median, {args.threads} thread{'s' if args.threads > 1 else ''}",
            "tok/s",
            ours_median,
            ref_median,
            "llama-cpp-python server",
            "higher",
            RATIO_GOAL,
        )
        write_json(args.json, "embedded", settings, rates, [row], versions("llama-cpp-python", "litestar", "uvicorn"))


if __name__ == "__main__":
    main()
