"""What each supported model family writes into a GGUF: architecture metadata and tensor names, layouts and values.

gguf-py names the keys and maps tensor names; the per-family rules (llama's q/k row order, gemma's 1+w norms, which
hyperparameters llama.cpp reads) are llama.cpp's conventions, written here as plain data and small functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gguf

from tunesmith.errors import ModelError

__all__ = ["Family", "Hparams", "FAMILIES", "SUPPORTED_ARCHITECTURES", "family_for"]


class Hparams:
    """config.json, with a multimodal `text_config` lifted to the top and RoPE settings gathered in one dict."""

    def __init__(self, config: dict[str, Any], where: str = "config.json") -> None:
        self.raw = {**config, **config.get("text_config", {})}
        self.where = where
        rope = dict(self.raw.get("rope_parameters") or self.raw.get("rope_scaling") or {})
        if "full_attention" not in rope and "sliding_attention" not in rope:
            # Older configs keep these beside rope_scaling; newer ones inside rope_parameters.
            mirrored = {
                "rope_theta": self.find("global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta",
                                        "rotary_emb_base"),
                "rope_type": rope.get("type"),
                "partial_rotary_factor": self.find("partial_rotary_factor", "rope_pct", "rope_percent"),
                "original_max_position_embeddings": self.find("original_max_position_embeddings"),
            }
            local_theta = self.find("local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta",
                                    "rope_local_base_freq")
            if local_theta is not None:
                rope["sliding_attention"] = {"rope_theta": local_theta}
            for key, value in mirrored.items():
                if key not in rope and value is not None:
                    rope[key] = value
        self.rope = rope

    def find(self, *keys: str, default: Any = None) -> Any:
        return next((self.raw[key] for key in keys if key in self.raw), default)

    def need(self, *keys: str) -> Any:
        """The first of `keys` present; a missing value is the user's broken config, reported as such."""
        value = self.find(*keys)
        if value is None:
            raise ModelError(f"config.json has no {' or '.join(map(repr, keys))}, which the GGUF file needs",
                             where=self.where,
                             hint="Copy config.json from the base model, or save the model again with transformers.")
        return value

    def __getitem__(self, key: str) -> Any:
        return self.need(key)

    @property
    def block_count(self) -> int:
        return int(self.need("n_layers", "num_hidden_layers", "n_layer", "num_layers"))

    @property
    def head_count(self) -> int:
        return int(self.need("num_attention_heads", "n_head", "n_heads"))

    @property
    def head_count_kv(self) -> int:
        return int(self.find("num_key_value_heads", "n_kv_heads", default=self.head_count))

    @property
    def full_rope(self) -> dict[str, Any]:
        return self.rope.get("full_attention", self.rope)


Transform = Callable[[str, Any, Hparams], Any]


@dataclass(frozen=True)
class Family:
    """One model family: its llama.cpp architecture, metadata writer, tokenizer kind and tensor rules."""

    arch: gguf.MODEL_ARCH
    write_params: Callable[[gguf.GGUFWriter, Hparams], None]
    vocab: str  # how gguf_vocab.write_vocab reads the tokenizer: "llama", "bpe", "gemma1", "gemma", "gemma3", "phi3"
    transform: Transform | None = None
    transforms: Callable[[str], bool] = lambda name: False  # which HF tensors `transform` changes
    transform_reorders_rows: bool = False  # `transform` only permutes rows, so a LoRA B factor can follow it
    skip_lm_head: bool = False
    trims_vocab: bool = False
    extra_tensors: Callable[[gguf.GGUFWriter, Hparams], Iterator[tuple[gguf.MODEL_TENSOR, Any]]] | None = None


def _common_params(w: gguf.GGUFWriter, hp: Hparams) -> None:
    w.add_block_count(hp.block_count)
    if (n_ctx := hp.find("max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length",
                         "model_max_length")) is not None:
        w.add_context_length(n_ctx)
    if (n_embd := hp.find("hidden_size", "n_embd", "dim")) is not None:
        w.add_embedding_length(n_embd)
    if (n_ff := hp.find("intermediate_size", "n_inner", "hidden_dim")) is not None:
        w.add_feed_forward_length(n_ff)
    w.add_head_count(hp.head_count)
    if hp.find("num_key_value_heads", "n_kv_heads") is not None:
        w.add_head_count_kv(hp.head_count_kv)
    if hp.raw.get("is_causal") is False:
        w.add_causal_attention(False)
    _rope_scaling(w, hp)
    if (theta := hp.full_rope.get("rope_theta")) is not None:
        w.add_rope_freq_base(theta)
    if (theta_swa := hp.rope.get("sliding_attention", {}).get("rope_theta")) is not None:
        w.add_rope_freq_base_swa(theta_swa)
    if (rms_eps := hp.find("rms_norm_eps", "norm_eps")) is not None:
        w.add_layer_norm_rms_eps(rms_eps)
    if (head_dim := hp.raw.get("head_dim")) is not None:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)


