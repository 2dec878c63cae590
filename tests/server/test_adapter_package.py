"""The embedded backend on a package written by `tunesmith package --as-adapter`: the Modelfile's ADAPTER is applied
over its FROM, so the answer is llama.cpp's with that adapter (not the plain base's); a Modelfile whose ADAPTER
cannot be served is refused at start-up, naming its line."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import torch
from litestar.testing import TestClient

from tests.fixtures.smollm2_tiny import smollm2_tiny_llama
from tunesmith.errors import ModelError, ModelfileError, PackageError
from tunesmith.modelfiles import parse_modelfile, render_modelfile
from tunesmith.packager.package import PackageSpec, build_package
from tunesmith.server import ServerSettings, create_app
from tunesmith.server.backends import LlamaCppBackend, read_package

PROMPT = "The river bends and the town"
MAX_TOKENS = 12
# Greedy and without repeat penalty, so that llama.cpp's own greedy completion is the reference.
PARAMETERS = {"temperature": 0, "repeat_penalty": 1.0, "num_predict": MAX_TOKENS}


@pytest.fixture(scope="session")
def adapter_package(tmp_path_factory) -> Path:
    """A tiny random Llama with SmolLM2's tokenizer, a LoRA strong enough to change its greedy answer, packaged."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("adapter-package")
    smollm2_tiny_llama(root / "base")
    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(root / "base", dtype=torch.float32)
    lora = LoraConfig(
        r=4, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj", "down_proj"], init_lora_weights=False
    )
    get_peft_model(model, lora).save_pretrained(root / "adapter")
    build_package(
        PackageSpec(
            base=root / "base",
            adapter=root / "adapter",
            out=root / "package",
            name="tiny",
            quants=["F16"],
            parameters=PARAMETERS,
            as_adapter=True,
        )
    )
    return root / "package"


def _served_completion(folder: Path, model: str) -> dict:
    with TestClient(create_app(ServerSettings(models=(str(folder),), threads=1)), timeout=120) as client:
        assert [card["id"] for card in client.get("/v1/models").json()["data"]] == [model]
        body = client.post("/v1/completions", json={"model": model, "prompt": PROMPT}).json()
        health = client.get("/health").json()["backends"]["embedded"]["models"]
    return {"text": body["choices"][0]["text"], "tokens": body["usage"]["completion_tokens"], "health": health}


def _llama_completion(gguf: Path, adapter: Path | None) -> str:
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(gguf),
        lora_path=str(adapter) if adapter else None,
        n_ctx=512,
        n_threads=1,
        n_threads_batch=1,
        verbose=False,
    )
    try:
        tokens = llm.tokenize(PROMPT.encode("utf-8"), add_bos=True, special=False)
        answer = llm.create_completion(tokens, max_tokens=MAX_TOKENS, temperature=0, repeat_penalty=1.0)
        return answer["choices"][0]["text"]
    finally:
        llm.close()


def _without_adapter(package: Path, folder: Path) -> Path:
    folder = Path(shutil.copytree(package, folder))
    modelfile = parse_modelfile((folder / "Modelfile").read_text(encoding="utf-8"))
    modelfile.adapter = None
    (folder / "Modelfile").write_text(render_modelfile(modelfile), encoding="utf-8")
    return folder


def test_the_adapter_is_applied_and_the_answer_is_llama_cpps_with_it(adapter_package, tmp_path):
    base, adapter = adapter_package / "tiny-base-F16.gguf", adapter_package / "tiny-adapter-F16.gguf"
    served = _served_completion(adapter_package, "tiny")
    plain = _served_completion(_without_adapter(adapter_package, tmp_path / "plain"), "tiny-base")

    with_adapter, base_only = _llama_completion(base, adapter), _llama_completion(base, None)
    assert with_adapter != base_only, "the LoRA must change the greedy answer for this test to mean anything"
    assert served["text"] == with_adapter
    assert plain["text"] == base_only
    assert served["tokens"] == MAX_TOKENS
    [model] = served["health"]
    assert (model["model"], model["adapter"]) == ("tiny", str(adapter.resolve()))
    assert plain["health"][0]["adapter"] is None


