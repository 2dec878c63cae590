"""Small data writers shared by the trainer tests."""

from __future__ import annotations

import csv
import json
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
