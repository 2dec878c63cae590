"""Shared fixtures for the modelfiles tests: Go's text/template as Ollama runs it, the real chat templates of the
families we support, and the embedded SmolLM2 tokenizer (both for its own template and as apply_chat_template's host).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GO_HARNESS = REPO / "tests" / "go" / "ollamatemplate"
REFERENCE_TEMPLATES = REPO / ".cache" / "reference" / "llama.cpp" / "models" / "templates"

GoRender = Callable[[list[dict]], list[dict]]


@pytest.fixture(scope="session")
def go_render(tmp_path_factory: pytest.TempPathFactory) -> GoRender:
    """Render requests ({template, messages, system, parse_only}) with Go; results are {output} or {error}."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed to check templates with Go's own text/template: install golang-go "
                    "(apt-get install -y golang-go) or Go from go.dev, or run `make go`")
    binary = tmp_path_factory.mktemp("go") / "ollamatemplate"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "CGO_ENABLED": "0"}
    built = subprocess.run([go, "build", "-o", str(binary), "."], cwd=GO_HARNESS, env=env,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, f"go build failed:\n{built.stderr}"

    def render(requests: list[dict]) -> list[dict]:
        done = subprocess.run([str(binary)], input=json.dumps(requests), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return render


@pytest.fixture(scope="session")
def reference_templates() -> Path:
    if not (REFERENCE_TEMPLATES / "Qwen-Qwen3-0.6B.jinja").is_file():
        pytest.fail(f"the real chat templates are missing under {REFERENCE_TEMPLATES}: run `make reference`")
    return REFERENCE_TEMPLATES


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """The embedded SmolLM2-135M-Instruct tokenizer (real ChatML template, eos <|im_end|>, no BOS added)."""
    from transformers import AutoTokenizer

    from tunesmith.packager.embedded import embedded_base_dir

    return AutoTokenizer.from_pretrained(embedded_base_dir())
