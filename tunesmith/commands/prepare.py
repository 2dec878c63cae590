"""`tunesmith prepare`: read, clean, deduplicate, chunk and split the data into runs/<name>/data/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["config_options", "load_from_options", "prepare"]


def config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every config-driven command shares: the config file, the common flags and --set."""
    options = [
        click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path)),
        click.option("--base", help="Base model folder (Hugging Face causal LM), or `embedded` for the built-in "
                                    "SmolLM2-135M-Instruct. Overrides `base:`."),
        click.option("--data", multiple=True, type=click.Path(path_type=Path),
                     help="A data file or folder (repeatable). Replaces `data:`; the format is detected."),
        click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="The run folder (default: runs/<name>)."),
        click.option("--max-steps", type=click.IntRange(min=1), help="Stop after this many optimizer steps."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override any config key, e.g. --set train.learning_rate=1e-4 --set lora.r=8 "
                          "--set data.0.format=csv (repeatable)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_from_options(config: Path | None, base: str | None, data: tuple[Path, ...], output_dir: Path | None,
                      max_steps: int | None, overrides: tuple[str, ...]) -> Any:
    """Load the config, with `--base embedded` turned into the embedded model's folder."""
    from tunesmith.config import load_config
    from tunesmith.console import progress

    loaded = load_config(config, overrides=overrides, base=base, data=[str(d) for d in data],
                         output_dir=str(output_dir) if output_dir else None, max_steps=max_steps)
    import msgspec

    from tunesmith.packager.embedded import resolve_base

    resolved = resolve_base(loaded.base, progress=progress())
    return msgspec.structs.replace(loaded, base=str(Path(resolved).resolve()))


@click.command()
@config_options
def prepare(config: Path | None, base: str | None, data: tuple[Path, ...], output_dir: Path | None,
            max_steps: int | None, overrides: tuple[str, ...]) -> None:
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

    loaded = load_from_options(config, base, data, output_dir, max_steps, overrides)
    result = prepare_data(loaded, progress=progress())
    out.print(report_table(result.report))
    for warning in result.report["warnings"]:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    out.print(f"data: {result.paths.data}")
