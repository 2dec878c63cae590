"""Progress reporting for long steps, kept apart from the work itself.

Library code takes a `Progress` and calls `progress.task(...)`; the CLI passes a rich-backed one, tests and library
users get `SILENT`; `quiet_libraries` keeps the training libraries' own bars out of it, in every process that trains.
`JsonLinesProgress` writes the same tasks and notes as JSON lines for a program that started the CLI (the server's
jobs). This module imports nothing of ours, so every room may use it.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Protocol, TextIO

__all__ = ["SILENT", "Advance", "JsonLinesProgress", "Progress", "RichProgress", "TeeProgress", "quiet_libraries"]

Advance = Callable[[float], None]


class Progress(Protocol):
    """Something that shows how far a step has come."""

    def task(self, description: str, total: float | None = None) -> contextlib.AbstractContextManager[Advance]:
        """Open a task; the context yields `advance(amount)`. `total=None` shows a spinner."""
        ...

    def note(self, message: str) -> None:
        """Say something the user should see (a choice made for them, a warning)."""
        ...


class _Silent:
    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Advance]:
        def advance(amount: float = 1.0) -> None:
            return None

        yield advance

    def note(self, message: str) -> None:
        return None


SILENT: Progress = _Silent()


class RichProgress:
    """Progress bars and notes on a rich console (stderr by default, so stdout stays for results)."""

    def __init__(self, console=None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Advance]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as _RichBar,
        )

        columns = [SpinnerColumn(), TextColumn("[bold]{task.description}")]
        if total is not None:
            columns += [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
        columns.append(TimeElapsedColumn())
        with _RichBar(*columns, console=self.console, transient=False) as bar:
            task_id = bar.add_task(description, total=total)

            def advance(amount: float = 1.0) -> None:
                bar.advance(task_id, amount)

            yield advance
            if total is not None:
                bar.update(task_id, completed=total)

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]•[/yellow] {message}")


class JsonLinesProgress:
    """Every task and note as one JSON line on `stream`, flushed at once, for a program following the command:

        {"step": 0, "name": "Reading data sources", "total": 2}   a task opened (steps are numbered from 0)
        {"step": 0, "advance": 1}                                  it advanced
        {"step": 0, "status": "done"}                              it ended ("failed" when an error left it)
        {"note": "data: 48 training and 12 validation rows"}       a note, rich markup removed

    Tasks may be open side by side (uploads in parallel), so every line names its step.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._steps = 0

    def _write(self, line: dict) -> None:
        with self._lock:
            self._stream.write(json.dumps(line) + "\n")
            self._stream.flush()

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Advance]:
        with self._lock:
            step, self._steps = self._steps, self._steps + 1
        self._write({"step": step, "name": _plain(description), "total": total})

        def advance(amount: float = 1.0) -> None:
            self._write({"step": step, "advance": amount})

        try:
            yield advance
        except BaseException:
            self._write({"step": step, "status": "failed"})
            raise
        self._write({"step": step, "status": "done"})

    def note(self, message: str) -> None:
        self._write({"note": _plain(message)})


class TeeProgress:
    """Reports every task and note to each of several `Progress`es (the terminal and a JSON lines file)."""

    def __init__(self, *progresses: Progress) -> None:
        self._progresses = progresses

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Advance]:
        with contextlib.ExitStack() as stack:
            advances = [stack.enter_context(each.task(description, total)) for each in self._progresses]

            def advance(amount: float = 1.0) -> None:
                for each in advances:
                    each(amount)

            yield advance

    def note(self, message: str) -> None:
        for each in self._progresses:
            each.note(message)


def _plain(text: str) -> str:
    from rich.errors import MarkupError
    from rich.text import Text

    try:
        return Text.from_markup(text).plain
    except MarkupError:  # text that only looks like markup is kept as it is
        return text


def quiet_libraries() -> None:
    """Keep the training libraries' own progress bars and deprecation chatter out of our one progress display."""
    import logging
    import warnings

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
