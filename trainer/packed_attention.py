"""Attention over packed rows (several samples in one sequence, positions restarting at each) with no dense mask: the
variable-length flash kernel that SDPA itself calls, given each sample's bounds, so samples never see each other.

Hand-written because neither library does this here: transformers' sdpa path turns the restarting positions into a
(T, T) block-diagonal mask and runs the masked kernel over the whole row, and unsloth (torch < 2.12, no flash-attn
package) calls SDPA once per distinct sample length, tens of small launches per layer on ragged chats.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "VARLEN",
    "AttentionChoice",
    "choose_attention",
    "flash_varlen_available",
    "register_with_transformers",
    "segment_attention",
    "use_in_unsloth",
    "varlen_attention",
]

# The name transformers knows our attention function by (`attn_implementation`).
VARLEN = "tunesmith_varlen"
_HALF = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class AttentionChoice:
    varlen: bool
    reason: str


def flash_varlen_available() -> bool:
    """Whether torch has its flash kernel (variable-length form included) for this process's CUDA GPU (sm80+)."""
    if not torch.cuda.is_available() or torch.version.hip is not None:
        return False
    if not torch.backends.cuda.is_flash_attention_available() or torch.cuda.get_device_capability()[0] < 8:
        return False
    return hasattr(torch.ops.aten, "_flash_attention_forward")


