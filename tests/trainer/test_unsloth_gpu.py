"""On a CUDA GPU: both backends train a small random Llama (LoRA and QLoRA) through `tunesmith train` on the same
rows; unsloth keeps packed samples apart; a killed unsloth run resumes; a QLoRA adapter merges into 16 bits."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from tests.fixtures.kill import kill_when
from tests.trainer.helpers import QA, has_complete_checkpoint, train_command, write_qa_csv

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

STEPS = 40
RUNS = [("hf", "lora"), ("hf", "qlora"), ("unsloth", "lora"), ("unsloth", "qlora")]


def _tokenizer_dir() -> Path:
    # A real BPE tokenizer with a ChatML template: the embedded SmolLM2's, or a saved copy where that package is
    # not installed (the GPU machine has no network).
    saved = os.environ.get("TUNESMITH_TEST_TOKENIZER")
    if saved:
        return Path(saved)
    from tunesmith.embedded_base import embedded_base_dir

    return embedded_base_dir()


@pytest.fixture(scope="session")
def gpu_llama(tmp_path_factory) -> Path:
    """A random 2-layer Llama (hidden 128, head dim 64) with SmolLM2's tokenizer, saved in bf16."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("gpu-llama")
    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_dir())
    torch.manual_seed(0)
    # A wide initial spread makes each token's output depend on its context, so leaks between packed samples show.
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        initializer_range=0.2,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    config.architectures = ["LlamaForCausalLM"]
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _command(base: Path, data: Path, out: Path, backend: str, method: str) -> list[str]:
    settings = {"eval_steps": 10, "batch_size": 4, "max_seq_len": 128, "learning_rate": 0.005, "keep_checkpoints": 2}
    command = train_command(base, data, out, steps=STEPS, backend=backend, method=method, **settings)
    return [*command, "--set", "lora.dropout=0"]


