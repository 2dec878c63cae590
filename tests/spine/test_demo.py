"""`tunesmith demo` as the README runs it: a fresh process, the embedded model, no network, and at the end the base
model's and the fine-tune's answers side by side with the match rate over the data set."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest


def _closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening, then released: no Ollama answers there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_demo_trains_packages_and_shows_both_models_answers_side_by_side(tmp_path):
    out = tmp_path / "demo"
    ollama = f"127.0.0.1:{_closed_port()}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "200", "OLLAMA_HOST": ollama}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tunesmith",
            "demo",
            "--out",
            str(out),
            "--max-steps",
            "4",
            "--question",
            "What is tunesmith?",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=1400,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = " ".join(done.stdout.split())

    report = json.loads((out / "train_report.json").read_text())
    assert report["steps"] == 4 and report["keep"] == "last"
    assert f"eval loss: {report['initial_eval_loss']:.4f} before training → {report['final_eval_loss']:.4f}" in text
    package = out / "package"
    assert {path.name for path in package.iterdir()} >= {
        "smollm2-demo-Q8_0.gguf",
        "Modelfile",
        "README.md",
        "quality.json",
    }
    assert json.loads((package / "quality.json").read_text())["passed"] is True
    assert (out / "base-package" / "SmolLM2-135M-Instruct-Q8_0.gguf").is_file()

    compared = json.loads((out / "comparison.json").read_text())
    assert (compared["base"], compared["tuned"], compared["temperature"]) == (
        "SmolLM2-135M-Instruct",
        "smollm2-demo",
        0.0,
    )
    rows = compared["side_by_side"]
    assert [row["label"] for row in rows] == ["from the training data", "held back in validation", "off-topic"]
    assert rows[0]["question"] == "What is tunesmith?" and rows[0]["reference"].startswith("tunesmith is a tool")
    assert all(len(row["base"].split()) >= 3 and len(row["tuned"].split()) >= 3 for row in rows), rows
    # The side-by-side answers are the ones measured: the same greedy answer to the same question.
    measured = {item["question"]: item for item in compared["questions"]}
    assert measured[rows[1]["question"]]["tuned"] == rows[1]["tuned"]
    assert measured[rows[1]["question"]]["base"] == rows[1]["base"]

    assert "before: SmolLM2-135M-Instruct" in text and "after: smollm2-demo" in text
    for row in rows:
        assert row["question"] in text
    train, val = compared["counts"]
    assert (train["split"], train["total"], val["split"], val["total"]) == ("train", 51, "val", 9)
    assert (
        f"answers like the data (ROUGE-L ≥ {compared['threshold']:g} against the data's answer): training "
        f"questions {train['base']}/51 before tuning → {train['tuned']}/51 after, validation questions "
        f"{val['base']}/9 → {val['tuned']}/9"
    ) in text

    assert f"Ollama: none answers at http://{ollama}; once one runs, `ollama create smollm2-demo -f " in text
    assert f"Everything is under {out}" in text
    assert "Traceback" not in done.stderr
