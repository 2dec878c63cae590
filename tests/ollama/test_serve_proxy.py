"""`tunesmith serve --ollama` over the real Ollama, driven by the official `openai` client as an app would."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.server.live import running
from tunesmith.server import ServerSettings, create_app

CASE = "qwen2.5"
QUESTION = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def proxy(real_ollama, created_families):
    """An OpenAI client on a live tunesmith server in front of the real Ollama, and the model it serves."""
    from openai import OpenAI

    app = create_app(ServerSettings(ollama=(real_ollama.url,), health_interval=3600))
    with running(app) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
        yield client, f"{created_families[CASE]}:latest"


def _ollama_chat(real_ollama, model: str, messages: list[dict], num_predict: int) -> dict:
    return real_ollama.post(
        "/api/chat",
        {
            "model": model,
            "messages": messages,
            "stream": False,
            "options": {"temperature": 0, "num_predict": num_predict},
        },
    )


def test_models_lists_what_ollama_holds(proxy, real_ollama):
    client, model = proxy
    tags = httpx.get(f"{real_ollama.url}/api/tags").json()["models"]
    assert {m.id for m in client.models.list().data} == {tag["name"] for tag in tags}
    assert model in {tag["name"] for tag in tags}


def test_chat_answers_with_ollamas_text_and_token_counts(proxy, real_ollama):
    client, model = proxy
    direct = _ollama_chat(real_ollama, model, QUESTION, 12)
    reply = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=12, temperature=0)
    assert reply.choices[0].message.content == direct["message"]["content"]
    assert reply.usage.prompt_tokens == direct["prompt_eval_count"]
    assert reply.usage.completion_tokens == direct["eval_count"]
    assert reply.choices[0].finish_reason == {"length": "length", "stop": "stop"}[direct["done_reason"]]


def test_streamed_chat_gives_the_same_text_and_usage(proxy, real_ollama):
    client, model = proxy
    direct = _ollama_chat(real_ollama, model, QUESTION, 12)
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=QUESTION,
            max_tokens=12,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == direct["message"]["content"]
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (direct["prompt_eval_count"], direct["eval_count"])


def test_completions_answer_a_raw_prompt(proxy, real_ollama):
    client, model = proxy
    # A completion continues the text itself, with no chat template around it: Ollama's `raw` generation.
    direct = real_ollama.post(
        "/api/generate",
        {
            "model": model,
            "prompt": "Once upon a time",
            "stream": False,
            "raw": True,
            "options": {"temperature": 0, "num_predict": 8},
        },
    )
    reply = client.completions.create(model=model, prompt="Once upon a time", max_tokens=8, temperature=0)
    assert reply.choices[0].text == direct["response"]
    assert reply.usage.prompt_tokens == direct["prompt_eval_count"]
    assert reply.usage.completion_tokens == direct["eval_count"]


def test_embeddings_are_ollamas_vectors(proxy, real_ollama):
    client, model = proxy
    direct = real_ollama.post("/api/embed", {"model": model, "input": ["red", "green"]})
    reply = client.embeddings.create(model=model, input=["red", "green"])
    assert len(reply.data) == 2
    for item, vector in zip(reply.data, direct["embeddings"]):
        assert item.embedding == pytest.approx(vector)
    assert reply.usage.prompt_tokens == direct["prompt_eval_count"]


def test_an_unknown_model_is_an_openai_not_found_error(proxy):
    from openai import NotFoundError

    client, _ = proxy
    with pytest.raises(NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=QUESTION)
    error = caught.value.body
    assert error["code"] == "model_not_found" and "no-such-model" in error["message"]


def test_a_tool_round_goes_through_with_call_ids_and_ollamas_counts(proxy, real_ollama):
    """Tools, an assistant tool call and its result, through the openai client: Ollama evaluates the same prompt
    as when asked directly, so the call and its id reach the template (Qwen2.5 carries tools)."""
    from tunesmith.modelfiles.check_conversations import TOOL_CHECK_CONVERSATIONS

    client, model = proxy
    messages, tools = TOOL_CHECK_CONVERSATIONS[1]
    openai_messages = [
        {
            **m,
            "tool_calls": [
                {**c, "function": {**c["function"], "arguments": json.dumps(c["function"]["arguments"])}}
                for c in m["tool_calls"]
            ],
        }
        if m.get("tool_calls")
        else m
        for m in messages
    ]
    reply = client.chat.completions.create(
        model=model, messages=openai_messages, tools=list(tools), max_tokens=4, temperature=0
    )
    direct = real_ollama.post(
        "/api/chat",
        {
            "model": model,
            "tools": list(tools),
            "stream": False,
            "options": {"temperature": 0, "num_predict": 4},
            "messages": [{k: v for k, v in m.items() if k != "type"} for m in messages],
        },
    )
    assert reply.usage.prompt_tokens == direct["prompt_eval_count"]
