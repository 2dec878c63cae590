"""The Ollama upstreams' transport (server/backends/upstream_transport.py) against a real socket: a scripted HTTP/1.1
server in the test's event loop answers each request as its case says, and records what it received and on how
many connections. The generation client on top (ollama_wire.py) is checked against it too: whole and streamed
answers, and the body Ollama reads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import msgspec
import ollama
import pytest

from tunesmith.server.backends.base import GenerateRequest
from tunesmith.server.backends.ollama_wire import ChatPart, Generations
from tunesmith.server.backends.upstream_transport import upstream_transport

Answer = Callable[[bytes, bytes, asyncio.StreamWriter], Awaitable[str | None]]


def _json_answer(payload: object, status: bytes = b"200 OK") -> bytes:
    body = json.dumps(payload).encode()
    return b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body)


def _chunked_head() -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Upstream:
    """A scripted server: `answer(head, body, writer)` writes each answer and returns "close" to end the
    connection; what it received, and on how many connections, is recorded."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.left_by_client = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                if await self.answer(head, body, writer) == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.left_by_client += 1
        writer.close()


async def _with_upstream(answer: Answer, work: Callable, **timeouts: float):
    """Run `work(client)` with an httpx client over the transport, in front of a scripted upstream."""
    upstream = _Upstream(answer)
    server = await asyncio.start_server(upstream._serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=4)
    transport = upstream_transport(verify=httpx.create_ssl_context(), limits=limits)
    try:
        async with httpx.AsyncClient(
            base_url=url, transport=transport, timeout=httpx.Timeout(5.0, **timeouts)
        ) as client:
            return await work(client), upstream
    finally:
        server.close()


def _run(answer: Answer, work: Callable, **timeouts: float):
    return asyncio.run(_with_upstream(answer, work, **timeouts))


