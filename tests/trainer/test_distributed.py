"""`tunesmith train --gpus N`: N data-parallel processes (gloo on this CPU-only machine) train the same adapter as
one process would, keep the global batch, write each file once, and resume after a SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.fixtures.kill import kill_when
from tests.trainer.helpers import has_complete_checkpoint, train_command, write_qa_csv
from tunesmith.config import load_config
from tunesmith.errors import TrainError
from tunesmith.trainer.backends import Device, select_backend
from tunesmith.trainer.distributed import check_devices, per_process

STEPS = 16


def _command(base: Path, data: Path, out: Path, *extra: str) -> list[str]:
    settings = {"eval_steps": 4, "batch_size": 2, "grad_accum": 2, "max_seq_len": 64, "learning_rate": 0.01}
    return [*train_command(base, data, out, steps=STEPS, **settings), *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120"}


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(("batch", "accum", "expected"), [(4, 4, (4, 2)), (4, 1, (2, 1)), (2, 6, (2, 3))])
def test_each_process_takes_its_share_of_the_global_batch(tmp_path, batch, accum, expected):
    config = load_config(
        base="b",
        data=[str(tmp_path / "d.csv")],
        overrides=[f"train.batch_size={batch}", f"train.grad_accum={accum}", "train.gpus=2"],
    )
    mine = per_process(config, 2).train
    assert (mine.batch_size, mine.grad_accum) == expected
    assert mine.batch_size * mine.grad_accum * 2 == batch * accum


def test_a_global_batch_that_does_not_split_is_refused_with_the_fix(tmp_path):
    config = load_config(
        base="b", data=[str(tmp_path / "d.csv")], overrides=["train.batch_size=3", "train.grad_accum=1", "train.gpus=2"]
    )
    with pytest.raises(TrainError, match="cannot be split evenly over 2 processes") as caught:
        per_process(config, 2)
    assert caught.value.where == "train.gpus" and "train.grad_accum=2" in caught.value.hint


@pytest.fixture(scope="module")
def two_process_run(tiny_llama, tmp_path_factory):
    """An uninterrupted 2-process run, and the 1-process run of the same command."""
    tmp = tmp_path_factory.mktemp("distributed")
    data = write_qa_csv(tmp / "qa.csv")
    single, double = tmp / "one", tmp / "two"
    subprocess.run(_command(tiny_llama, data, single), check=True, env=_env(), capture_output=True, timeout=300)
    done = subprocess.run(
        _command(tiny_llama, data, double, "--gpus", "2"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return data, single, double, done.stderr


@pytest.mark.timeout(600)
def test_two_processes_train_the_adapter_one_process_would(two_process_run):
    _, single, double, stderr = two_process_run
    text = " ".join(stderr.split())
    assert "training in 2 processes (on the CPU, gloo)" in text
    assert re.search(r"\b\d+ tok/s", text), "rank 0 shows the live display"

    report = json.loads((double / "train_report.json").read_text())
    assert report["processes"] == 2 and report["steps"] == STEPS and report["backend"] == "hf"
    rows = _rows(double)
    steps = [row["step"] for row in rows if "loss" in row]
    assert steps == list(range(1, STEPS + 1)), "rank 0 alone writes metrics.jsonl, one line per step"
    assert [row["step"] for row in rows if "eval_loss" in row] == [0, 4, 8, 12, 16]
    losses = [row["loss"] for row in rows if "loss" in row]
    assert sum(losses[-4:]) < sum(losses[:4]), "the loss falls"
    # Same global batch (2 x 2 per step, over 2 processes 2 x 1 each): the same number of rows per step.
    assert report["tokens_seen"] == pytest.approx(
        json.loads((single / "train_report.json").read_text())["tokens_seen"], rel=0.25
    )
    one, two = (load_file(run / "adapter" / "adapter_model.safetensors") for run in (single, double))
    assert {k: v.shape for k, v in two.items()} == {k: v.shape for k, v in one.items()}
    assert not (double / "checkpoints" / "checkpoint-16" / "rng_state.pth").exists()
    assert (double / "checkpoints" / "checkpoint-16" / "rng_state_1.pth").is_file()
    assert not (double / ".launch.json").exists()


@pytest.mark.timeout(600)
def test_a_killed_two_process_run_resumes_to_the_uninterrupted_losses(tiny_llama, two_process_run, tmp_path):
    data, _, uninterrupted, _ = two_process_run
    run = tmp_path / "killed"
    command = _command(tiny_llama, data, run, "--gpus", "2")
    log = (tmp_path / "killed.log").open("w")
    # SIGKILL to tunesmith alone (a session of its own): its launcher and both workers must go with it.
    process = kill_when(
        command,
        lambda: has_complete_checkpoint(run),
        timeout=300,
        poll=0.01,
        env=_env(),
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    time.sleep(2)
    left = subprocess.run(
        ["pgrep", "-f", f"tunesmith.trainer.worker .* {run}"], capture_output=True, text=True, check=False
    )
    assert left.stdout == "", "no launcher or worker outlives the killed command"
    assert process.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-3000:]
    assert not (run / "adapter").exists()

    again = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from checkpoint-" in again.stderr
    report = json.loads((run / "train_report.json").read_text())
    assert 0 < report["resumed_from_step"] < STEPS and report["steps"] == STEPS
    steps = [row["step"] for row in _rows(run) if "loss" in row]
    assert steps == list(range(1, STEPS + 1)), "no step repeated or lost across the kill"
    resumed = [row["loss"] for row in _rows(run) if "loss" in row]
    expected = [row["loss"] for row in _rows(uninterrupted) if "loss" in row]
    assert resumed == pytest.approx(expected, rel=1e-4), "the same data order and random numbers after the kill"


@pytest.mark.timeout(600)
def test_a_workers_error_reaches_the_user_once_as_that_error(tiny_llama, tmp_path):
    data = write_qa_csv(tmp_path / "qa.csv")
    done = subprocess.run(
        _command(tiny_llama, data, tmp_path / "run", "--gpus", "2", "--set", "train.max_seq_len=8"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    text = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stderr[-3000:]
    assert text.count("no training example has tokens to learn from") == 1
    assert "Traceback" not in done.stderr and "exit status" not in text and "ChildFailedError" not in text
    assert not (tmp_path / "run" / ".worker-error.json").exists()


def test_more_processes_than_gpus_is_refused(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(TrainError, match="train.gpus = 2, but this machine has 1 CUDA GPU") as caught:
        check_devices(2, "cuda")
    assert caught.value.hint == "Use --gpus 1 or fewer."
    check_devices(4, "cpu")  # without CUDA, N processes share the CPU


def test_unsloth_is_refused_for_several_gpus(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "unsloth" else real(name, *a))
    config = load_config(base="b", data=[str(tmp_path / "d.csv")], overrides=["train.backend=unsloth", "train.gpus=2"])
    with pytest.raises(TrainError, match="the unsloth backend trains on one GPU; train.gpus is 2") as caught:
        select_backend(config, Device("cuda", True))
    assert "train.backend: hf" in caught.value.hint
