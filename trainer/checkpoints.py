"""Resumable trainer state: find the last complete checkpoint, and refuse to resume one made with other settings.

A checkpoint counts as complete once its trainer_state.json (written last by rank 0) parses and every training
process has saved its RNG state beside it (rng_state.pth alone, rng_state_<rank>.pth with several processes, which
save in parallel); a run killed while saving leaves a partial folder that is removed, so the previous checkpoint
is used and the resumed run draws the same random numbers as an uninterrupted one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tunesmith.errors import TrainError
from tunesmith.files import write_text_atomic

__all__ = ["checkpoint_step", "resume_point"]

_SETTINGS = "tunesmith_settings.json"


def checkpoint_step(path: Path) -> int:
    return int(path.name.rsplit("-", 1)[-1])


def _complete(path: Path, processes: int) -> bool:
    try:
        json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    rng = ["rng_state.pth"] if processes == 1 else [f"rng_state_{rank}.pth" for rank in range(processes)]
    return all((path / name).is_file() for name in ["adapter_model.safetensors", *rng])


def _flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def resume_point(
    checkpoints: Path, settings: dict[str, Any], *, processes: int = 1, restart: bool = False
) -> Path | None:
    """The checkpoint to resume from (None: start fresh) for a run of `processes` training processes; records
    `settings` for the next resume to compare."""
    stored = checkpoints / _SETTINGS
    if restart and checkpoints.exists():
        shutil.rmtree(checkpoints)
    found = (
        sorted(
            (p for p in checkpoints.glob("checkpoint-*") if p.name.rsplit("-", 1)[-1].isdigit()), key=checkpoint_step
        )
        if checkpoints.is_dir()
        else []
    )
    for partial in [p for p in found if not _complete(p, processes)]:
        shutil.rmtree(partial)
    found = [p for p in found if p.exists()]
    if found and stored.is_file():
        previous = _flatten(json.loads(stored.read_text(encoding="utf-8")))
        current = _flatten(settings)
        changed = sorted(key for key in set(previous) | set(current) if previous.get(key) != current.get(key))
        if changed:
            raise TrainError(
                f"the checkpoints in this run were made with other settings (changed: "
                f"{', '.join(changed)}), so they cannot be resumed",
                where=str(checkpoints),
                hint="Re-run with --restart to discard them and train from the start, or use another --output-dir.",
            )
    checkpoints.mkdir(parents=True, exist_ok=True)
    write_text_atomic(stored, json.dumps(settings, indent=2, sort_keys=True) + "\n")
    return found[-1] if found else None
