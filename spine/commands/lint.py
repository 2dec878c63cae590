"""`tunesmith lint FILE`: check a Modelfile the way Ollama reads it, and list every problem with its line."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def lint(file: Path) -> None:
    """Check the Modelfile FILE before `ollama create` reads it.

    Reports, with line numbers: unknown commands and parameters (with the closest valid name), ill-typed values,
    a `#` inside a bare value (Ollama keeps it as part of the value), unterminated quotes, a missing FROM, repeated
    settings, and TEMPLATE text Go's text/template would reject.

    Exit status: 0 when there is no error (warnings are printed), 2 when there is at least one error.
    """
    from rich.markup import escape
    from rich.table import Table

    from tunesmith.console import out
    from tunesmith.errors import ModelfileError
    from tunesmith.modelfiles import lint_modelfile
    from tunesmith.user_files import read_text_file

    # newline="" keeps \r in quoted values, as Ollama does.
    text = read_text_file(file, what="the file", error=ModelfileError, hint="Pass a readable Modelfile.", newline="")
    issues = lint_modelfile(text, source=str(file))
    if not issues:
        out.print(f"{escape(str(file))}: no problems found")
        return
    table = Table(title=escape(str(file)), title_justify="left")
    table.add_column("line", justify="right")
    table.add_column("severity")
    table.add_column("problem", overflow="fold")
    for issue in issues:
        colour = "red" if issue.severity == "error" else "yellow"
        table.add_row(
            str(issue.line) if issue.line else "-", f"[{colour}]{issue.severity}[/{colour}]", escape(issue.message)
        )
    out.print(table)
    errors = sum(issue.severity == "error" for issue in issues)
    out.print(f"{errors} error(s), {len(issues) - errors} warning(s)")
    if errors:
        sys.exit(2)
