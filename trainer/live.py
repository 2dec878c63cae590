"""The live training display: a rich progress bar with step, loss, eval loss, tokens/s and ETA.

It is a Trainer callback the CLI passes in; library callers who want no display pass none. `TrainingTask` also
reports the steps as one task of a `Progress` (the CLI's JSON lines for a program following it).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from transformers import TrainerCallback

from tunesmith.progress import Advance, Progress

__all__ = ["RichTrainDisplay", "TrainingTask"]


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


class TrainingTask(TrainerCallback):
    """The optimizer steps as a `training` task of `progress` (total: the planned steps), with every event also
    passed on to `display` (another callback, e.g. `RichTrainDisplay`)."""

    def __init__(self, progress: Progress, display: Any = None) -> None:
        self.progress = progress
        self.display = display
        self._task: contextlib.ExitStack | None = None
        self._advance: Advance | None = None
        self._step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._task = contextlib.ExitStack()
        self._advance = self._task.enter_context(self.progress.task("training", total=state.max_steps))
        self._step = 0
        self._to(state.global_step)  # resumed from a checkpoint: the steps done before count
        if self.display is not None:
            self.display.on_train_begin(args, state, control, **kwargs)

    def on_step_end(self, args, state, control, **kwargs):
        self._to(state.global_step)
        if self.display is not None:
            self.display.on_step_end(args, state, control, **kwargs)

    def on_train_end(self, args, state, control, **kwargs):
        if self._task is not None:
            self._task.close()
            self._task = self._advance = None
        if self.display is not None:
            self.display.on_train_end(args, state, control, **kwargs)

    def _to(self, step: int) -> None:
        if self._advance is not None and step > self._step:
            self._advance(step - self._step)
            self._step = step


def _passed_on(event: str) -> Any:
    def on_event(self: TrainingTask, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.display is not None:
            getattr(self.display, event)(args, state, control, **kwargs)

    return on_event


# Every other event goes to the display as it is.
for _event in dir(TrainerCallback):
    if _event.startswith("on_") and _event not in vars(TrainingTask):
        setattr(TrainingTask, _event, _passed_on(_event))
