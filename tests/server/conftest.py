"""Fixtures of the server tests: documented Ollama NDJSON answers for pytest-httpx, and the app under test; for
test_embedded*.py, package folders of the real SmolLM2-135M-Instruct GGUF (Q4_1) and the app that serves them.

Why fakes: the server tests pin exact upstream bodies, errors and timings a real Ollama cannot produce on demand;
tests/ollama/ runs the same API against the real one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from tunesmith.embedded_base import embedded_gguf_path
from tunesmith.server import ServerSettings, create_app

UPSTREAM_A = "http://ollama-a:11434"
UPSTREAM_B = "http://ollama-b:11434"
# The model the upstreams list in the Ollama API tests (test_ollama_generation, _upstreams and _errors.py).
MODEL = "llama3.2:latest"
# What the embedded backend's tests ask the packages below, and the SYSTEM line of the "smol" one.
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
SYSTEM = "You are a geography teacher. Answer in one short sentence."


def tags(*names: str) -> dict:
    """GET /api/tags as Ollama answers it."""
    return {
        "models": [
            {
                "name": name,
                "model": name,
                "modified_at": "2025-05-10T08:06:48.639712648-07:00",
                "size": 4683075271,
                "digest": "0a8c266910232fd3291e71e5ba1e058cc5af9d411192cf88b6d30e92b6e73163",
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "llama",
                    "families": ["llama"],
                    "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M",
                },
            }
            for name in names
        ]
    }


def chat_part(model: str, content: str, **final) -> dict:
    """One line of a streamed POST /api/chat; `final` fields (done_reason, counts) make it the last one."""
    part = {
        "model": model,
        "created_at": "2023-08-04T08:52:19.385406455-07:00",
        "message": {"role": "assistant", "content": content},
        "done": bool(final),
    }
    if final:
        part.update(
            {
                "total_duration": 4883583458,
                "load_duration": 1334875,
                "prompt_eval_duration": 342546000,
                "eval_duration": 4535599000,
                **final,
            }
        )
    return part


def generate_part(model: str, response: str, **final) -> dict:
    """One line of a streamed POST /api/generate."""
    part = {"model": model, "created_at": "2023-08-04T19:22:45.499127Z", "response": response, "done": bool(final)}
    if final:
        part.update(
            {
                "context": [1, 2, 3],
                "total_duration": 10706818083,
                "load_duration": 6338219291,
                "prompt_eval_duration": 130079000,
                "eval_duration": 4232710000,
                **final,
            }
        )
    return part


def ndjson(*parts: dict) -> bytes:
    return b"".join(json.dumps(part).encode() + b"\n" for part in parts)


class CutStream(httpx.AsyncByteStream):
    """An NDJSON body that sends some lines, then loses the connection."""

    def __init__(self, *parts: dict) -> None:
        self.parts = parts

    async def __aiter__(self) -> Iterator[bytes]:
        for part in self.parts:
            yield json.dumps(part).encode() + b"\n"
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def sse_events(text: str) -> list:
    """The `data:` payloads of an SSE body, JSON-decoded except `[DONE]`."""
    events = []
    for block in text.split("\n\n"):
        if block.startswith("data: "):
            payload = block[len("data: ") :]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


@pytest.fixture
def serve_ollama(httpx_mock):
    """Start an app over fake Ollama upstreams: `serve_ollama({url: [model, ...]}, **settings)` -> TestClient."""
    clients = []

    def start(upstreams: dict[str, list[str]], *, publish_jobs=None, **settings) -> TestClient:
        for url, models in upstreams.items():
            httpx_mock.add_response(url=f"{url}/api/tags", json=tags(*models), is_reusable=True, is_optional=True)
        app = create_app(
            ServerSettings(ollama=tuple(upstreams), health_interval=3600, **settings), publish_jobs=publish_jobs
        )
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def embedded_package(folder: Path, name: str, modelfile: str) -> Path:
    """A package folder: the embedded GGUF (linked, or copied) and a Modelfile of FROM it plus `modelfile`."""
    folder.mkdir(parents=True)
    gguf = folder / f"{name}-Q4_1.gguf"
    try:
        os.link(embedded_gguf_path(), gguf)
    except OSError:
        gguf.write_bytes(embedded_gguf_path().read_bytes())
    (folder / "Modelfile").write_text(f"FROM ./{gguf.name}\n{modelfile}", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def packages(tmp_path_factory) -> dict[str, Path]:
    """The embedded backend's packages "smol", "short" and "nostop" by name, each with Modelfile defaults to check."""
    root = tmp_path_factory.mktemp("packages")
    return {
        # Greedy, with the SYSTEM line and the stop token a packaged ChatML model gets.
        "smol": embedded_package(
            root / "smol",
            "smol",
            f'PARAMETER temperature 0\nPARAMETER stop "<|im_end|>"\nPARAMETER num_ctx 2048\nSYSTEM "{SYSTEM}"\n',
        ),
        # Defaults that visibly shape the answer: a 4-token budget.
        "short": embedded_package(root / "short", "short", "PARAMETER temperature 0\nPARAMETER num_predict 4\n"),
        # A stop word in the middle of the expected answer.
        "nostop": embedded_package(
            root / "nostop", "nostop", 'PARAMETER temperature 0\nPARAMETER stop "Paris"\nPARAMETER num_predict 24\n'
        ),
    }


@pytest.fixture(scope="session")
def app(packages):
    """The app serving every package of `packages` with the embedded backend, on one thread."""
    return create_app(ServerSettings(models=tuple(str(path) for path in packages.values()), threads=1))
