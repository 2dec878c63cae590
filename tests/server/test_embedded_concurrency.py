"""The embedded backend on a real GGUF (SmolLM2-135M-Instruct, Q4_1) served over real sockets: one model shared
safely by concurrent requests, disconnects that stop the generation, and a request queued past the read timeout."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import openai
import pytest

from tests.server.conftest import QUESTION
from tests.server.live import running
from tunesmith.server import ServerSettings, create_app


@pytest.fixture(scope="session")
def live(app):
    with running(app) as base:
        yield base


def test_concurrent_streams_share_one_model_safely(live):
    async def ask(client: openai.AsyncOpenAI) -> str:
        stream = await client.chat.completions.create(model="smol", messages=QUESTION, max_tokens=24, stream=True)
        return "".join([chunk.choices[0].delta.content or "" async for chunk in stream])

    async def main() -> list[str]:
        client = openai.AsyncOpenAI(base_url=f"{live}/v1", api_key="none", max_retries=0)
        answers = await asyncio.gather(*(ask(client) for _ in range(4)))
        await client.close()
        return answers

    sync = openai.OpenAI(base_url=f"{live}/v1", api_key="none", max_retries=0)
    alone = sync.chat.completions.create(model="smol", messages=QUESTION, max_tokens=24).choices[0].message.content
    assert asyncio.run(main()) == [alone] * 4


def test_disconnect_stops_the_generation(live):
    # Counting on with no end in sight: thousands of tokens, many seconds, unless the disconnect stops it.
    with httpx.Client(timeout=60) as http:
        with http.stream(
            "POST",
            f"{live}/v1/completions",
            json={"model": "smol", "prompt": "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,", "max_tokens": 1800, "stream": True},
        ) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")
        started = time.monotonic()
        # The model runs one generation at a time: this one waits until the abandoned one has stopped.
        body = http.post(f"{live}/v1/completions", json={"model": "smol", "prompt": "Hi", "max_tokens": 1}).json()
        assert body["usage"]["completion_tokens"] == 1
        assert time.monotonic() - started < 3


def test_a_request_queued_past_the_read_timeout_is_a_504(packages):
    import threading

    app = create_app(ServerSettings(models=(str(packages["smol"]),), threads=1, read_timeout=2.0))
    with running(app) as base, httpx.Client(timeout=60) as http:
        started, done = threading.Event(), threading.Event()

        def long_generation() -> None:
            body = {"model": "smol", "prompt": "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,", "max_tokens": 1500, "stream": True}
            # The server stops under this stream when the test ends: the cut is expected.
            with (
                contextlib.suppress(httpx.HTTPError),
                httpx.Client(timeout=60) as own,
                own.stream("POST", f"{base}/v1/completions", json=body) as response,
            ):
                for _ in response.iter_lines():
                    started.set()
                    if done.is_set():
                        break

        worker = threading.Thread(target=long_generation, daemon=True)
        worker.start()
        assert started.wait(30)
        waited = time.monotonic()
        response = http.post(f"{base}/v1/chat/completions", json={"model": "smol", "messages": QUESTION})
        elapsed = time.monotonic() - waited
        done.set()
        worker.join(30)
        assert response.status_code == 504 and response.json()["error"]["code"] == "upstream_timeout"
        assert 1.9 < elapsed < 10