async def _echo(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(_json_answer({"echo": json.loads(body)}))


def test_requests_on_a_kept_alive_connection_each_carry_their_whole_body():
    async def work(client):
        return [(await client.post("/api/chat", json={"n": n, "text": "é" * n})).json() for n in range(3)]

    replies, upstream = _run(_echo, work)
    assert replies == [{"echo": {"n": n, "text": "é" * n}} for n in range(3)]
    assert upstream.connections == 1 and len(upstream.requests) == 3
    assert all(head.startswith(b"POST /api/chat HTTP/1.1\r\n") for head, _ in upstream.requests)


def test_a_streamed_answer_arrives_piece_by_piece_and_the_connection_is_kept():
    async def answer(head, body, writer):
        writer.write(_chunked_head())
        for n in range(3):
            writer.write(_chunk(b'{"n": %d}\n' % n))
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.write(b"0\r\n\r\n")

    async def work(client):
        pieces = []
        for _ in range(2):
            async with client.stream("POST", "/api/chat", json={}) as response:
                pieces.append([chunk async for chunk in response.aiter_bytes()])
        return pieces

    pieces, upstream = _run(answer, work)
    assert pieces == [[b'{"n": 0}\n', b'{"n": 1}\n', b'{"n": 2}\n']] * 2
    assert upstream.connections == 1


def test_a_stream_closed_early_closes_its_connection_and_the_next_request_opens_another():
    async def answer(head, body, writer):
        if body == b'"stop me"':
            writer.write(_chunked_head() + _chunk(b"first\n"))
            await asyncio.sleep(0.2)
            writer.write(_chunk(b"never read\n"))
        else:
            writer.write(_json_answer("ok"))

    async def work(client):
        async with client.stream("POST", "/api/chat", json="stop me") as response:
            async for _ in response.aiter_bytes():
                break
        await asyncio.sleep(0.3)
        return (await client.post("/api/chat", json="next")).json()

    reply, upstream = _run(answer, work)
    assert reply == "ok" and upstream.connections == 2 and upstream.left_by_client == 1


def test_an_idle_connection_the_upstream_closed_is_not_reused():
    async def answer(head, body, writer):
        writer.write(_json_answer("ok"))
        return "close"  # without saying `connection: close`, as a proxy timing out an idle connection does

    async def work(client):
        first = (await client.post("/api/chat", json=1)).json()
        await asyncio.sleep(0.1)
        return [first, (await client.post("/api/chat", json=2)).json()]

    replies, upstream = _run(answer, work)
    assert replies == ["ok", "ok"] and upstream.connections == 2


def test_a_large_answer_read_slowly_arrives_whole():
    payload = {"text": "x" * 3_000_000}

    async def answer(head, body, writer):
        writer.write(_json_answer(payload))

    async def work(client):
        async with client.stream("POST", "/api/chat", json={}) as response:
            parts = []
            async for chunk in response.aiter_raw():
                parts.append(chunk)
                await asyncio.sleep(0.001)
            return json.loads(b"".join(parts))

    received, _ = _run(answer, work)
    assert received == payload


def test_an_answer_without_a_length_ends_with_its_connection():
    async def answer(head, body, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")
        return "close"

    async def work(client):
        return (await client.post("/api/chat", json={})).content

    content, _ = _run(answer, work)
    assert content == b"all of it"


async def _cut_before_head(head, body, writer):
    return "close"


async def _cut_in_body(head, body, writer):
    writer.write(_chunked_head() + _chunk(b"half"))
    return "close"


async def _not_http(head, body, writer):
    writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")


async def _silent(head, body, writer):
    await asyncio.sleep(5)


@pytest.mark.parametrize(
    ("answer", "error", "timeouts"),
    [
        (_cut_before_head, httpx.RemoteProtocolError, {}),
        (_cut_in_body, httpx.RemoteProtocolError, {}),
        (_not_http, httpx.RemoteProtocolError, {}),
        (_silent, httpx.ReadTimeout, {"read": 0.2}),
    ],
    ids=["closed-before-the-answer", "closed-in-the-body", "not-http", "silent"],
)
def test_upstream_failures_are_httpx_errors(answer, error, timeouts):
    async def work(client):
        with pytest.raises(error):
            await client.post("/api/chat", json={})

    _run(answer, work, **timeouts)


def test_nobody_listening_is_a_connect_error():
    async def main():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        transport = upstream_transport(verify=httpx.create_ssl_context(), limits=httpx.Limits())
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx.ConnectError):
                await client.post(f"http://127.0.0.1:{port}/api/chat", json={})

    asyncio.run(main())


def test_other_methods_go_through_httpcore():
    async def work(client):
        return (await client.request("PUT", "/api/blobs/x", content=b"blob")).json()

    reply, upstream = _run(_echo_raw, work)
    assert reply == {"echo": "blob"} and upstream.requests[0][0].startswith(b"PUT /api/blobs/x HTTP/1.1")


async def _echo_raw(head, body, writer):
    writer.write(_json_answer({"echo": body.decode()}))


# ---- the generation client over it ------------------------------------------------------------------------------

_CHAT = GenerateRequest(model="m:latest", messages=[{"role": "user", "content": "hi"}], options={"temperature": 0.5})


async def _ollama_chat(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
    done = {"model": "m:latest", "message": {"role": "assistant", "content": ""}, "done": True}
    done |= {"done_reason": "stop", "prompt_eval_count": 7, "eval_count": 2}
    if not json.loads(body)["stream"]:
        writer.write(_json_answer({**done, "message": {"role": "assistant", "content": "Hello there"}}))
        return
    words = [{**done, "message": {"role": "assistant", "content": word}, "done": False} for word in ("Hello", " there")]
    lines = [json.dumps(line).encode() + b"\n" for line in [*words, done]]
    writer.write(_chunked_head() + b"".join(_chunk(line) for line in lines) + b"0\r\n\r\n")


def test_generations_send_ollamas_body_and_read_whole_and_streamed_answers():
    async def work(client):
        generations = Generations(client)
        whole = await generations.whole(_CHAT)
        streamed = [part async for part in generations.stream(_CHAT)]
        return whole, streamed

    (whole, streamed), upstream = _run(_ollama_chat, work)
    assert isinstance(whole, ChatPart) and whole.message.content == "Hello there" and whole.eval_count == 2
    assert [part.message.content for part in streamed] == ["Hello", " there", ""] and streamed[-1].done
    bodies = [json.loads(body) for _, body in upstream.requests]
    sent = {"model": "m:latest", "messages": [{"role": "user", "content": "hi"}], "options": {"temperature": 0.5}}
    assert bodies == [{**sent, "stream": False}, {**sent, "stream": True}]
    assert upstream.connections == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (_json_answer({"error": "model 'm' not found"}, b"404 Not Found"), ollama.ResponseError),
        (_json_answer(["not", "an", "object"]), msgspec.ValidationError),
        (_json_answer({"model": "m:latest", "done": True}), msgspec.ValidationError),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n<html>", msgspec.DecodeError),
    ],
    ids=["error-status", "not-an-object", "no-message", "not-json"],
)
def test_a_whole_answer_that_is_not_ollamas_raises_what_the_ollama_client_would(answer, error):
    async def reply(head, body, writer):
        writer.write(answer)

    async def work(client):
        with pytest.raises(error) as raised:
            await Generations(client).whole(_CHAT)
        return raised.value

    raised, _ = _run(reply, work)
    if isinstance(raised, ollama.ResponseError):
        assert (raised.error, raised.status_code) == ("model 'm' not found", 404)


def test_an_error_line_in_a_stream_is_ollamas_response_error():
    async def answer(head, body, writer):
        line = json.dumps({"error": "out of memory"}).encode() + b"\n"
        writer.write(_chunked_head() + _chunk(line) + b"0\r\n\r\n")

    async def work(client):
        with pytest.raises(ollama.ResponseError, match="out of memory"):
            async for _ in Generations(client).stream(_CHAT):
                pass

    _run(answer, work)
