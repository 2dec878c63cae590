"""How any backend's pieces become an answer: only a final `done` piece ends it as complete (finish_reason and
`[DONE]`, or a 200 body); pieces that simply stop coming are a cut answer and end as a 502 error."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import TestClient

from tests.server.conftest import sse_events
from tunesmith.server import ServerSettings, create_app
from tunesmith.server.backends import Backends, Delta, GenerateRequest, ModelCard

MODEL = "scripted"
CUT_SHORT = "the backend ended the answer before it finished"


class ScriptedBackend:
    """A backend that streams the pieces it was given, then stops, done or not."""

    name = "scripted"

    def __init__(self, pieces: list[Delta]) -> None:
        self.pieces = pieces

    async def list_models(self) -> list[ModelCard]:
        return [ModelCard(id=MODEL, owned_by="test")]

    async def has_model(self, model: str) -> bool:
        return model == MODEL

    async def stream(self, request: GenerateRequest) -> AsyncIterator[Delta]:
        for piece in self.pieces:
            yield piece

    async def complete(self, request: GenerateRequest) -> Delta:
        raise AssertionError("only streams are asked of this backend")

    async def embed(self, model: str, inputs: list[str]):
        raise AssertionError("no embeddings here")

    async def health(self) -> dict:
        return {"ok": True}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


def _stream(pieces: list[Delta], path: str):
    body = {"model": MODEL, "stream": True}
    body.update({"messages": [{"role": "user", "content": "hi"}]} if "chat" in path else {"prompt": "hi"})
    app = create_app(ServerSettings(ollama=("http://unused:11434",)), backends=Backends([ScriptedBackend(pieces)]))
    with TestClient(app) as client:
        return client.post(path, json=body)


PATHS = pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])


@PATHS
def test_a_final_done_piece_ends_the_stream_with_its_finish_reason_and_done(path):
    response = _stream([Delta(content="Once"), Delta(done=True, done_reason="length")], path)
    events = sse_events(response.text)
    assert events[-1] == "[DONE]" and events[-2]["choices"][0]["finish_reason"] == "length"


@PATHS
def test_pieces_that_stop_without_a_done_piece_end_with_an_error_event_not_done(path):
    response = _stream([Delta(content="Once"), Delta(content=" upon")], path)
    assert response.status_code == 200
    events = sse_events(response.text)
    assert "[DONE]" not in events and len(events) == 3, events
    assert all(event["choices"][0]["finish_reason"] is None for event in events[:-1])
    error = events[-1]["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_unavailable")
    assert error["message"].startswith(CUT_SHORT)


@PATHS
def test_a_backend_that_yields_nothing_is_a_502_before_the_stream_starts(path):
    response = _stream([], path)
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "upstream_unavailable" and error["message"].startswith(CUT_SHORT)
