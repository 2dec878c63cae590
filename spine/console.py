"""The two consoles of the command line: results on stdout, progress, notes and errors on stderr."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from tunesmith.progress import JsonLinesProgress, Progress, RichProgress, TeeProgress, quiet_libraries

__all__ = ["err", "out", "print_error", "progress", "progress_to", "quiet_libraries"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def progress() -> RichProgress:
    """The progress display every long command reports to."""
    return RichProgress(err)


@contextlib.contextmanager
def progress_to(json_lines: Path | None) -> Iterator[tuple[Progress, JsonLinesProgress | None]]:
    """The progress display, and with `--progress-json FILE` the same tasks and notes as JSON lines in FILE too:
    yields (the progress to report to, the JSON lines alone or None)."""
    if json_lines is None:
        yield progress(), None
        return
    with open(json_lines, "w", encoding="utf-8") as stream:
        lines = JsonLinesProgress(stream)
        yield TeeProgress(progress(), lines), lines


def print_error(error: BaseException) -> None:
    """An error raised on purpose, as the one red paragraph every command prints."""
    err.print(f"[bold red]error:[/bold red] [red]{escape(str(error))}[/red]")
