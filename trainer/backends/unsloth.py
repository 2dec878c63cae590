"""The unsloth backend for CUDA GPUs: FastLanguageModel loads the base (4-bit for QLoRA) and applies LoRA with
unsloth's fused kernels and its offloaded gradient checkpointing; the training loop is the transformers backend's.

Rows, assistant-only masking, packing (one padding-free sequence per batch, which unsloth cuts into samples at its
restarting position ids and attends with the varlen kernel of packed_attention.py), checkpoints, resume, metrics and
outputs are the same as on that path.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from tunesmith.config import Config
from tunesmith.errors import ModelError, TrainError
from tunesmith.progress import Progress
from tunesmith.trainer.backends.base import Device, FitRequest, FitResult, lora_errors, training_precision

__all__ = ["UnslothBackend", "from_pretrained_arguments", "peft_arguments"]

_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def _checkpointing(config: Config) -> str | bool:
    # "unsloth" offloads the checkpointed activations to CPU memory asynchronously: less GPU memory at ~1% speed.
    return "unsloth" if config.train.gradient_checkpointing else False


def _sequence_length(config: Config) -> int | None:
    # A packed batch reaches the model as one sequence of up to batch_size x max_seq_len tokens (positions restart
    # per sample); unsloth warns about, and sizes its buffers for, the longest sequence it is told to expect.
    length = config.train.max_seq_len  # filled in from the base model before loading; None leaves unsloth's default
    return None if length is None else length * (config.train.batch_size if config.train.packing else 1)


def from_pretrained_arguments(config: Config, precision: str) -> dict[str, Any]:
    """Keyword arguments of `FastLanguageModel.from_pretrained` for `config` (QLoRA: 4-bit NF4 base weights)."""
    import torch

    qlora = config.train.method == "qlora"
    return {
        "model_name": str(config.base),
        "max_seq_length": _sequence_length(config),
        "dtype": getattr(torch, _DTYPES[precision]),
        "load_in_4bit": qlora,
        "load_in_16bit": not qlora,
        "full_finetuning": False,
        # The folder is used as given: no lookup of a pre-quantized variant on the Hub.
        "use_exact_model_name": True,
        # Formatting uses the base tokenizer as saved; unsloth's fixes could add tokens and resize embeddings,
        # and the adapter would then no longer fit the base that the packager merges it into.
        "fix_tokenizer": False,
        "use_gradient_checkpointing": _checkpointing(config),
        "random_state": config.seed,
    }


def peft_arguments(config: Config) -> dict[str, Any]:
    """Keyword arguments of `FastLanguageModel.get_peft_model` for the config's LoRA settings."""
    lora = config.lora
    return {
        "r": lora.r,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        "target_modules": lora.target_modules,
        "bias": "none",
        "use_rslora": lora.rslora,
        "use_gradient_checkpointing": _checkpointing(config),
        # LoRA's A matrices are drawn from this seed, so two runs of one config start from the same adapter.
        "random_state": config.seed,
        "max_seq_length": _sequence_length(config),
    }


def _fast_language_model() -> Any:
    try:
        from unsloth import FastLanguageModel
    except Exception as err:  # unsloth raises assorted errors at import on a machine it cannot patch
        raise TrainError(
            f"cannot import unsloth: {err}",
            where="train.backend",
            hint="Install it with `pip install 'tunesmith[gpu]'` on a CUDA machine, or set "
            "`train.backend: hf` to train with transformers + peft.",
        ) from err
    return FastLanguageModel


def _packed_attention(config: Config, precision: str, model_config: Any) -> str:
    """Hand unsloth the varlen flash kernel for packed batches where it would otherwise call SDPA once per sample
    length (torch < 2.12 and no flash-attn package); returns what attention the run uses, and why."""
    from tunesmith.trainer.packed_attention import choose_attention, flash_varlen_available, use_in_unsloth

    choice = choose_attention(
        packing=config.train.packing,
        device_kind="cuda",
        precision=precision,
        model_config=model_config,
        flash=flash_varlen_available(),
    )
    if not choice.varlen:
        return f"unsloth's own ({choice.reason})"
    if not use_in_unsloth():
        return "unsloth's own (this unsloth release takes no varlen kernel from outside)"
    return choice.reason


class UnslothBackend:
    name = "unsloth"

    def load(self, config: Config, device: Device, progress: Progress) -> tuple[Any, str]:
        if device.kind != "cuda":
            raise TrainError(
                "the unsloth backend needs a CUDA GPU; this machine has none",
                where="train.backend",
                hint="Set `train.backend: hf` (or `auto`) to train with transformers + peft.",
            )
        precision = training_precision(config, device)
        fast = _fast_language_model()
        with progress.task(f"Loading {config.base} with unsloth"):
            try:
                model, _tokenizer = fast.from_pretrained(**from_pretrained_arguments(config, precision))
            except (OSError, ValueError) as err:
                raise ModelError(
                    f"cannot load the base model with unsloth: {err}",
                    where=str(config.base),
                    hint="Check the folder holds complete *.safetensors weights for its config, or set "
                    "`train.backend: hf` for an architecture unsloth does not support.",
                ) from err
        model.config.use_cache = False
        progress.note(f"attention: {_packed_attention(config, precision, model.config)}")
        with lora_errors():
            model = fast.get_peft_model(model, **peft_arguments(config))
        return model, precision

    def fit(self, model: Any, request: FitRequest) -> FitResult:
        from tunesmith.trainer.backends.hf import HfBackend

        # get_peft_model already installed unsloth's checkpointing; the Trainer's own would replace it.
        config = request.config
        trainer_config = msgspec.structs.replace(
            config, train=msgspec.structs.replace(config.train, gradient_checkpointing=False)
        )
        return HfBackend().fit(model, dataclasses.replace(request, config=trainer_config))
