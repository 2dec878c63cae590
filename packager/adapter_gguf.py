"""PEFT LoRA adapter → GGUF adapter file, which llama.cpp (`--lora`) and Ollama (`ADAPTER`) apply over the base GGUF.

Written with gguf-py the way llama.cpp's convert_lora_to_gguf.py writes it (same metadata, tensors named
`<base tensor>.lora_a` / `.lora_b`, same bytes); hand-written because that script runs only from llama.cpp's source
tree and reads the base model's whole converter class for what is here a name map and one row permutation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from tunesmith.errors import ModelError, PackageError
from tunesmith.files import atomic_file
from tunesmith.packager.gguf_arch import Family, Hparams, family_for
from tunesmith.packager.model_folder import ModelFolder, open_model_folder
from tunesmith.progress import SILENT, Progress

__all__ = ["ADAPTER_OUT_TYPES", "check_adapter_for_gguf", "convert_adapter_to_gguf"]

ADAPTER_OUT_TYPES: dict[str, gguf.GGMLQuantizationType] = {
    "f16": gguf.GGMLQuantizationType.F16,
    "f32": gguf.GGMLQuantizationType.F32,
}
_LORA_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")
_MERGE_HINT = (
    "Package it merged instead (drop --as-adapter): tunesmith then merges the adapter into the base "
    "before converting, which supports every LoRA peft writes."
)


def _not_carried(why: str, *, where: str) -> ModelError:
    """The error for an adapter a GGUF adapter cannot carry: `why`, and to package it merged instead."""
    return ModelError(f"this adapter cannot be packaged as a GGUF adapter: {why}", where=where, hint=_MERGE_HINT)


# adapter_config.json settings llama.cpp's LoRA cannot express: it applies B·A scaled by alpha / rank, nothing else.
_UNSUPPORTED_SETTINGS = {
    "modules_to_save": "it saves whole modules beside its LoRA matrices (modules_to_save)",
    "use_dora": "it is a DoRA adapter (use_dora), whose magnitude vectors llama.cpp cannot apply",
    "use_rslora": "it scales by alpha / sqrt(rank) (use_rslora), llama.cpp by alpha / rank",
    "alpha_pattern": "it sets another alpha for some modules (alpha_pattern); a GGUF adapter has one alpha",
    "lora_bias": "it trains a bias beside its LoRA matrices (lora_bias)",
    "trainable_token_indices": "it trains some token embeddings (trainable_token_indices)",
    "alora_invocation_tokens": "it is an activated LoRA (alora_invocation_tokens)",
    "fan_in_fan_out": "it targets Conv1D layers stored transposed (fan_in_fan_out)",
}


@dataclass(frozen=True)
class _Pair:
    weight: str  # the base model's tensor, e.g. model.layers.0.self_attn.q_proj.weight
    gguf_name: str  # its name in the base GGUF, e.g. blk.0.attn_q.weight
    a_key: str
    b_key: str


def check_adapter_for_gguf(adapter_dir: str | Path, base_dir: str | Path) -> dict[str, Any]:
    """Check that the LoRA adapter fits the base and that a GGUF adapter can carry it; return adapter_config.json.

    Reads only headers, so an adapter llama.cpp could not apply fails before any long step.
    """
    return _inspect(Path(adapter_dir), Path(base_dir))[2]


def convert_adapter_to_gguf(
    adapter_dir: str | Path,
    base_dir: str | Path,
    out_path: str | Path,
    *,
    out_type: str = "f16",
    progress: Progress = SILENT,
) -> Path:
    """Write the LoRA adapter in `adapter_dir` (trained on the model in `base_dir`) as a GGUF adapter at `out_path`.

    `out_type` is "f16" (default) or "f32"; the file appears only when complete.
    """
    if out_type not in ADAPTER_OUT_TYPES:
        raise PackageError(
            f"unknown GGUF adapter type {out_type!r}",
            where="out_type",
            hint=f"Use one of: {', '.join(ADAPTER_OUT_TYPES)}.",
        )
    adapter = Path(adapter_dir)
    base, family, config, pairs = _inspect(adapter, Path(base_dir))
    from safetensors.torch import load_file

    tensors = load_file(adapter / "adapter_model.safetensors", device="cpu")
    hparams = Hparams(base.config, where=str(base.path / "config.json"))
    qtype = ADAPTER_OUT_TYPES[out_type]
    writer = gguf.GGUFWriter(path=None, arch=gguf.MODEL_ARCH_NAMES[family.arch])
    for pair in pairs:
        lora_a, lora_b = _factors(pair, tensors, family, hparams)
        # lora_a before its lora_b: gguf-py counts the adapter's size from such neighbours.
        writer.add_tensor(f"{pair.gguf_name}.lora_a", _encode(lora_a, qtype))
        writer.add_tensor(f"{pair.gguf_name}.lora_b", _encode(lora_b, qtype))
    _write_metadata(writer, adapter, base, float(config["lora_alpha"]))
    out = Path(out_path)
    with atomic_file(out) as tmp, progress.task(f"Writing {out.name}"):
        try:
            writer.write_header_to_file(path=tmp)
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
        finally:
            writer.close()  # before atomic_file renames the file, or removes it after a failure
    return out


def _inspect(adapter: Path, base_dir: Path) -> tuple[ModelFolder, Family, dict[str, Any], list[_Pair]]:
    from tunesmith.packager.adapter_check import check_adapter

    base = open_model_folder(base_dir)
    family = family_for(base.architecture, base.path / "config.json")
    if base.quantization:
        raise ModelError(
            "a GGUF adapter is applied over the 16-bit base, and this base holds quantized weights "
            "(quantization_config in config.json)",
            where=str(base.path / "config.json"),
            hint="Pass the 16-bit original of the base model, or package merged (drop --as-adapter).",
        )
    config = check_adapter(adapter, base)
    config_path = adapter / "adapter_config.json"
    for key, why in _UNSUPPORTED_SETTINGS.items():
        if config.get(key):
            raise _not_carried(why, where=f"{config_path}: {key}")
    if config.get("bias", "none") != "none":
        raise _not_carried(f"it trains biases (bias: {config['bias']!r})", where=f"{config_path}: bias")
    if not isinstance(config.get("lora_alpha"), (int, float)):
        raise ModelError(
            "adapter_config.json has no numeric lora_alpha",
            where=f"{config_path}: lora_alpha",
            hint="Save the adapter again with `peft_model.save_pretrained(DIR)`.",
        )
    return base, family, config, _pairs(adapter, family, Hparams(base.config, where=str(base.path / "config.json")))


def _pairs(adapter: Path, family: Family, hp: Hparams) -> list[_Pair]:
    from safetensors import safe_open

    weights = adapter / "adapter_model.safetensors"
    with safe_open(weights, framework="pt") as handle:
        keys = sorted(handle.keys())
    tensor_map = gguf.get_tensor_name_map(family.arch, hp.block_count)
    parts: dict[str, dict[str, str]] = {}
    for key in keys:
        outside = next((name for name in ("embed_tokens", "lm_head") if f".{name}." in key), None)
        if outside is not None:
            raise _not_carried(
                f"it trains {outside} ({key!r}), and a GGUF adapter carries only the layers' linear projections",
                where=str(weights),
            )
        match = _LORA_KEY.match(key)
        if match is None:
            raise _not_carried(f"it holds {key!r}, which is not a LoRA A or B matrix", where=str(weights))
        parts.setdefault(match["module"], {})[match["part"]] = key
    pairs = []
    for module, found in parts.items():
        if set(found) != {"A", "B"}:
            raise ModelError(
                f"the adapter has lora_{next(iter(found))} but not its partner for {module!r}",
                where=str(weights),
                hint="The file is incomplete; save the adapter again.",
            )
        gguf_name = tensor_map.get_name(f"{module}.weight", try_suffixes=(".weight",))
        if gguf_name is None:
            raise _not_carried(
                f"{module!r} has no place in a {gguf.MODEL_ARCH_NAMES[family.arch]} GGUF", where=str(weights)
            )
        pairs.append(_Pair(f"{module}.weight", gguf_name, found["A"], found["B"]))
    if not pairs:
        raise ModelError(
            "the adapter holds no LoRA matrices",
            where=str(weights),
            hint="Save the adapter again with `peft_model.save_pretrained(DIR)`.",
        )
    return pairs


def _factors(pair: _Pair, tensors: dict[str, Any], family: Family, hp: Hparams) -> tuple[Any, Any]:
    import torch

    lora_a, lora_b = tensors[pair.a_key], tensors[pair.b_key]
    # As llama.cpp's converter: factors of differing or non-IEEE-half types are handled in float32.
    if lora_a.dtype != lora_b.dtype or lora_a.dtype not in (torch.float16, torch.float32):
        lora_a, lora_b = lora_a.to(torch.float32), lora_b.to(torch.float32)
    if family.transform is not None and family.transforms(pair.weight):
        if not family.transform_reorders_rows:
            raise _not_carried(
                f"the converter changes the values of {pair.weight!r}, not just their order", where=pair.a_key
            )
        # The base weight's rows are reordered (llama's q/k RoPE layout); B·A must follow, so B's rows move too.
        lora_b = family.transform(pair.weight, lora_b, hp)
    return lora_a, lora_b


def _encode(data: Any, qtype: gguf.GGMLQuantizationType) -> np.ndarray:
    array = data.contiguous().numpy()
    return array.astype(np.float16 if qtype == gguf.GGMLQuantizationType.F16 else np.float32, copy=False)


def _write_metadata(writer: gguf.GGUFWriter, adapter: Path, base: ModelFolder, alpha: float) -> None:
    total, *_ = writer.get_total_parameter_count()
    metadata = gguf.Metadata.load(None, adapter, None, total)
    if metadata.name is None:
        metadata.name = base.path.name
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    metadata.set_gguf_meta_model(writer)
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
