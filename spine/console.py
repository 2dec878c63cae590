"""The two consoles of the command line: results on stdout, progress, notes and errors on stderr."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from tunesmith.progress import RichProgress, quiet_libraries

__all__ = ["err", "out", "print_error", "progress", "quiet_libraries"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def progress() -> RichProgress:
    """The progress display every long command reports to."""
    return RichProgress(err)


def print_error(error: BaseException) -> None:
    """An error raised on purpose, as the one red paragraph every command prints."""
    err.print(f"[bold red]error:[/bold red] [red]{escape(str(error))}[/red]")
