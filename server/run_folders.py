"""Reading the runs folder (runs/<name>/, as DESIGN.md's Artifacts section lays a run out) for the runs routes: which
runs there are, and each one's status, progress, latest losses and verdict.

The server reads the run's files, never the trainer's code: status.json (what the command working on the run does,
its process id), metrics.jsonl, train_report.json, run.json, data/data_report.json. A run whose recorded process is
gone while it was working was interrupted; a run from before status.json existed is judged by the files it has.
Run names come from URLs: a name is one plain folder name of the runs folder, never a path out of it.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from litestar.exceptions import NotFoundException

from tunesmith.files import process_alive
from tunesmith.server.errors import BadRequestError

__all__ = [
    "RUN_PACKAGES",
    "WORKING",
    "list_run_folders",
    "read_json",
    "read_metrics",
    "run_folder",
    "run_of_package",
    "run_status",
    "run_summary",
]

WORKING = frozenset({"preparing", "training", "packaging", "publishing"})
_ENDED = frozenset({"prepared", "trained", "done", "failed", "interrupted"})
_STATUS_FILE = "status.json"
# The package folders of a run folder, as the pipeline (package/) and the demo (base-package/) write them.
RUN_PACKAGES = ("package", "base-package")


def run_folder(runs: Path | None, name: str) -> Path:
    """The folder of the run `name` in `runs`: BadRequestError for a name that is a path (`..`, `a/b`, absolute,
    hidden) or a link out of the runs folder; 404 when no such run exists (or the server has no runs folder)."""
    if not name or name in {".", ".."} or name.startswith(".") or any(sep in name for sep in ("/", "\\", "\0")):
        raise BadRequestError(
            f"{name!r} is not a run name: a run is one folder of the runs folder, named without `/`, `\\` or a "
            "leading dot",
            param="id",
            hint="List the runs with GET /v1/runs.",
        )
    if runs is None:
        raise NotFoundException(f"no run {name!r}: this server has no runs folder; start it with --runs DIR")
    folder = runs / name
    if folder.is_symlink() and not _inside(folder.resolve(), runs.resolve()):
        raise BadRequestError(
            f"the run {name!r} is a link out of the runs folder, which is not served",
            param="id",
            hint="Move the run into the runs folder instead of linking to it.",
        )
    if not folder.is_dir():
        raise NotFoundException(
            f"no run {name!r} in the runs folder {runs}; list the runs with GET /v1/runs, or start the server "
            "with --runs DIR for another folder"
        )
    return folder


def list_run_folders(runs: Path | None) -> list[Path]:
    """Every run folder of `runs` (none when it does not exist, or is None): visible folders, links out of it left
    out."""
    if runs is None or not runs.is_dir():
        return []
    root = runs.resolve()
    return [
        path
        for path in runs.iterdir()
        if not path.name.startswith(".") and path.is_dir() and _inside(path.resolve(), root)
    ]


def run_of_package(runs: Path | None, folder: Path) -> str | None:
    """The name of the run under `runs` whose package folder `folder` is (both resolved), or None."""
    if runs is not None and folder.name in RUN_PACKAGES and folder.parent.parent == runs:
        return folder.parent.name
    return None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def read_json(path: Path) -> Any:
    """A JSON file of a run as written, or None when it is absent or cannot be read (being replaced, torn)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_metrics(path: Path) -> list[dict[str, Any] | None]:
    """The complete lines of metrics.jsonl, one entry per line (None for a line that is not JSON), so that line
    numbers stay the rows' positions; a last line still being written is left for the next read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    lines = text.split("\n")[:-1]  # what follows the last newline is not a complete line yet
    rows: list[dict[str, Any] | None] = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        rows.append(row if isinstance(row, dict) else None)
    return rows


def run_status(folder: Path, record: Any) -> tuple[str, str | None]:
    """The run's status and its error message: as `record` (its status.json, read) says, `interrupted` when the
    process that was working on it is gone, or judged from the files of a run that recorded none."""
    if isinstance(record, dict) and record.get("status") in WORKING | _ENDED:
        status, error = str(record["status"]), record.get("error")
        pid, host = record.get("pid"), record.get("host")
        if status in WORKING and isinstance(pid, int) and host == socket.gethostname() and not process_alive(pid):
            return "interrupted", (
                f"stopped while {status}: its process ({pid}) is gone; run the same command again to resume"
            )
        return status, str(error) if error is not None else None
    if (folder / "package" / "Modelfile").is_file():
        return "done", None
    if (folder / "train_report.json").is_file():
        return "trained", None
    if (folder / "data" / "data_report.json").is_file() and not (folder / "metrics.jsonl").is_file():
        return "prepared", None
    return "interrupted", None


def _latest(rows: list[dict[str, Any] | None], key: str) -> dict[str, Any] | None:
    return next((row for row in reversed(rows) if row is not None and row.get(key) is not None), None)


def _updated_at(folder: Path, record: Any) -> int:
    times = []
    for name in (_STATUS_FILE, "metrics.jsonl", "train_report.json", "run.json", "package/Modelfile"):
        try:
            times.append((folder / name).stat().st_mtime)
        except OSError:
            continue
    if isinstance(record, dict) and isinstance(record.get("updated_at"), int | float):
        times.append(record["updated_at"])
    return int(max(times, default=folder.stat().st_mtime))


def run_summary(folder: Path, models: list[str]) -> dict[str, Any]:
    """The Run object of the API for the run folder `folder`; `models` are the ids served from its packages."""
    record = read_json(folder / _STATUS_FILE)
    status, error = run_status(folder, record)
    report = read_json(folder / "train_report.json")
    report = report if isinstance(report, dict) else {}
    claim = read_json(folder / "run.json")
    claim = claim if isinstance(claim, dict) else {}
    rows = read_metrics(folder / "metrics.jsonl")
    step_row, eval_row = _latest(rows, "loss"), _latest(rows, "eval_loss")
    max_steps = record.get("max_steps") if isinstance(record, dict) else None
    return {
        "id": folder.name,
        "object": "run",
        "status": status,
        "step": step_row.get("step") if step_row else None,
        "max_steps": max_steps if max_steps is not None else report.get("steps"),
        "train_loss": step_row["loss"] if step_row else None,
        "eval_loss": eval_row["eval_loss"] if eval_row else None,
        "verdict": report.get("fit"),
        "base": claim.get("base") or report.get("base"),
        "error": error,
        "updated_at": _updated_at(folder, record),
        "models": models,
    }
