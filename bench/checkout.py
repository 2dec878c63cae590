"""Another revision of tunesmith, importable beside the working tree's, so that a bench can run both in one run.

`checkout(rev)` writes the revision's files once into .cache/bench/checkouts/<commit>/ (git archive) and lays out
the `tunesmith` package there as pyproject.toml's package-dir says (the rooms live at the repository root), with
links; a process started with PYTHONPATH set to the folder it returns imports that revision's tunesmith, ahead of
the editable install of the working tree.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from pathlib import Path

__all__ = ["checkout"]


def _package_dirs(pyproject: str) -> dict[str, str]:
    # The `"name" = "folder"` lines of [tool.setuptools.package-dir] (tomllib is not in Python 3.10).
    section = pyproject.split("[tool.setuptools.package-dir]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^"([\w.]+)"\s*=\s*"([^"]+)"', section, flags=re.MULTILINE))


def checkout(rev: str, root: Path) -> tuple[str, Path]:
    """The commit `rev` names (short) and a folder to put on PYTHONPATH to import its tunesmith."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", f"{rev}^{{commit}}"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()
    folder = root / ".cache" / "bench" / "checkouts" / commit
    path = folder / "path"
    if path.is_dir():
        return commit, path
    files = folder / "files"
    archive = subprocess.run(["git", "archive", commit], cwd=root, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(files, filter="data")
    package_dirs = _package_dirs((files / "pyproject.toml").read_text())
    partial = folder / "path.partial"
    for name, source in sorted(package_dirs.items()):
        target = partial.joinpath(*name.split("."))
        if name == "tunesmith":  # the spine: its own files in the package folder, the rooms linked in beside them
            target.mkdir(parents=True)
            for entry in (files / source).iterdir():
                (target / entry.name).symlink_to(entry)
        else:
            target.symlink_to(files / source)
    partial.rename(path)
    return commit, path
