"""The options the config-driven commands share (prepare, train, run): the project file, the common flags, --set
and --gpus, and loading the config they describe."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["config_options", "gpus_option", "load_from_options", "progress_json_option", "with_gpus"]

gpus_option = click.option(
    "--gpus",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Train in N processes, one per GPU, keeping the global batch (sets train.gpus). Without CUDA, N CPU "
    "processes.",
)


progress_json_option = click.option(
    "--progress-json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Also write each step started, advanced and ended, and each note, as one JSON line to FILE (a file, or "
    "/dev/fd/N), for a program that follows the command; the terminal output stays as it is.",
)


def config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every config-driven command shares: the config file, the common flags and --set."""
    options = [
        click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path)),
        click.option(
            "--base",
            help="Base model folder (Hugging Face causal LM), or `embedded` for the built-in "
            "SmolLM2-135M-Instruct. Overrides `base:`.",
        ),
        click.option(
            "--data",
            multiple=True,
            type=click.Path(path_type=Path),
            help="A data file or folder (repeatable). Replaces `data:`; the format is detected.",
        ),
        click.option(
            "--output-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="The run folder (default: runs/<name>).",
        ),
        click.option("--max-steps", type=click.IntRange(min=1), help="Stop after this many optimizer steps."),
        click.option(
            "--set",
            "overrides",
            multiple=True,
            metavar="KEY=VALUE",
            help="Override any config key, e.g. --set train.learning_rate=1e-4 --set lora.r=8 "
            "--set data.0.format=csv (repeatable).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def with_gpus(overrides: tuple[str, ...], gpus: int | None) -> tuple[str, ...]:
    """`--gpus N` as the `--set train.gpus=N` it stands for."""
    return overrides if gpus is None else (*overrides, f"train.gpus={gpus}")


def load_from_options(
    config: Path | None,
    base: str | None,
    data: tuple[Path, ...],
    output_dir: Path | None,
    max_steps: int | None,
    overrides: tuple[str, ...],
    reporter: Any = None,
) -> Any:
    """Load the config, with `--base embedded` turned into the embedded model's folder (reported on `reporter`)."""
    import msgspec

    from tunesmith.config import load_config
    from tunesmith.console import progress
    from tunesmith.embedded_base import resolve_base

    loaded = load_config(
        config,
        overrides=overrides,
        base=base,
        data=[str(d) for d in data],
        output_dir=str(output_dir) if output_dir else None,
        max_steps=max_steps,
    )
    resolved = resolve_base(loaded.base_model, progress=reporter or progress())
    return msgspec.structs.replace(loaded, base=str(Path(resolved).resolve()))
