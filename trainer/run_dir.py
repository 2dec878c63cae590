"""The run folder (runs/<name>/): its layout, and the claim that stops two different runs from sharing one.

run.json records the run's name and base model; a folder holding another run, or files that are not a run's,
is refused rather than overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tunesmith.config import Config
from tunesmith.errors import ConfigError
from tunesmith.files import write_text_atomic

__all__ = ["RunPaths", "claim_run_dir", "owns_run_dir"]

_MARKER = "run.json"
_OURS = {
    "data",
    "adapter",
    "checkpoints",
    "metrics.jsonl",
    "loss.png",
    "train_report.json",
    "package",
    "status.json",
    "project.yaml",
    "base-package",
    _MARKER,
}


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def plot(self) -> Path:
        return self.root / "loss.png"

    @property
    def report(self) -> Path:
        return self.root / "train_report.json"


def _claim(config: Config) -> dict[str, str | None]:
    return {"name": config.name, "base": config.base}


def owns_run_dir(config: Config) -> bool:
    """Whether the run folder of `config` exists and is this run's (its run.json names this run and base)."""
    try:
        found = json.loads((Path(config.output_dir or config.run_dir) / _MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return found == _claim(config)


def claim_run_dir(config: Config, *, create: bool = True) -> RunPaths:
    """Create or re-open the run folder of `config`; refuse one that belongs to another run.

    With `create=False` only the refusal is checked: a step that may still fail on its input claims the folder
    once it has something to write, so a failed first attempt leaves no run folder behind to refuse the fixed one.
    """
    root = Path(config.output_dir or config.run_dir)
    marker = root / _MARKER
    claim = _claim(config)
    hint = "Choose another folder with --output-dir (or another `name:`), or delete this one to start over."
    if marker.is_file():
        try:
            found = json.loads(marker.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            found = {}
        if found != claim:
            raise ConfigError(
                f"the output folder belongs to another run (name {found.get('name')!r}, base "
                f"{found.get('base')!r}); this run is {config.name!r} on {config.base!r}",
                where=str(root),
                hint=hint,
            )
    elif root.is_dir() and any(p.name not in _OURS and not p.name.startswith(".") for p in root.iterdir()):
        raise ConfigError(
            "the output folder is not empty and is not a tunesmith run folder", where=str(root), hint=hint
        )
    elif root.exists() and not root.is_dir():
        raise ConfigError("the output path is a file", where=str(root), hint=hint)
    if not create:
        return RunPaths(root)
    root.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        write_text_atomic(marker, json.dumps(claim, indent=2) + "\n")
    return RunPaths(root)
