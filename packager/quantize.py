"""Quantizing a 16-bit GGUF to a llama.cpp type (Q4_K_M by default) with llama-cpp-python's `llama_model_quantize`.

The output is read back with gguf-py so the user sees which tensor types llama.cpp really wrote: models whose rows are
not a multiple of 256 (SmolLM2's 576) get other types for many tensors, and we say so rather than hide it.
"""

from __future__ import annotations

import collections
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tunesmith.errors import PackageError
from tunesmith.files import atomic_file
from tunesmith.packager.llama_log import captured_llama_log, last_errors
from tunesmith.progress import SILENT, Progress

__all__ = ["QUANT_TYPES", "QuantizeResult", "normalize_quant", "quantize_gguf"]

# llama.cpp's `enum llama_ftype`, by the names llama-quantize and Ollama use. Values are the ABI of the pinned
# llama-cpp-python (see llama_cpp/llama_cpp.py, LLAMA_FTYPE_*); a test checks them against that module.
QUANT_TYPES: dict[str, int] = {
    "F32": 0,
    "F16": 1,
    "BF16": 32,
    "Q8_0": 7,
    "Q6_K": 18,
    "Q5_K_M": 17,
    "Q5_K_S": 16,
    "Q5_0": 8,
    "Q5_1": 9,
    "Q4_K_M": 15,
    "Q4_K_S": 14,
    "Q4_0": 2,
    "Q4_1": 3,
    "Q3_K_L": 13,
    "Q3_K_M": 12,
    "Q3_K_S": 11,
    "Q2_K": 10,
    "Q2_K_S": 21,
    "IQ4_NL": 25,
    "IQ4_XS": 30,
    "IQ3_M": 27,
    "IQ3_S": 26,
    "IQ3_XS": 22,
    "IQ3_XXS": 23,
    "IQ2_M": 29,
    "IQ2_S": 28,
    "IQ2_XS": 20,
    "IQ2_XXS": 19,
    "IQ1_M": 31,
    "IQ1_S": 24,
    "TQ1_0": 36,
    "TQ2_0": 37,
}
# llama.cpp refuses these without an importance matrix, which tunesmith does not compute.
_NEEDS_IMATRIX = frozenset({"IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_M", "IQ1_S", "Q2_K_S"})
_FLOAT_TYPES = frozenset({"F32", "F16", "BF16"})


@dataclass(frozen=True)
class QuantizeResult:
    """What `quantize_gguf` wrote: the file, the requested type, how many tensors llama.cpp stored per type, and how
    many it had to store in another type than the one `quant` asks for (rows too short for its blocks)."""

    path: Path
    quant: str
    tensor_types: dict[str, int]
    size_bytes: int
    fallbacks: int = 0

    def to_json(self) -> dict[str, object]:
        """The record quality.json keeps per quantized file."""
        return {
            "file": self.path.name,
            "quant": self.quant,
            "size_bytes": self.size_bytes,
            "tensor_types": dict(self.tensor_types),
            "fallbacks": self.fallbacks,
        }

    def summary(self) -> str:
        counts = ", ".join(f"{count} × {name}" for name, count in self.tensor_types.items())
        text = f"{self.path.name} ({self.quant}, {self.size_bytes / 2**20:.1f} MiB): {counts}"
        if self.fallbacks:
            text += (
                f"; {self.fallbacks} tensors have rows that {self.quant}'s blocks do not divide, so llama.cpp "
                f"stored them in another type"
            )
        return text


def normalize_quant(quant: str) -> str:
    """The canonical name of a quantization type (case-insensitive); unknown names list the valid ones."""
    name = quant.strip().upper()
    if name not in QUANT_TYPES:
        valid = ", ".join(name for name in QUANT_TYPES if name not in _NEEDS_IMATRIX)
        raise PackageError(
            f"unknown quantization type {quant!r}",
            where="quant",
            hint=f"Use one of: {valid} (Q4_K_M is the usual choice).",
        )
    if name in _NEEDS_IMATRIX:
        raise PackageError(
            f"quantization type {name} needs an importance matrix, which tunesmith does not compute",
            where="quant",
            hint="Pick IQ3_S, Q3_K_M or a larger type instead.",
        )
    return name


