"""On the real embedded SmolLM2-135M-Instruct, a few LoRA steps on the example Q&A sheet lower the eval loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.config import load_config
from tunesmith.trainer import train_adapter

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chat-qa-csv" / "tunesmith.yaml"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_eval_loss_falls_on_the_embedded_model(tmp_path):
    from tunesmith.embedded_base import embedded_base_dir

    config = load_config(
        EXAMPLE,
        base=str(embedded_base_dir()),
        output_dir=str(tmp_path / "run"),
        max_steps=8,
        overrides=[
            "train.eval_steps=4",
            "train.learning_rate=1e-3",
            "train.batch_size=2",
            "train.max_seq_len=128",
            "train.gradient_checkpointing=false",
            "train.warmup_ratio=0",
        ],
    )
    report = train_adapter(config).report
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [row["eval_loss"] for row in rows if "eval_loss" in row]
    losses = [row["loss"] for row in rows if "loss" in row]
    assert [row["step"] for row in rows if "eval_loss" in row] == [0, 4, 8]
    assert evals[0] > evals[1] > evals[2] and report["initial_eval_loss"] == pytest.approx(evals[0])
    assert sum(losses[-2:]) < sum(losses[:2])
    assert report["best_step"] == 8 and report["fit"] in ("under-fit", "good fit")