def _rope_scaling(w: gguf.GGUFWriter, hp: Hparams) -> None:
    rope = hp.full_rope
    kind, factor = rope.get("rope_type"), rope.get("factor")
    if kind == "linear" and factor is not None:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(factor)
    elif kind == "yarn" and factor is not None:
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(factor)
        w.add_rope_scaling_orig_ctx_len(rope.get("original_max_position_embeddings")
                                        or hp.need("original_max_position_embeddings"))
        for key, add in (("extrapolation_factor", w.add_rope_scaling_yarn_ext_factor),
                         ("attention_factor", w.add_rope_scaling_yarn_attn_factor),
                         ("beta_fast", w.add_rope_scaling_yarn_beta_fast),
                         ("beta_slow", w.add_rope_scaling_yarn_beta_slow)):
            if rope.get(key) is not None:
                add(rope[key])
    elif kind in ("su", "longrope"):
        w.add_rope_scaling_type(gguf.RopeScalingType.LONGROPE)
    # "llama3" scaling travels as the rope_freqs tensor; "default" needs nothing.


def _llama_params(w: gguf.GGUFWriter, hp: Hparams) -> None:
    _common_params(w, hp)
    w.add_vocab_size(hp["vocab_size"])
    w.add_rope_dimension_count(hp.raw.get("head_dim") or hp["hidden_size"] // hp.head_count)


def _gemma_params(w: gguf.GGUFWriter, hp: Hparams) -> None:
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_block_count(hp.block_count)
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(hp.head_count)
    w.add_head_count_kv(hp.head_count_kv)
    w.add_layer_norm_rms_eps(hp["rms_norm_eps"])
    w.add_key_length(hp["head_dim"])
    w.add_value_length(hp["head_dim"])


def _gemma2_params(w: gguf.GGUFWriter, hp: Hparams) -> None:
    _gemma_params(w, hp)
    w.add_attn_logit_softcapping(hp["attn_logit_softcapping"])
    w.add_final_logit_softcapping(hp["final_logit_softcapping"])
    w.add_sliding_window(hp["sliding_window"])


def _gemma3_params(w: gguf.GGUFWriter, hp: Hparams) -> None:
    # Gemma 3 configs leave out values their defaults fill in; llama.cpp needs them explicit.
    defaults = {"max_position_embeddings": 131072, "num_attention_heads": 8, "rms_norm_eps": 1e-6, "head_dim": 256,
                "num_key_value_heads": 4}
    filled = Hparams({**defaults, **hp.raw})
    filled.rope = {**hp.rope}
    _common_params(w, filled)
    if "rope_theta" not in filled.full_rope:
        w.add_rope_freq_base(1_000_000.0)
    if final_softcap := hp.raw.get("final_logit_softcapping"):
        w.add_final_logit_softcapping(final_softcap)
    if hp.raw.get("sliding_window_pattern") != 1:
        w.add_sliding_window(hp["sliding_window"])


def _phi3_original_ctx(hp: Hparams) -> int:
    return hp.rope.get("original_max_position_embeddings") or hp.need("original_max_position_embeddings")


def _phi3_rope_dims(hp: Hparams) -> int:
    return int(hp.rope.get("partial_rotary_factor", 1.0) * hp.need("hidden_size", "n_embd")) // hp.head_count


def _phi3_params(w: gguf.GGUFWriter, hp: Hparams) -> None:
    w.add_context_length(hp.need("max_position_embeddings", "n_positions"))
    w.add_rope_scaling_orig_ctx_len(_phi3_original_ctx(hp))
    w.add_embedding_length(hp.need("hidden_size", "n_embd"))
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_block_count(hp.block_count)
    w.add_head_count(hp.head_count)
    w.add_head_count_kv(hp.need("num_key_value_heads", "n_head_kv"))
    w.add_layer_norm_rms_eps(hp["rms_norm_eps"])
    w.add_rope_dimension_count(_phi3_rope_dims(hp))
    w.add_rope_freq_base(hp.full_rope["rope_theta"])
    # 0 tells llama.cpp "no sliding window" (Phi-3) apart from Phi-4's real one.
    w.add_sliding_window(hp.raw.get("sliding_window") or 0)


def _phi3_long_rope(w: gguf.GGUFWriter, hp: Hparams) -> Iterator[tuple[gguf.MODEL_TENSOR, Any]]:
    import torch

    long_factors, short_factors = hp.rope.get("long_factor"), hp.rope.get("short_factor")
    if not long_factors:
        return
    original = _phi3_original_ctx(hp)
    scale = hp.need("n_positions", "max_position_embeddings") / original
    kind = str(hp.rope.get("rope_type") or "").lower()
    if kind in ("su", "longrope"):
        attn_factor = math.sqrt(1 + math.log(scale) / math.log(original)) if scale > 1.0 else 1.0
    elif kind == "yarn":
        attn_factor = 0.1 * math.log(scale) + 1.0 if scale > 1.0 else 1.0
    else:
        key = _rope_type_key(hp)
        raise ModelError(f"{key} {hp.rope.get('rope_type')!r} is not supported for Phi-3's long-context factors "
                         f"(long_factor / short_factor)", where=f"{hp.where}: {key}",
                         hint=f"Set {key} to one of {', '.join(map(repr, _PHI3_LONG_ROPE_TYPES))}, as the model's "
                              f"published config.json does.")
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


def _llama3_rope_freqs(w: gguf.GGUFWriter, hp: Hparams) -> Iterator[tuple[gguf.MODEL_TENSOR, Any]]:
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


def _is_qk(name: str) -> bool:
    return name.endswith(("q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias"))


def _unpermute_qk(name: str, tensor: Any, hp: Hparams) -> Any:
    # HF stores q/k rows as two halves for rotate_half RoPE; llama.cpp's llama expects interleaved pairs per head.
    heads = hp.head_count if ".q_proj." in name else hp.head_count_kv
    return (tensor.reshape(heads, 2, tensor.shape[0] // heads // 2, *tensor.shape[1:])
            .swapaxes(1, 2).reshape(tensor.shape))


def _is_norm(name: str) -> bool:
    return name.endswith("norm.weight")


def _gemma_norm(name: str, tensor: Any, hp: Hparams) -> Any:
    # Gemma's RMSNorm multiplies by (1 + w); llama.cpp multiplies by the stored weight.
    return tensor + 1


_LLAMA = Family(gguf.MODEL_ARCH.LLAMA, _llama_params, "llama", _unpermute_qk, _is_qk, transform_reorders_rows=True,
                extra_tensors=_llama3_rope_freqs)

FAMILIES: dict[str, Family] = {
    "LlamaForCausalLM": _LLAMA,
    "MistralForCausalLM": _LLAMA,
    "Qwen2ForCausalLM": Family(gguf.MODEL_ARCH.QWEN2, _common_params, "bpe"),
    "Qwen3ForCausalLM": Family(gguf.MODEL_ARCH.QWEN3, _common_params, "bpe"),
    "GemmaForCausalLM": Family(gguf.MODEL_ARCH.GEMMA, _gemma_params, "gemma1", _gemma_norm, _is_norm,
                               skip_lm_head=True),
    "Gemma2ForCausalLM": Family(gguf.MODEL_ARCH.GEMMA2, _gemma2_params, "gemma", _gemma_norm, _is_norm,
                                skip_lm_head=True),
    "Gemma3ForCausalLM": Family(gguf.MODEL_ARCH.GEMMA3, _gemma3_params, "gemma3", _gemma_norm, _is_norm,
                                trims_vocab=True),
    "Phi3ForCausalLM": Family(gguf.MODEL_ARCH.PHI3, _phi3_params, "phi3", extra_tensors=_phi3_long_rope),
}

SUPPORTED_ARCHITECTURES: tuple[str, ...] = tuple(FAMILIES)


def family_for(architecture: str) -> Family | None:
    return FAMILIES.get(architecture)