def quantize_gguf(
    src: Path,
    dst: Path,
    quant: str = "Q4_K_M",
    *,
    threads: int | None = None,
    allow_requantize: bool = False,
    progress: Progress = SILENT,
) -> QuantizeResult:
    """Quantize the GGUF `src` to `dst` as `quant`; `dst` appears only when complete, a failure leaves nothing.

    `src` should hold 16- or 32-bit weights; re-quantizing an already quantized file loses quality twice and needs
    `allow_requantize=True`.
    """
    name = normalize_quant(quant)
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise PackageError(
            "GGUF file does not exist",
            where=str(src),
            hint="Convert the model first (tunesmith package writes the 16-bit GGUF).",
        )
    if dst.resolve() == src.resolve():
        raise PackageError(
            "the quantized file would overwrite its source",
            where=str(dst),
            hint="Write it under another name, e.g. MODEL-Q4_K_M.gguf.",
        )
    if dst.is_dir():
        raise PackageError("the output path is a folder", where=str(dst), hint="Pass a file path ending in .gguf.")
    quantized = sorted(set(_tensor_types(src)) - _FLOAT_TYPES)
    if quantized and not allow_requantize:
        raise PackageError(
            f"the source GGUF is already quantized ({', '.join(quantized)} tensors)",
            where=str(src),
            hint="Quantize from the 16-bit GGUF the converter writes (out_type f16), or pass "
            "allow_requantize=True to accept the double loss.",
        )

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[name]
    params.nthread = threads if threads and threads > 0 else (os.cpu_count() or 1)
    params.allow_requantize = allow_requantize
    with progress.task(f"Quantizing {src.name} to {name}"), atomic_file(dst) as tmp, captured_llama_log() as log:
        status = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
        if status != 0:
            detail = last_errors(log) or f"status {status}"
            raise PackageError(
                f"llama.cpp could not quantize the file to {name}: {detail}",
                where=str(src),
                hint="Check that it is a complete GGUF of a model this llama.cpp supports.",
            )
    fallbacks = sum(1 for line in "".join(log).splitlines() if "falling back to" in line)
    result = QuantizeResult(dst, name, _tensor_types(dst), dst.stat().st_size, fallbacks)
    progress.note(f"Quantized {result.summary()}")
    return result


def _tensor_types(path: Path) -> dict[str, int]:
    """Count the tensors of a GGUF per storage type, most common first, from its header alone."""
    import gguf

    try:
        with path.open("rb") as handle:
            types = _header_tensor_types(handle)
        counts = collections.Counter(gguf.GGMLQuantizationType(kind).name for kind in types)
    except (ValueError, OSError, struct.error) as err:
        raise PackageError(
            f"not a readable GGUF file ({err})",
            where=str(path),
            hint="The file is truncated or not GGUF; convert the model again.",
        ) from err
    return dict(counts.most_common())


# gguf's GGUFReader decodes every metadata array item (a vocabulary is 50k-250k strings) and takes seconds; the
# tensor types need only a skim past the metadata, so we read the documented header layout ourselves.
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


def _header_tensor_types(handle: BinaryIO) -> list[int]:
    def read(fmt: str) -> int:
        size = struct.calcsize(fmt)
        data = handle.read(size)
        if len(data) < size:
            raise ValueError("the header ends early")
        return struct.unpack(fmt, data)[0]

    def skip_value(kind: int) -> None:
        if kind == _STRING:
            handle.seek(read("<Q"), os.SEEK_CUR)
        elif kind == _ARRAY:
            item_kind, count = read("<I"), read("<Q")
            if item_kind in _SCALAR_SIZES:
                handle.seek(_SCALAR_SIZES[item_kind] * count, os.SEEK_CUR)
            else:
                for _ in range(count):
                    skip_value(item_kind)
        elif kind in _SCALAR_SIZES:
            handle.seek(_SCALAR_SIZES[kind], os.SEEK_CUR)
        else:
            raise ValueError(f"unknown metadata value type {kind}")

    if handle.read(4) != b"GGUF":
        raise ValueError("no GGUF magic number at the start")
    if read("<I") not in (2, 3):
        raise ValueError("unsupported GGUF version")
    tensor_count, kv_count = read("<Q"), read("<Q")
    for _ in range(kv_count):
        handle.seek(read("<Q"), os.SEEK_CUR)  # the key
        skip_value(read("<I"))
    types = []
    for _ in range(tensor_count):
        handle.seek(read("<Q"), os.SEEK_CUR)  # the name
        handle.seek(8 * read("<I"), os.SEEK_CUR)  # the dimensions
        types.append(read("<I"))
        handle.seek(8, os.SEEK_CUR)  # the data offset
    return types