def _losses(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [row["step"] for row in rows if "loss" in row]
    assert steps == sorted(set(steps)), "a step was logged twice"
    return {row["step"]: row["loss"] for row in rows if "loss" in row}


@pytest.fixture(scope="session")
def trained(gpu_llama, tmp_path_factory) -> dict[tuple[str, str], Path]:
    """One `tunesmith train` process per (backend, method): unsloth patches transformers process-wide."""
    root = tmp_path_factory.mktemp("runs")
    data = write_qa_csv(root / "qa.csv")
    runs = {}
    for backend, method in RUNS:
        out = root / f"{backend}-{method}"
        done = subprocess.run(
            _command(gpu_llama, data, out, backend, method), capture_output=True, text=True, timeout=300, check=False
        )
        (root / f"{backend}-{method}.log").write_text(done.stdout + done.stderr)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[backend, method] = out
    return runs


@pytest.mark.parametrize("backend, method", RUNS, ids=[f"{b}-{m}" for b, m in RUNS])
def test_each_backend_trains_and_writes_an_adapter_that_changes_the_model(trained, gpu_llama, backend, method):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run = trained[backend, method]
    report = json.loads((run / "train_report.json").read_text())
    assert (report["backend"], report["method"], report["device"]) == (backend, method, "cuda")
    assert report["precision"] == "bf16" and report["steps"] == STEPS
    losses = _losses(run)
    assert list(losses) == list(range(1, STEPS + 1))
    assert sum(list(losses.values())[-5:]) < 0.8 * sum(list(losses.values())[:5])
    assert (run / "checkpoints" / f"checkpoint-{STEPS}" / "adapter_model.safetensors").is_file()
    base = AutoModelForCausalLM.from_pretrained(gpu_llama, dtype=torch.float32)
    ids = torch.tensor([[5, 17, 33, 60, 2, 900, 12000]])
    with torch.no_grad():
        before = base(ids).logits
        after = PeftModel.from_pretrained(base, run / "adapter")(ids).logits
    assert (after - before).abs().max() > 0.05


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_unsloth_trains_on_the_same_rows_as_transformers(trained, method):
    hf, fast = (json.loads((trained[b, method] / "train_report.json").read_text()) for b in ("hf", "unsloth"))
    # Same formatting, masking and packing: the same rows, batches and token counts.
    assert (fast["train_rows"], fast["val_rows"], fast["tokens_seen"]) == (
        hf["train_rows"],
        hf["val_rows"],
        hf["tokens_seen"],
    )
    hf_losses, fast_losses = _losses(trained["hf", method]), _losses(trained["unsloth", method])
    # Step 1 runs the untouched base (LoRA B starts at zero) on the first batch: both backends see the same loss.
    assert fast_losses[1] == pytest.approx(hf_losses[1], rel=0.02)
    assert fast["best_eval_loss"] == pytest.approx(hf["best_eval_loss"], rel=0.15)


@pytest.mark.timeout(600)
def test_killed_unsloth_run_resumes_and_ends_like_an_uninterrupted_one(trained, gpu_llama, tmp_path):
    data = write_qa_csv(tmp_path / "qa.csv")
    run = tmp_path / "killed"
    command = _command(gpu_llama, data, run, "unsloth", "lora")
    process = kill_when(command, lambda: has_complete_checkpoint(run), timeout=300)
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (run / "adapter").exists()
    logged_before = max(_losses(run), default=0)
    assert 0 < logged_before < STEPS

    again = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from checkpoint-" in again.stderr
    report = json.loads((run / "train_report.json").read_text())
    assert 0 < report["resumed_from_step"] < STEPS and report["steps"] == STEPS and report["backend"] == "unsloth"
    resumed, reference = _losses(run), _losses(trained["unsloth", "lora"])
    assert list(resumed) == list(range(1, STEPS + 1))
    # Same batches in the same order from the checkpointed weights; GPU kernels are not bit-reproducible.
    for step in range(report["resumed_from_step"] + 1, STEPS + 1):
        assert resumed[step] == pytest.approx(reference[step], rel=0.05), step


def test_qlora_adapter_merges_into_the_16bit_base_and_into_a_dequantized_4bit_base(trained, gpu_llama, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from tunesmith.packager import merge_adapter

    adapter = trained["unsloth", "qlora"] / "adapter"
    ids = torch.tensor(
        [
            AutoTokenizer.from_pretrained(gpu_llama).apply_chat_template(
                [{"role": "user", "content": "What is 3 plus 4?"}], add_generation_prompt=True, return_dict=True
            )["input_ids"]
        ]
    )

    merged = merge_adapter(gpu_llama, adapter, tmp_path / "merged")
    with torch.no_grad():
        plain = AutoModelForCausalLM.from_pretrained(gpu_llama, dtype=torch.float32)
        before = plain(ids).logits
        expected = PeftModel.from_pretrained(plain, adapter)(ids).logits
        got = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)(ids).logits
    assert (expected - before).abs().max() > 0.05
    assert (got - expected).abs().max() < 0.05 * expected.abs().max()
    assert (got.argmax(-1) == expected.argmax(-1)).float().mean() >= 0.9

    four_bit = tmp_path / "base-4bit"
    quantization = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
    )
    quantized = AutoModelForCausalLM.from_pretrained(gpu_llama, quantization_config=quantization, device_map={"": 0})
    quantized.save_pretrained(four_bit)
    AutoTokenizer.from_pretrained(gpu_llama).save_pretrained(four_bit)
    with torch.no_grad():
        served = PeftModel.from_pretrained(quantized, adapter)(ids.cuda()).logits.float().cpu()
    merged_4bit = merge_adapter(four_bit, adapter, tmp_path / "merged-4bit")
    config = json.loads((merged_4bit / "config.json").read_text())
    assert "quantization_config" not in config
    with torch.no_grad():
        got = AutoModelForCausalLM.from_pretrained(merged_4bit, dtype=torch.float32)(ids).logits
    assert (got - served).abs().max() < 0.05 * served.abs().max()
    assert (got.argmax(-1) == served.argmax(-1)).float().mean() >= 0.9


