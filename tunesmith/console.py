"""The two consoles of the command line: results on stdout, progress, notes and errors on stderr."""

from __future__ import annotations

from rich.console import Console

from tunesmith.progress import RichProgress

__all__ = ["out", "err", "progress"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def progress() -> RichProgress:
    """The progress display every long command reports to."""
    return RichProgress(err)
