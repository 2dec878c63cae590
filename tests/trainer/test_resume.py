"""A run killed with SIGKILL mid-training continues from its last checkpoint when the same command runs again:
same data order, no repeated step, and the same result as a run never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.fixtures.kill import kill_when
from tests.trainer.helpers import has_complete_checkpoint, train_command, write_qa_csv

STEPS = 48


def _command(base: Path, data: Path, out: Path) -> list[str]:
    settings = {"eval_steps": 4, "batch_size": 2, "max_seq_len": 64, "learning_rate": 0.01, "keep_checkpoints": 2}
    return train_command(base, data, out, steps=STEPS, **settings)


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120"}


def _train_losses(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [row["step"] for row in rows if "loss" in row]
    assert steps == sorted(set(steps)), "a step was logged twice"
    return {row["step"]: row["loss"] for row in rows if "loss" in row}


@pytest.mark.timeout(300)
def test_sigkilled_run_resumes_where_it_stopped_and_matches_an_uninterrupted_run(tiny_llama, tmp_path):
    data = write_qa_csv(tmp_path / "qa.csv")
    reference = tmp_path / "reference"
    subprocess.run(_command(tiny_llama, data, reference), check=True, env=_env(), capture_output=True, timeout=240)

    run = tmp_path / "killed"
    process = kill_when(
        _command(tiny_llama, data, run), lambda: has_complete_checkpoint(run), timeout=200, poll=0.01, env=_env()
    )
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (run / "adapter").exists()
    logged_before = max(_train_losses(run), default=0)
    assert 0 < logged_before < STEPS

    again = subprocess.run(
        _command(tiny_llama, data, run), env=_env(), capture_output=True, text=True, timeout=240, check=False
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming from checkpoint-" in again.stderr
    report = json.loads((run / "train_report.json").read_text())
    assert 0 < report["resumed_from_step"] < STEPS and report["steps"] == STEPS

    resumed, expected = _train_losses(run), _train_losses(reference)
    assert list(resumed) == list(range(1, STEPS + 1))
    for step in expected:  # same batches in the same order, from the same weights
        assert resumed[step] == pytest.approx(expected[step], rel=1e-5), step
    kept, fresh = (load_file(r / "adapter" / "adapter_model.safetensors") for r in (run, reference))
    assert all(torch.allclose(kept[k], fresh[k], atol=1e-6) for k in fresh)
