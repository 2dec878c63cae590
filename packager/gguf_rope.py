"""RoPE in a GGUF: the scaling metadata llama.cpp reads, and the frequency-factor tensors some families carry.

llama.cpp's conventions (llama3's rope_freqs, Phi-3's long/short factors and attention factor), written here as small
functions so that every family's writer shares them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import gguf

from tunesmith.errors import ModelError
from tunesmith.packager.gguf_hparams import Hparams

__all__ = ["llama3_rope_freqs", "phi3_long_rope_factors", "phi3_original_ctx", "write_rope_scaling"]


def write_rope_scaling(w: gguf.GGUFWriter, hp: Hparams) -> None:
    """RoPE scaling metadata (linear, YaRN, LongRoPE) of the full-attention layers."""
    rope = hp.full_rope
    kind, factor = rope.get("rope_type"), rope.get("factor")
    if kind == "linear" and factor is not None:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(factor)
    elif kind == "yarn" and factor is not None:
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(factor)
        w.add_rope_scaling_orig_ctx_len(
            rope.get("original_max_position_embeddings") or hp.need("original_max_position_embeddings")
        )
        for key, add in (
            ("extrapolation_factor", w.add_rope_scaling_yarn_ext_factor),
            ("attention_factor", w.add_rope_scaling_yarn_attn_factor),
            ("beta_fast", w.add_rope_scaling_yarn_beta_fast),
            ("beta_slow", w.add_rope_scaling_yarn_beta_slow),
        ):
            if rope.get(key) is not None:
                add(rope[key])
    elif kind in ("su", "longrope"):
        w.add_rope_scaling_type(gguf.RopeScalingType.LONGROPE)
    # "llama3" scaling travels as the rope_freqs tensor; "default" needs nothing.


def phi3_original_ctx(hp: Hparams) -> int:
    """The context length Phi-3 was trained at, before its long-context scaling."""
    return hp.rope.get("original_max_position_embeddings") or hp.need("original_max_position_embeddings")


def phi3_long_rope_factors(w: gguf.GGUFWriter, hp: Hparams) -> Iterator[tuple[gguf.MODEL_TENSOR, Any]]:
    """Phi-3's long/short RoPE factor tensors, and the attention factor that goes with them."""
    import torch

    long_factors, short_factors = hp.rope.get("long_factor"), hp.rope.get("short_factor")
    if not long_factors:
        return
    original = phi3_original_ctx(hp)
    scale = hp.need("n_positions", "max_position_embeddings") / original
    kind = str(hp.rope.get("rope_type") or "").lower()
    if kind in ("su", "longrope"):
        attn_factor = math.sqrt(1 + math.log(scale) / math.log(original)) if scale > 1.0 else 1.0
    elif kind == "yarn":
        attn_factor = 0.1 * math.log(scale) + 1.0 if scale > 1.0 else 1.0
    else:
        key = _rope_type_key(hp)
        raise ModelError(
            f"{key} {hp.rope.get('rope_type')!r} is not supported for Phi-3's long-context factors "
            f"(long_factor / short_factor)",
            where=f"{hp.where}: {key}",
            hint=f"Set {key} to one of {', '.join(map(repr, _PHI3_LONG_ROPE_TYPES))}, as the model's "
            f"published config.json does.",
        )
    w.add_rope_scaling_attn_factors(attn_factor)
    yield gguf.MODEL_TENSOR.ROPE_FACTORS_LONG, torch.tensor(long_factors, dtype=torch.float32)
    yield gguf.MODEL_TENSOR.ROPE_FACTORS_SHORT, torch.tensor(short_factors, dtype=torch.float32)


_PHI3_LONG_ROPE_TYPES = ("longrope", "su", "yarn")


def _rope_type_key(hp: Hparams) -> str:
    # The key as the user's config.json spells it, so the message points at the line to edit.
    for section in ("rope_parameters", "rope_scaling"):
        if isinstance(hp.raw.get(section), dict):
            inner = "type" if "type" in hp.raw[section] and "rope_type" not in hp.raw[section] else "rope_type"
            return f"{section}.{inner}"
    return "rope_scaling.rope_type"


def llama3_rope_freqs(w: gguf.GGUFWriter, hp: Hparams) -> Iterator[tuple[gguf.MODEL_TENSOR, Any]]:
    """The rope_freqs tensor through which llama.cpp applies llama3-style RoPE scaling."""
    import torch

    rope = hp.full_rope
    if rope.get("rope_type", "").lower() != "llama3":
        return
    base = rope.get("rope_theta", 10000.0)
    dim = hp.raw.get("head_dim") or hp["hidden_size"] // hp.head_count
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor = rope.get("factor", 8.0)
    low, high = rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    old_ctx = rope.get("original_max_position_embeddings", 8192)
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < old_ctx / high:
            factors.append(1)
        elif wavelen > old_ctx / low:
            factors.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    yield gguf.MODEL_TENSOR.ROPE_FREQS, torch.tensor(factors, dtype=torch.float32)
