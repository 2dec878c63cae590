"""Small data writers shared by the trainer tests."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

QA = [(f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}.") for a in range(12) for b in range(5)]


def write_qa_csv(path: Path, rows=QA, header=("Question", "Answer")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def has_complete_checkpoint(run: Path) -> bool:
    """Whether a checkpoint of the run under `run` is complete (its trainer_state.json is written last)."""
    return any((c / "trainer_state.json").is_file() for c in (run / "checkpoints").glob("checkpoint-*"))


def train_command(base: Path, data: Path, out: Path, *, steps: int, **settings: object) -> list[str]:
    """`tunesmith train` as a user runs it, in a child process: `steps` optimizer steps, every evaluation kept (no
    early stop), and each of `settings` as `--set train.KEY=VALUE`."""
    command = [sys.executable, "-m", "tunesmith", "train", "--base", str(base), "--data", str(data)]
    command += ["--output-dir", str(out), "--max-steps", str(steps), "--set", "train.early_stopping_patience=0"]
    for key, value in settings.items():
        command += ["--set", f"train.{key}={value}"]
    return command
