"""What a training worker would show, shown by the process that started it, on the `Progress` and display that
process was given.

A worker of a multi-process run (trainer/worker.py) has no reporter of its own: rank 0 sends its notes, tasks and the
Trainer's callback events as JSON lines over a local socket, and `relay_to` replays them in the parent. Hand-written
because a `Progress` (a rich console, a test's recorder) cannot cross into another process, while these few events
can.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from tunesmith.progress import Advance, Progress

__all__ = ["RelayedProgress", "relay_to", "relayed_display"]

# The callback arguments that cross besides the state (the model, optimizer, ... stay in the worker).
_EVENT_DATA = ("logs", "metrics")


class RelayedProgress:
    """The worker's `Progress`: every task, advance and note goes to the parent."""

    def __init__(self, channel: TextIO) -> None:
        self._channel = channel

    def send(self, message: dict[str, Any]) -> None:
        self._channel.write(json.dumps(message) + "\n")
        self._channel.flush()

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Advance]:
        self.send({"task": description, "total": total})

        def advance(amount: float = 1.0) -> None:
            self.send({"advance": amount})

        try:
            yield advance
        finally:
            self.send({"end": True})

    def note(self, message: str) -> None:
        self.send({"note": message})


def relayed_display(progress: RelayedProgress) -> Any:
    """A Trainer callback that sends each event, with the state's counters and the logs, to the parent's display."""
    from transformers import TrainerCallback

    def forward(event: str) -> Callable[..., None]:
        def on_event(self: Any, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            progress.send(
                {
                    "event": event,
                    "state": _counters(state),
                    **{key: kwargs[key] for key in _EVENT_DATA if kwargs.get(key) is not None},
                }
            )

        return on_event

    events = {name: forward(name) for name in dir(TrainerCallback) if name.startswith("on_")}
    return type("RelayedDisplay", (TrainerCallback,), events)()


def _counters(state: Any) -> dict[str, Any]:
    """The state's plain values (the step, max_steps, tokens seen, ...); the log history is left behind."""
    return {
        field.name: getattr(state, field.name)
        for field in dataclasses.fields(state)
        if isinstance(getattr(state, field.name), (int, float, str, bool, type(None)))
    }


@contextlib.contextmanager
def relay_to(progress: Progress, display: Any = None) -> Iterator[tuple[str, int]]:
    """Listen on a local port for one worker; while the context is open, replay what it sends on `progress` and
    `display` (a Trainer callback, called with `args=None`). Yields the address the worker connects to."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.2)
        stop = threading.Event()
        failures: list[BaseException] = []

        def serve() -> None:
            while True:
                try:
                    connection, _ = server.accept()
                except TimeoutError:
                    if stop.is_set():  # the workers are gone and none connected
                        return
                    continue
                with connection, connection.makefile("r", encoding="utf-8") as lines:
                    try:
                        _replay(lines, progress, display)
                    except BaseException as err:  # noqa: BLE001 (raised again in the caller's thread)
                        failures.append(err)
                        for _ in lines:  # a worker whose lines go unread would block on a full socket
                            pass
                return

        thread = threading.Thread(target=serve, name="tunesmith-relay", daemon=True)
        thread.start()
        try:
            yield server.getsockname()[:2]
        except BaseException:
            stop.set()
            thread.join(timeout=5)
            raise
        stop.set()
        thread.join()  # the workers have exited: their last lines are read at once
        if failures:
            raise failures[0]


def _replay(lines: TextIO, progress: Progress, display: Any) -> None:
    from transformers import TrainerControl, TrainerState

    tasks: list[tuple[contextlib.ExitStack, Advance]] = []
    state: Any = None
    showing = False
    try:
        for line in lines:
            message = json.loads(line)
            if "note" in message:
                progress.note(message["note"])
            elif "task" in message:
                stack = contextlib.ExitStack()
                tasks.append((stack, stack.enter_context(progress.task(message["task"], message["total"]))))
            elif "advance" in message:
                tasks[-1][1](message["advance"])
            elif "end" in message:
                tasks.pop()[0].close()
            elif display is not None:
                state = TrainerState(**message["state"])
                event = message["event"]
                showing = event != "on_train_end" and (showing or event == "on_train_begin")
                getattr(display, event)(
                    None, state, TrainerControl(), **{key: message[key] for key in _EVENT_DATA if key in message}
                )
    finally:
        # A worker that died mid-way sent no ends: close what it opened, as its own exit would have.
        while tasks:
            tasks.pop()[0].close()
        if showing:
            display.on_train_end(None, state, TrainerControl())