def test_embeddings_come_from_the_model_with_its_adapter(adapter_package, tmp_path):
    import numpy as np
    from llama_cpp import LLAMA_POOLING_TYPE_MEAN

    from tunesmith.server.backends.llama_load import load_llama

    def served(folder: Path, model: str) -> np.ndarray:
        with TestClient(create_app(ServerSettings(models=(str(folder),), threads=1)), timeout=120) as client:
            body = client.post("/v1/embeddings", json={"model": model, "input": PROMPT}).json()
        return np.array(body["data"][0]["embedding"])

    adapter = str(adapter_package / "tiny-adapter-F16.gguf")
    reference = load_llama(
        adapter_package / "tiny-base-F16.gguf",
        lora_path=adapter,
        embedding=True,
        n_ctx=512,
        pooling_type=LLAMA_POOLING_TYPE_MEAN,
        n_threads=1,
    )
    try:
        expected = np.array(reference.embed(PROMPT, normalize=True))
    finally:
        reference.close()
    with_adapter = served(adapter_package, "tiny")
    base_only = served(_without_adapter(adapter_package, tmp_path / "plain"), "tiny-base")
    assert np.abs(with_adapter - expected).max() < 1e-4
    assert np.abs(with_adapter - base_only).max() > 1e-2


def test_the_adapter_loads_without_llama_cpps_extra_weight_buffers(adapter_package):
    backend = LlamaCppBackend([str(adapter_package)], threads=1)
    asyncio.run(backend.start())
    try:
        llm = backend._models["tiny"].llm
        assert llm.model_params.use_extra_bufts is False
        assert llm.lora_path == str((adapter_package / "tiny-adapter-F16.gguf").resolve())
    finally:
        asyncio.run(backend.close())


# (case, Modelfile lines after FROM, error class, the line the error names, words the message holds)
BAD_ADAPTERS = [
    (
        "two ADAPTER lines",
        "ADAPTER ./tiny-adapter-F16.gguf\nADAPTER ./tiny-adapter-F16.gguf\n",
        ModelfileError,
        3,
        ["ADAPTER appears again (first on line 2)", "keep only one"],
    ),
    (
        "a missing adapter file",
        "PARAMETER temperature 0\nADAPTER ./gone-adapter-F16.gguf\n",
        PackageError,
        3,
        ["ADAPTER names './gone-adapter-F16.gguf', which does not exist", "--as-adapter"],
    ),
    ("an adapter that is not a GGUF", "ADAPTER ./adapter\n", PackageError, 2, ["not a .gguf file", "--ollama"]),
]


@pytest.mark.parametrize(
    ("lines", "error", "line", "words"), [case[1:] for case in BAD_ADAPTERS], ids=[case[0] for case in BAD_ADAPTERS]
)
def test_an_adapter_that_cannot_be_served_is_refused_at_start_up_naming_the_line(
    adapter_package, tmp_path, lines, error, line, words
):
    folder = Path(shutil.copytree(adapter_package, tmp_path / "package"))
    (folder / "Modelfile").write_text(f"FROM ./tiny-base-F16.gguf\n{lines}", encoding="utf-8")
    with pytest.raises(error) as caught:
        create_app(ServerSettings(models=(str(folder),), threads=1))
    message = str(caught.value)
    assert f"{folder / 'Modelfile'}:{line}" in message
    for word in words:
        assert word in message


def test_an_adapter_llama_cpp_cannot_apply_names_the_adapter(adapter_package, tmp_path):
    folder = Path(shutil.copytree(adapter_package, tmp_path / "package"))
    (folder / "tiny-adapter-F16.gguf").write_bytes(b"GGUF" + bytes(60))
    backend = LlamaCppBackend([str(folder)], threads=1)
    with pytest.raises(ModelError) as caught:
        asyncio.run(backend.start())
    message = str(caught.value)
    assert "llama.cpp cannot apply the ADAPTER over tiny-base-F16.gguf" in message
    assert str((folder / "tiny-adapter-F16.gguf").resolve()) in message and "--as-adapter" in message


def test_read_package_names_the_adapter_package_without_its_base_suffix(adapter_package):
    package = read_package(adapter_package)
    assert (package.model_id, package.gguf.name, package.adapter.name) == (
        "tiny",
        "tiny-base-F16.gguf",
        "tiny-adapter-F16.gguf",
    )
