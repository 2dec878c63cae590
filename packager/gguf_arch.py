"""What each supported model family writes into a GGUF: its architecture, hyperparameter metadata and tensor values.

gguf-py names the keys and maps tensor names; the per-family rules (llama's q/k row order, gemma's 1+w norms, which
hyperparameters llama.cpp reads) are llama.cpp's conventions, written here as plain data and small functions.
Reading config.json lives in gguf_hparams, RoPE metadata and tensors in gguf_rope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

from tunesmith.errors import ModelError
from tunesmith.packager.gguf_hparams import Hparams
from tunesmith.packager.gguf_rope import (
    llama3_rope_freqs,
    phi3_long_rope_factors,
    phi3_original_ctx,
    write_rope_scaling,
)

__all__ = ["FAMILIES", "SUPPORTED_ARCHITECTURES", "Family", "Hparams", "family_for"]


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
    if (
        n_ctx := hp.find(
            "max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length"
        )
    ) is not None:
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
    write_rope_scaling(w, hp)
    if (theta := hp.full_rope.get("rope_theta")) is not None:
        w.add_rope_freq_base(theta)
    if (theta_swa := hp.rope.get("sliding_attention", {}).get("rope_theta")) is not None:
        w.add_rope_freq_base_swa(theta_swa)
    if (rms_eps := hp.find("rms_norm_eps", "norm_eps")) is not None:
        w.add_layer_norm_rms_eps(rms_eps)
    if (head_dim := hp.raw.get("head_dim")) is not None:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)


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
    defaults = {
        "max_position_embeddings": 131072,
        "num_attention_heads": 8,
        "rms_norm_eps": 1e-6,
        "head_dim": 256,
        "num_key_value_heads": 4,
    }
    filled = Hparams({**defaults, **hp.raw})
    filled.rope = {**hp.rope}
    _common_params(w, filled)
    if "rope_theta" not in filled.full_rope:
        w.add_rope_freq_base(1_000_000.0)
    if final_softcap := hp.raw.get("final_logit_softcapping"):
        w.add_final_logit_softcapping(final_softcap)
    if hp.raw.get("sliding_window_pattern") != 1:
        w.add_sliding_window(hp["sliding_window"])


def _phi3_rope_dims(hp: Hparams) -> int:
    return int(hp.rope.get("partial_rotary_factor", 1.0) * hp.need("hidden_size", "n_embd")) // hp.head_count


def _phi3_params(w: gguf.GGUFWriter, hp: Hparams) -> None:
    w.add_context_length(hp.need("max_position_embeddings", "n_positions"))
    w.add_rope_scaling_orig_ctx_len(phi3_original_ctx(hp))
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


def _is_qk(name: str) -> bool:
    return name.endswith(("q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias"))


def _unpermute_qk(name: str, tensor: Any, hp: Hparams) -> Any:
    # HF stores q/k rows as two halves for rotate_half RoPE; llama.cpp's llama expects interleaved pairs per head.
    heads = hp.head_count if ".q_proj." in name else hp.head_count_kv
    return (
        tensor.reshape(heads, 2, tensor.shape[0] // heads // 2, *tensor.shape[1:]).swapaxes(1, 2).reshape(tensor.shape)
    )


def _is_norm(name: str) -> bool:
    return name.endswith("norm.weight")


def _gemma_norm(name: str, tensor: Any, hp: Hparams) -> Any:
    # Gemma's RMSNorm multiplies by (1 + w); llama.cpp multiplies by the stored weight.
    return tensor + 1


_LLAMA = Family(
    gguf.MODEL_ARCH.LLAMA,
    _llama_params,
    "llama",
    _unpermute_qk,
    _is_qk,
    transform_reorders_rows=True,
    extra_tensors=llama3_rope_freqs,
)

FAMILIES: dict[str, Family] = {
    "LlamaForCausalLM": _LLAMA,
    "MistralForCausalLM": _LLAMA,
    "Qwen2ForCausalLM": Family(gguf.MODEL_ARCH.QWEN2, _common_params, "bpe"),
    "Qwen3ForCausalLM": Family(gguf.MODEL_ARCH.QWEN3, _common_params, "bpe"),
    "GemmaForCausalLM": Family(
        gguf.MODEL_ARCH.GEMMA, _gemma_params, "gemma1", _gemma_norm, _is_norm, skip_lm_head=True
    ),
    "Gemma2ForCausalLM": Family(
        gguf.MODEL_ARCH.GEMMA2, _gemma2_params, "gemma", _gemma_norm, _is_norm, skip_lm_head=True
    ),
    "Gemma3ForCausalLM": Family(
        gguf.MODEL_ARCH.GEMMA3, _gemma3_params, "gemma3", _gemma_norm, _is_norm, trims_vocab=True
    ),
    "Phi3ForCausalLM": Family(gguf.MODEL_ARCH.PHI3, _phi3_params, "phi3", extra_tensors=phi3_long_rope_factors),
}

SUPPORTED_ARCHITECTURES: tuple[str, ...] = tuple(FAMILIES)


def family_for(architecture: str, config_json: Path) -> Family:
    """The GGUF family of `architecture` (read from `config_json`); an architecture the converter does not know is a
    ModelError listing those it does."""
    family = FAMILIES.get(architecture)
    if family is None:
        raise ModelError(
            f"architecture {architecture!r} is not supported by the GGUF converter",
            where=str(config_json),
            hint=f"Supported architectures: {', '.join(SUPPORTED_ARCHITECTURES)}.",
        )
    return family
