"""GET /v1/models/{id}'s "tunesmith" object through the real Ollama: one package created in Ollama and served by the
embedded backend from a runs folder is described alike by both (SYSTEM, parameters, capabilities), Ollama's from its
/api/show."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from litestar.testing import TestClient

from tunesmith.embedded_base import embedded_gguf_path
from tunesmith.server import ServerSettings, create_app

TEMPLATE = (
    "{{ if .System }}<|im_start|>system\n{{ .System }}{{ if .Tools }}\n{{ range .Tools }}{{ . }}\n{{ end }}{{ end }}"
    "<|im_end|>\n{{ end }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n"
)
MODELFILE = (
    f'TEMPLATE """{TEMPLATE}"""\nSYSTEM "You answer in one sentence."\n'
    'PARAMETER temperature 0.2\nPARAMETER num_ctx 2048\nPARAMETER stop "<|im_end|>"\n'
)


@pytest.fixture(scope="module")
def runs(real_ollama, tmp_path_factory) -> Path:
    """A runs folder whose run `described` holds the package, also created in the real Ollama as `described`."""
    runs = tmp_path_factory.mktemp("runs")
    package = runs / "described" / "package"
    package.mkdir(parents=True)
    gguf = package / "described-Q4_1.gguf"
    try:
        os.link(embedded_gguf_path(), gguf)
    except OSError:
        gguf.write_bytes(embedded_gguf_path().read_bytes())
    (package / "Modelfile").write_text(f"FROM ./{gguf.name}\n{MODELFILE}", encoding="utf-8")
    done = real_ollama.cli("create", "described", "-f", str(package / "Modelfile"))
    assert done.returncode == 0, done.stderr[-2000:]
    return runs


def test_ollama_and_embedded_describe_one_package_alike(real_ollama, runs):
    settings = ServerSettings(ollama=(real_ollama.url,), runs=str(runs), health_interval=3600, threads=1)
    with TestClient(app=create_app(settings)) as client:
        embedded = client.get("/v1/models/described").json()["tunesmith"]
        ollama = client.get("/v1/models/described:latest").json()["tunesmith"]
    assert embedded == {
        "backend": "embedded",
        "system": "You answer in one sentence.",
        "parameters": {"temperature": 0.2, "num_ctx": 2048, "stop": ["<|im_end|>"]},
        "capabilities": ["completion", "tools"],
        "run": "described",
        "file": "described-Q4_1.gguf",
    }
    assert ollama == {**embedded, "backend": "ollama", "run": None, "file": None}
