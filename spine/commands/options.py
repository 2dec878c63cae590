"""The options commands share: the project file, the common flags, --set and --gpus of the config-driven commands
(prepare, train, run), gathered into one ProjectOptions that loads the config they describe; --progress-json and
--ollama-host."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

__all__ = ["ProjectOptions", "config_options", "ollama_host_option", "progress_json_option"]

progress_json_option = click.option(
    "--progress-json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Also write each step started, advanced and ended, and each note, as one JSON line to FILE (a file, or "
    "/dev/fd/N), for a program that follows the command; the terminal output stays as it is.",
)


def ollama_host_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--ollama-host (or OLLAMA_HOST): the Ollama daemon a command goes through; `help` says what for."""
    return click.option("--ollama-host", envvar="OLLAMA_HOST", default=None, metavar="URL", show_envvar=True, help=help)


@dataclass(frozen=True)
class ProjectOptions:
    """The project a config-driven command works on: the YAML file (or none) and the flags that override it."""

    config: Path | None
    base: str | None
    data: tuple[Path, ...]
    output_dir: Path | None
    max_steps: int | None
    overrides: tuple[str, ...]
    gpus: int | None = None

    def load(self, reporter: Any = None) -> Any:
        """The config, with `--gpus N` as the `train.gpus=N` it stands for and `--base embedded` turned into the
        embedded model's folder (reported on `reporter`)."""
        import msgspec

        from tunesmith.config import load_config
        from tunesmith.console import progress
        from tunesmith.embedded_base import resolve_base

        overrides = self.overrides if self.gpus is None else (*self.overrides, f"train.gpus={self.gpus}")
        loaded = load_config(
            self.config,
            overrides=overrides,
            base=self.base,
            data=[str(d) for d in self.data],
            output_dir=str(self.output_dir) if self.output_dir else None,
            max_steps=self.max_steps,
        )
        resolved = resolve_base(loaded.base_model, progress=reporter or progress())
        return msgspec.structs.replace(loaded, base=str(Path(resolved).resolve()))


_PROJECT_OPTIONS = [
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
_GPUS_OPTION = click.option(
    "--gpus",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Train in N processes, one per GPU, keeping the global batch (sets train.gpus). Without CUDA, N CPU "
    "processes.",
)


def config_options(*, gpus: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The project file, the common flags and --set (and --gpus for the commands that train), handed to the command
    as its first argument, one ProjectOptions."""
    options = _PROJECT_OPTIONS + ([_GPUS_OPTION] if gpus else [])
    names = [field for field in ProjectOptions.__dataclass_fields__ if gpus or field != "gpus"]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def with_project(**params: Any) -> Any:
            return command(ProjectOptions(**{name: params.pop(name) for name in names}), **params)

        for option in reversed(options):
            with_project = option(with_project)
        return with_project

    return decorate
