"""Training speed and memory on a CUDA GPU: plain transformers + peft, plain unsloth (trl's SFTTrainer, its defaults)
and tunesmith's backends side by side on one random 1.04 B Llama, each side in its own process.

Fixed: batch 4 x 2048 tokens, LoRA r=16 on all linear layers (and QLoRA). Ragged: chat samples of 50-4000 tokens
(log-normal, loss on the reply only); plain transformers pads each batch, unsloth and tunesmith do not. Tokens/s
count real (non-pad) tokens over timed steps after warm-up; peak GiB is torch's peak allocation from loading on;
MFU is 6 x params x tokens/s over the bf16 matmul rate measured here, and again with the causal attention's FLOPs.

    python bench/train_gpu.py --out DIR            # on the GPU machine (see shared/device/README.md)
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gpu_models import BATCH, attention_flops_per_token, build, data
from bench.gpu_sides import LABELS, LORA, SIDES

CASES = ["lora-fixed", "qlora-fixed", "lora-ragged"]
DEFAULT_SIDES = "hf,unsloth,tunesmith"


def _side(ns: argparse.Namespace) -> None:
    """One process: each case of one side, memory statistics reset before each load."""
    import torch

    results = []
    for case in ns.cases.split(","):
        method, kind = case.split("-")
        steps = ns.steps if kind == "fixed" else ns.ragged_steps
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        extra = {}
        if ns.profile and ns.role.startswith("tunesmith"):
            extra["profile"] = Path(ns.out) / f"profile-{ns.role}-{case}.txt"
        result = SIDES[ns.role](
            Path(ns.model), method, data(kind, steps), steps, ns.warmup, Path(ns.out) / f"{ns.role}-{case}",
            not ns.no_checkpointing, **extra,
        )  # fmt: skip
        results.append(
            {
                "side": ns.role,
                "method": method,
                "data": kind,
                **result,
                "attention_flops_per_token": attention_flops_per_token(kind, steps),
                "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
                "wall": time.perf_counter() - started,
            }
        )
        print(json.dumps(results[-1]), flush=True)
        gc.collect()
        torch.cuda.empty_cache()
    (Path(ns.out) / f"{ns.role}.json").write_text(json.dumps(results))


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "peft", "trl", "unsloth", "unsloth_zoo", "bitsandbytes", "accelerate"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["build", *SIDES])
    parser.add_argument("--out", required=True, help="folder for the model, logs and results.json")
    parser.add_argument("--model", help="the model folder (set by the parent)")
    parser.add_argument("--steps", type=int, default=25, help="steps of the fixed-length cases")
    parser.add_argument("--ragged-steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--sides", default=DEFAULT_SIDES, help=f"comma-separated, of: {', '.join(SIDES)}")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument(
        "--profile", action="store_true", help="torch.profiler over steps 3-4 of tunesmith's sides: profile-*.txt"
    )
    parser.add_argument(
        "--no-checkpointing",
        action="store_true",
        help="every side trains without gradient checkpointing (more memory, no recomputation)",
    )
    ns = parser.parse_args()
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    if ns.role == "build":
        (out / "build.json").write_text(json.dumps(build(Path(ns.model))))
        return
    if ns.role:
        _side(ns)
        return
    model = Path(ns.model or out / "model")
    passed = ["--steps", str(ns.steps), "--ragged-steps", str(ns.ragged_steps), "--warmup", str(ns.warmup)]
    passed += ["--cases", ns.cases] + ["--profile"] * ns.profile + ["--no-checkpointing"] * ns.no_checkpointing
    base = [sys.executable, __file__, "--out", str(out), "--model", str(model), *passed]
    if not (model / "config.json").exists():
        subprocess.run(base + ["--role", "build"], check=True)
    built = json.loads((out / "build.json").read_text())
    results = []
    for side in ns.sides.split(","):
        done = subprocess.run(base + ["--role", side], check=False)
        if done.returncode == 0:
            results += json.loads((out / f"{side}.json").read_text())
        else:
            print(f"{side} failed with exit code {done.returncode}", flush=True)
    summary = {
        "device": built,
        "versions": _versions(),
        "lora": LORA,
        "batch": BATCH,
        "gradient_checkpointing": not ns.no_checkpointing,
        "results": results,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    print(_table(summary))


def _table(summary: dict) -> str:
    built = summary["device"]
    rate = built["peak_tflops"] * 1e12
    lines = [
        (
            f"{built['gpu']}, measured bf16 matmul peak {built['peak_tflops']:.0f} TFLOP/s; model "
            f"{built['params'] / 1e9:.3f} B params; gradient checkpointing "
            f"{'on' if summary['gradient_checkpointing'] else 'off'}; versions {summary['versions']}"
        ),
        "| case | side | real tokens/s | vs unsloth | vs transformers | ragged / fixed | MFU | MFU with attention"
        + " | peak GiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by = {(r["method"], r["data"], r["side"]): r for r in summary["results"]}
    for case in CASES:
        method, kind = case.split("-")
        for side in SIDES:
            row = by.get((method, kind, side))
            if row is None:
                continue
            fast, plain, fixed = (by.get((method, of_kind, name)) for of_kind, name in
                                  ((kind, "unsloth"), (kind, "hf"), ("fixed", side)))  # fmt: skip
            ratio = lambda other, row=row: f"{row['tokens_per_s'] / other['tokens_per_s']:.2f}x" if other else "-"
            speed, model_flops = row["tokens_per_s"], 6 * built["params"]
            mfu, with_attention = (
                speed * model_flops / rate,
                speed * (model_flops + row["attention_flops_per_token"]) / rate,
            )
            lines.append(
                f"| {method} {kind} | {LABELS[side]} | {speed:.0f} | {ratio(fast)} | {ratio(plain)} "
                f"| {ratio(fixed) if kind == 'ragged' else '-'} | {mfu:.1%} | {with_attention:.1%} "
                f"| {row['peak_gib']:.2f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
