"""Real servers for the live tests: uvicorn on a free 127.0.0.1 port in a thread, and a small fake Ollama.

The fake Ollama speaks the documented NDJSON shapes over real sockets and records when a client went away mid-stream,
which is what the disconnect tests check.

Why a fake: the disconnect tests need an upstream that reports when a client walked away mid-stream, and paces its
words.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from litestar import Litestar, Response, get, post
from litestar.response import Stream

from tests.server.conftest import chat_part, generate_part, tags


@contextlib.contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free local port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


class FakeOllama:
    """An Ollama stand-in: answers "echo: <last user message>" word by word, `delay` seconds apart."""

    def __init__(self, models: tuple[str, ...] = ("echo:latest",), delay: float = 0.0) -> None:
        self.models = models
        self.delay = delay
        self.started = 0
        self.finished = 0
        self.abandoned = 0
        self.requests: list[dict] = []

    def _words(self, text: str) -> list[str]:
        words = f"echo: {text}".split(" ")
        return [words[0]] + [f" {word}" for word in words[1:]]

    def app(self) -> Litestar:
        fake = self

        async def pieces(words: list[str], make) -> Any:
            fake.started += 1
            try:
                for word in words:
                    yield make(word)
                    await asyncio.sleep(fake.delay)
                yield make("", done_reason="stop", prompt_eval_count=7, eval_count=len(words))
                fake.finished += 1
            except BaseException:
                fake.abandoned += 1
                raise

        def answer(data: dict, words: list[str], make) -> Response:
            fake.requests.append(data)
            if data.get("stream", True):
                lines = (msgline(part) async for part in pieces(words, lambda w, **f: make(data["model"], w, **f)))
                return Stream(lines, media_type="application/x-ndjson")
            return Response(
                make(data["model"], "".join(words), done_reason="stop", prompt_eval_count=7, eval_count=len(words))
            )

        @get("/api/tags")
        async def list_tags() -> dict:
            return tags(*fake.models)

        @post("/api/chat", status_code=200)
        async def chat(data: dict) -> Response:
            return answer(data, fake._words(data["messages"][-1]["content"]), chat_part)

        @post("/api/generate", status_code=200)
        async def generate(data: dict) -> Response:
            return answer(data, fake._words(data["prompt"]), generate_part)

        @post("/api/embed", status_code=200)
        async def embed(data: dict) -> dict:
            inputs = [data["input"]] if isinstance(data["input"], str) else data["input"]
            return {
                "model": data["model"],
                "embeddings": [[float(len(text)), 0.5, -1.0] for text in inputs],
                "prompt_eval_count": sum(len(text.split()) for text in inputs),
            }

        return Litestar([list_tags, chat, generate, embed], logging_config=None)


def msgline(part: dict) -> bytes:
    import json

    return json.dumps(part).encode() + b"\n"
