"""`tunesmith run`: prepare → train → package → publish in one command; each step reused when its inputs did not
change, re-done from the first step whose inputs did."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from tests.fixtures.tiny_models import copy_model
from tests.publish.test_hub import REPO, hub  # noqa: F401  (the fake Hub fixture)
from tests.trainer.helpers import write_qa_csv
from tunesmith.cli import cli
from tunesmith.errors import TrainError


def _project(tmp_path: Path, base: Path, *, publish: str = "") -> Path:
    data = write_qa_csv(tmp_path / "qa.csv")
    config = tmp_path / "tunesmith.yaml"
    config.write_text(
        f"name: adder\nbase: {base}\noutput_dir: {tmp_path / 'run'}\n"
        f"data:\n  - path: {data}\n"
        "train:\n  max_steps: 4\n  eval_steps: 2\n  max_seq_len: 64\n  learning_rate: 0.01\n"
        "package:\n  quant: [F16]\n  modelfile:\n    system: You add small numbers.\n"
        f"{publish}",
        encoding="utf-8",
    )
    return config


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, ["run", *args])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mtimes(folder: Path) -> dict[str, int]:
    """When each file was last written; status.json aside, which records every command that ran."""
    return {
        str(path.relative_to(folder)): path.stat().st_mtime_ns
        for path in folder.rglob("*")
        if path.is_file() and path.name != "status.json"
    }


@pytest.mark.timeout(600)
def test_run_builds_everything_then_reuses_it_and_repackages_only_what_changed(tiny_model, tmp_path):
    config = _project(tmp_path, tiny_model("llama"))
    run = tmp_path / "run"

    first = _run(str(config))
    assert "train: trained, 4 steps" in first and "package: built" in first
    report = json.loads((run / "train_report.json").read_text())
    assert f"eval loss: {report['initial_eval_loss']:.4f} before training → {report['best_eval_loss']:.4f}" in first
    gguf = run / "package" / "adder-F16.gguf"
    assert gguf.is_file() and (run / "package" / "Modelfile").is_file() and (run / "adapter").is_dir()
    assert "SYSTEM You add small numbers." in (run / "package" / "Modelfile").read_text()
    assert json.loads((run / ".package.json").read_text())["result"]["files"] == [
        "Modelfile",
        "README.md",
        "adder-F16.gguf",
        "quality.json",
    ]
    before = _mtimes(run)

    second = _run(str(config))
    assert "train: reused" in second and "package: reused" in second
    assert _mtimes(run) == before, "a run with nothing changed rewrites nothing"

    third = _run(str(config), "--set", "package.quant=[Q8_0]")
    assert "train: reused" in third and "package: built" in third
    assert (run / "package" / "adder-Q8_0.gguf").is_file() and not gguf.exists()
    after = _mtimes(run)
    for name in ("train_report.json", "metrics.jsonl", "adapter/adapter_model.safetensors", "data/train.jsonl"):
        assert after[name] == before[name], f"changing only package: must not touch {name}"


@pytest.mark.timeout(600)
def test_run_packages_again_when_a_package_file_or_the_base_weights_changed_and_says_why(tiny_model, tmp_path):
    base = copy_model(tiny_model("llama"), tmp_path / "base")
    config = _project(tmp_path, base)
    package = tmp_path / "run" / "package"
    gguf, modelfile = package / "adder-F16.gguf", package / "Modelfile"
    assert "package: built" in _run(str(config))
    size, text, built = gguf.stat().st_size, modelfile.read_text(), _sha256(gguf)

    untouched = _run(str(config))
    assert "package: reused" in untouched and "packaging again" not in untouched

    with gguf.open("r+b") as handle:
        handle.truncate(size // 2)
    truncated = _run(str(config))
    assert f"packaging again: {gguf} is {size // 2} bytes, not the {size} bytes it was packaged with" in truncated
    assert "train: reused" in truncated and "package: built" in truncated
    assert _sha256(gguf) == built

    edited = text.replace("You add small numbers.", "You add large numbers.")
    assert len(edited) == len(text) != 0 and edited != text
    modelfile.write_text(edited)  # the same size: only the mtime tells
    rewritten = _run(str(config))
    assert f"packaging again: {modelfile} was modified after it was packaged" in rewritten
    assert "package: built" in rewritten and modelfile.read_text() == text

    # New weights under the same path and of the same size (another revision downloaded into the folder).
    weights = base / "model.safetensors"
    tensors = load_file(weights)
    tensors["model.norm.weight"] = tensors["model.norm.weight"] * 2
    save_file(tensors, base / "new.safetensors", metadata={"format": "pt"})
    os.replace(base / "new.safetensors", weights)
    # The adapter was trained on the old weights: its checkpoints are refused until the user says to train again.
    refused = CliRunner().invoke(cli, ["run", str(config)])
    assert isinstance(refused.exception, TrainError) and "changed: base.files" in str(refused.exception)
    rebased = _run(str(config), "--restart")
    assert "train: trained" in rebased
    assert "the base model (its config.json, or a file's size or mtime) changed since" in rebased
    assert "package: built" in rebased and _sha256(gguf) != built, "the package still holds the old weights"

    assert "package: reused" in _run(str(config))


@pytest.mark.timeout(600)
def test_run_publishes_once_and_a_rerun_sends_nothing(hub, tiny_model, tmp_path):  # noqa: F811
    config = _project(tmp_path, tiny_model("llama"), publish=f"publish:\n  hf:\n    repo: {REPO}\n")

    first = _run(str(config))
    assert f"published to Hugging Face: https://huggingface.co/{REPO}" in first
    assert f"ollama run hf.co/{REPO}" in first
    committed = set(hub.committed)
    assert {"adder-F16.gguf", "Modelfile", "README.md", "template", "system", "params"} <= committed
    assert hub.committed["system"] == b"You add small numbers."
    sent = len(hub.requests)

    second = _run(str(config))
    assert "already published" in second and "(earlier)" in second
    assert len(hub.requests) == sent, "a re-run of a published, unchanged run sends nothing to the Hub"


def test_run_help_names_the_steps_and_the_reuse():
    result = CliRunner().invoke(cli, ["run", "--help"])
    text = " ".join(result.output.split())
    assert result.exit_code == 0
    for words in (
        "Prepare, train, package and publish",
        "skipped when its outputs are current",
        "--restart",
        "--ollama-host",
        "--set",
    ):
        assert words in text