# Last: it imports unsloth into this process, which patches transformers for whatever runs after it.
def test_unsloth_keeps_packed_samples_apart(gpu_llama):
    """A packed batch's loss equals its samples' losses apart; the same tokens with one running position (samples
    attending to each other) give another loss, so the comparison can tell."""
    from tunesmith.config import load_config
    from tunesmith.progress import SILENT
    from tunesmith.trainer import build_rows
    from tunesmith.trainer.backends import Device
    from tunesmith.trainer.backends.unsloth import UnslothBackend
    from tunesmith.trainer.base_model import load_tokenizer
    from tunesmith.trainer.collate import Collator
    from tunesmith.trainer.records import Record

    config = load_config(
        base=str(gpu_llama),
        data=["qa.csv"],
        overrides=["train.max_seq_len=256", "train.backend=unsloth", "lora.dropout=0"],
    )
    tokenizer = load_tokenizer(gpu_llama)
    records = [
        Record(
            "chat",
            f"qa:{i}",
            messages=({"role": "user", "content": q * (1 + i % 3)}, {"role": "assistant", "content": a}),
        )
        for i, (q, a) in enumerate(QA[:6])
    ]
    packed, _ = build_rows(records, tokenizer, config)
    assert len(packed) < len(records)
    model, _ = UnslothBackend().load(config, Device("cuda", torch.cuda.is_bf16_supported()), SILENT)
    collate = Collator(tokenizer.pad_token_id)

    def summed_loss(batch: dict) -> float:
        batch = {key: value.cuda() for key, value in batch.items()}
        counted = int((batch["labels"][:, 1:] != -100).sum())
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            return float(model(**batch).loss) * counted

    together = summed_loss(collate(packed))
    apart = 0.0
    for row in packed:
        starts = [i for i, p in enumerate(row["position_ids"]) if p == 0] + [len(row["input_ids"])]
        for start, end in itertools.pairwise(starts):
            sample = {"input_ids": row["input_ids"][start:end], "labels": [-100] + row["labels"][start + 1 : end]}
            apart += summed_loss(collate([sample]))
    leaky = collate([{**row, "position_ids": list(range(len(row["input_ids"])))} for row in packed])
    assert together == pytest.approx(apart, rel=0.01)
    assert abs(summed_loss(leaky) - apart) > 0.02 * apart


def test_more_processes_than_gpus_are_refused_before_any_data_is_written(gpu_llama, tmp_path):
    count = torch.cuda.device_count()
    data = write_qa_csv(tmp_path / "qa.csv")
    done = subprocess.run(
        [*_command(gpu_llama, data, tmp_path / "run", "hf", "lora"), "--gpus", str(count + 1)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    text = " ".join(done.stderr.split())
    assert f"train.gpus = {count + 1}, but this machine has {count} CUDA GPU(s)" in text and "Traceback" not in text
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="data-parallel training over NCCL needs two CUDA GPUs")
@pytest.mark.timeout(900)
def test_two_gpus_train_over_nccl_and_resume_after_a_kill(gpu_llama, tmp_path):
    data = write_qa_csv(tmp_path / "qa.csv")
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(
        [*_command(gpu_llama, data, full, "hf", "lora"), "--gpus", "2"], check=True, timeout=600, capture_output=True
    )
    report = json.loads((full / "train_report.json").read_text())
    assert (report["processes"], report["steps"], report["device"]) == (2, STEPS, "cuda")
    assert (full / "checkpoints" / f"checkpoint-{STEPS}" / "rng_state_1.pth").is_file()
    losses = _losses(full)
    assert sum(list(losses.values())[-5:]) < 0.8 * sum(list(losses.values())[:5])

    command = [*_command(gpu_llama, data, killed, "hf", "lora"), "--gpus", "2"]
    kill_when(command, lambda: has_complete_checkpoint(killed), timeout=300, poll=0.05, start_new_session=True)
    again = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed_from = json.loads((killed / "train_report.json").read_text())["resumed_from_step"]
    assert 0 < resumed_from < STEPS
    resumed = _losses(killed)
    assert list(resumed) == list(range(1, STEPS + 1))
    # GPU kernels are not bit-reproducible: the same batches from the checkpointed weights, to within noise.
    for step in range(resumed_from + 1, STEPS + 1):
        assert resumed[step] == pytest.approx(losses[step], rel=0.05), step
