"""The transformers + peft backend: loads the base with LoRA (4-bit with bitsandbytes for QLoRA on CUDA) and trains
with transformers' Trainer, which brings evaluation, early stopping, best-checkpoint selection and exact resume.

Our rows are already tokenized, labelled and packed, so the plain Trainer is used rather than trl's SFTTrainer,
which would re-process them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesmith.config import Config
from tunesmith.errors import ModelError
from tunesmith.progress import Progress
from tunesmith.trainer.backends.base import Device, FitRequest, FitResult, lora_errors, training_precision
from tunesmith.trainer.collate import Collator

if TYPE_CHECKING:
    from tunesmith.trainer.packed_attention import AttentionChoice

__all__ = ["HfBackend"]


class _Rows:
    """A map-style dataset over prepared rows (the Trainer's sampler shuffles indices with the run's seed)."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]


class HfBackend:
    name = "hf"

    def load(self, config: Config, device: Device, progress: Progress) -> tuple[Any, str]:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoConfig, AutoModelForCausalLM, set_seed

        from tunesmith.trainer.packed_attention import register_with_transformers

        precision = training_precision(config, device)
        if config.train.precision not in ("auto", precision):
            progress.note(f"precision: {precision} (train.precision {config.train.precision} is not used on CPU)")
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        options: dict[str, Any] = {"dtype": dtype, "attn_implementation": "sdpa"}
        if config.train.method == "qlora":
            from transformers import BitsAndBytesConfig

            options["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=dtype,
            )
            # Each process of a multi-GPU run holds its whole copy on its own GPU.
            options["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
        with progress.task(f"Loading {config.base}"):
            try:
                attention = _attention(config, device, precision, AutoConfig.from_pretrained(config.base_model))
                if attention.varlen:
                    options["attn_implementation"] = register_with_transformers()
                model = AutoModelForCausalLM.from_pretrained(config.base_model, **options)
            except (OSError, ValueError) as err:
                raise ModelError(
                    f"cannot load the base model: {err}",
                    where=str(config.base),
                    hint="Check the folder holds complete *.safetensors weights for its config.",
                ) from err
        if device.kind == "cuda":
            progress.note(
                f"attention: {attention.reason}" if attention.varlen else f"attention: sdpa ({attention.reason})"
            )
        # A KV cache during training would also hide the packed-sequence mask from the attention layers.
        model.config.use_cache = False
        if config.train.method == "qlora":
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=config.train.gradient_checkpointing
            )
        lora = LoraConfig(
            r=config.lora.r,
            lora_alpha=config.lora.alpha,  # type: ignore[arg-type]  # peft says int; it only computes alpha / r
            lora_dropout=config.lora.dropout,
            target_modules=config.lora.target_modules,
            use_rslora=config.lora.rslora,
            task_type="CAUSAL_LM",
        )
        # LoRA's A matrices are drawn at random here, before the Trainer seeds anything: seed now, or two runs of
        # the same config start from different adapters.
        set_seed(config.seed)
        with lora_errors():
            return get_peft_model(model, lora), precision

    def fit(self, model: Any, request: FitRequest) -> FitResult:
        from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainingArguments

        config, precision, resume_from = request.config, request.precision, request.resume_from
        train = config.train
        evaluate = bool(request.val_rows)
        save_steps = train.save_steps or train.eval_steps
        args = TrainingArguments(
            output_dir=str(request.checkpoints),
            per_device_train_batch_size=train.batch_size,
            per_device_eval_batch_size=train.batch_size,
            gradient_accumulation_steps=train.grad_accum,
            learning_rate=train.learning_rate,
            lr_scheduler_type=train.scheduler,
            warmup_steps=train.warmup_steps if train.warmup_steps is not None else train.warmup_ratio,
            num_train_epochs=train.epochs,
            max_steps=train.max_steps or -1,
            weight_decay=train.weight_decay,
            max_grad_norm=train.max_grad_norm,
            eval_strategy="steps" if evaluate else "no",
            eval_steps=train.eval_steps,
            # The untrained model's eval loss, logged as step 0 (metrics.jsonl keeps it across resumes): the honest
            # "before" that every later evaluation is compared with. Inside train(), once the model is prepared: a
            # separate evaluate() first would prepare it for evaluation before DDP wraps it, and with several
            # processes that run's gradients would differ from a resumed one's.
            eval_on_start=evaluate and resume_from is None,
            save_strategy="steps",
            save_steps=save_steps,
            save_total_limit=train.keep_checkpoints,
            load_best_model_at_end=evaluate and train.keep == "best",
            metric_for_best_model="eval_loss" if evaluate else None,
            greater_is_better=False,
            logging_steps=1,
            seed=config.seed,
            data_seed=config.seed,
            bf16=precision == "bf16",
            fp16=precision == "fp16",
            use_cpu=precision == "fp32" and not _cuda(),
            **_checkpointing(train.gradient_checkpointing),
            report_to="none",
            remove_unused_columns=False,
            dataloader_num_workers=0,
            include_num_input_tokens_seen="non_padding",
            disable_tqdm=True,
        )
        callbacks = list(request.callbacks)
        stopper = None
        if evaluate and train.early_stopping_patience and train.keep == "best":
            stopper = EarlyStoppingCallback(early_stopping_patience=train.early_stopping_patience)
            callbacks.append(stopper)
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=_Rows(request.train_rows),
            eval_dataset=_Rows(request.val_rows) if evaluate else None,
            # The varlen attention reads each packed sample's bounds from the batch; other attentions need none.
            data_collator=Collator(request.tokenizer.pad_token_id, bounds=_uses_varlen(model)),
            processing_class=request.tokenizer,
            callbacks=callbacks,
        )
        # With tqdm off the Trainer prints every log dict to stdout; our own display and metrics.jsonl replace it.
        trainer.remove_callback(PrinterCallback)
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        state = trainer.state
        best_step = None
        if state.best_model_checkpoint:
            best_step = int(Path(state.best_model_checkpoint).name.rsplit("-", 1)[-1])
        planned = state.max_steps
        return FitResult(
            global_step=state.global_step,
            best_step=best_step,
            best_eval_loss=state.best_metric,
            stopped_early=bool(stopper) and state.global_step < planned,
            tokens_seen=int(state.num_input_tokens_seen),
        )


def _attention(config: Config, device: Device, precision: str, model_config: Any) -> AttentionChoice:
    from tunesmith.trainer.packed_attention import choose_attention, flash_varlen_available

    return choose_attention(
        packing=config.train.packing,
        device_kind=device.kind,
        precision=precision,
        model_config=model_config,
        flash=device.kind == "cuda" and flash_varlen_available(),
    )


def _uses_varlen(model: Any) -> bool:
    from tunesmith.trainer.packed_attention import VARLEN

    return getattr(model.config, "_attn_implementation", None) == VARLEN


def _checkpointing(enabled: bool) -> dict[str, Any]:
    # transformers 5.x renamed gradient_checkpointing to activation_checkpointing; use whichever this release has.
    from dataclasses import fields

    from transformers import TrainingArguments

    prefix = (
        "activation" if any(f.name == "activation_checkpointing" for f in fields(TrainingArguments)) else "gradient"
    )
    return {f"{prefix}_checkpointing": enabled, f"{prefix}_checkpointing_kwargs": {"use_reentrant": False}}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
