"""`tunesmith publish --ollama` against the real Ollama: the model is created in the daemon, a re-run sends no blob
twice, and the push, which cannot reach ollama.com here, fails as one paragraph that says what is done and what to
run later."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tunesmith.modelfiles import parse_modelfile


def _publish(real_ollama, package, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OLLAMA_HOST": real_ollama.host, "COLUMNS": "400", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tunesmith", "publish", str(package), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def package(family_packages):
    return family_packages["qwen2.5"]


def test_publish_creates_the_model_in_ollama_and_a_rerun_sends_no_blob_again(real_ollama, package):
    first = _publish(real_ollama, package, "--ollama", "alice/tuned:v1", "--no-push")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Ollama (local): alice/tuned:v1" in first.stdout
    shown = real_ollama.post("/api/show", {"model": "alice/tuned:v1"})
    written = parse_modelfile((package / "Modelfile").read_text(), source="Modelfile")
    assert shown["template"] == written.template
    answer = real_ollama.post(
        "/api/chat",
        {
            "model": "alice/tuned:v1",
            "stream": False,
            "messages": [{"role": "user", "content": "Hi"}],
            "options": {"num_predict": 4, "temperature": 0},
        },
    )
    assert answer["done"]

    again = _publish(real_ollama, package, "--ollama", "alice/tuned:v1", "--no-push")
    assert again.returncode == 0, again.stderr[-3000:]
    text = " ".join((again.stdout + again.stderr).split())
    assert "Ollama already has" in text and "not sent again" in text
    assert "copying" not in text


def test_a_push_without_network_is_one_paragraph_saying_the_model_is_local(real_ollama, package):
    done = _publish(real_ollama, package, "--ollama", "alice/tuned:v2")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    text = " ".join(done.stderr.split())
    assert "alice/tuned:v2 is created in the Ollama daemon at" in text
    assert "ollama push alice/tuned:v2" in text and "ollama run alice/tuned:v2" in text
    assert real_ollama.post("/api/show", {"model": "alice/tuned:v2"})["template"]
