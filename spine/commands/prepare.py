"""`tunesmith prepare`: read, clean, deduplicate, chunk and split the data into runs/<name>/data/."""

from __future__ import annotations

import click

from tunesmith.commands.options import ProjectOptions, config_options

__all__ = ["prepare"]


@click.command()
@config_options()
def prepare(project: ProjectOptions) -> None:
    """Turn your data into a training set: runs/<name>/data/{train,val}.jsonl and data_report.json.

    Reads CSV/TSV (question/answer sheets), JSONL (messages, instruction/input/output, prompt/completion, text),
    Parquet, folders of .txt/.md and `save_to_disk` datasets; cleans, removes duplicates and near-duplicates,
    chunks raw text by tokens of the base tokenizer, and splits train/validation deterministically. Prints a data
    report. CONFIG is the YAML project file; without one, --base and --data are enough:

        tunesmith prepare --base embedded --data qa.csv
    """
    from tunesmith.console import err, out, progress
    from tunesmith.trainer import prepare_data
    from tunesmith.trainer.data_report import report_table
    from tunesmith.trainer.run_status import recording_status

    loaded = project.load()
    with recording_status(loaded, start="preparing", end="prepared"):
        result = prepare_data(loaded, progress=progress())
    out.print(report_table(result.report))
    for warning in result.report["warnings"]:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    out.print(f"data: {result.paths.data}")
