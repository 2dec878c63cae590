"""The real `openai` client (sync and async, streamed and not) against a running server over a fake Ollama, and the
upstream seeing a client's disconnect.

Why a fake: it records the disconnect the server passes upstream, which a real Ollama does not report (tests/ollama/
drives the real one with the same client).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest

from tests.server.live import FakeOllama, running
from tunesmith.server import ServerSettings, create_app


@pytest.fixture(scope="module")
def stack():
    fake = FakeOllama(models=("echo:latest",), delay=0.0)
    with running(fake.app()) as upstream:
        app = create_app(ServerSettings(ollama=(upstream,), api_keys=("sk-test",)))
        with running(app) as base:
            yield fake, base


@pytest.fixture
def client(stack):
    return openai.OpenAI(base_url=f"{stack[1]}/v1", api_key="sk-test", max_retries=0)


def test_sync_client_chat_whole_and_streamed(client):
    answer = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "hello there"}], temperature=0.1, max_tokens=20
    )
    assert answer.choices[0].message.content == "echo: hello there"
    assert answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (7, 3)
    chunks = list(
        client.chat.completions.create(
            model="echo",
            messages=[{"role": "user", "content": "one two"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "echo: one two"
    assert chunks[-1].usage.completion_tokens == 3 and chunks[-2].choices[0].finish_reason == "stop"


def test_sync_client_completions_models_and_base64_embeddings(client):
    assert client.completions.create(model="echo", prompt="raw text").choices[0].text == "echo: raw text"
    assert [model.id for model in client.models.list()] == ["echo:latest"]
    # The client asks for base64 by default and decodes it back to floats.
    vectors = client.embeddings.create(model="echo", input=["abc", "hello"]).data
    assert [item.embedding for item in vectors] == [[3.0, 0.5, -1.0], [5.0, 0.5, -1.0]]


def test_client_errors_map_to_openai_exceptions(stack):
    _fake, base = stack
    bad_key = openai.OpenAI(base_url=f"{base}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.models.list()
    good = openai.OpenAI(base_url=f"{base}/v1", api_key="sk-test", max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        good.chat.completions.create(model="missing", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as caught:
        good.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}], n=2)
    assert caught.value.body["param"] == "n"


def test_async_client_whole_and_streamed(stack):
    async def main() -> tuple[str, str]:
        client = openai.AsyncOpenAI(base_url=f"{stack[1]}/v1", api_key="sk-test", max_retries=0)
        whole = await client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "a b"}])
        stream = await client.chat.completions.create(
            model="echo", stream=True, messages=[{"role": "user", "content": "c d"}]
        )
        pieces = [chunk.choices[0].delta.content or "" async for chunk in stream]
        await client.close()
        return whole.choices[0].message.content, "".join(pieces)

    assert asyncio.run(main()) == ("echo: a b", "echo: c d")


def test_client_disconnect_mid_stream_cancels_the_upstream_request():
    fake = FakeOllama(models=("slow:latest",), delay=0.2)
    long_text = " ".join(f"w{i}" for i in range(100))
    with running(fake.app()) as upstream, running(create_app(ServerSettings(ollama=(upstream,)))) as base:
        with (
            httpx.Client(timeout=10) as http,
            http.stream(
                "POST",
                f"{base}/v1/chat/completions",
                json={"model": "slow", "stream": True, "messages": [{"role": "user", "content": long_text}]},
            ) as response,
        ):
            first = next(response.iter_lines())
            assert first.startswith("data: ")
        # The whole answer takes 20 s; the upstream must learn of the disconnect long before that.
        deadline = time.monotonic() + 5
        while fake.abandoned == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (fake.started, fake.abandoned, fake.finished) == (1, 1, 0)
        health = httpx.get(f"{base}/health").json()
        assert health["backends"]["ollama"]["upstreams"][0]["in_flight"] == 0


def test_sent_options_reach_the_upstream(stack, client):
    fake, _ = stack
    client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "x"}], max_tokens=5, stop=["\n"], seed=3
    )
    assert fake.requests[-1]["options"] == {"num_predict": 5, "stop": ["\n"], "seed": 3}
    assert fake.requests[-1]["model"] == "echo"
