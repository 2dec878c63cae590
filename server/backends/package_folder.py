"""Read a package folder (what `tunesmith package` writes) into what the embedded backend serves.

The Modelfile names the default GGUF, the GGUF LoRA adapter applied over it when it has an ADAPTER line, and the
defaults `ollama run` would apply (stop, num_ctx, sampling, SYSTEM, MESSAGE lines); the model id is the package name,
the GGUF's file name without its quantization suffix (and without `-base` when an adapter goes over it).
`template_differs` tells whether its TEMPLATE is one the packager would not have derived from the GGUF's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import ModelError, ModelfileError
from tunesmith.modelfiles import ChatFormat, Modelfile, parse_modelfile
from tunesmith.modelfiles.grammar import scan

__all__ = ["ServedPackage", "package_model_name", "read_package", "template_differs"]

# `<name>-Q4_K_M.gguf`, `<name>-F16.gguf`, `<name>-IQ4_XS.gguf`, `<name>-BF16.gguf`: the quant follows the last dash.
_QUANT_SUFFIX = re.compile(r"-(?:I?Q\d\w*|[BF]F?16|F32)$", re.IGNORECASE)
# `tunesmith package --as-adapter` names the quantized files `<name>-base-<QUANT>.gguf`.
_BASE_SUFFIX = re.compile(r"-base$", re.IGNORECASE)


@dataclass(frozen=True)
class ServedPackage:
    """One model of the embedded backend: its id, GGUF, the GGUF LoRA adapter over it, and parsed Modelfile."""

    model_id: str
    gguf: Path
    modelfile: Modelfile
    folder: Path
    adapter: Path | None = None


def read_package(folder: str | Path, model_id: str | None = None) -> ServedPackage:
    """Check and read a package folder; errors name the file and say how to make a valid one."""
    folder = Path(folder)
    modelfile_path = folder / "Modelfile"
    if not folder.is_dir():
        raise ModelError("package folder does not exist", where=str(folder),
                         hint="Pass a folder written by `tunesmith package` to --model.")
    if not modelfile_path.is_file():
        raise ModelError("package folder has no Modelfile", where=str(folder),
                         hint="Pass a folder written by `tunesmith package`, or write a Modelfile whose FROM names "
                              "the GGUF file.")
    try:
        text = modelfile_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ModelfileError("Modelfile is not UTF-8 text", where=str(modelfile_path),
                             hint="Re-save it as UTF-8.") from err
    modelfile = parse_modelfile(text, source=str(modelfile_path))
    gguf = (folder / modelfile.from_).resolve() if not Path(modelfile.from_).is_absolute() else Path(modelfile.from_)
    if gguf.suffix.lower() != ".gguf":
        raise ModelError(f"FROM names {modelfile.from_!r}, not a .gguf file", where=str(modelfile_path),
                         hint="The embedded backend serves GGUF files; point FROM at the package's GGUF "
                              "(e.g. FROM ./name-Q4_K_M.gguf).")
    if not gguf.is_file():
        raise ModelError(f"FROM names {modelfile.from_!r}, which does not exist", where=str(modelfile_path),
                         hint="Re-run `tunesmith package`, or fix the FROM line.")
    adapter = _adapter(folder, modelfile, text, modelfile_path)
    name = package_model_name(gguf, with_adapter=adapter is not None)
    return ServedPackage(model_id=model_id or name, gguf=gguf, modelfile=modelfile, folder=folder, adapter=adapter)


def package_model_name(gguf: Path, *, with_adapter: bool) -> str:
    """The model a package's GGUF holds: its file name without the quantization suffix (`demo` for
    demo-Q4_K_M.gguf), and without `-base` when an adapter goes over it (demo-base-Q4_K_M.gguf)."""
    name = _QUANT_SUFFIX.sub("", gguf.stem)
    return _BASE_SUFFIX.sub("", name) if with_adapter else name


def _adapter(folder: Path, modelfile: Modelfile, text: str, modelfile_path: Path) -> Path | None:
    """The GGUF adapter the ADAPTER line names (parse_modelfile has refused a second one), checked to exist."""
    if modelfile.adapter is None:
        return None
    line = next(command.line for command in scan(text) if command.keyword == "adapter")
    where = f"{modelfile_path}:{line}"
    adapter = Path(modelfile.adapter)
    adapter = adapter if adapter.is_absolute() else (folder / adapter).resolve()
    if adapter.suffix.lower() != ".gguf":
        raise ModelError(f"ADAPTER names {modelfile.adapter!r}, not a .gguf file", where=where,
                         hint="The embedded backend applies GGUF LoRA adapters: package with `tunesmith package "
                              "--as-adapter`, or serve this Modelfile through Ollama (--ollama).")
    if not adapter.is_file():
        raise ModelError(f"ADAPTER names {modelfile.adapter!r}, which does not exist", where=where,
                         hint="Re-run `tunesmith package --as-adapter`, or fix the ADAPTER line.")
    return adapter


def template_differs(modelfile: Modelfile, derived: ChatFormat | None) -> bool:
    """Whether `ollama run` formats chats otherwise than the GGUF's own chat template does; `derived` is the chat
    format the packager chooses for that template (None when it can choose none).

    The packager derives the Modelfile's TEMPLATE from that chat template, so the two render the same prompts; a
    TEMPLATE given with `--template`, or edited since, is the exception. No TEMPLATE: Ollama reads the GGUF's too.
    """
    if modelfile.template is None:
        return False
    # No derived format: the packager could not have made one, so the TEMPLATE was written by hand.
    return derived is None or derived.template != modelfile.template
