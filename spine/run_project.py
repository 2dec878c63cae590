"""The project as a run used it, kept in the run folder (`project.yaml`), so that the run can be packaged again
without the project file it started from: every path in it is absolute and every flag and `--set` applied.

`tunesmith run` writes it once training is done; `tunesmith package --run DIR` and the server's package jobs read it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import msgspec
import yaml

from tunesmith.config import Config, load_config
from tunesmith.errors import ConfigError
from tunesmith.files import write_text_atomic

__all__ = ["PROJECT_FILE", "finished_run", "record_project"]

PROJECT_FILE = "project.yaml"


def record_project(config: Config, run_dir: Path) -> Path:
    """Write `config` (flags and overrides applied, paths resolved) into the run folder as a project file."""
    text = yaml.safe_dump(msgspec.to_builtins(config), sort_keys=False, allow_unicode=True)
    header = "# The project as this run used it (written by `tunesmith run`; `tunesmith package --run` reads it).\n"
    path = run_dir / PROJECT_FILE
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == header + text:
            return path  # unchanged: a re-run that reuses everything rewrites nothing
    return write_text_atomic(path, header + text)


def finished_run(run_dir: Path) -> Config:
    """The recorded project of a run whose training finished; says what to do when there is none or no adapter."""
    if not run_dir.is_dir():
        raise ConfigError("no such run folder", where=str(run_dir), hint="Pass a run folder, e.g. runs/NAME.")
    project = run_dir / PROJECT_FILE
    if not project.is_file():
        raise ConfigError(
            f"the run folder records no project ({PROJECT_FILE})",
            where=str(run_dir),
            hint="Run its project with `tunesmith run PROJECT.yaml`, which trains (or reuses the training) and "
            "records it; or package the adapter with `tunesmith package --base DIR --adapter DIR --out DIR`.",
        )
    # The folder may have moved since: it is the run folder wherever it is now.
    config = load_config(project, output_dir=str(run_dir))
    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(
            "the run has no trained adapter",
            where=str(adapter),
            hint=f"Finish its training first: `tunesmith run {project}`.",
        )
    return config
