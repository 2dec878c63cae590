"""Checking the base model folder before any long step: it exists, is a causal LM, and its context fits max_seq_len.

Each failure names the folder or the config key and says what to do, instead of a transformers traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from tunesmith.config import Config
from tunesmith.errors import ConfigError, ModelError
from tunesmith.tokenizer_folder import load_folder_tokenizer
from tunesmith.user_files import existing_folder

__all__ = ["BaseModel", "chat_template_of", "check_base_model", "load_tokenizer", "seq_len_of", "with_model_limits"]

DEFAULT_MAX_SEQ_LEN = 1024

_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


@dataclass(frozen=True)
class BaseModel:
    path: Path
    model_type: str
    architecture: str
    context_length: int | None


def check_base_model(path: str | Path, max_seq_len: int | None = None) -> BaseModel:
    """Open config.json of `path` and check it describes a causal LM whose context holds `max_seq_len` tokens."""
    hint = "Pass a Hugging Face causal-LM folder (config.json, *.safetensors, tokenizer) or `--base embedded`."
    folder = existing_folder(path, what="base model folder", error=ModelError, hint=hint)
    if not (folder / "config.json").is_file():
        raise ModelError("no config.json in the base model folder", where=str(folder), hint=hint)
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(folder)
    except (ValueError, OSError, KeyError) as err:
        raise ModelError(f"unreadable config.json: {err}", where=str(folder / "config.json"), hint=hint) from err
    architectures = list(getattr(config, "architectures", None) or [])
    causal = [a for a in architectures if a.endswith(("ForCausalLM", "LMHeadModel"))]
    # The architectures list says what the weights are; model_type alone only says a causal head could exist.
    if not causal and (architectures or config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES):
        raise ModelError(
            f"the base model is not a causal language model (architectures: "
            f"{', '.join(architectures) or 'none'}, model_type: {config.model_type})",
            where=str(folder / "config.json"),
            hint="Fine-tuning needs a decoder model such as Llama, Qwen, Mistral, Gemma or SmolLM.",
        )
    context = _context_length(config)
    if max_seq_len is not None and context is not None and max_seq_len > context:
        raise ConfigError(
            f"`train.max_seq_len` = {max_seq_len} is beyond the model's context of {context} tokens",
            where="train.max_seq_len",
            hint=f"Set train.max_seq_len to {context} or less.",
        )
    return BaseModel(folder, config.model_type, (causal or architectures or [""])[0], context)


def with_model_limits(config: Config) -> Config:
    """Check the base model and fill in `train.max_seq_len` when unset: 1024, or the model's context if shorter."""
    base = check_base_model(config.base_model, config.train.max_seq_len)
    if config.train.max_seq_len is not None:
        return config
    length = min(DEFAULT_MAX_SEQ_LEN, base.context_length or DEFAULT_MAX_SEQ_LEN)
    return msgspec.structs.replace(config, train=msgspec.structs.replace(config.train, max_seq_len=length))


def _context_length(config: Any) -> int | None:
    for key in _CONTEXT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def seq_len_of(config: Config) -> int:
    """`train.max_seq_len` of a config that `with_model_limits` has filled in."""
    if config.train.max_seq_len is None:
        raise ValueError("train.max_seq_len is unset: pass the config through with_model_limits first")
    return config.train.max_seq_len


def chat_template_of(config: Config) -> str | None:
    """The Jinja text of the project's `chat_template:` (None: the base's own template)."""
    from tunesmith.modelfiles.base_templates import resolve_chat_template

    return resolve_chat_template(config.chat_template) if config.chat_template else None


def load_tokenizer(path: str | Path, chat_template: str | None = None) -> Any:
    """The base model's tokenizer, with a pad token (EOS stands in when the model defines none) and, when given,
    `chat_template` instead of its own."""
    tokenizer = load_folder_tokenizer(path)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(
            "the tokenizer has no fast (Rust) version, which formatting needs for token offsets",
            where=str(path),
            hint="Save a tokenizer.json with the model.",
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer
