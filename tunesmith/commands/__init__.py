"""The sub-commands of `tunesmith`, one module each; `COMMANDS` is what the CLI group registers."""

from tunesmith.commands.base import base

COMMANDS = [base]
