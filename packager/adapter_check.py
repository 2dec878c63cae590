"""Whether a PEFT LoRA adapter fits a base model, judged from file headers alone (target modules, LoRA factor
shapes) before anything is loaded: an adapter trained on another model fails in a second, naming the model its
adapter_config.json says it was trained on. Merging and GGUF adapter conversion both check here first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.errors import ModelError
from tunesmith.packager.model_folder import ModelFolder, read_json_object
from tunesmith.user_files import existing_folder

__all__ = ["bitsandbytes_config", "check_adapter", "trained_on"]

_LORA_PARTS = (".lora_A.", ".lora_B.", ".lora_embedding_A", ".lora_embedding_B")


def check_adapter(adapter: Path, base: ModelFolder) -> dict[str, Any]:
    """Check that `adapter` is a LoRA adapter that fits `base`; return its adapter_config.json."""
    hint = "Pass the folder that holds adapter_config.json and adapter_model.safetensors."
    existing_folder(adapter, what="adapter folder", error=ModelError, hint=hint)
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
    config = read_json_object(config_path)
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
    for found, problem, shown in (
        (missing, "the adapter targets modules the base model lacks", 5),
        (mismatched, "the adapter's shapes do not fit the base model", 1),
    ):
        if found:
            more = f" (and {len(found) - shown} more)" if len(found) > shown else ""
            raise ModelError(
                f"{problem}: {', '.join(found[:shown])}{more}",
                where=str(adapter),
                hint=f"{trained_on(config)}; merge it onto that model, not {base.path}.",
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
    packed = bitsandbytes_config(base) is not None
    for weight_file in base.weight_files:
        for name, shape in _safetensors_shapes(weight_file).items():
            shapes[name] = None if packed else shape
    return shapes


def bitsandbytes_config(base: ModelFolder) -> dict[str, Any] | None:
    """The base's bitsandbytes quantization settings (None for a 16-bit base); ModelError for another method."""
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


def trained_on(config: dict[str, Any]) -> str:
    name = config.get("base_model_name_or_path")
    return f"adapter_config.json says it was trained on {name!r}" if name else "adapter_config.json names no base model"
