"""Hugging Face folder → GGUF file: plan every tensor from the safetensors headers, write the header, then stream.

Tensors are read one at a time with plain reads rather than safetensors' mmap, whose pages would stay counted.
"""

from __future__ import annotations

import contextlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from tunesmith.errors import ModelError, PackageError
from tunesmith.files import atomic_file
from tunesmith.packager.gguf_arch import SUPPORTED_ARCHITECTURES, Family, Hparams, family_for
from tunesmith.packager.gguf_vocab import vocab_row_count, write_vocab
from tunesmith.packager.model_folder import ModelFolder, open_model_folder
from tunesmith.progress import SILENT, Progress

__all__ = ["OUT_TYPES", "SUPPORTED_ARCHITECTURES", "convert_to_gguf"]

_Q = gguf.GGMLQuantizationType
OUT_TYPES: dict[str, tuple[gguf.LlamaFileType, gguf.GGMLQuantizationType]] = {
    "f32": (gguf.LlamaFileType.ALL_F32, _Q.F32),
    "f16": (gguf.LlamaFileType.MOSTLY_F16, _Q.F16),
    "bf16": (gguf.LlamaFileType.MOSTLY_BF16, _Q.BF16),
    "q8_0": (gguf.LlamaFileType.MOSTLY_Q8_0, _Q.Q8_0),
}
# Tensors llama.cpp recomputes itself or never reads.
_UNUSED_SUFFIXES = (".attention.masked_bias", ".attention.bias", ".rotary_emb.inv_freq")
# llama.cpp keeps these in float32 whatever the file type (its quantizer makes the same exception).
_F32_KINDS = (gguf.MODEL_TENSOR.FFN_GATE_INP, gguf.MODEL_TENSOR.POS_EMBD, gguf.MODEL_TENSOR.TOKEN_TYPES)


@dataclass
class _Planned:
    source: str | None  # HF tensor name, or None for a generated tensor
    name: str
    shape: tuple[int, ...]  # numpy order, after transforms
    qtype: gguf.GGMLQuantizationType
    data: Any = None  # generated tensors carry their data


def convert_to_gguf(
    model_dir: str | Path, out_path: str | Path, *, out_type: str = "f16", progress: Progress = SILENT
) -> Path:
    """Convert a Hugging Face causal-LM folder to one GGUF file at `out_path` and return that path.

    `out_type` is "f16" (default), "bf16", "f32" or "q8_0"; norms and biases stay float32 as llama.cpp expects.
    """
    if out_type not in OUT_TYPES:
        raise PackageError(
            f"unknown GGUF output type {out_type!r}",
            hint=f"Use one of: {', '.join(OUT_TYPES)} (quantize further with llama.cpp's quantizer).",
        )
    folder = open_model_folder(model_dir)
    family = family_for(folder.architecture, folder.path / "config.json")
    if folder.quantization:
        raise ModelError(
            "the model folder holds quantized weights (quantization_config in config.json)",
            where=str(folder.path / "config.json"),
            hint="Merge or save the model in 16-bit first (tunesmith's merge step does this).",
        )
    file_type, qtype = OUT_TYPES[out_type]
    hparams = Hparams(folder.config, where=str(folder.path / "config.json"))
    writer = gguf.GGUFWriter(path=None, arch=gguf.MODEL_ARCH_NAMES[family.arch])
    with contextlib.ExitStack() as stack:
        stored = _index_weights(folder)
        files = {path: stack.enter_context(path.open("rb")) for path in folder.weight_files}
        plan = _plan(folder, family, hparams, stored, writer, qtype)
        for item in plan:
            writer.add_tensor_info(
                item.name, _stored_shape(item), _NUMPY[item.qtype], _nbytes(item), raw_dtype=item.qtype
            )
        _write_metadata(writer, folder, family, hparams, file_type)
        out = Path(out_path)
        with atomic_file(out) as tmp, progress.task(f"Writing {out.name}", total=len(plan)) as advance:
            try:
                writer.write_header_to_file(path=tmp)
                writer.write_kv_data_to_file()
                writer.write_ti_data_to_file()
                for item in plan:
                    writer.write_tensor_data(_tensor_bytes(item, family, hparams, stored, files))
                    advance(1)
            finally:
                writer.close()  # before atomic_file renames the file, or removes it after a failure
    return out


_BLOCK_ELEMENTS = 1 << 22
# gguf-py hands back BF16 and Q8_0 data as raw bytes.
_NUMPY: dict[gguf.GGMLQuantizationType, np.dtype[Any]] = {
    _Q.F32: np.dtype(np.float32),
    _Q.F16: np.dtype(np.float16),
    _Q.BF16: np.dtype(np.uint8),
    _Q.Q8_0: np.dtype(np.uint8),
}


@dataclass(frozen=True)
class _Stored:
    path: Path
    dtype: str  # safetensors dtype name
    shape: tuple[int, ...]
    start: int  # absolute byte offset in the file
    end: int


_TORCH_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}


def _index_weights(folder: ModelFolder) -> dict[str, _Stored]:
    index = {}
    for weight_file in folder.weight_files:
        with weight_file.open("rb") as handle:
            (header_len,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(header_len))
        for name, info in header.items():
            if name != "__metadata__":
                start, end = info["data_offsets"]
                index[name] = _Stored(
                    weight_file, info["dtype"], tuple(info["shape"]), 8 + header_len + start, 8 + header_len + end
                )
    return index


