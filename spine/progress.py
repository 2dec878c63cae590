"""Progress reporting for long steps, kept apart from the work itself.

Library code takes a `Progress` and calls `progress.task(...)`; the CLI passes a rich-backed one, tests and library
users get `SILENT`; `quiet_libraries` keeps the training libraries' own bars out of it, in every process that trains.
This module imports nothing of ours, so every room may use it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

__all__ = ["SILENT", "Advance", "Progress", "RichProgress", "quiet_libraries"]

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
        yield lambda amount=1.0: None

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
            yield lambda amount=1.0: bar.advance(task_id, amount)
            if total is not None:
                bar.update(task_id, completed=total)

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]•[/yellow] {message}")


def quiet_libraries() -> None:
    """Keep the training libraries' own progress bars and deprecation chatter out of our one progress display."""
    import logging
    import warnings

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
