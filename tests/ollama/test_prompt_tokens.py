"""One rule for BOS, proven per chat family: the prompt tunesmith trains on is the prompt Ollama and llama.cpp evaluate.

For a conversation that ends with an assistant reply, the tokens before the reply's learned tokens are the prompt the
model was trained to answer. Serving the conversation without that reply must evaluate exactly those tokens:
- the real Ollama: `prompt_eval_count` of /api/chat on the package created from the Modelfile;
- llama.cpp: the Modelfile's TEMPLATE rendered by Go's text/template, tokenized by llama.cpp with BOS as the GGUF says;
- `tunesmith serve --model`: the ids its embedded backend evaluates, and `usage.prompt_tokens` of its OpenAI API.
Conversations with tools and tool rounds: test_tool_prompt_tokens.py.
"""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from tests.ollama.conftest import FAMILY_MODELS
from tests.ollama.prompt_ids import gguf_ids, loaded_model, trained_prompt
from tunesmith.modelfiles import parse_modelfile
from tunesmith.server import ServerSettings, create_app
from tunesmith.server.backends.base import GenerateRequest

SYSTEM = {"role": "system", "content": "You answer briefly."}
TURNS = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy?"},
    {"role": "assistant", "content": "Rome."},
]


# Llama 2 opens every later turn with a BOS written as text ("</s><s>[INST]"); llama.cpp's SentencePiece tokenizer puts
# a space after that BOS where Hugging Face's does not, one token per earlier turn. Its conversations are single-turn.
SINGLE_TURN = {"llama2"}


def _conversations(case: str, tokenizer) -> list[list[dict]]:
    """With a system prompt where the family's template takes one, and without."""
    turns = TURNS[:2] if case in SINGLE_TURN else TURNS
    try:
        tokenizer.apply_chat_template([SYSTEM, *turns], tokenize=False)
        return [[SYSTEM, *turns], turns]
    except Exception:  # noqa: BLE001 (Gemma's template raises on a system message)
        return [turns]


@pytest.mark.parametrize("case", list(FAMILY_MODELS))
def test_trained_prompt_is_the_prompt_ollama_and_llama_cpp_evaluate(
    case, tiny_model, family_packages, created_families, real_ollama, go_render, embedded_families
):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model(FAMILY_MODELS[case]))
    package = family_packages[case]
    modelfile = parse_modelfile((package / "Modelfile").read_text(), source="Modelfile")
    model = loaded_model(embedded_families, package)
    for conversation in _conversations(case, tokenizer):
        trained = trained_prompt(tokenizer, conversation)
        served = conversation[:-1]

        answer = real_ollama.post(
            "/api/chat",
            {
                "model": created_families[case],
                "messages": served,
                "stream": False,
                "options": {"num_predict": 1, "temperature": 0},
            },
        )
        assert answer["prompt_eval_count"] == len(trained), (
            f"Ollama evaluates {answer['prompt_eval_count']} prompt tokens, training saw {len(trained)}:\n"
            f"{tokenizer.decode(trained)!r}"
        )

        [rendered] = go_render([{"template": modelfile.template, "messages": served}])
        text = rendered["output"]
        assert gguf_ids(model, text) == trained, f"Go's rendering {text!r}"

        ids, _ = model.prompt_tokens(GenerateRequest(model="m", messages=served))
        assert ids == trained


@pytest.mark.parametrize("case", ["qwen2.5", "llama3.1", "phi3", "mistral (Nemo)"])
def test_serve_model_and_ollama_count_the_same_prompt_tokens(case, family_packages, created_families, real_ollama):
    messages = TURNS[:3]
    answer = real_ollama.post(
        "/api/chat",
        {
            "model": created_families[case],
            "messages": messages,
            "stream": False,
            "options": {"num_predict": 1, "temperature": 0},
        },
    )
    app = create_app(ServerSettings(models=(str(family_packages[case]),)))
    with TestClient(app) as client:
        model = client.get("/v1/models").json()["data"][0]["id"]
        reply = client.post(
            "/v1/chat/completions", json={"model": model, "messages": messages, "max_tokens": 1, "temperature": 0}
        )
        assert reply.status_code == 200, reply.text
    assert reply.json()["usage"]["prompt_tokens"] == answer["prompt_eval_count"]
