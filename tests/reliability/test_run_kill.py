"""`tunesmith run` killed with SIGKILL, then the same command again: killed while training, it resumes from the last
checkpoint (not from step 0), packages and prints the summary; killed while packaging, it trains nothing again and
finishes a complete package.

SIGKILL leaves no chance to clean up, so these are promises of the files on disk (checkpoints, train_report.json,
the write-then-rename package), not of exception handlers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.kill import kill_when
from tests.trainer.helpers import write_qa_csv
from tunesmith.modelfiles import parse_modelfile

STEPS = 48
PACKAGE_FILES = ["Modelfile", "README.md", "adder-F16.gguf", "quality.json"]


def _project(tmp_path: Path, base: Path) -> tuple[list[str], Path]:
    """The command that runs a small project, and its run folder."""
    data = write_qa_csv(tmp_path / "qa.csv")
    run = tmp_path / "run"
    config = tmp_path / "tunesmith.yaml"
    config.write_text(
        f"name: adder\nbase: {base}\noutput_dir: {run}\ndata:\n  - path: {data}\n"
        f"train:\n  max_steps: {STEPS}\n  eval_steps: 4\n  max_seq_len: 64\n  learning_rate: 0.01\n"
        "  early_stopping_patience: 0\n"
        "package:\n  quant: [F16]\n  modelfile:\n    system: You add small numbers.\n",
        encoding="utf-8",
    )
    return [sys.executable, "-m", "tunesmith", "run", str(config)], run


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def _kill_when(command: list[str], ready: Callable[[], bool], what: str) -> None:
    process = kill_when(command, ready, timeout=240, env=_env())
    assert process.returncode == -signal.SIGKILL, f"the run ended before it could be killed {what}"


def _run(command: list[str]) -> str:
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return " ".join((done.stdout + "\n" + done.stderr).split())


def _checkpoint_steps(run: Path) -> list[int]:
    """Steps of the checkpoints whose trainer_state.json (saved last) is there."""
    return sorted(
        int(path.parent.name.rsplit("-", 1)[1])
        for path in (run / "checkpoints").glob("checkpoint-*/trainer_state.json")
    )


def _logged_steps(run: Path) -> list[int]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [row["step"] for row in rows if "loss" in row]


def _assert_complete_package(run: Path) -> None:
    from llama_cpp import Llama

    package = run / "package"
    assert sorted(path.name for path in package.iterdir()) == PACKAGE_FILES
    modelfile = parse_modelfile((package / "Modelfile").read_text(), source="Modelfile")
    assert modelfile.from_ == "./adder-F16.gguf" and modelfile.system == "You add small numbers."
    assert json.loads((package / "quality.json").read_text())["checks"]
    assert json.loads((run / ".package.json").read_text())["result"]["files"] == PACKAGE_FILES
    llm = Llama(model_path=str(package / "adder-F16.gguf"), n_ctx=64, n_threads=1, verbose=False)
    tokens = llm.tokenize(b"1 + 2 =")
    llm.eval(tokens)
    assert llm.n_tokens == len(tokens) > 0
    leftovers = [path.name for path in run.iterdir() if path.name.startswith(".package.")]
    assert leftovers == [".package.json"], f"half-written package pieces left: {leftovers}"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_run_killed_while_training_resumes_from_its_checkpoint_then_packages(tiny_model, tmp_path):
    command, run = _project(tmp_path, tiny_model("llama"))

    _kill_when(command, lambda: bool(_checkpoint_steps(run)), "while training")
    assert not (run / "train_report.json").exists() and not (run / "package").exists()
    saved = _checkpoint_steps(run)[-1]
    assert 0 < saved < STEPS

    log = _run(command)
    assert "resuming from checkpoint-" in log
    report = json.loads((run / "train_report.json").read_text())
    assert saved <= report["resumed_from_step"] < STEPS and report["steps"] == STEPS
    assert _logged_steps(run) == list(range(1, STEPS + 1)), "a step was repeated or lost across the kill"
    assert f"train: trained, {STEPS} steps" in log and "package: built" in log
    assert f"run {run}" in log and "eval loss:" in log and "ollama run" in log
    _assert_complete_package(run)


def _packaging(run: Path) -> bool:
    """The package folder is being written under its temporary name (training is over by then)."""
    return any(run.glob(".package.*.partial"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_run_killed_while_packaging_trains_nothing_again_and_finishes_the_package(tiny_model, tmp_path):
    command, run = _project(tmp_path, tiny_model("llama"))

    _kill_when(command, lambda: _packaging(run), "while packaging")
    assert (run / "train_report.json").is_file() and not (run / "package").exists()
    assert not (run / ".package.json").exists()
    trained = {
        name: (run / name).stat().st_mtime_ns
        for name in ("train_report.json", "metrics.jsonl", "adapter/adapter_model.safetensors")
    }

    log = _run(command)
    assert "train: reused" in log and "already trained with these settings" in log
    assert "resuming from" not in log
    assert {name: (run / name).stat().st_mtime_ns for name in trained} == trained, "the re-run trained again"
    assert "package: built" in log and f"run {run}" in log
    _assert_complete_package(run)
