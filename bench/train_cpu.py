"""Training speed and memory on CPU: `tunesmith train` against a plain trl SFTTrainer + peft script, side by side.

Both train the same LoRA (same rank, targets, learning rate, batch, sequence length, packing, gradient checkpointing)
on the same prepared rows of the same base model, each in its own process. Steps/s and tokens/s cover the training
loop only (a Trainer callback times it); peak RSS is the process's maximum resident set. Ratios are written so that
>= 1.0x means tunesmith is at least as good: speed = ours / trl, memory = trl / ours.

    .venv/bin/python bench/train_cpu.py                       # embedded SmolLM2-135M, examples/chat-qa-csv
    .venv/bin/python bench/train_cpu.py --steps 12 --repeats 2
    .venv/bin/python bench/train_cpu.py --json PATH           # also write the results and ratios (bench/report.py)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import ratio_row, versions, write_json

LORA = {"r": 16, "alpha": 32, "dropout": 0.05}


def _timer():
    from transformers import TrainerCallback

    class Timer(TrainerCallback):
        # From the first step on: tunesmith evaluates the untrained model inside train() (eval_on_start), which is
        # not training and which the trl script does not do.
        start = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.tokens0, self.step0 = state.num_input_tokens_seen, state.global_step

        def on_step_begin(self, args, state, control, **kwargs):
            if self.start is None:
                self.start = time.perf_counter()

        def on_train_end(self, args, state, control, **kwargs):
            self.result = {
                "seconds": time.perf_counter() - self.start,
                "steps": state.global_step - self.step0,
                "tokens": state.num_input_tokens_seen - self.tokens0,
            }

    return Timer()


def _role_tunesmith(ns: argparse.Namespace) -> dict:
    from tunesmith.config import load_config
    from tunesmith.trainer import train_adapter

    timer = _timer()
    config = load_config(
        base=ns.base,
        data=[ns.data],
        output_dir=ns.run,
        max_steps=ns.steps,
        overrides=[
            f"train.batch_size={ns.batch}",
            f"train.max_seq_len={ns.max_seq_len}",
            "train.eval_steps=100000",
            "train.early_stopping_patience=0",
            f"lora.r={LORA['r']}",
            f"lora.alpha={LORA['alpha']}",
            f"lora.dropout={LORA['dropout']}",
            "train.learning_rate=2e-4",
            "train.packing=true",
        ],
    )
    train_adapter(config, display=timer)
    return timer.result


def _role_trl(ns: argparse.Namespace) -> dict:
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    rows = [json.loads(line) for line in (Path(ns.run) / "data" / "train.jsonl").read_text().splitlines()]
    # The typical script: conversational prompt/completion rows, loss on the completion (the assistant reply).
    dataset = datasets.Dataset.from_list(
        [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows]
    )
    tokenizer = AutoTokenizer.from_pretrained(ns.base)
    model = AutoModelForCausalLM.from_pretrained(ns.base, dtype=torch.float32)
    timer = _timer()
    args = SFTConfig(
        output_dir=str(Path(ns.run) / "trl"),
        max_steps=ns.steps,
        per_device_train_batch_size=ns.batch,
        learning_rate=2e-4,
        lr_scheduler_type="cosine",
        warmup_steps=0.03,
        max_length=ns.max_seq_len,
        packing=True,
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        seed=42,
        use_cpu=True,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
        # SFTConfig defaults to bf16, which on a CPU means bf16 autocast; tunesmith trains a CPU run in
        # fp32, so both sides compute the same thing.
        bf16=False,
    )
    lora = LoraConfig(
        r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=lora, callbacks=[timer]
    )
    trainer.train()
    trainer.save_model(str(Path(ns.run) / "trl-adapter"))
    return timer.result


def _child(role: str, ns: argparse.Namespace, run: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        "--role",
        role,
        "--base",
        ns.base,
        "--data",
        ns.data,
        "--run",
        str(run),
        "--steps",
        str(ns.steps),
        "--batch",
        str(ns.batch),
        "--max-seq-len",
        str(ns.max_seq_len),
    ]
    out = run / f"{role}.json"
    started = time.perf_counter()
    process = subprocess.Popen(
        command + ["--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        sys.exit(f"{role} failed:\n{process.stderr.read().decode()[-3000:]}")
    result = json.loads(out.read_text())
    return {**result, "wall": wall, "rss_mib": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["tunesmith", "trl"])
    parser.add_argument("--base", default="embedded")
    parser.add_argument("--data", default=str(ROOT / "examples" / "chat-qa-csv" / "faq.csv"))
    parser.add_argument("--run")
    parser.add_argument("--out")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--max-seq-len", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the results and ratios here")
    ns = parser.parse_args()
    if ns.role:
        result = (_role_tunesmith if ns.role == "tunesmith" else _role_trl)(ns)
        Path(ns.out).write_text(json.dumps(result))
        return
    if ns.base == "embedded":
        from tunesmith.embedded_base import embedded_base_dir

        ns.base = str(embedded_base_dir())
    results: dict[str, list[dict]] = {"tunesmith": [], "trl": []}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        for repeat in range(ns.repeats):
            # Alternate the order so a slow spell on a shared machine does not always hit the same side.
            roles = ["tunesmith", "trl"] if repeat % 2 == 0 else ["trl", "tunesmith"]
            for role in roles:
                run = Path(tmp) / f"run{repeat}"
                if role == "trl" and not (run / "data" / "train.jsonl").exists():
                    _prepare_only(ns, run)
                results[role].append(_child(role, ns, run))
    print(
        f"model {Path(ns.base).name}, data {Path(ns.data).name}, {ns.steps} steps, batch {ns.batch}, "
        f"max_seq_len {ns.max_seq_len}, packing, gradient checkpointing, LoRA r={LORA['r']} all-linear, "
        f"nproc {os.cpu_count()}"
    )
    print("| side | steps/s | tokens/s | train loop s | process wall s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    summary = {}
    for role, runs in results.items():
        seconds = sum(r["seconds"] for r in runs)
        summary[role] = {
            "steps_per_s": sum(r["steps"] for r in runs) / seconds,
            "tokens_per_s": sum(r["tokens"] for r in runs) / seconds,
            "rss_mib": max(r["rss_mib"] for r in runs),
        }
        print(
            f"| {role} | {summary[role]['steps_per_s']:.3f} | {summary[role]['tokens_per_s']:.0f} | "
            f"{seconds / len(runs):.1f} | {sum(r['wall'] for r in runs) / len(runs):.1f} | "
            f"{summary[role]['rss_mib']:.0f} |"
        )
    ours, trl = summary["tunesmith"], summary["trl"]
    print(f"speed ratio (tunesmith / trl steps/s): {ours['steps_per_s'] / trl['steps_per_s']:.2f}x")
    print(f"memory ratio (trl / tunesmith peak RSS): {trl['rss_mib'] / ours['rss_mib']:.2f}x")
    if ns.json:
        anchor = "plain trl SFTTrainer script"
        rows = [
            ratio_row(
                "train_cpu",
                "LoRA training tokens/s",
                "tok/s",
                ours["tokens_per_s"],
                trl["tokens_per_s"],
                anchor,
                "higher",
                1.0,
            ),
            ratio_row(
                "train_cpu", "LoRA training peak RSS", "MiB", ours["rss_mib"], trl["rss_mib"], anchor, "lower", 1.0
            ),
        ]
        settings = {
            "base": Path(ns.base).name,
            "data": Path(ns.data).name,
            "steps": ns.steps,
            "batch": ns.batch,
            "max_seq_len": ns.max_seq_len,
            "repeats": ns.repeats,
            "lora": LORA,
        }
        write_json(
            ns.json,
            "train_cpu",
            settings,
            {"runs": results, "summary": summary},
            rows,
            versions("torch", "transformers", "peft", "trl", "accelerate", "datasets"),
        )


def _prepare_only(ns: argparse.Namespace, run: Path) -> None:
    from tunesmith.config import load_config
    from tunesmith.trainer import prepare_data

    prepare_data(
        load_config(
            base=ns.base, data=[ns.data], output_dir=str(run), overrides=[f"train.max_seq_len={ns.max_seq_len}"]
        )
    )


if __name__ == "__main__":
    main()
