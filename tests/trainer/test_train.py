"""train: a tiny model trained end to end; adapter, metrics, plot, verdict, early stopping, reuse and refusals."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

from tests.trainer.helpers import write_jsonl, write_qa_csv
from tunesmith.config import load_config
from tunesmith.errors import TrainError
from tunesmith.trainer import train_adapter

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FAST = ["train.learning_rate=0.02", "train.warmup_ratio=0", "train.batch_size=4", "train.max_seq_len=64"]


def _config(base, data, out, *overrides):
    return load_config(base=str(base), data=[str(d) for d in data], output_dir=str(out), overrides=[*FAST, *overrides])


@pytest.fixture(scope="session")
def chat_run(tiny_llama, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chat-run")
    config = _config(
        tiny_llama,
        [write_qa_csv(tmp / "qa.csv")],
        tmp / "run",
        "train.max_steps=12",
        "train.eval_steps=4",
        "train.early_stopping_patience=0",
    )
    return config, train_adapter(config)


def test_adapter_is_a_peft_folder_that_changes_the_model(chat_run, tiny_llama):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    _, result = chat_run
    assert sorted(p.name for p in result.adapter.iterdir() if p.suffix in (".json", ".safetensors")) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    adapter_config = json.loads((result.adapter / "adapter_config.json").read_text())
    assert adapter_config["r"] == 16 and adapter_config["peft_type"] == "LORA"
    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    ids = torch.tensor([[5, 17, 33, 60, 2]])
    with torch.no_grad():
        before = base(ids).logits
        tuned = PeftModel.from_pretrained(base, result.adapter)(ids).logits
    assert not torch.allclose(before, tuned, atol=1e-4)


def test_best_checkpoint_is_the_adapter_kept(chat_run):
    from safetensors.torch import load_file

    _, result = chat_run
    report = result.report
    evals = [
        row
        for row in map(json.loads, (result.run_dir / "metrics.jsonl").read_text().splitlines())
        if "eval_loss" in row and row["step"] > 0
    ]
    best = min(evals, key=lambda row: row["eval_loss"])
    assert report["best_step"] == best["step"] and report["best_eval_loss"] == pytest.approx(best["eval_loss"])
    kept = load_file(result.adapter / "adapter_model.safetensors")
    checkpoint = load_file(result.run_dir / "checkpoints" / f"checkpoint-{best['step']}" / "adapter_model.safetensors")
    assert kept.keys() == checkpoint.keys()
    assert all(torch.equal(kept[k], checkpoint[k]) for k in kept)


def test_metrics_plot_and_report_describe_the_run(chat_run):
    _, result = chat_run
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train_rows] == list(range(1, 13))
    assert all(r["lr"] is not None and r["grad_norm"] > 0 and r["tokens_per_s"] > 0 for r in train_rows)
    assert [r["step"] for r in rows if "eval_loss" in r] == [0, 4, 8, 12]
    assert train_rows[-1]["tokens_seen"] == result.report["tokens_seen"] > 0
    png = (result.run_dir / "loss.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    report = json.loads((result.run_dir / "train_report.json").read_text())
    assert report["steps"] == 12 and report["fit"] in ("under-fit", "over-fit", "good fit")
    assert report["fit_reason"] and report["backend"] == "hf" and report["precision"] == "fp32"
    assert report["final_train_loss"] == train_rows[-1]["loss"]
    # "before" is a real evaluation of the untrained model on the validation rows, not the first training loss.
    assert report["initial_eval_loss"] == rows[0]["eval_loss"] and rows[0]["step"] == 0
    assert report["initial_eval_loss"] > report["best_eval_loss"]


def test_rerunning_a_finished_run_reuses_it(chat_run):
    config, result = chat_run
    stamp = (result.adapter / "adapter_model.safetensors").stat().st_mtime_ns
    again = train_adapter(config)
    assert again.reused and again.report == result.report
    assert (result.adapter / "adapter_model.safetensors").stat().st_mtime_ns == stamp


def test_changed_settings_refuse_old_checkpoints_until_restart(chat_run, tmp_path):
    config, _ = chat_run
    changed = load_config(
        base=config.base,
        data=[config.data[0].path],
        output_dir=config.output_dir,
        overrides=[*FAST, "train.max_steps=12", "train.eval_steps=4", "train.early_stopping_patience=0", "lora.r=4"],
    )
    with pytest.raises(TrainError, match=r"made with other settings \(changed: lora\.r\)") as info:
        train_adapter(changed)
    assert "--restart" in str(info.value)


def test_early_stopping_stops_when_eval_loss_stops_improving(tiny_llama, tmp_path):
    rows = [
        {"prompt": f"Tell me fact {i}.", "completion": f"Fact {i}: the keeper lit lamp {i * 7} at dusk."}
        for i in range(24)
    ]
    config = _config(
        tiny_llama,
        [write_jsonl(tmp_path / "facts.jsonl", rows)],
        tmp_path / "run",
        "train.learning_rate=0.05",
        "train.max_steps=80",
        "train.eval_steps=4",
        "train.batch_size=2",
        "train.early_stopping_patience=2",
        "split.val_fraction=0.25",
    )
    report = train_adapter(config).report
    assert report["stopped_early"] and report["steps"] < 80
    evals = [
        r for r in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) if "eval_loss" in r
    ]
    assert evals[-1]["step"] == report["steps"]
    after_best = [r["eval_loss"] for r in evals if r["step"] > report["best_step"]]
    assert len(after_best) == 2 and all(loss >= report["best_eval_loss"] for loss in after_best)


def test_keep_last_leaves_the_last_steps_adapter_and_trains_every_step(tiny_llama, tmp_path):
    from safetensors.torch import load_file

    rows = [
        {"prompt": f"Tell me fact {i}.", "completion": f"Fact {i}: the keeper lit lamp {i * 7} at dusk."}
        for i in range(24)
    ]
    config = _config(
        tiny_llama,
        [write_jsonl(tmp_path / "facts.jsonl", rows)],
        tmp_path / "run",
        "train.learning_rate=0.05",
        "train.max_steps=16",
        "train.eval_steps=4",
        "train.batch_size=2",
        "train.early_stopping_patience=1",
        "train.keep=last",
        "split.val_fraction=0.25",
    )
    result = train_adapter(config)
    report = result.report
    evals = [
        r for r in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) if "eval_loss" in r
    ]
    # Patience 1 would have stopped this run (eval loss does not fall at every evaluation); keeping the last, it
    # trains every step.
    assert any(later["eval_loss"] >= earlier["eval_loss"] for earlier, later in itertools.pairwise(evals[1:]))
    assert report["steps"] == 16 and not report["stopped_early"] and report["keep"] == "last"
    assert report["final_eval_loss"] == evals[-1]["eval_loss"] and evals[-1]["step"] == 16
    kept = load_file(result.adapter / "adapter_model.safetensors")
    last = load_file(tmp_path / "run" / "checkpoints" / "checkpoint-16" / "adapter_model.safetensors")
    assert all(torch.equal(kept[k], last[k]) for k in kept)


def test_raw_text_trains_without_packing(tiny_llama, tmp_path):
    config = load_config(
        EXAMPLES / "pretrain-books" / "tunesmith.yaml",
        base=str(tiny_llama),
        output_dir=str(tmp_path / "run"),
        overrides=[
            "train.max_seq_len=128",
            "chunk.max_tokens=120",
            "train.max_steps=3",
            "train.packing=false",
            "train.grad_accum=1",
            "train.eval_steps=3",
        ],
    )
    report = train_adapter(config).report
    assert report["steps"] == 3 and report["tokens_seen"] > 3 * 2 * 60


@pytest.mark.parametrize(
    "overrides, message, where",
    [
        (["train.method=qlora"], "QLoRA (4-bit base weights) needs a CUDA GPU", "train.method"),
        (["train.backend=unsloth"], "unsloth backend needs a CUDA GPU", "train.backend"),
        (["train.save_steps=3", "train.eval_steps=2"], "is not a multiple of `train.eval_steps`", "train.save_steps"),
    ],
)
def test_impossible_training_settings_are_refused_with_the_fix(tiny_llama, tmp_path, overrides, message, where):
    config = _config(tiny_llama, [write_qa_csv(tmp_path / "qa.csv")], tmp_path / "run", "train.max_steps=2", *overrides)
    with pytest.raises(TrainError) as info:
        train_adapter(config)
    assert message in info.value.message and info.value.where == where and info.value.hint
    assert not (tmp_path / "run" / "adapter").exists()


def test_new_weights_in_the_same_base_folder_are_not_taken_for_the_old_ones(tiny_llama, tmp_path):
    import os
    import shutil

    base = tmp_path / "base"
    shutil.copytree(tiny_llama, base)
    config = _config(
        base, [write_qa_csv(tmp_path / "qa.csv")], tmp_path / "run", "train.max_steps=2", "train.eval_steps=2"
    )
    first = train_adapter(config)
    assert train_adapter(config).reused
    weights = base / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    with pytest.raises(TrainError, match=r"made with other settings \(changed: base\.files\)"):
        train_adapter(config)
    again = train_adapter(config, restart=True)
    assert not again.reused and again.report["settings_hash"] != first.report["settings_hash"]
