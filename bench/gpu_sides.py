"""The sides bench/train_gpu.py compares, each a function that trains one case and returns its timing: plain
transformers + peft (padded batches), plain unsloth (trl's SFTTrainer, its defaults), and tunesmith's unsloth and
transformers backends, each with its packed-row attention (varlen flash) or without it (the library's own)."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

from bench.gpu_models import BATCH, FIXED_LEN, RAGGED_MAX

LORA = dict(r=16, alpha=16, dropout=0.0)
LR = 2e-4


class Timer:
    """Real tokens and seconds between the end of the warm-up steps and the last step (the GPU synchronised)."""

    def __init__(self, warmup: int) -> None:
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                import torch

                if state.global_step in (timer.warmup, state.max_steps):
                    torch.cuda.synchronize()
                    timer.marks.append((time.perf_counter(), state.num_input_tokens_seen, state.global_step))

        self.warmup, self.marks, self.callback = warmup, [], Callback()

    def result(self) -> dict:
        (t0, tokens0, step0), (t1, tokens1, step1) = self.marks[0], self.marks[-1]
        return {
            "seconds": t1 - t0,
            "tokens": tokens1 - tokens0,
            "steps": step1 - step0,
            "tokens_per_s": (tokens1 - tokens0) / (t1 - t0),
        }


# Where the GPU's time goes, by kernel name (matched in this order).
_KINDS = [
    ("attention", ("flash", "fmha", "attention", "sdpa", "softmax")),
    ("matmul", ("gemm", "cutlass", "xmma", "nvjet", "cublas", "sm90_", "matmul")),
    ("loss", ("cross_entropy", "log_softmax", "nll_loss", "_ce_")),
    ("host-device copies", ("memcpy htod", "memcpy dtoh")),
    ("device copies and cat", ("memcpy dtod", "copy", "cat", "memset")),
]


def _profile_callback(path: Path, first: int = 3, last: int = 4):
    """torch.profiler over steps first..last (inside the warm-up, so the timed steps stay unprofiled): the top kernels
    and CPU ops, and GPU kernel time by kind against the wall time, written to `path` (text) and `path`.json."""
    import torch
    from transformers import TrainerCallback

    class Profile(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == first - 1:
                torch.cuda.synchronize()
                self.profiler = torch.profiler.profile(
                    activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
                )
                self.profiler.start()
                self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step != last or not hasattr(self, "profiler"):
                return
            torch.cuda.synchronize()
            wall = time.perf_counter() - self.started
            self.profiler.stop()
            events = self.profiler.key_averages()
            device = lambda e: getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)
            kinds: dict[str, float] = {}
            # The GPU's own events (kernels, copies) alone: an op's self time on the GPU counts its kernels again.
            for event in (e for e in events if e.device_type == torch.autograd.DeviceType.CUDA):
                name = event.key.lower()
                kind = next((k for k, words in _KINDS if any(w in name for w in words)), "other")
                kinds[kind] = kinds.get(kind, 0.0) + device(event) / 1e3
            steps = last - first + 1
            summary = {
                "wall_ms_per_step": wall * 1e3 / steps,
                "gpu_kernel_ms_per_step": sum(kinds.values()) / steps,
                "by_kind_ms_per_step": {k: v / steps for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
            }
            path.with_suffix(".json").write_text(json.dumps(summary, indent=2))
            sort = "self_device_time_total" if hasattr(events[0], "self_device_time_total") else "self_cuda_time_total"
            path.write_text(
                f"{json.dumps(summary, indent=2)}\n\nby GPU time:\n{events.table(sort_by=sort, row_limit=25)}\n\n"
                f"by CPU time:\n{events.table(sort_by='self_cpu_time_total', row_limit=15)}\n"
            )

    return Profile()


def plain_hf(model_dir: Path, method: str, samples, steps: int, warmup: int, out: Path, checkpointing: bool) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    options = {"dtype": torch.bfloat16, "attn_implementation": "sdpa", "device_map": {"": 0}}
    if method == "qlora":
        from transformers import BitsAndBytesConfig

        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    model = AutoModelForCausalLM.from_pretrained(model_dir, **options)
    model.config.use_cache = False
    if method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    lora = LoraConfig(
        r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"], target_modules="all-linear",
        task_type="CAUSAL_LM",
    )  # fmt: skip
    model = get_peft_model(model, lora)

    def pad(rows):
        width = max(len(r["input_ids"]) for r in rows)
        return {
            key: torch.tensor([r[key] + [fill] * (width - len(r[key])) for r in rows])
            for key, fill in (("input_ids", 0), ("labels", -100), ("attention_mask", 0))
        }

    rows = [{"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids)} for ids, labels in samples]
    timer = Timer(warmup)
    args = TrainingArguments(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=BATCH, learning_rate=LR, bf16=True,
        logging_steps=1, save_strategy="no", report_to="none", gradient_checkpointing=checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False}, include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False, disable_tqdm=True, seed=42,
    )  # fmt: skip
    Trainer(model=model, args=args, train_dataset=rows, data_collator=pad, callbacks=[timer.callback]).train()
    return timer.result()


def plain_unsloth(model_dir: Path, method: str, samples, steps: int, warmup: int, out: Path, checkpointing: bool):
    import datasets
    from trl import SFTConfig, SFTTrainer
    from unsloth import FastLanguageModel  # first: it patches trl and transformers as it is imported

    gradient_checkpointing = "unsloth" if checkpointing else False
    model, tokenizer = FastLanguageModel.from_pretrained(
        str(model_dir),
        max_seq_length=RAGGED_MAX,
        load_in_4bit=method == "qlora",
        use_gradient_checkpointing=gradient_checkpointing,
    )
    model = FastLanguageModel.get_peft_model(
        model, r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
        use_gradient_checkpointing=gradient_checkpointing,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )  # fmt: skip
    dataset = datasets.Dataset.from_dict(
        {
            "input_ids": [ids for ids, _ in samples],
            "assistant_masks": [[int(x != -100) for x in labels] for _, labels in samples],
        }
    )
    timer = Timer(warmup)
    args = SFTConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=BATCH, learning_rate=LR,
        max_length=RAGGED_MAX, logging_steps=1, save_strategy="no", report_to="none", bf16=True,
        include_num_input_tokens_seen="non_padding", disable_tqdm=True, seed=42, dataset_num_proc=1,
    )  # fmt: skip
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=[timer.callback]
    )
    trainer.train()
    return {**timer.result(), "padding_free": bool(getattr(trainer.args, "padding_free", False))}


def tunesmith(
    model_dir: Path, method: str, samples, steps: int, warmup: int, out: Path, checkpointing: bool, *,
    backend: str, varlen: bool, profile: Path | None = None,
) -> dict:  # fmt: skip
    """tunesmith's backend as `tunesmith train` runs it; `varlen=False` measures it as if no flash kernel were there
    (unsloth's own per-length SDPA, transformers' sdpa with its block-diagonal mask)."""
    from tunesmith.config import load_config
    from tunesmith.progress import SILENT
    from tunesmith.trainer import packed_attention
    from tunesmith.trainer.backends import FitRequest, detect_device
    from tunesmith.trainer.backends.hf import HfBackend
    from tunesmith.trainer.backends.unsloth import UnslothBackend
    from tunesmith.trainer.base_model import load_tokenizer
    from tunesmith.trainer.collate import pack_examples
    from tunesmith.trainer.format import Tokenized

    if not varlen:
        packed_attention.flash_varlen_available = lambda: False
    max_len = FIXED_LEN if all(len(ids) == FIXED_LEN for ids, _ in samples) else RAGGED_MAX
    config = load_config(
        base=str(model_dir),
        data=["unused.jsonl"],
        overrides=[
            f"train.method={method}", f"train.backend={backend}", f"train.batch_size={BATCH}",
            f"train.max_seq_len={max_len}", f"train.max_steps={steps}", f"train.learning_rate={LR}",
            "train.eval_steps=100000", f"lora.r={LORA['r']}", f"lora.alpha={LORA['alpha']}",
            f"lora.dropout={LORA['dropout']}", f"train.gradient_checkpointing={str(checkpointing).lower()}",
        ],
    )  # fmt: skip
    rows = pack_examples([Tokenized(ids, labels) for ids, labels in samples], max_len)
    chosen = UnslothBackend() if backend == "unsloth" else HfBackend()
    model, precision = chosen.load(config, detect_device(), SILENT)
    timer = Timer(warmup)
    callbacks = [timer.callback] + ([_profile_callback(profile)] if profile else [])
    chosen.fit(
        model, FitRequest(load_tokenizer(model_dir), rows, [], config, out / "checkpoints", callbacks, None, precision)
    )
    if backend == "hf":
        attention = model.config._attn_implementation
    else:
        from unsloth.utils import attention_dispatch

        attention = "varlen" if getattr(attention_dispatch, "_TORCH_VARLEN_ATTN", None) else "unsloth's own"
    return {**timer.result(), "attention": attention}


SIDES = {
    "hf": plain_hf,
    "unsloth": plain_unsloth,
    "tunesmith": functools.partial(tunesmith, backend="unsloth", varlen=True),
    "tunesmith-own": functools.partial(tunesmith, backend="unsloth", varlen=False),
    "tunesmith-hf": functools.partial(tunesmith, backend="hf", varlen=True),
    "tunesmith-hf-sdpa": functools.partial(tunesmith, backend="hf", varlen=False),
}
LABELS = {
    "hf": "transformers + peft",
    "unsloth": "unsloth",
    "tunesmith": "tunesmith (unsloth backend)",
    "tunesmith-own": "tunesmith (unsloth backend, unsloth's own packed attention)",
    "tunesmith-hf": "tunesmith (transformers backend)",
    "tunesmith-hf-sdpa": "tunesmith (transformers backend, sdpa block mask)",
}
