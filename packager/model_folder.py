"""Opening a Hugging Face model folder: check it is complete (config, tokenizer, readable weights) before any long step.

Every failure names the folder and the missing or broken piece, so a wrong `--base` fails in a second, not after a
ten-minute merge. Only the safetensors headers are read here; the converter reads the tensors themselves.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.errors import ModelError
from tunesmith.tokenizer_folder import TOKENIZER_FILES
from tunesmith.user_files import existing_folder, read_json_file

__all__ = ["ModelFolder", "open_model_folder", "read_json_object"]

_MAX_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class ModelFolder:
    """A checked Hugging Face causal-LM folder: its config, weight files and tokenizer files."""

    path: Path
    config: dict[str, Any]
    weight_files: tuple[Path, ...]
    tokenizer_files: tuple[Path, ...]

    @property
    def architecture(self) -> str:
        return self.config["architectures"][0]

    @property
    def quantization(self) -> dict[str, Any] | None:
        """The `quantization_config` of a quantized checkpoint (e.g. bitsandbytes 4-bit), else None."""
        return self.config.get("quantization_config")


def open_model_folder(path: str | Path) -> ModelFolder:
    """Check that `path` is a complete Hugging Face causal-LM folder and return it; raise ModelError otherwise."""
    hint = (
        "Pass the folder that holds config.json and the *.safetensors weights (not a file inside it), or "
        "`--base embedded` for the built-in SmolLM2-135M-Instruct."
    )
    folder = existing_folder(path, what="model folder", error=ModelError, hint=hint)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelError(
            "no config.json in the model folder",
            where=str(folder),
            hint="A Hugging Face model folder has config.json beside its weights; save the model with "
            "`model.save_pretrained(DIR)` or download the whole repository.",
        )
    config = read_json_object(config_path)
    architectures = config.get("architectures")
    if not isinstance(architectures, list) or not architectures or not isinstance(architectures[0], str):
        raise ModelError(
            "config.json has no `architectures` list",
            where=str(config_path),
            hint='Add the model class, e.g. "architectures": ["LlamaForCausalLM"].',
        )
    tokenizer_files = tuple(folder / name for name in TOKENIZER_FILES if (folder / name).is_file())
    if not tokenizer_files:
        raise ModelError(
            "no tokenizer in the model folder (neither tokenizer.json nor tokenizer.model)",
            where=str(folder),
            hint="Save the tokenizer beside the model with `tokenizer.save_pretrained(DIR)`.",
        )
    weight_files = _weight_files(folder)
    for weight_file in weight_files:
        _check_safetensors(weight_file)
    return ModelFolder(folder, config, weight_files, tokenizer_files)


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file holding one object (config.json, adapter_config.json); ModelError naming the line otherwise."""
    data = read_json_file(path, error=ModelError, hint="Fix the JSON syntax at that line.")
    if not isinstance(data, dict):
        raise ModelError("expected a JSON object", where=str(path), hint="The file must hold one {...} object.")
    return data


def _weight_files(folder: Path) -> tuple[Path, ...]:
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        weight_map = read_json_object(index_path).get("weight_map", {})
        names = sorted(set(weight_map.values()))
        missing = [name for name in names if not (folder / name).is_file()]
        if missing:
            raise ModelError(
                f"the safetensors index lists {len(missing)} missing shard(s): {', '.join(missing[:3])}",
                where=str(index_path),
                hint="Download or copy the missing shards into the folder.",
            )
        return tuple(folder / name for name in names)
    files = tuple(sorted(folder.glob("*.safetensors")))
    if files:
        return files
    if any(folder.glob("pytorch_model*.bin")):
        raise ModelError(
            "the weights are in the legacy pytorch_model.bin format",
            where=str(folder),
            hint="Re-save them as safetensors: load the model with transformers and call "
            "`model.save_pretrained(DIR, safe_serialization=True)`.",
        )
    raise ModelError(
        "no *.safetensors weights in the model folder",
        where=str(folder),
        hint="Copy the model's *.safetensors files (and model.safetensors.index.json if sharded) here.",
    )


def _check_safetensors(path: Path) -> None:
    # Read the header ourselves: a truncated or foreign file is reported here, by name, before any long step.
    size = path.stat().st_size
    hint = "The file is truncated or not safetensors; download or save it again."
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ModelError("unreadable safetensors file (shorter than its header)", where=str(path), hint=hint)
        (header_len,) = struct.unpack("<Q", head)
        if header_len > min(size - 8, _MAX_HEADER):
            raise ModelError("unreadable safetensors file (header length beyond the file)", where=str(path), hint=hint)
        try:
            header = json.loads(handle.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ModelError("unreadable safetensors file (header is not JSON)", where=str(path), hint=hint) from err
    data_size = size - 8 - header_len
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not offsets or len(offsets) != 2 or offsets[1] > data_size:
            raise ModelError(
                f"unreadable safetensors file (tensor {name!r} lies beyond the end of the file)",
                where=str(path),
                hint=hint,
            )
