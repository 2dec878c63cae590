"""Training speed and memory on a CUDA GPU: plain transformers + peft, plain unsloth (trl's SFTTrainer, its defaults)
and tunesmith's unsloth backend, side by side on one random 1.04 B Llama, each side in its own process.

Fixed: batch 4 x 2048 tokens, LoRA r=16 on all linear layers (and QLoRA). Ragged: chat samples of 50-4000 tokens
(log-normal, loss on the reply only); plain transformers pads each batch, unsloth and tunesmith do not. Tokens/s
count real (non-pad) tokens over timed steps after warm-up; peak GiB is torch's peak allocation from loading on;
MFU is 6 x params x tokens/s over the bf16 matmul rate measured here.

    python bench/train_gpu.py --out DIR            # on the GPU machine (see shared/device/README.md)
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPE = dict(
    vocab_size=32000,
    hidden_size=2048,
    intermediate_size=8192,
    num_hidden_layers=16,
    num_attention_heads=32,
    num_key_value_heads=8,
    max_position_embeddings=8192,
    tie_word_embeddings=True,
)
LORA = dict(r=16, alpha=16, dropout=0.0)
BATCH, FIXED_LEN, RAGGED_MAX = 4, 2048, 4096
LR = 2e-4
CHECKPOINTING = "--no-checkpointing" not in sys.argv  # on by default, as each side's users get it
CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _build(folder: Path) -> dict:
    """The random model and a 32000-token word-level tokenizer (token ids are all the bench needs), plus the GPU's
    measured bf16 matmul rate."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {token: i for i, token in enumerate(specials + [f"w{i}" for i in range(SHAPE["vocab_size"] - 3)])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="w0"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(**SHAPE, eos_token_id=2, pad_token_id=0, bos_token_id=None)
    config.architectures = ["LlamaForCausalLM"]
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    torch.cuda.empty_cache()
    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    times = []
    for index in range(13):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        if index >= 3:
            times.append(start.elapsed_time(end) / 1e3)
    times.sort()
    return {
        "params": params,
        "peak_tflops": 2 * 8192**3 / times[len(times) // 2] / 1e12,
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
    }


def _ragged(count: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) of chat-like samples: log-normal lengths (median ~600) clipped to 50-4000 tokens, the
    first 20-60% a prompt without loss."""
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        length = int(min(4000, max(50, rng.lognormvariate(math.log(600), 0.9))))
        ids = [rng.randrange(3, SHAPE["vocab_size"]) for _ in range(length - 1)] + [2]
        prompt = int(length * rng.uniform(0.2, 0.6))
        samples.append((ids, [-100] * prompt + ids[prompt:]))
    return samples


def _fixed(count: int, seed: int = 1) -> list[tuple[list[int], list[int]]]:
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        ids = [rng.randrange(3, SHAPE["vocab_size"]) for _ in range(FIXED_LEN)]
        samples.append((ids, list(ids)))
    return samples


def _data(kind: str, steps: int) -> list[tuple[list[int], list[int]]]:
    # Ragged: enough samples for tunesmith's packed steps (~16k tokens each), the hungriest side.
    return _fixed(BATCH * steps) if kind == "fixed" else _ragged(max(600, 20 * steps))


class _Timer:
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


def _plain_hf(model_dir: Path, method: str, samples, steps: int, warmup: int, out: Path) -> dict:
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
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=CHECKPOINTING)
    model = get_peft_model(
        model,
        LoraConfig(
            r=LORA["r"],
            lora_alpha=LORA["alpha"],
            lora_dropout=LORA["dropout"],
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )

    def pad(rows):
        width = max(len(r["input_ids"]) for r in rows)
        return {
            key: torch.tensor([r[key] + [fill] * (width - len(r[key])) for r in rows])
            for key, fill in (("input_ids", 0), ("labels", -100), ("attention_mask", 0))
        }

    rows = [{"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids)} for ids, labels in samples]
    timer = _Timer(warmup)
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=BATCH,
        learning_rate=LR,
        bf16=True,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        gradient_checkpointing=CHECKPOINTING,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        disable_tqdm=True,
        seed=42,
    )
    Trainer(model=model, args=args, train_dataset=rows, data_collator=pad, callbacks=[timer.callback]).train()
    return timer.result()


def _plain_unsloth(model_dir: Path, method: str, samples, steps: int, warmup: int, out: Path) -> dict:
    import datasets
    from trl import SFTConfig, SFTTrainer
    from unsloth import FastLanguageModel  # first: it patches trl and transformers as it is imported

    model, tokenizer = FastLanguageModel.from_pretrained(
        str(model_dir),
        max_seq_length=RAGGED_MAX,
        load_in_4bit=method == "qlora",
        use_gradient_checkpointing="unsloth" if CHECKPOINTING else False,
    )
    model = FastLanguageModel.get_peft_model(
        model,
        r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        use_gradient_checkpointing="unsloth" if CHECKPOINTING else False,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )
    dataset = datasets.Dataset.from_dict(
        {
            "input_ids": [ids for ids, _ in samples],
            "assistant_masks": [[int(x != -100) for x in labels] for _, labels in samples],
        }
    )
    timer = _Timer(warmup)
    args = SFTConfig(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=BATCH,
        learning_rate=LR,
        max_length=RAGGED_MAX,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=True,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
        seed=42,
        dataset_num_proc=1,
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=[timer.callback]
    )
    trainer.train()
    return {**timer.result(), "padding_free": bool(getattr(trainer.args, "padding_free", False))}


def _tunesmith(model_dir: Path, method: str, samples, steps: int, warmup: int, out: Path) -> dict:
    from tunesmith.config import load_config
    from tunesmith.progress import SILENT
    from tunesmith.trainer.backends import detect_device
    from tunesmith.trainer.backends.unsloth import UnslothBackend
    from tunesmith.trainer.base_model import load_tokenizer
    from tunesmith.trainer.collate import pack_examples
    from tunesmith.trainer.format import Tokenized

    max_len = (
        FIXED_LEN if len(samples[0][0]) == FIXED_LEN and all(len(s[0]) == FIXED_LEN for s in samples) else RAGGED_MAX
    )
    config = load_config(
        base=str(model_dir),
        data=["unused.jsonl"],
        overrides=[
            f"train.method={method}",
            "train.backend=unsloth",
            f"train.batch_size={BATCH}",
            f"train.max_seq_len={max_len}",
            f"train.max_steps={steps}",
            f"train.learning_rate={LR}",
            "train.eval_steps=100000",
            f"lora.r={LORA['r']}",
            f"lora.alpha={LORA['alpha']}",
            f"lora.dropout={LORA['dropout']}",
            f"train.gradient_checkpointing={str(CHECKPOINTING).lower()}",
        ],
    )
    rows = pack_examples([Tokenized(ids, labels) for ids, labels in samples], max_len)
    backend = UnslothBackend()
    model, precision = backend.load(config, detect_device(), SILENT)
    timer = _Timer(warmup)
    backend.fit(
        model, load_tokenizer(model_dir), rows, [], config, out / "checkpoints", [timer.callback], None, precision
    )
    return timer.result()


SIDES = {"hf": _plain_hf, "unsloth": _plain_unsloth, "tunesmith": _tunesmith}
CASES = [("lora", "fixed"), ("qlora", "fixed"), ("lora", "ragged")]


def _side(ns: argparse.Namespace) -> None:
    """One process: each case of one side, memory statistics reset before each load."""
    import torch

    results = []
    for method, kind in CASES:
        steps, warmup = (ns.steps, ns.warmup) if kind == "fixed" else (ns.ragged_steps, ns.warmup)
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        result = SIDES[ns.role](
            Path(ns.model), method, _data(kind, steps), steps, warmup, Path(ns.out) / f"{ns.role}-{method}-{kind}"
        )
        results.append(
            {
                "side": ns.role,
                "method": method,
                "data": kind,
                **result,
                "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
                "wall": time.perf_counter() - started,
            }
        )
        print(json.dumps(results[-1]), flush=True)
        gc.collect()
        torch.cuda.empty_cache()
    (Path(ns.out) / f"{ns.role}.json").write_text(json.dumps(results))


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "peft", "trl", "unsloth", "unsloth_zoo", "bitsandbytes", "accelerate"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["build", *SIDES])
    parser.add_argument("--out", required=True, help="folder for the model, logs and results.json")
    parser.add_argument("--model", help="the model folder (set by the parent)")
    parser.add_argument("--steps", type=int, default=25, help="steps of the fixed-length cases")
    parser.add_argument("--ragged-steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--sides", default="hf,unsloth,tunesmith")
    parser.add_argument(
        "--no-checkpointing",
        action="store_true",
        help="every side trains without gradient checkpointing (more memory, no recomputation)",
    )
    ns = parser.parse_args()
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    if ns.role == "build":
        (out / "build.json").write_text(json.dumps(_build(Path(ns.model))))
        return
    if ns.role:
        _side(ns)
        return
    model = Path(ns.model or out / "model")
    base = [
        sys.executable,
        __file__,
        "--out",
        str(out),
        "--model",
        str(model),
        "--steps",
        str(ns.steps),
        "--ragged-steps",
        str(ns.ragged_steps),
        "--warmup",
        str(ns.warmup),
        *(["--no-checkpointing"] if ns.no_checkpointing else []),
    ]
    if not (model / "config.json").exists():
        subprocess.run(base + ["--role", "build"], check=True)
    built = json.loads((out / "build.json").read_text())
    results = []
    for side in ns.sides.split(","):
        done = subprocess.run(base + ["--role", side], check=False)
        if done.returncode == 0:
            results += json.loads((out / f"{side}.json").read_text())
        else:
            print(f"{side} failed with exit code {done.returncode}", flush=True)
    summary = {
        "device": built,
        "versions": _versions(),
        "lora": LORA,
        "batch": BATCH,
        "gradient_checkpointing": CHECKPOINTING,
        "results": results,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    print(_table(summary))


def _table(summary: dict) -> str:
    built = summary["device"]
    lines = [
        (
            f"{built['gpu']}, measured bf16 matmul peak {built['peak_tflops']:.0f} TFLOP/s; model "
            f"{built['params'] / 1e9:.3f} B params; gradient checkpointing "
            f"{'on' if summary['gradient_checkpointing'] else 'off'}; versions {summary['versions']}"
        ),
        "| case | side | real tokens/s | vs unsloth | vs transformers | MFU | peak GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    by = {(r["method"], r["data"], r["side"]): r for r in summary["results"]}
    for method, kind in CASES:
        for side in SIDES:
            row = by.get((method, kind, side))
            if row is None:
                continue
            fast, plain = by.get((method, kind, "unsloth")), by.get((method, kind, "hf"))
            mfu = 6 * built["params"] * row["tokens_per_s"] / (built["peak_tflops"] * 1e12)
            ratio = lambda other, row=row: f"{row['tokens_per_s'] / other['tokens_per_s']:.2f}x" if other else "-"
            lines.append(
                f"| {method} {kind} | {side} | {row['tokens_per_s']:.0f} | {ratio(fast)} | {ratio(plain)} "
                f"| {mfu:.1%} | {row['peak_gib']:.2f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
