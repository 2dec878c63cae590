"""The two consoles of the command line: results on stdout, progress, notes and errors on stderr."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from tunesmith.progress import RichProgress

__all__ = ["out", "err", "print_error", "progress", "quiet_libraries"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def progress() -> RichProgress:
    """The progress display every long command reports to."""
    return RichProgress(err)


def print_error(error: BaseException) -> None:
    """An error raised on purpose, as the one red paragraph every command prints."""
    err.print(f"[bold red]error:[/bold red] [red]{escape(str(error))}[/red]")


def quiet_libraries() -> None:
    """Keep the training libraries' own progress bars and deprecation chatter out of our one progress display."""
    import logging
    import warnings

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
