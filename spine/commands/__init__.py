"""The sub-commands of `tunesmith`, one module each; `COMMANDS` is what the CLI group registers."""

from tunesmith.commands.base_model import base
from tunesmith.commands.demo import demo
from tunesmith.commands.lint import lint
from tunesmith.commands.package import package
from tunesmith.commands.prepare import prepare
from tunesmith.commands.publish import publish
from tunesmith.commands.run import run
from tunesmith.commands.serve import serve
from tunesmith.commands.train import train

COMMANDS = [base, prepare, train, package, lint, serve, publish, run, demo]
