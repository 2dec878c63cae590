"""`tunesmith demo` as the README runs it: a fresh process, the embedded model, no network, and an answer at the end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_demo_trains_packages_serves_and_answers(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "tunesmith", "demo", "--out", str(out), "--max-steps", "4",
                           "--question", "What is tunesmith?"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=1100)
    assert done.returncode == 0, done.stderr[-3000:]
    text = " ".join(done.stdout.split())

    report = json.loads((out / "train_report.json").read_text())
    assert report["steps"] == 4 and report["initial_eval_loss"] > report["best_eval_loss"]
    assert f"eval loss: {report['initial_eval_loss']:.4f} before training → {report['best_eval_loss']:.4f}" in text
    package = out / "package"
    assert {path.name for path in package.iterdir()} >= {"smollm2-demo-Q4_K_M.gguf", "Modelfile", "README.md",
                                                         "quality.json"}
    assert json.loads((package / "quality.json").read_text())["passed"] is True
    answer = re.search(r"Q: What is tunesmith\? A \(smollm2-demo\): (.+?) demo done\.", text)
    assert answer and len(answer.group(1).split()) >= 3, text[-2000:]
    assert f"Everything is under {out}" in text
    assert "Traceback" not in done.stderr
