"""The sub-commands of `tunesmith`, one module each; `COMMANDS` is what the CLI group registers."""

from tunesmith.commands.base import base
from tunesmith.commands.demo import demo
from tunesmith.commands.lint import lint
from tunesmith.commands.package import package

COMMANDS = [base, package, lint, demo]
