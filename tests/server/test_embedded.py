"""The embedded backend on a real GGUF (SmolLM2-135M-Instruct, Q4_1): the package's Modelfile defaults, the GGUF's
chat template, the OpenAI endpoints and their errors, how models load, and the package folders it refuses.
test_embedded_concurrency.py serves the same packages over real sockets."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from litestar.testing import TestClient

from tests.server.conftest import QUESTION, SYSTEM
from tunesmith.embedded_base import embedded_base_dir, embedded_gguf_path
from tunesmith.errors import ModelfileError, PackageError
from tunesmith.server.backends import LlamaCppBackend, read_package
from tunesmith.server.backends.llama_load import load_llama


@pytest.fixture(scope="session")
def client(app):
    with TestClient(app, timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def hf_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_base_dir())


def _chat(client, model: str, messages=QUESTION, **extra) -> dict:
    response = client.post("/v1/chat/completions", json={"model": model, "messages": messages, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_chat_decodes_a_multi_token_prompt_like_llama_cpp_itself(client, packages, hf_tokenizer):
    from llama_cpp import Llama

    body = _chat(client, "smol", max_tokens=24)
    answer = body["choices"][0]["message"]["content"]
    assert "Paris" in answer and body["choices"][0]["finish_reason"] == "stop"
    # The prompt is the GGUF's own template with the Modelfile's SYSTEM, token for token what transformers renders.
    text = hf_tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, *QUESTION], add_generation_prompt=True, tokenize=False
    )
    expected_ids = hf_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert body["usage"]["prompt_tokens"] == len(expected_ids) > 20
    # llama.cpp's own chat completion, greedy with Ollama's repeat penalty, gives the same answer and token count.
    llm = Llama(str(embedded_gguf_path()), n_ctx=2048, verbose=False)
    reference = llm.create_chat_completion(
        [{"role": "system", "content": SYSTEM}, *QUESTION],
        temperature=0,
        repeat_penalty=1.1,
        top_k=40,
        top_p=0.9,
        min_p=0.0,
        max_tokens=24,
    )
    assert answer == reference["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens"] in (
        reference["usage"]["completion_tokens"],
        reference["usage"]["completion_tokens"] + 1,
    )


def test_modelfile_num_predict_applies_and_the_request_overrides_it(client):
    body = _chat(client, "short")
    assert body["choices"][0]["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 4
    body = _chat(client, "short", max_tokens=2)
    assert body["usage"]["completion_tokens"] == 2


def test_modelfile_stop_word_ends_the_answer_before_it(client):
    body = _chat(client, "nostop")
    answer = body["choices"][0]["message"]["content"]
    assert answer.strip() and "Paris" not in answer and body["choices"][0]["finish_reason"] == "stop"
    # Without the stop word the same greedy answer goes on to name the city.
    assert "Paris" in _chat(client, "nostop", stop=["\n\n"])["choices"][0]["message"]["content"]


def test_stream_pieces_join_to_the_whole_answer(client):
    whole = _chat(client, "smol", max_tokens=24)["choices"][0]["message"]["content"]
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "smol",
            "messages": QUESTION,
            "max_tokens": 24,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    from tests.server.conftest import sse_events

    events = sse_events(response.text)
    assert events[-1] == "[DONE]" and events[-2]["usage"]["completion_tokens"] > 3
    assert "".join(event["choices"][0]["delta"].get("content", "") for event in events[:-2]) == whole


def test_json_response_format_constrains_the_output(client):
    import json

    body = _chat(
        client,
        "smol",
        messages=[{"role": "user", "content": "Give the capital of France as JSON."}],
        response_format={"type": "json_object"},
        max_tokens=40,
    )
    if body["choices"][0]["finish_reason"] == "stop":
        json.loads(body["choices"][0]["message"]["content"])
    else:  # cut by max_tokens: still a JSON prefix, starting with an object
        assert body["choices"][0]["message"]["content"].lstrip().startswith("{")


def test_raw_completion_skips_the_chat_template(client, hf_tokenizer):
    body = client.post("/v1/completions", json={"model": "smol", "prompt": "1, 2, 3, 4,", "max_tokens": 6}).json()
    assert body["usage"]["prompt_tokens"] == len(hf_tokenizer("1, 2, 3, 4,")["input_ids"])
    assert body["choices"][0]["text"].startswith(" 5")


def test_embeddings_are_normalised_model_sized_vectors(client):
    body = client.post(
        "/v1/embeddings",
        json={"model": "smol", "input": ["Paris is in France.", "Paris is in France.", "Bananas are yellow."]},
    ).json()
    vectors = np.array([item["embedding"] for item in body["data"]])
    assert vectors.shape == (3, 576)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert np.allclose(vectors[0], vectors[1]) and not np.allclose(vectors[0], vectors[2])
    assert body["usage"]["prompt_tokens"] > 10


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (
            {"model": "smol", "messages": QUESTION, "tools": [{"type": "function", "function": {"name": "f"}}]},
            400,
            "tools",
        ),
        # A model that takes no tools cannot be made to call one either.
        (
            {
                "model": "smol",
                "messages": QUESTION,
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": "required",
            },
            400,
            "tools",
        ),
        (
            {
                "model": "smol",
                "messages": QUESTION,
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
            },
            400,
            "tool_choice",
        ),
        ({"model": "smol", "messages": [{"role": "user", "content": "word " * 3000}]}, 400, "messages"),
        ({"model": "unknown", "messages": QUESTION}, 404, None),
    ],
)
def test_embedded_errors(client, body, status, param):
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == status and response.json()["error"]["param"] == param


def test_models_load_without_llama_cpps_extra_weight_buffers(packages):
    from llama_cpp import llama_cpp as native

    backend = LlamaCppBackend([str(packages["short"])], threads=1)
    asyncio.run(backend.start())
    try:
        assert backend._models["short"].llm.model_params.use_extra_bufts is False
    finally:
        asyncio.run(backend.close())
    assert load_llama(embedded_gguf_path(), n_ctx=64, embedding=True).model_params.use_extra_bufts is False
    # Only our loads change: whoever else loads a model in this process gets llama.cpp's own defaults.
    assert native.llama_model_default_params().use_extra_bufts is True


def test_models_and_health_list_the_packages(client, packages):
    assert sorted(model["id"] for model in client.get("/v1/models").json()["data"]) == ["nostop", "short", "smol"]
    health = client.get("/health").json()
    assert health["status"] == "ok" and len(health["backends"]["embedded"]["models"]) == 3


@pytest.mark.parametrize(
    ("setup", "error", "words"),
    [
        ("missing folder", PackageError, "does not exist"),
        ("no Modelfile", PackageError, "no Modelfile"),
        ("FROM a missing file", PackageError, "does not exist"),
        ("FROM not a GGUF", PackageError, "not a .gguf"),
        ("broken Modelfile", ModelfileError, "Modelfile:"),
    ],
)
def test_bad_package_folders_are_refused_with_the_file_named(tmp_path, setup, error, words):
    folder = tmp_path / "pkg"
    if setup != "missing folder":
        folder.mkdir()
    modelfile = {
        "FROM a missing file": "FROM ./gone-Q4_K_M.gguf\n",
        "FROM not a GGUF": "FROM llama3.2\n",
        "broken Modelfile": "FROM ./x.gguf\nPARAMETER temperature hot\n",
    }.get(setup)
    if modelfile:
        (folder / "Modelfile").write_text(modelfile)
    with pytest.raises(error) as caught:
        read_package(folder)
    assert words in str(caught.value)
