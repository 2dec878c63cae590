"""The embedded backend serves the packages of the runs folder: listed at once, loaded on the first request, at most
`max_loaded` of them kept (least recently used unloaded); a `--model` folder that is also a run's package is one
model."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from tests.server.conftest import embedded_package
from tunesmith.server import ServerSettings, create_app

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
MODELFILE = (
    'PARAMETER temperature 0\nPARAMETER num_predict 4\nPARAMETER stop "<|im_end|>"\nSYSTEM "Answer briefly."\n'
    'TEMPLATE """{{ if .Tools }}tools{{ end }}{{ .Prompt }}"""\n'
)


def _package(folder: Path, name: str) -> Path:
    """A package folder as the packager lays it out, over the embedded SmolLM2 GGUF."""
    return embedded_package(folder, name, MODELFILE)


@pytest.fixture
def runs(tmp_path) -> Path:
    runs = tmp_path / "runs"
    _package(runs / "demo" / "package", "demo")
    _package(runs / "demo" / "base-package", "SmolLM2")
    _package(runs / "other" / "base-package", "SmolLM2")  # the same base packaged by another run
    (runs / "unpackaged").mkdir()
    return runs


def _loaded(client: TestClient) -> list[str]:
    return [model["model"] for model in client.get("/health").json()["backends"]["embedded"]["models"]]


def _ask(client: TestClient, model: str) -> dict:
    response = client.post("/v1/chat/completions", json={"model": model, "messages": QUESTION})
    assert response.status_code == 200, response.text
    return response.json()


def test_run_packages_are_listed_at_once_and_loaded_on_first_use(runs):
    with TestClient(app=create_app(ServerSettings(runs=str(runs), threads=1))) as client:
        listed = sorted(model["id"] for model in client.get("/v1/models").json()["data"])
        assert listed == ["SmolLM2", "demo", "other/SmolLM2"]
        assert _loaded(client) == []
        answer = _ask(client, "demo")
        assert answer["choices"][0]["message"]["content"] and answer["usage"]["completion_tokens"] <= 4
        assert _loaded(client) == ["demo"]
        runs_by_id = {run["id"]: run for run in client.get("/v1/runs").json()["data"]}
        assert sorted(runs_by_id["demo"]["models"]) == ["SmolLM2", "demo"]
        assert runs_by_id["other"]["models"] == ["other/SmolLM2"] and runs_by_id["unpackaged"]["models"] == []


def test_at_most_max_loaded_run_models_stay_loaded(runs):
    with TestClient(app=create_app(ServerSettings(runs=str(runs), threads=1, max_loaded=1))) as client:
        _ask(client, "demo")
        _ask(client, "SmolLM2")
        assert _loaded(client) == ["SmolLM2"]
        _ask(client, "demo")
        assert _loaded(client) == ["demo"]


def test_a_model_folder_that_is_a_runs_package_is_one_model_loaded_at_start(runs):
    package = runs / "demo" / "package"
    settings = ServerSettings(runs=str(runs), models=(str(package), str(package) + "/"), threads=1)
    with TestClient(app=create_app(settings)) as client:
        assert _loaded(client) == ["demo"]
        ids = [model["id"] for model in client.get("/v1/models").json()["data"]]
        assert sorted(ids) == ["SmolLM2", "demo", "other/SmolLM2"]


def test_a_run_packaged_after_start_is_served(runs):
    with TestClient(app=create_app(ServerSettings(runs=str(runs), threads=1))) as client:
        _package(runs / "unpackaged" / "package", "late")
        time.sleep(1.1)  # the runs folder is looked at again at most once a second
        assert "late" in [model["id"] for model in client.get("/v1/models").json()["data"]]
        assert client.get("/v1/runs/unpackaged").json()["package"]["model"] == "late"


def test_a_packages_other_quantizations_are_served_as_id_colon_quant(runs):
    package = runs / "demo" / "package"
    os.link(package / "demo-Q4_1.gguf", package / "demo-F16.gguf")  # the same bytes: what is checked is the routing
    with TestClient(app=create_app(ServerSettings(runs=str(runs), threads=1))) as client:
        listed = sorted(model["id"] for model in client.get("/v1/models").json()["data"])
        assert listed == ["SmolLM2", "demo", "demo:f16", "other/SmolLM2"]
        assert _ask(client, "demo:f16")["model"] == "demo:f16"
        [loaded] = client.get("/health").json()["backends"]["embedded"]["models"]
        assert (loaded["model"], Path(loaded["gguf"]).name) == ("demo:f16", "demo-F16.gguf")
        detail = client.get("/v1/models/demo:f16").json()["tunesmith"]
        assert (detail["run"], detail["file"], detail["system"]) == ("demo", "demo-F16.gguf", "Answer briefly.")
        # The run lists its packages' models, not every file of them.
        assert sorted(client.get("/v1/runs/demo").json()["models"]) == ["SmolLM2", "demo"]
