"""Which of several Ollamas the server sends a request to, over sockets: the one with the fewest requests in flight,
so a stream held open on one sends the next requests to the other.

Why a fake: the test needs upstreams that hold a stream open until the client leaves, and that count the requests
they got; a real Ollama answers as fast as it can.
"""

from __future__ import annotations

import httpx

from tests.reliability.fault_stack import CANCEL_BOUND_S, CHAT, READ_TIMEOUT_S, endless
from tests.reliability.fault_upstream import Exchange, FaultyOllama, answer_chat, chat_line, wait_for
from tests.server.live import running
from tunesmith.server import ServerSettings, create_app


def _chats(fake: FaultyOllama) -> int:
    return sum(connection.paths.count("/api/chat") for connection in fake.connections)


def _in_flight(http: httpx.Client) -> list[int]:
    return [upstream["in_flight"] for upstream in http.get("/health").json()["backends"]["ollama"]["upstreams"]]


async def _streams_held_open(exchange: Exchange) -> None:
    """A stream stays open until the peer leaves; a whole answer comes at once."""
    handler = endless(chat_line) if exchange.json_body().get("stream", True) else answer_chat
    await handler(exchange)


def test_requests_go_to_the_upstream_with_the_fewest_in_flight_while_a_stream_holds_the_other():
    busy, idle = FaultyOllama(), FaultyOllama()
    busy.handlers["/api/chat"] = _streams_held_open
    with busy.running(), idle.running():
        app = create_app(ServerSettings(ollama=(busy.url, idle.url), read_timeout=READ_TIMEOUT_S, health_interval=3600))
        with running(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as held:
                lines = held.iter_lines()  # kept: an iterator dropped mid-body closes the connection
                assert next(lines).startswith("data: ")
                assert (_chats(busy), _chats(idle)) == (1, 0)
                # Both hold the model and the first upstream is listed first: only its open stream sends these on.
                for _ in range(2):
                    assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
                assert (_chats(busy), _chats(idle)) == (1, 2)
            # The held stream is closed: both are idle again, and the first listed takes the next request.
            assert wait_for(lambda: _in_flight(http) == [0, 0], CANCEL_BOUND_S + 1), _in_flight(http)
            assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
            assert (_chats(busy), _chats(idle)) == (2, 2)
