"""The live training display: a rich progress bar with step, loss, eval loss, tokens/s and ETA.

It is a Trainer callback the CLI passes in; library callers who want no display pass none.
"""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback

__all__ = ["RichTrainDisplay"]


class RichTrainDisplay(TrainerCallback):
    """Shows the Trainer's progress on a rich console (stderr in the CLI)."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self._bar: Any = None
        self._task: Any = None
        self._last = (0.0, 0)

    def on_train_begin(self, args, state, control, **kwargs):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("[bold]training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("eval {task.fields[eval_loss]}"),
            TextColumn("{task.fields[tokens_per_s]} tok/s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._bar.start()
        self._last = (time.perf_counter(), state.num_input_tokens_seen)
        self._task = self._bar.add_task(
            "training", total=state.max_steps, completed=state.global_step, loss="-", eval_loss="-", tokens_per_s="-"
        )

    def on_step_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            self._bar.update(self._task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._bar is None or not logs:
            return
        fields: dict[str, str] = {}
        now, tokens = time.perf_counter(), state.num_input_tokens_seen
        if "loss" in logs:
            fields["loss"] = f"{logs['loss']:.4f}"
            if now > self._last[0] and tokens > self._last[1]:
                fields["tokens_per_s"] = f"{(tokens - self._last[1]) / (now - self._last[0]):.0f}"
        if "eval_loss" in logs:
            fields["eval_loss"] = f"{logs['eval_loss']:.4f}"
        # Measured from one train log to the next, evaluations left out, as in metrics.jsonl.
        self._last = (now, tokens)
        self._bar.update(self._task, **fields)

    def on_train_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
