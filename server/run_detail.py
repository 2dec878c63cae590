"""One run in full for GET /v1/runs/{id}: its data and train reports as written, and its package folders (package/,
base-package/) with their Modelfile, model card, quality report and files; and its metrics rows from a position on.

Files are read as they are on disk; a file that is a link out of the run folder is neither read nor listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.server.run_folders import RUN_PACKAGES, read_json, read_metrics, run_summary

__all__ = ["metrics_page", "package_detail", "run_detail"]


def _own(path: Path, root: Path) -> bool:
    """Whether `path` is a file of the run `root` (no link out of it)."""
    resolved, base = path.resolve(), root.resolve()
    return path.is_file() and base in resolved.parents


def _text(path: Path, root: Path) -> str | None:
    if not _own(path, root):
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def package_detail(folder: Path, run_root: Path, model: str | None) -> dict[str, Any] | None:
    """The Package object of a run's package folder, or None when it holds no Modelfile (not packaged yet)."""
    modelfile = _text(folder / "Modelfile", run_root)
    if modelfile is None:
        return None
    quality = read_json(folder / "quality.json") if _own(folder / "quality.json", run_root) else None
    files = [
        {"name": path.name, "bytes": path.stat().st_size}
        for path in sorted(folder.iterdir(), key=lambda item: item.name)
        if not path.name.startswith(".") and _own(path, run_root)
    ]
    return {
        "folder": str(folder),
        "model": model,
        "modelfile": modelfile,
        "card": _text(folder / "README.md", run_root),
        "quality": quality,
        "files": files,
    }


def run_detail(folder: Path, models: dict[str, str]) -> dict[str, Any]:
    """The Run object plus its reports and packages; `models` maps a package folder's name to its served model id."""
    detail = run_summary(folder, list(models.values()))
    for name, key in (("data/data_report.json", "data_report"), ("train_report.json", "train_report")):
        found = read_json(folder / name) if _own(folder / name, folder) else None
        detail[key] = found if isinstance(found, dict) else None
    for name in RUN_PACKAGES:  # package -> "package", base-package -> "base_package"
        detail[name.replace("-", "_")] = package_detail(folder / name, folder, models.get(name))
    return detail


def metrics_page(folder: Path, after: int) -> dict[str, Any]:
    """metrics.jsonl rows from row `after` on, as written, and `next`: the position to ask from next time (smaller
    than `after` when the file was cut, as a resumed training does: ask again from 0)."""
    path = folder / "metrics.jsonl"
    rows = read_metrics(path) if _own(path, folder) else []
    return {"object": "list", "data": [row for row in rows[after:] if row is not None], "next": len(rows)}
