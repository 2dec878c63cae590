"""metrics.jsonl: one line per training step (loss, lr, grad norm, tokens/s) and per evaluation (eval loss), the
first evaluation at step 0, before training.

Written as the Trainer logs, one flushed line at a time; on resume the lines after the checkpoint's step are cut,
so a re-run never repeats or duplicates a step.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tunesmith.files import write_text_atomic
from tunesmith.trainer.run_status import record_max_steps

__all__ = ["MetricsWriter", "read_metrics", "truncate_metrics"]


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All complete lines of metrics.jsonl (a torn last line from a killed run is ignored)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def truncate_metrics(path: Path, step: int) -> None:
    """Keep only the lines of steps up to `step` (0 removes them all, the evaluation before training included)."""
    kept = [row for row in read_metrics(path) if step and row.get("step", 0) <= step]
    write_text_atomic(path, "".join(json.dumps(row) + "\n" for row in kept))


class MetricsWriter(TrainerCallback):
    """A Trainer callback appending each log event to metrics.jsonl, with tokens/s between train logs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last_time: float | None = None
        self._last_tokens = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._last_time = time.perf_counter()
        self._last_tokens = state.num_input_tokens_seen
        if state.is_world_process_zero and state.max_steps:
            # The planned total, for readers of the run's status (a progress bar of steps).
            record_max_steps(self.path.parent, state.max_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:  # with several processes, rank 0 alone writes the file
            return
        logs = logs or {}
        row: dict[str, Any] = {"step": state.global_step}
        if "eval_loss" in logs:
            row["eval_loss"] = logs["eval_loss"]
            # The next step's tokens/s measures training alone, not the evaluation in between.
            self._last_time = time.perf_counter()
        elif "loss" in logs:
            now = time.perf_counter()
            tokens = state.num_input_tokens_seen
            elapsed = now - (now if self._last_time is None else self._last_time)
            row.update(
                loss=logs["loss"],
                lr=logs.get("learning_rate"),
                grad_norm=logs.get("grad_norm"),
                epoch=logs.get("epoch"),
                tokens_seen=tokens,
                tokens_per_s=round((tokens - self._last_tokens) / elapsed, 1) if elapsed > 0 else None,
            )
            self._last_time, self._last_tokens = now, tokens
        else:
            return
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
