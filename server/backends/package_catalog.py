"""Which package folders the embedded backend serves, under which model ids: the `--model` folders, then the packages
of the run folders under the runs folder (`<run>/package/`, `<run>/base-package/`), found again as runs come and go.

A folder is one model however it is named (`--model runs/demo/package` and the runs folder's own `demo/package` are
the same folder). A run package whose name another folder already serves is served as `<run>/<name>`, so the demo's
base model in two runs stays two models. A package's other GGUF files of the same model (the F16 beside the Q4_K_M
that FROM names) are served too, as `<id>:<quant>` (`demo:f16`), loaded on first use, so that a person can compare
quantizations side by side. Reading a package parses its Modelfile and checks its GGUF's first bytes:
re-read only when the Modelfile changes, and the runs folder is looked at again at most once a second.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tunesmith.errors import ModelError, TunesmithError
from tunesmith.packager.package_folder import package_model_name
from tunesmith.server.backends.package_folder import ServedPackage, read_package
from tunesmith.server.run_folders import RUN_PACKAGES, run_of_package

__all__ = ["CatalogEntry", "PackageCatalog"]

_RESCAN_SECONDS = 1.0

_log = logging.getLogger("tunesmith.server")


@dataclass(frozen=True)
class CatalogEntry:
    """A servable package: `pinned` for a `--model` folder (loaded at start, never unloaded), `run` the run folder's
    name when the package is one of a run's, `variant_of` the model id whose package holds this other quantization."""

    package: ServedPackage
    pinned: bool
    run: str | None
    variant_of: str | None = None


class PackageCatalog:
    """The packages of `folders` (read now: a bad one stops the server at start) and of the runs under `runs`."""

    def __init__(self, folders: list[str], runs: str | Path | None = None) -> None:
        self._runs = Path(runs).resolve() if runs else None
        self._pinned: dict[Path, ServedPackage] = {}
        for folder in folders:
            resolved = Path(folder).resolve()
            if resolved not in self._pinned:
                self._pinned[resolved] = read_package(resolved)
        self._read: dict[Path, tuple[int, ServedPackage | None]] = {}
        self._entries: dict[str, CatalogEntry] = {}
        self._scanned_at = -_RESCAN_SECONDS
        self._entries = self._build()

    @property
    def runs(self) -> Path | None:
        return self._runs

    def entries(self) -> dict[str, CatalogEntry]:
        """Every servable package by model id, the runs folder looked at again when a second has passed."""
        if self._runs is not None and time.monotonic() - self._scanned_at >= _RESCAN_SECONDS:
            self._entries = self._build()
        return self._entries

    def entry(self, model_id: str) -> CatalogEntry | None:
        return self.entries().get(model_id)

    def models_of_run(self, run: str) -> dict[str, str]:
        """The model ids served from the run folder `run`, by package folder name (package, base-package)."""
        return {
            entry.package.folder.name: model_id
            for model_id, entry in self.entries().items()
            if entry.run == run and entry.variant_of is None
        }

    def _build(self) -> dict[str, CatalogEntry]:
        entries: dict[str, CatalogEntry] = {}
        for folder, package in self._pinned.items():
            if package.model_id in entries:
                raise ModelError(
                    f"two packages serve the model id {package.model_id!r}",
                    where=f"{entries[package.model_id].package.folder} and {folder}",
                    hint="Serve one of them, or rename one package's GGUF files.",
                )
            entries[package.model_id] = CatalogEntry(package, pinned=True, run=run_of_package(self._runs, folder))
            entries.update(_variants(package, run_of_package(self._runs, folder), entries))
        for run, folder in self._run_folders():
            found = self._read_run_package(folder)
            if found is None:
                continue
            model_id = found.model_id if found.model_id not in entries else f"{run}/{found.model_id}"
            entries[model_id] = CatalogEntry(_with_id(found, model_id), pinned=False, run=run)
            entries.update(_variants(entries[model_id].package, run, entries))
        self._scanned_at = time.monotonic()
        return entries

    def _run_folders(self) -> list[tuple[str, Path]]:
        if self._runs is None or not self._runs.is_dir():
            return []
        found = []
        for run in sorted(self._runs.iterdir(), key=lambda path: path.name):
            if run.name.startswith(".") or run.is_symlink() or not run.is_dir():
                continue
            for name in RUN_PACKAGES:
                folder = run / name
                # A package folder that is a link out of its run is not the run's.
                inside = folder.resolve().parent == run.resolve()
                if inside and folder.resolve() not in self._pinned and (folder / "Modelfile").is_file():
                    found.append((run.name, folder))
        return found

    def _read_run_package(self, folder: Path) -> ServedPackage | None:
        """The package in `folder`, or None (logged once per Modelfile change) when it cannot be served."""
        try:
            changed = (folder / "Modelfile").stat().st_mtime_ns
        except OSError:
            return None
        known = self._read.get(folder)
        if known is not None and known[0] == changed:
            return known[1]
        try:
            package: ServedPackage | None = read_package(folder)
        except TunesmithError as error:
            # Being written, or broken: not served until its Modelfile changes, and said once.
            _log.warning("not serving the package %s: %s", folder, error)
            package = None
        self._read[folder] = (changed, package)
        return package


def _variants(package: ServedPackage, run: str | None, taken: dict[str, CatalogEntry]) -> dict[str, CatalogEntry]:
    """The package's other quantizations of its model, each as `<id>:<quant>` (lazily loaded), under its own
    Modelfile's template, parameters and adapter."""
    found = {}
    for gguf in package.files:
        if gguf.suffix.lower() != ".gguf" or gguf in (package.gguf, package.adapter):
            continue
        if package_model_name(gguf, with_adapter=package.adapter is not None) != package.name:
            continue  # another model's file (never in a package the packager wrote)
        model_id = f"{package.model_id}:{gguf.stem.rsplit('-', 1)[-1].lower()}"
        if model_id not in taken:
            variant = replace(package, gguf=gguf, model_id=model_id)
            found[model_id] = CatalogEntry(variant, pinned=False, run=run, variant_of=package.model_id)
    return found


def _with_id(package: ServedPackage, model_id: str) -> ServedPackage:
    return package if package.model_id == model_id else replace(package, model_id=model_id)
