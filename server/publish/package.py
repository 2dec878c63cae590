"""Reading a package folder for publishing: its files, the GGUF its Modelfile runs, and the Modelfile's values.

The Modelfile is read back with our own parser, so what we publish is exactly what `ollama create` would build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.errors import ModelfileError, PublishError
from tunesmith.modelfiles import parse_modelfile
from tunesmith.progress import SILENT, Progress

__all__ = ["PublishPackage", "read_package", "sha256_files"]

_CHUNK = 1 << 20
_PACKAGE_HINT = "Point at a folder written by `tunesmith package --out DIR` (it holds the GGUF files and a Modelfile)."


@dataclass(frozen=True)
class PublishPackage:
    """A package folder as publishing sees it. `files` are every file to release, sorted by name."""

    path: Path
    files: tuple[Path, ...]
    model_file: Path
    adapter_file: Path | None
    template: str | None
    system: str | None
    parameters: dict[str, Any]
    messages: tuple[tuple[str, str], ...]
    license: tuple[str, ...]

    @property
    def name(self) -> str:
        """The model's name, as the embedded backend serves it (`demo` for demo-Q4_K_M.gguf, and for
        demo-base-Q4_K_M.gguf under an adapter)."""
        from tunesmith.server.backends.package_folder import package_model_name

        return package_model_name(self.model_file, with_adapter=self.adapter_file is not None)


def _local_file(package_dir: Path, value: str, keyword: str, modelfile: Path) -> Path:
    candidate = (package_dir / value).resolve()
    if not candidate.is_file():
        if "/" not in value and not value.endswith(".gguf"):
            raise PublishError(f"{keyword} {value!r} names a model, not a GGUF file inside the package",
                               where=str(modelfile),
                               hint=f"Publishing sends the package's own GGUF: write `{keyword} ./NAME-Q4_K_M.gguf`.")
        raise PublishError(f"{keyword} {value!r} does not exist", where=str(modelfile), hint=_PACKAGE_HINT)
    if candidate.parent != package_dir.resolve():
        raise PublishError(f"{keyword} {value!r} is outside the package folder", where=str(modelfile),
                           hint="Keep the GGUF files in the package folder and refer to them as ./FILE.gguf.")
    return candidate


def read_package(package_dir: str | Path) -> PublishPackage:
    """Check `package_dir` and read its Modelfile; raise PublishError (or ModelfileError) saying what is missing."""
    path = Path(package_dir)
    if not path.is_dir():
        raise PublishError("the package folder does not exist", where=str(path), hint=_PACKAGE_HINT)
    modelfile_path = path / "Modelfile"
    if not modelfile_path.is_file():
        raise PublishError("the package folder has no Modelfile", where=str(path), hint=_PACKAGE_HINT)
    try:
        text = modelfile_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ModelfileError("the Modelfile is not UTF-8 text", where=str(modelfile_path),
                             hint="Re-create the package with `tunesmith package`.") from err
    modelfile = parse_modelfile(text, source=str(modelfile_path))
    model_file = _local_file(path, modelfile.from_, "FROM", modelfile_path)
    if not model_file.name.endswith(".gguf"):
        raise PublishError(f"FROM {modelfile.from_!r} is not a .gguf file", where=str(modelfile_path),
                           hint="Publishing supports GGUF packages only.")
    with model_file.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise PublishError(f"{model_file.name} is not a GGUF file (it does not start with `GGUF`)",
                               where=str(model_file), hint="Re-create the package with `tunesmith package`.")
    adapter = _local_file(path, modelfile.adapter, "ADAPTER", modelfile_path) if modelfile.adapter else None
    # Hidden files are leftovers of interrupted writes (`.NAME.partial`), never part of a release.
    files = tuple(sorted((item for item in path.iterdir() if item.is_file() and not item.name.startswith(".")),
                         key=lambda item: item.name))
    return PublishPackage(path=path, files=files, model_file=model_file, adapter_file=adapter,
                          template=modelfile.template, system=modelfile.system,
                          parameters=dict(modelfile.parameters), messages=tuple(modelfile.messages),
                          license=tuple(modelfile.license))


def sha256_files(paths: Iterable[Path], *, progress: Progress = SILENT) -> dict[Path, str]:
    """The hex SHA-256 of each file, read once in 1 MiB chunks, with one progress bar over all their bytes."""
    paths = list(dict.fromkeys(paths))
    total = sum(item.stat().st_size for item in paths)
    digests: dict[Path, str] = {}
    with progress.task(f"hashing {len(paths)} file(s)", total=total) as advance:
        for item in paths:
            digest = hashlib.sha256()
            with item.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                    advance(len(chunk))
            digests[item] = digest.hexdigest()
    return digests
