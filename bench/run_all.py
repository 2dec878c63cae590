"""Every bench that needs no GPU, each against its anchor run side by side, with sizes that finish in about ten
minutes on a 2-vCPU machine; then one table of the ratios they report.

Each bench runs in its own process and prints its own tables as it goes; it writes its results with --json into the
output folder (default .cache/bench/results/<UTC time>/), beside which this script writes summary.json and table.md.
A bench that fails is reported as failed and the others still run.
Usage: .venv/bin/python bench/run_all.py [--only convert train_cpu proxy embedded] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import machine

# Name -> the bench's command line (after the interpreter) and the environment it adds.
BENCHES: dict[str, tuple[list[str], dict[str, str]]] = {
    # llama.cpp's converter and ours, each followed by the same Q4_K_M quantize, on the embedded 135M model.
    "convert": (["bench/convert.py", "--skip-1b", "--repeats", "2"], {"OMP_NUM_THREADS": "1"}),
    # `tunesmith train` against a plain trl SFTTrainer script: same LoRA, data, batch and sequence length.
    "train_cpu": (["bench/train_cpu.py", "--steps", "4"], {}),
    # tunesmith's proxy and LiteLLM's over the same fake Ollama, and that Ollama read directly; three rounds in turn.
    "proxy": (
        [
            "bench/proxy.py",
            "--concurrency",
            "1",
            "16",
            "--seconds",
            "4",
            "--rounds",
            "3",
            "--warmup",
            "20",
            "--litellm",
        ],
        {},
    ),
    # The embedded backend against llama-cpp-python's own server; one thread each, as two shared vCPUs cannot
    # give llama.cpp two threads of its own.
    "embedded": (["bench/embedded.py", "--requests", "6", "--tokens", "150", "--threads", "1"], {}),
}


def _number(value: float | str | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def table(rows: list[dict]) -> str:
    """One markdown table of every bench's rows: ours, the anchor's value, the ratio and the goal."""
    lines = [
        "| bench | measure | tunesmith | anchor | anchor's | ratio | goal | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        unit = f" {row['unit']}" if row["unit"] else ""
        ratio = "–" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        anchor_value = "–" if row["anchor"] is None else _number(row["anchor"]) + unit
        lines.append(
            f"| {row['bench']} | {row['measure']} | {_number(row['ours'])}{unit} | "
            f"{row['anchor_name'] or '–'} | {anchor_value} | {ratio} | {row['goal'] or ''} | {met} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), help="run only these benches")
    parser.add_argument("--out", type=Path, help="folder for each bench's JSON, summary.json and table.md")
    args = parser.parse_args()
    started = datetime.now(timezone.utc)
    out = args.out or ROOT / ".cache" / "bench" / "results" / started.strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    before = machine()
    outcomes: dict[str, dict] = {}
    for name in args.only or list(BENCHES):
        command, extra_env = BENCHES[name]
        result = out / f"{name}.json"
        print(f"\n## {name}: {' '.join(command)}\n", flush=True)
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, *command, "--json", str(result)], cwd=ROOT, env={**os.environ, **extra_env}, check=False
        )
        outcome = {"command": command, "seconds": round(time.perf_counter() - began, 1), "exit": done.returncode}
        if done.returncode == 0 and result.exists():
            outcome |= json.loads(result.read_text())
        outcomes[name] = outcome
    after = machine()
    rows = [row for outcome in outcomes.values() for row in outcome.get("rows", [])]
    failed = [name for name, outcome in outcomes.items() if "rows" not in outcome]
    versions = {name: outcome.get("versions", {}) for name, outcome in outcomes.items()}
    head = (
        f"{started:%Y-%m-%d %H:%M} UTC; {before['cpus']} CPUs ({before['cpu']}), {before['memory_gib']} GiB, "
        f"Python {before['python']}; load average {before['load_average'][0]} before, "
        f"{after['load_average'][0]} after (1-minute)"
    )
    took = "; ".join(f"{name} {outcome['seconds']:.0f} s" for name, outcome in outcomes.items())
    text = "\n".join([head, took, "", table(rows)])
    if failed:
        text += "\n\nfailed (see their output above): " + ", ".join(failed)
    print(f"\n## all benches\n\n{text}\n\nversions: {json.dumps(versions)}\nresults in {out}")
    (out / "table.md").write_text(text + "\n")
    (out / "summary.json").write_text(
        json.dumps(
            {
                "started": started.isoformat(timespec="seconds"),
                "machine_before": before,
                "machine_after": after,
                "benches": outcomes,
                "rows": rows,
            },
            indent=2,
        )
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
