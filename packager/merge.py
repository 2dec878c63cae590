"""Merging a PEFT LoRA adapter into its base model: one 16-bit Hugging Face folder that the converter reads.

The adapter is checked against the base from file headers alone (target modules, LoRA shapes) before anything is
loaded, so an adapter trained on another model fails in a second with the name of the model it expects.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

from tunesmith.errors import ModelError, PackageError
from tunesmith.files import atomic_dir
from tunesmith.packager.model_folder import ModelFolder, open_model_folder
from tunesmith.progress import SILENT, Progress

__all__ = ["MERGE_DTYPES", "check_adapter", "merge_adapter"]

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
_LORA_PARTS = (".lora_A.", ".lora_B.", ".lora_embedding_A", ".lora_embedding_B")


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
    quantized = _bitsandbytes_config(base)
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
                f"peft could not apply the adapter: {err}", where=str(adapter), hint=_trained_on(adapter_config)
            ) from err
        merged = merged.to(getattr(torch, target))
        with atomic_dir(out, replace=True) as tmp:
            merged.save_pretrained(tmp)
            _finish_config(tmp / "config.json", target)
            used = _copy_tokenizer(base.path, adapter, tmp)
    if used == "adapter":
        progress.note("Using the tokenizer files saved with the adapter (they may carry the trained chat template).")
    return out


def check_adapter(adapter: Path, base: ModelFolder) -> dict[str, Any]:
    """Check that `adapter` is a LoRA adapter that fits `base`; return its adapter_config.json."""
    if not adapter.is_dir():
        raise ModelError(
            "adapter folder does not exist",
            where=str(adapter),
            hint="Pass the folder that holds adapter_config.json and adapter_model.safetensors.",
        )
    config_path = adapter / "adapter_config.json"
    if not config_path.is_file():
        if (adapter / "config.json").is_file():
            raise ModelError(
                "this folder is a full model, not a LoRA adapter (it has config.json but no adapter_config.json)",
                where=str(adapter),
                hint="Pass it as the base model instead, or pass the adapter folder the trainer wrote.",
            )
        raise ModelError(
            "no adapter_config.json in the adapter folder",
            where=str(adapter),
            hint="Save the adapter with `peft_model.save_pretrained(DIR)`, which writes it.",
        )
    config = _read_json(config_path)
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise ModelError(
            f"only LoRA adapters can be merged, this one is {config.get('peft_type')!r}",
            where=f"{config_path}: peft_type",
            hint="Train a LoRA (or QLoRA) adapter.",
        )
    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():
        legacy = (adapter / "adapter_model.bin").is_file()
        raise ModelError(
            "the adapter weights are in the legacy adapter_model.bin format"
            if legacy
            else "no adapter_model.safetensors in the adapter folder",
            where=str(adapter),
            hint="Save the adapter again with `peft_model.save_pretrained(DIR)` (safetensors).",
        )
    shapes = _safetensors_shapes(weights)
    base_shapes = _base_shapes(base)
    missing, mismatched = _compare(shapes, base_shapes, transposed=bool(config.get("fan_in_fan_out")))
    if missing:
        raise ModelError(
            f"the adapter targets modules the base model lacks: {', '.join(missing[:5])}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""),
            where=str(adapter),
            hint=f"{_trained_on(config)}; merge it onto that model, not {base.path}.",
        )
    if mismatched:
        raise ModelError(
            f"the adapter's shapes do not fit the base model: {mismatched[0]}"
            + (f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""),
            where=str(adapter),
            hint=f"{_trained_on(config)}; merge it onto that model, not {base.path}.",
        )
    return config


def _compare(
    shapes: dict[str, list[int]], base_shapes: dict[str, list[int] | None], *, transposed: bool
) -> tuple[list[str], list[str]]:
    missing: list[str] = []
    mismatched: list[str] = []
    for key, shape in shapes.items():
        part = next((p for p in _LORA_PARTS if p in key), None)
        if part is None:
            continue
        module = key.split(part)[0].removeprefix("base_model.model.")
        weight = _base_weight_name(module, base_shapes)
        if weight is None:
            if module not in missing:
                missing.append(module)
            continue
        base_shape = base_shapes[weight]
        if base_shape is None or len(base_shape) != 2 or len(shape) != 2:
            continue  # a packed 4-bit tensor: its logical shape is not in the header
        # Which axis of the base weight each LoRA factor must match: a Linear stores [out, in]; an Embedding
        # [vocab, dim] and a Conv1D (fan_in_fan_out) [in, out] are the other way round.
        a_axis, b_axis = (0, 1) if transposed or "embedding" in part else (1, 0)
        is_a = "_A" in part
        side, expected = (shape[1], base_shape[a_axis]) if is_a else (shape[0], base_shape[b_axis])
        if side != expected:
            mismatched.append(f"{key} has shape {shape}, the base's {weight} has {base_shape}")
    return missing, mismatched


def _base_weight_name(module: str, base_shapes: dict[str, Any]) -> str | None:
    name = f"{module}.weight"
    if name in base_shapes:
        return name
    # Tied embeddings: the checkpoint stores no lm_head, which shares the input embedding.
    if module.endswith("lm_head"):
        return next((n for n in base_shapes if n.endswith("embed_tokens.weight")), None)
    return None


def _safetensors_shapes(path: Path) -> dict[str, list[int]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="pt") as handle:
            return {name: list(handle.get_slice(name).get_shape()) for name in handle.keys()}  # noqa: SIM118 (safe_open is no dict)
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelError(
            f"unreadable safetensors file ({err})",
            where=str(path),
            hint="The file is truncated or not safetensors; save the adapter again.",
        ) from err


def _base_shapes(base: ModelFolder) -> dict[str, list[int] | None]:
    shapes: dict[str, list[int] | None] = {}
    packed = _bitsandbytes_config(base) is not None
    for weight_file in base.weight_files:
        for name, shape in _safetensors_shapes(weight_file).items():
            shapes[name] = None if packed else shape
    return shapes


def _bitsandbytes_config(base: ModelFolder) -> dict[str, Any] | None:
    quant = base.quantization
    if quant is None:
        return None
    if quant.get("quant_method") != "bitsandbytes":
        raise ModelError(
            f"cannot merge into a {quant.get('quant_method')!r}-quantized base model",
            where=f"{base.path / 'config.json'}: quantization_config",
            hint="Use the 16-bit original of the base model (or a bitsandbytes 4-bit one).",
        )
    return quant


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
    config = _read_json(config_path)
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


def _trained_on(config: dict[str, Any]) -> str:
    name = config.get("base_model_name_or_path")
    return f"adapter_config.json says it was trained on {name!r}" if name else "adapter_config.json names no base model"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = f"{path}:{err.lineno}" if isinstance(err, json.JSONDecodeError) else str(path)
        raise ModelError(f"not valid JSON: {err}", where=where, hint="Fix or re-save the file.") from err
    if not isinstance(data, dict):
        raise ModelError("expected a JSON object", where=str(path), hint="The file must hold one {...} object.")
    return data
