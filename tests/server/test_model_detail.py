"""GET /v1/models/{id}'s "tunesmith" object for the embedded backend: read from the package's Modelfile, without
loading the model (the Ollama side is in tests/server/test_ollama_upstreams.py and, for the real Ollama,
tests/ollama/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import TestClient

from tests.server.test_run_models import _loaded, _package
from tunesmith.server import ServerSettings, create_app


@pytest.fixture
def runs(tmp_path) -> Path:
    runs = tmp_path / "runs"
    _package(runs / "demo" / "package", "demo")
    _package(runs / "other" / "base-package", "SmolLM2")
    return runs


def test_model_detail_says_how_an_embedded_package_is_served(runs):
    with TestClient(app=create_app(ServerSettings(runs=str(runs), threads=1))) as client:
        detail = client.get("/v1/models/demo").json()
        assert detail["id"] == "demo" and detail["object"] == "model" and detail["owned_by"] == "tunesmith"
        assert detail["tunesmith"] == {
            "backend": "embedded",
            "system": "Answer briefly.",
            "parameters": {"temperature": 0.0, "num_predict": 4, "stop": ["<|im_end|>"]},
            "capabilities": ["completion", "tools"],
            "run": "demo",
            "file": "demo-Q4_1.gguf",
        }
        assert client.get("/v1/models/SmolLM2").json()["tunesmith"]["run"] == "other"
        assert _loaded(client) == []  # describing a model does not load it
