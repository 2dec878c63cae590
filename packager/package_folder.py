"""Reading a package folder (what `packager/package.py` writes): its Modelfile, the GGUF its FROM names, the GGUF
LoRA adapter its ADAPTER names, and the files a release holds. Serving and publishing both read packages here.

A package folder is self-contained: FROM and ADAPTER name GGUF files inside it, which is what lets a release copy
the folder and `ollama create -f Modelfile` rebuild the same model anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import ModelfileError, PackageError
from tunesmith.modelfiles import Modelfile, parse_modelfile
from tunesmith.modelfiles.grammar import scan
from tunesmith.user_files import read_text_file

__all__ = ["PackageFolder", "package_model_name", "read_package_folder"]

# `<name>-Q4_K_M.gguf`, `<name>-F16.gguf`, `<name>-IQ4_XS.gguf`, `<name>-BF16.gguf`: the quant follows the last dash.
_QUANT_SUFFIX = re.compile(r"-(?:I?Q\d\w*|[BF]F?16|F32)$", re.IGNORECASE)
# `tunesmith package --as-adapter` names the quantized files `<name>-base-<QUANT>.gguf`.
_BASE_SUFFIX = re.compile(r"-base$", re.IGNORECASE)
_PACKAGE_HINT = "Point at a folder written by `tunesmith package --out DIR` (it holds the GGUF files and a Modelfile)."


@dataclass(frozen=True)
class PackageFolder:
    """A package folder read and checked: `gguf` is the file FROM names, `adapter` the one ADAPTER names (or None),
    `files` every file a release holds, sorted by name."""

    folder: Path
    modelfile: Modelfile
    gguf: Path
    adapter: Path | None
    files: tuple[Path, ...]

    @property
    def name(self) -> str:
        """The model's name: `demo` for demo-Q4_K_M.gguf, and for demo-base-Q4_K_M.gguf under an adapter."""
        return package_model_name(self.gguf, with_adapter=self.adapter is not None)


def read_package_folder(folder: str | Path) -> PackageFolder:
    """Check `folder` and read its Modelfile; raise PackageError (or ModelfileError) naming the file and the line,
    and saying how to make a valid one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PackageError("the package folder does not exist", where=str(folder), hint=_PACKAGE_HINT)
    modelfile_path = folder / "Modelfile"
    if not modelfile_path.is_file():
        raise PackageError("the package folder has no Modelfile", where=str(folder), hint=_PACKAGE_HINT)
    hint = "Re-create the package with `tunesmith package`."
    text = read_text_file(modelfile_path, what="the Modelfile", error=ModelfileError, hint=hint)
    modelfile = parse_modelfile(text, source=str(modelfile_path))
    lines = {command.keyword: command.line for command in scan(text)}
    gguf = _gguf(folder, "FROM", modelfile.from_, f"{modelfile_path}:{lines.get('from', 1)}")
    adapter = None
    if modelfile.adapter is not None:
        adapter = _gguf(folder, "ADAPTER", modelfile.adapter, f"{modelfile_path}:{lines.get('adapter', 1)}")
    # Hidden files are leftovers of interrupted writes (`.NAME.partial`), never part of a release.
    files = tuple(
        sorted(
            (item for item in folder.iterdir() if item.is_file() and not item.name.startswith(".")),
            key=lambda item: item.name,
        )
    )
    return PackageFolder(folder=folder, modelfile=modelfile, gguf=gguf, adapter=adapter, files=files)


def package_model_name(gguf: Path, *, with_adapter: bool) -> str:
    """The model a package's GGUF holds: its file name without the quantization suffix (`demo` for
    demo-Q4_K_M.gguf), and without `-base` when an adapter goes over it (demo-base-Q4_K_M.gguf)."""
    name = _QUANT_SUFFIX.sub("", gguf.stem)
    return _BASE_SUFFIX.sub("", name) if with_adapter else name


def _gguf(folder: Path, keyword: str, value: str, where: str) -> Path:
    """The GGUF file a FROM or ADAPTER line names, checked to be a GGUF file inside the package folder."""
    path = Path(value)
    path = path if path.is_absolute() else (folder / path).resolve()
    if path.suffix.lower() != ".gguf":
        if keyword == "FROM" and "/" not in value:
            raise PackageError(
                f"FROM names {value!r}, a model name, not a .gguf file inside the package",
                where=where,
                hint="Write the package's own GGUF: `FROM ./NAME-Q4_K_M.gguf`.",
            )
        raise PackageError(
            f"{keyword} names {value!r}, not a .gguf file",
            where=where,
            hint="A package holds GGUF files: package with `tunesmith package` (`--as-adapter` for "
            "a GGUF LoRA adapter), or serve this Modelfile through Ollama (--ollama).",
        )
    if not path.is_file():
        raise PackageError(
            f"{keyword} names {value!r}, which does not exist",
            where=where,
            hint=f"Re-run `tunesmith package{' --as-adapter' if keyword == 'ADAPTER' else ''}`, "
            f"or fix the {keyword} line.",
        )
    if path.parent != folder.resolve():
        raise PackageError(
            f"{keyword} names {value!r}, outside the package folder",
            where=where,
            hint=f"Keep the GGUF files in the package folder and write `{keyword} ./FILE.gguf`.",
        )
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise PackageError(
                f"{path.name} is not a GGUF file (it does not start with `GGUF`)",
                where=str(path),
                hint="Re-create the package with `tunesmith package`.",
            )
    return path
