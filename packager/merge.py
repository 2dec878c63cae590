"""Merging a PEFT LoRA adapter into its base model: one 16-bit Hugging Face folder that the converter reads.

The adapter is checked against the base from file headers alone (target modules, LoRA shapes) before anything is
loaded, so an adapter trained on another model fails in a second with the name of the model it expects.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

from tunesmith.errors import ModelError, PackageError
from tunesmith.files import atomic_dir
from tunesmith.packager.adapter_check import bitsandbytes_config, check_adapter, trained_on
from tunesmith.packager.model_folder import ModelFolder, open_model_folder, read_json_object
from tunesmith.progress import SILENT, Progress

__all__ = ["MERGE_DTYPES", "merge_adapter"]

MERGE_DTYPES = ("auto", "float16", "bfloat16", "float32")
_SAFETENSORS_DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32"}
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
)


def merge_adapter(
    base_dir: str | Path,
    adapter_dir: str | Path,
    out_dir: str | Path,
    *,
    dtype: str = "auto",
    progress: Progress = SILENT,
) -> Path:
    """Merge the LoRA adapter in `adapter_dir` into the model in `base_dir` and save a 16-bit folder `out_dir`.

    `dtype="auto"` keeps the base's 16-bit type and saves float32 bases as float16; a 4-bit bitsandbytes base is
    dequantized first. `out_dir` appears only when complete (and replaces an earlier model folder there).
    """
    if dtype not in MERGE_DTYPES:
        raise PackageError(
            f"unknown merge dtype {dtype!r}", where="dtype", hint=f"Use one of: {', '.join(MERGE_DTYPES)}."
        )
    base = open_model_folder(base_dir)
    adapter = Path(adapter_dir)
    adapter_config = check_adapter(adapter, base)
    out = Path(out_dir)
    _check_output(out, base.path, adapter)
    target = _target_dtype(dtype, base)
    quantized = bitsandbytes_config(base)
    if quantized is not None:
        _require_bitsandbytes(base)

    import torch
    from peft import PeftModel

    with progress.task(f"Merging the adapter into {base.path.name} ({target})"):
        model = _load_base(base, getattr(torch, target), quantized is not None)
        try:
            merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        except (ValueError, RuntimeError, KeyError) as err:
            raise ModelError(
                f"peft could not apply the adapter: {err}", where=str(adapter), hint=trained_on(adapter_config)
            ) from err
        merged = merged.to(getattr(torch, target))
        with atomic_dir(out, replace=True) as tmp:
            merged.save_pretrained(tmp)
            _finish_config(tmp / "config.json", target)
            used = _copy_tokenizer(base.path, adapter, tmp)
    if used == "adapter":
        progress.note("Using the tokenizer files saved with the adapter (they may carry the trained chat template).")
    return out


def _require_bitsandbytes(base: ModelFolder) -> None:
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelError(
            "the base model is quantized with bitsandbytes (4-bit), which is not installed; loading it "
            "to dequantize needs bitsandbytes (and a CUDA GPU, or its CPU backend)",
            where=f"{base.path / 'config.json'}: quantization_config",
            hint="Install it with `pip install 'tunesmith[gpu]'`, or merge onto the 16-bit original "
            "of the base model instead.",
        )


def _target_dtype(dtype: str, base: ModelFolder) -> str:
    if dtype != "auto":
        return dtype
    quant = base.quantization or {}
    candidates = [base.config.get("dtype"), base.config.get("torch_dtype"), quant.get("bnb_4bit_compute_dtype")]
    if not quant:
        candidates.insert(0, _weights_dtype(base))
    for candidate in candidates:
        if candidate in ("float16", "bfloat16"):
            return candidate
    return "float16"  # float32 bases: 16 bits are what the GGUF keeps anyway


def _weights_dtype(base: ModelFolder) -> str | None:
    import struct

    with base.weight_files[0].open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    for name, info in header.items():
        if name != "__metadata__" and len(info.get("shape", [])) == 2:
            return _SAFETENSORS_DTYPES.get(info.get("dtype"))
    return None


def _load_base(base: ModelFolder, dtype, quantized: bool):
    import torch
    from transformers import AutoModelForCausalLM

    try:
        if not quantized:
            return AutoModelForCausalLM.from_pretrained(base.path, dtype=dtype)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model = AutoModelForCausalLM.from_pretrained(base.path, device_map=device)
        # Merging into 4-bit weights would round the merged result to 4 bits again; merge into plain weights.
        model = model.dequantize().to("cpu", dtype)
        _forget_quantized_loading(model)
        return model
    except (OSError, ValueError, RuntimeError) as err:
        raise ModelError(
            f"cannot load the base model: {err}",
            where=str(base.path),
            hint="Check that the folder is a complete model transformers can load.",
        ) from err


def _forget_quantized_loading(model) -> None:
    # transformers remembers how it unpacked the 4-bit checkpoint and tries to undo that on save, which its
    # bitsandbytes step cannot do (and need not: the weights are plain now). Keep only the reversible steps.
    conversions = getattr(model, "_weight_conversions", None)
    if not conversions:
        return
    kept = []
    for conversion in conversions:
        try:
            conversion.reverse_transform()
        except NotImplementedError:
            continue
        kept.append(conversion)
    model._weight_conversions = kept


def _finish_config(config_path: Path, dtype: str) -> None:
    config = read_json_object(config_path)
    config.pop("quantization_config", None)
    config.pop("torch_dtype", None)
    config["dtype"] = dtype
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _copy_tokenizer(base: Path, adapter: Path, out: Path) -> str:
    for name in _TOKENIZER_FILES:
        if (base / name).is_file():
            shutil.copyfile(base / name, out / name)
    overlay = [name for name in _TOKENIZER_FILES if (adapter / name).is_file()]
    for name in overlay:
        shutil.copyfile(adapter / name, out / name)
    return "adapter" if overlay else "base"


def _check_output(out: Path, base: Path, adapter: Path) -> None:
    resolved = out.resolve()
    for source in (base.resolve(), adapter.resolve()):
        if resolved == source or source in resolved.parents or resolved in source.parents:
            raise PackageError(
                "the merged model's folder overlaps an input folder",
                where=str(out),
                hint=f"Choose an output folder outside {source} (and not a parent of it).",
            )
    if out.is_file() or (out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file()):
        raise PackageError(
            "the output path exists and is not a model folder",
            where=str(out),
            hint="Choose a new or empty folder for the merged model.",
        )