def choose_attention(
    *, packing: bool, device_kind: str, precision: str, model_config: Any, flash: bool
) -> AttentionChoice:
    """Varlen flash attention when the batches are packed and the kernel can compute this model's attention exactly;
    otherwise the backend's own (transformers' sdpa, unsloth's), with the reason."""
    config = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    heads = getattr(config, "num_attention_heads", 0) or 0
    head_dim = getattr(config, "head_dim", None) or (config.hidden_size // heads if heads else 0)
    if not packing:
        return AttentionChoice(False, "batches are padded, not packed (train.packing: false)")
    if device_kind != "cuda" or not flash:
        return AttentionChoice(False, "no flash attention kernel on this device")
    if precision not in ("bf16", "fp16"):
        return AttentionChoice(False, f"the flash kernel takes bf16 or fp16, not {precision}")
    if head_dim % 8 or head_dim > 256:
        return AttentionChoice(False, f"the flash kernel takes head sizes up to 256 in steps of 8, not {head_dim}")
    if getattr(config, "attn_logit_softcapping", None):
        return AttentionChoice(False, "the model soft-caps its attention logits, which the flash kernel does not")
    if getattr(config, "attention_dropout", 0.0):
        return AttentionChoice(False, "the model applies attention dropout, which the varlen kernel does not")
    return AttentionChoice(True, "flash varlen kernel over each packed sample")


class _FlashVarlen(torch.autograd.Function):
    """torch's flash forward and backward over (T, H, D) tensors cut into samples by `bounds`; K and V may have fewer
    heads than Q (grouped-query attention, which the kernel handles itself)."""

    @staticmethod
    def forward(ctx, q, k, v, bounds, longest, scale, causal, left, right):
        window = {} if left < 0 and right < 0 else {"window_size_left": left, "window_size_right": right}
        out, lse, seed, offset, _ = torch.ops.aten._flash_attention_forward(
            q, k, v, bounds, bounds, longest, longest, 0.0, causal, False, scale=scale, **window
        )
        ctx.save_for_backward(q, k, v, bounds, out, lse, seed, offset)
        ctx.settings = (longest, scale, causal, window)
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k, v, bounds, out, lse, seed, offset = ctx.saved_tensors
        longest, scale, causal, window = ctx.settings
        dq, dk, dv = torch.ops.aten._flash_attention_backward(
            grad.contiguous(), q, k, v, out, lse, bounds, bounds, longest, longest, 0.0, causal, seed, offset,
            scale=scale, **window,
        )  # fmt: skip
        return dq, dk, dv, None, None, None, None, None, None


def segment_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bounds: torch.Tensor,
    *,
    scale: float | None = None,
    causal: bool = True,
    window: int | None = None,
) -> torch.Tensor:
    """The same result one sample at a time with SDPA: the reference, and the path where no flash kernel runs."""
    outs = []
    cuts = bounds.tolist()
    for start, end in itertools.pairwise(cuts):
        q_s, k_s, v_s = (x[start:end].transpose(0, 1).unsqueeze(0) for x in (q, k, v))
        if k_s.shape[1] != q_s.shape[1]:
            k_s, v_s = (x.repeat_interleave(q_s.shape[1] // x.shape[1], dim=1) for x in (k_s, v_s))
        mask = None
        if window is not None or not causal:
            index = torch.arange(end - start, device=q.device)
            distance = index[:, None] - index[None, :]
            mask = (distance >= 0) if causal else torch.ones_like(distance, dtype=torch.bool)
            if window is not None:
                mask &= distance.abs() < window
        out = F.scaled_dot_product_attention(q_s, k_s, v_s, attn_mask=mask, is_causal=mask is None, scale=scale)
        outs.append(out[0].transpose(0, 1))
    return torch.cat(outs)


def varlen_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bounds: torch.Tensor,
    longest: int,
    *,
    scale: float | None = None,
    causal: bool = True,
    window: int | None = None,
) -> torch.Tensor:
    """Attention of (T, H, D) queries over (T, H_kv, D) keys and values within each sample [bounds[i], bounds[i+1]);
    `window` keeps the last `window` positions (sliding-window models). Flash on CUDA in half precision, else SDPA per
    sample."""
    if q.is_cuda and q.dtype in _HALF and k.dtype == q.dtype and v.dtype == q.dtype:
        left = -1 if window is None else window - 1
        right = 0 if causal else (-1 if window is None else window - 1)
        bounds = bounds.to(device=q.device, dtype=torch.int32)
        return _FlashVarlen.apply(
            q.contiguous(), k.contiguous(), v.contiguous(), bounds, longest, scale, causal, left, right
        )
    return segment_attention(q, k, v, bounds, scale=scale, causal=causal, window=window)


def _bounds_from_positions(position_ids: torch.Tensor | None, batch: int, length: int) -> tuple[torch.Tensor, int]:
    # A sample starts where its position is 0, and at every row of the batch.
    starts = torch.zeros(batch * length, dtype=torch.bool)
    if position_ids is not None:
        starts = position_ids.expand(batch, -1).reshape(-1) == 0
    starts[::length] = True
    bounds = torch.cat([starts.nonzero().flatten(), torch.tensor([batch * length], device=starts.device)])
    return bounds.to(torch.int32), int((bounds[1:] - bounds[:-1]).max())


def transformers_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature: (B, H, T, D) in, (B, T, H, D) out. A padded batch or a decoding
    step (a mask, or fewer queries than keys) goes to transformers' own sdpa function."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, _, length, _ = query.shape
    if attention_mask is not None or key.shape[2] != length:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    bounds, longest = kwargs.get("cu_seq_lens_q"), kwargs.get("max_length_q")
    if bounds is None or longest is None or batch != 1:
        bounds, longest = _bounds_from_positions(kwargs.get("position_ids"), batch, length)
    q, k, v = (x.transpose(1, 2).reshape(batch * length, x.shape[1], x.shape[3]) for x in (query, key, value))
    out = varlen_attention(
        q,
        k,
        v,
        bounds,
        int(longest),
        scale=scaling,
        causal=getattr(module, "is_causal", True),
        window=kwargs.get("sliding_window"),
    )
    return out.reshape(batch, length, *out.shape[1:]), None


def _mask(*args: Any, **kwargs: Any) -> torch.Tensor | None:
    # No mask for a packed or unpadded batch (the attention function cuts samples itself); a padding mask as sdpa has.
    from transformers.masking_utils import sdpa_mask

    return None if kwargs.get("attention_mask") is None else sdpa_mask(*args, **kwargs)


def register_with_transformers() -> str:
    """Make `attn_implementation=VARLEN` known to transformers (idempotent); returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(VARLEN, transformers_attention)
    AttentionMaskInterface.register(VARLEN, _mask)
    return VARLEN


def _unsloth_varlen(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, scale=None, window_size=(-1, -1), **_):
    # torch.nn.attention.varlen.varlen_attn's signature, which unsloth calls where torch has it (>= 2.12).
    left, right = window_size
    window = None if left < 0 else left + 1
    return varlen_attention(query, key, value, cu_seq_q, max_q, scale=scale, causal=right == 0, window=window)


def use_in_unsloth() -> bool:
    """Give unsloth's packed-attention path our varlen kernel where its torch has none (it then calls SDPA once per
    sample length); True when unsloth now runs a varlen kernel, ours or torch's."""
    try:
        from unsloth.utils import attention_dispatch
    except ImportError:
        return False
    if not hasattr(attention_dispatch, "_TORCH_VARLEN_ATTN"):
        return False
    if attention_dispatch._TORCH_VARLEN_ATTN is None:
        attention_dispatch._TORCH_VARLEN_ATTN = _unsloth_varlen
    return True
