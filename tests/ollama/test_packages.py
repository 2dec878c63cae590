"""Every kind of package tunesmith writes, created in a real Ollama with `ollama create`, read back with
`ollama show --modelfile`, and answering a chat that stops on its own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.ollama.conftest import FAMILY_MODELS
from tunesmith.modelfiles import parse_modelfile
from tunesmith.packager.package import PackageSpec, build_package

# What a model's text must never show: a special token of any family leaking into the answer.
_SPECIAL = re.compile(r"<\|[a-z_]+\|>|<(?:start|end)_of_turn>|\[/?INST\]|</?s>|<<SYS>>")


def _shown(real_ollama, name: str):
    done = real_ollama.cli("show", "--modelfile", name)
    assert done.returncode == 0, done.stderr
    return parse_modelfile(done.stdout, source=f"ollama show --modelfile {name}")


def _assert_same_settings(written, shown) -> None:
    assert shown.template == written.template
    assert shown.system == written.system
    assert shown.parameters == written.parameters
    assert shown.messages == written.messages


@pytest.mark.parametrize("case", list(FAMILY_MODELS))
def test_ollama_creates_each_chat_familys_package_and_shows_back_its_modelfile(
    case, real_ollama, family_packages, created_families
):
    package = family_packages[case]
    written = parse_modelfile((package / "Modelfile").read_text(), source=str(package / "Modelfile"))
    assert written.parameters["stop"], "every family's Modelfile names its stop tokens"
    _assert_same_settings(written, _shown(real_ollama, created_families[case]))
    show = real_ollama.post("/api/show", {"model": created_families[case]})
    assert "completion" in show["capabilities"]


@pytest.fixture(scope="session")
def merged_and_adapter_packages(tmp_path_factory, smollm2_tiny_base, smollm2_tiny_adapter) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kinds")
    return {
        "merged": build_package(
            PackageSpec(
                base=smollm2_tiny_base,
                adapter=smollm2_tiny_adapter,
                out=root / "merged",
                system="You are terse.",
                parameters={"temperature": "0.3"},
            )
        ).path,
        "adapter": build_package(
            PackageSpec(
                base=smollm2_tiny_base,
                adapter=smollm2_tiny_adapter,
                out=root / "lora",
                as_adapter=True,
                parameters={"top_k": "20"},
            )
        ).path,
    }


@pytest.mark.parametrize("kind", ["merged", "adapter"])
def test_ollama_creates_a_merged_q4_k_m_and_an_as_adapter_package_and_runs_them(
    kind, real_ollama, merged_and_adapter_packages
):
    package = merged_and_adapter_packages[kind]
    written = parse_modelfile((package / "Modelfile").read_text(), source=str(package / "Modelfile"))
    if kind == "merged":
        assert written.from_.endswith("-Q4_K_M.gguf") and written.adapter is None
    else:
        assert written.from_.endswith("-base-Q4_K_M.gguf") and written.adapter.endswith("-adapter-F16.gguf")
    name = f"kind-{kind}"
    done = real_ollama.cli("create", name, "-f", str(package / "Modelfile"))
    assert done.returncode == 0, done.stderr[-2000:]
    shown = _shown(real_ollama, name)
    _assert_same_settings(written, shown)
    assert (shown.adapter is not None) == (kind == "adapter"), "Ollama keeps the LoRA as the model's adapter layer"
    answer = real_ollama.post(
        "/api/chat",
        {
            "model": name,
            "stream": False,
            "messages": [{"role": "user", "content": "Hi"}],
            "options": {"temperature": 0, "num_predict": 8},
        },
    )
    assert answer["done"] and answer["prompt_eval_count"] > 0 and answer["eval_count"] > 0


@pytest.mark.slow
def test_smollm2_package_answers_in_ollama_and_stops_on_its_own(real_ollama, smollm2_package):
    done = real_ollama.cli("create", "smollm2-pkg", "-f", str(smollm2_package / "Modelfile"))
    assert done.returncode == 0, done.stderr[-2000:]
    answer = real_ollama.post(
        "/api/chat",
        {
            "model": "smollm2-pkg",
            "stream": False,
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "options": {"temperature": 0, "num_predict": 200},
        },
    )
    assert answer["done_reason"] == "stop", json.dumps(answer)
    text = answer["message"]["content"]
    assert "Paris" in text
    assert not _SPECIAL.search(text), text
