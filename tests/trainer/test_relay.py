"""The relay of a multi-process run: what rank 0 reports reaches the parent's Progress and display, in order, and a
worker that dies mid-way leaves nothing open there."""

from __future__ import annotations

import socket
import time
from contextlib import contextmanager

from transformers import TrainerCallback, TrainerControl, TrainerState

from tests.fixtures.progress import RecordingProgress
from tunesmith.trainer.relay import RelayedProgress, relay_to, relayed_display


class _Events(TrainerCallback):
    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.seen.append(("begin", state.global_step, state.max_steps, state.num_input_tokens_seen))

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.seen.append(("log", state.global_step, logs))

    def on_train_end(self, args, state, control, **kwargs):
        self.seen.append(("end", state.global_step))


@contextmanager
def _worker(address):
    """A worker's side of the relay, as trainer/worker.py opens it."""
    with socket.create_connection(tuple(address)) as connection, connection.makefile("w", encoding="utf-8") as channel:
        yield RelayedProgress(channel)


def test_a_workers_notes_tasks_and_training_reach_the_parents_progress_and_display():
    recorder, events = RecordingProgress(), _Events()
    with relay_to(recorder, events) as address, _worker(address) as progress:
        display = relayed_display(progress)
        progress.note("3 training example(s) are left out")
        with progress.task("Loading base", 4) as advance:
            advance()
            advance(3)
        state = TrainerState(global_step=0, max_steps=8, num_input_tokens_seen=0)
        display.on_train_begin(None, state, TrainerControl())
        state.global_step, state.num_input_tokens_seen = 1, 120
        state.log_history.append({"loss": 2.5, "step": 1})
        display.on_log(None, state, TrainerControl(), logs={"loss": 2.5})
        state.global_step = 8
        display.on_train_end(None, state, TrainerControl())
    assert recorder.notes == ["3 training example(s) are left out"]
    assert recorder.tasks == [{"description": "Loading base", "total": 4, "done": 4}]
    assert events.seen == [("begin", 0, 8, 0), ("log", 1, {"loss": 2.5}), ("end", 8)]


def test_a_worker_that_dies_mid_way_leaves_no_task_or_display_open():
    opened: list[str] = []

    class Tasks(RecordingProgress):
        @contextmanager
        def task(self, description, total=None):
            opened.append(description)
            with super().task(description, total) as advance:
                yield advance
            opened.remove(description)

    events = _Events()
    with relay_to(Tasks(), events) as address, _worker(address) as progress:
        relayed_display(progress).on_train_begin(None, TrainerState(global_step=3, max_steps=8), TrainerControl())
        progress.send({"task": "Loading base", "total": None})  # then the connection drops: no end is sent
    assert opened == []
    assert events.seen == [("begin", 3, 8, 0), ("end", 3)]


def test_a_relay_no_worker_connects_to_ends_with_the_run():
    started = time.monotonic()
    with relay_to(RecordingProgress(), _Events()):
        pass
    assert time.monotonic() - started < 5