def _load(stored: _Stored, files: dict[Path, Any]) -> Any:
    import torch

    buffer = bytearray(stored.end - stored.start)
    handle = files[stored.path]
    handle.seek(stored.start)
    if handle.readinto(buffer) != len(buffer):
        raise ModelError(
            "unreadable safetensors file (shorter than its header says)",
            where=str(stored.path),
            hint="The file is truncated; download or save it again.",
        )
    dtype = getattr(torch, _TORCH_DTYPES[stored.dtype])
    if not buffer:
        return torch.empty(stored.shape, dtype=dtype)
    return torch.frombuffer(buffer, dtype=dtype).reshape(stored.shape)


def _plan(
    folder: ModelFolder,
    family: Family,
    hp: Hparams,
    stored: dict[str, _Stored],
    writer: gguf.GGUFWriter,
    qtype: gguf.GGMLQuantizationType,
) -> list[_Planned]:
    tensor_map = gguf.get_tensor_name_map(family.arch, hp.block_count)
    plan: list[_Planned] = []
    if family.extra_tensors is not None:
        for kind, data in family.extra_tensors(writer, hp):
            plan.append(_Planned(None, gguf.TENSOR_NAMES[kind] + ".weight", tuple(data.shape), _Q.F32, data))
    rows = vocab_row_count(folder.path, folder.config) if family.trims_vocab else None
    for source, info in stored.items():
        if source.endswith(_UNUSED_SUFFIXES) or (family.skip_lm_head and source == "lm_head.weight"):
            continue
        mapped = tensor_map.get_type_and_name(source, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            raise ModelError(
                f"tensor {source!r} has no place in a {gguf.MODEL_ARCH_NAMES[family.arch]} GGUF",
                where=str(folder.path),
                hint="The weights do not match config.json's architecture; save the model again with transformers.",
            )
        kind, name = mapped
        shape = info.shape
        if rows is not None and "embed_tokens" in source:
            shape = (min(rows, shape[0]), *shape[1:])
        plan.append(_Planned(source, name, shape, _tensor_qtype(name, kind, shape, qtype)))
    return plan


def _tensor_qtype(
    name: str, kind: gguf.MODEL_TENSOR, shape: tuple[int, ...], wanted: gguf.GGMLQuantizationType
) -> gguf.GGMLQuantizationType:
    if len(shape) <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight") or kind in _F32_KINDS:
        return _Q.F32
    if wanted == _Q.Q8_0 and shape[-1] % gguf.GGML_QUANT_SIZES[_Q.Q8_0][0] != 0:
        return _Q.F16  # rows that do not fill whole Q8_0 blocks stay 16-bit, as in llama.cpp's converter
    return wanted


def _stored_shape(item: _Planned) -> tuple[int, ...]:
    if item.qtype in (_Q.Q8_0, _Q.BF16):
        return gguf.quant_shape_to_byte_shape(item.shape, item.qtype)
    return item.shape


def _nbytes(item: _Planned) -> int:
    count = int(np.prod(item.shape))
    block, size = gguf.GGML_QUANT_SIZES[item.qtype]
    return count // block * size


def _tensor_bytes(
    item: _Planned, family: Family, hp: Hparams, stored: dict[str, _Stored], files: dict[Path, Any]
) -> np.ndarray:
    if item.source is None:
        return _encode(item.data, item.qtype)
    data = _load(stored[item.source], files)
    if family.trims_vocab and "embed_tokens" in item.source:
        data = data[: item.shape[0]]
    if family.transform is not None and family.transforms(item.source):
        # Transform in float32 as llama.cpp's converter does, so that rounding matches bit for bit.
        return _encode(family.transform(item.source, _as_float(data), hp), item.qtype)
    return _encode_by_rows(data, item.qtype)


def _as_float(data: Any) -> Any:
    import torch

    return data if data.dtype in (torch.float16, torch.float32) else data.to(torch.float32)


def _encode(data: Any, qtype: gguf.GGMLQuantizationType) -> np.ndarray:
    array = _as_float(data).numpy()
    if qtype == _Q.F32:
        return array.astype(np.float32, copy=False)
    if qtype == _Q.F16:
        return array.astype(np.float16, copy=False)
    return gguf.quants.quantize(array, qtype)


def _encode_by_rows(data: Any, qtype: gguf.GGMLQuantizationType) -> np.ndarray:
    # Converting blocks of rows into one output array keeps a block's float32 copy alive, not a whole tensor's.
    import torch

    unchanged = (data.dtype, qtype) in ((torch.float16, _Q.F16), (torch.float32, _Q.F32))
    if unchanged or data.ndim < 2 or data.numel() <= _BLOCK_ELEMENTS:
        return _encode(data, qtype)
    rows = max(1, _BLOCK_ELEMENTS // (data.numel() // data.shape[0]))
    first = _encode(data[:rows], qtype)
    out = np.empty((data.shape[0], *first.shape[1:]), dtype=first.dtype)
    out[:rows] = first
    for start in range(rows, data.shape[0], rows):
        out[start : start + rows] = _encode(data[start : start + rows], qtype)
    return out


def _write_metadata(
    writer: gguf.GGUFWriter, folder: ModelFolder, family: Family, hp: Hparams, file_type: gguf.LlamaFileType
) -> None:
    total, shared, expert, experts = writer.get_total_parameter_count()
    metadata = gguf.Metadata.load(None, folder.path, None, total)
    if metadata.name is None:
        metadata.name = folder.path.name
    if metadata.size_label is None and total > 0:
        metadata.size_label = gguf.size_label(total, shared, expert, experts)
    writer.add_type(gguf.GGUFType.MODEL)
    metadata.set_gguf_meta_model(writer)
    family.write_params(writer, hp)
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    write_vocab(writer, folder.path, family.vocab, hp.raw)
