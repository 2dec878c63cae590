"""The embedded backend on a package folder written by `tunesmith package` itself (a tiny random Llama with
SmolLM2's tokenizer and chat template): its Modelfile's SYSTEM and num_predict shape what the server answers, and
a TEMPLATE the GGUF's chat template does not make (one given with --template) is reported when the package loads."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from litestar.testing import TestClient

from tests.fixtures.smollm2_tiny import smollm2_tiny_llama
from tunesmith.modelfiles import parse_modelfile, render_modelfile
from tunesmith.packager.package import PackageSpec, build_package
from tunesmith.server import ServerSettings, create_app

SYSTEM = "Answer in one word."


@pytest.fixture(scope="session")
def packaged(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("packaged")
    smollm2_tiny_llama(root / "base")
    build_package(
        PackageSpec(
            base=root / "base",
            out=root / "package",
            name="tiny",
            quants=["Q8_0"],
            system=SYSTEM,
            parameters={"num_predict": 8},
        )
    )
    return root / "package"


def test_a_package_from_the_packager_is_served_with_its_modelfile(packaged):
    from transformers import AutoTokenizer

    with TestClient(create_app(ServerSettings(models=(str(packaged),), threads=1)), timeout=60) as client:
        assert [model["id"] for model in client.get("/v1/models").json()["data"]] == ["tiny"]
        messages = [{"role": "user", "content": "Name a colour."}]
        body = client.post("/v1/chat/completions", json={"model": "tiny", "messages": messages}).json()
    tokenizer = AutoTokenizer.from_pretrained(packaged.parent / "base")
    text = tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, *messages], add_generation_prompt=True, tokenize=False
    )
    # The GGUF's own template with the Modelfile's SYSTEM: the same tokens transformers renders.
    assert body["usage"]["prompt_tokens"] == len(tokenizer(text, add_special_tokens=False)["input_ids"])
    # A random model rambles: only the Modelfile's num_predict 8 stops it (or, by chance, a stop token).
    choice = body["choices"][0]
    assert body["usage"]["completion_tokens"] <= 8
    assert choice["finish_reason"] == "stop" or body["usage"]["completion_tokens"] == 8


def _load_warnings(folder: Path, caplog) -> list[str]:
    with (
        caplog.at_level(logging.WARNING, logger="tunesmith.server"),
        TestClient(create_app(ServerSettings(models=(str(folder),), threads=1)), timeout=60) as client,
    ):
        assert client.get("/health").json()["status"] == "ok"
    return [record.getMessage() for record in caplog.records if "TEMPLATE" in record.getMessage()]


@pytest.mark.parametrize(
    ("name", "template", "warned"),
    [
        ("the TEMPLATE the packager derived", None, False),
        ("no TEMPLATE: Ollama reads the GGUF's chat template too", "", False),
        (
            "a TEMPLATE given with --template",
            "{{ if .System }}SYS: {{ .System }}\n{{ end }}Q: {{ .Prompt }}\nA: ",
            True,
        ),
    ],
)
def test_a_template_the_gguf_does_not_make_is_reported_when_the_package_loads(
    packaged, tmp_path, caplog, name, template, warned
):
    folder = Path(shutil.copytree(packaged, tmp_path / "package"))
    modelfile = parse_modelfile((folder / "Modelfile").read_text(encoding="utf-8"))
    assert modelfile.template, "the packager writes a TEMPLATE"
    if template is not None:
        modelfile.template = template or None
        (folder / "Modelfile").write_text(render_modelfile(modelfile), encoding="utf-8")
    warnings = _load_warnings(folder, caplog)
    assert bool(warnings) == warned, warnings
    if warned:
        [warning] = warnings
        assert str(folder / "Modelfile") in warning and "`ollama run` formats chats with the TEMPLATE" in warning
        assert "--ollama" in warning
