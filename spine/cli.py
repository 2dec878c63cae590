"""The `tunesmith` command line: one sub-command per step, each a thin shell over the rooms' Python API.

Errors raised on purpose (`TunesmithError`) are printed as one red paragraph and exit with status 2; anything else
keeps its traceback, because it is a bug. Heavy libraries are imported inside the commands so `--help` stays fast.
"""

from __future__ import annotations

import signal
import sys

import click

from tunesmith import __version__
from tunesmith.commands import COMMANDS
from tunesmith.console import err, print_error
from tunesmith.errors import TunesmithError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="tunesmith")
def cli() -> None:
    """tunesmith: fine-tune a base model on your own data and ship it to Ollama, the Hub and an OpenAI-style API.

    Each step is a command; `tunesmith COMMAND --help` explains it.
    """


for _command in COMMANDS:
    cli.add_command(_command)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `tunesmith` console script."""
    # Stopped by another program (a server's job cancelled, a supervisor), a command unwinds as on Ctrl+C: partial
    # files are removed and the run records that it was interrupted.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        cli.main(args=argv, prog_name="tunesmith", standalone_mode=False)
    except TunesmithError as error:
        print_error(error)
        sys.exit(2)
    except click.exceptions.Abort:
        err.print("[red]aborted[/red]")
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(2)
    except click.exceptions.Exit as error:
        sys.exit(error.exit_code)
