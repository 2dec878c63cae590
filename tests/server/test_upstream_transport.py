"""The Ollama upstreams' transport (server/backends/upstream_transport.py) against a real socket: keep-alive,
streamed and length-less answers, early closes, and each failure as the httpx error the rest of the server maps."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.server.scripted_upstream import chunk, chunked_head, json_answer, run
from tunesmith.server.backends.upstream_transport import upstream_transport


async def _echo(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(json_answer({"echo": json.loads(body)}))


def test_requests_on_a_kept_alive_connection_each_carry_their_whole_body():
    async def work(client):
        return [(await client.post("/api/chat", json={"n": n, "text": "é" * n})).json() for n in range(3)]

    replies, upstream = run(_echo, work)
    assert replies == [{"echo": {"n": n, "text": "é" * n}} for n in range(3)]
    assert upstream.connections == 1 and len(upstream.requests) == 3
    assert all(head.startswith(b"POST /api/chat HTTP/1.1\r\n") for head, _ in upstream.requests)


def test_a_streamed_answer_arrives_piece_by_piece_and_the_connection_is_kept():
    async def answer(head, body, writer):
        writer.write(chunked_head())
        for n in range(3):
            writer.write(chunk(b'{"n": %d}\n' % n))
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.write(b"0\r\n\r\n")

    async def work(client):
        pieces = []
        for _ in range(2):
            async with client.stream("POST", "/api/chat", json={}) as response:
                pieces.append([chunk async for chunk in response.aiter_bytes()])
        return pieces

    pieces, upstream = run(answer, work)
    assert pieces == [[b'{"n": 0}\n', b'{"n": 1}\n', b'{"n": 2}\n']] * 2
    assert upstream.connections == 1


def test_a_stream_closed_early_closes_its_connection_and_the_next_request_opens_another():
    async def answer(head, body, writer):
        if body == b'"stop me"':
            writer.write(chunked_head() + chunk(b"first\n"))
            await asyncio.sleep(0.2)
            writer.write(chunk(b"never read\n"))
        else:
            writer.write(json_answer("ok"))

    async def work(client):
        async with client.stream("POST", "/api/chat", json="stop me") as response:
            async for _ in response.aiter_bytes():
                break
        await asyncio.sleep(0.3)
        return (await client.post("/api/chat", json="next")).json()

    reply, upstream = run(answer, work)
    assert reply == "ok" and upstream.connections == 2 and upstream.left_by_client == 1


def test_an_idle_connection_the_upstream_closed_is_not_reused():
    async def answer(head, body, writer):
        writer.write(json_answer("ok"))
        return "close"  # without saying `connection: close`, as a proxy timing out an idle connection does

    async def work(client):
        first = (await client.post("/api/chat", json=1)).json()
        await asyncio.sleep(0.1)
        return [first, (await client.post("/api/chat", json=2)).json()]

    replies, upstream = run(answer, work)
    assert replies == ["ok", "ok"] and upstream.connections == 2


def test_a_large_answer_read_slowly_arrives_whole():
    payload = {"text": "x" * 3_000_000}

    async def answer(head, body, writer):
        writer.write(json_answer(payload))

    async def work(client):
        async with client.stream("POST", "/api/chat", json={}) as response:
            parts = []
            async for chunk in response.aiter_raw():
                parts.append(chunk)
                await asyncio.sleep(0.001)
            return json.loads(b"".join(parts))

    received, _ = run(answer, work)
    assert received == payload


def test_an_answer_without_a_length_ends_with_its_connection():
    async def answer(head, body, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")
        return "close"

    async def work(client):
        return (await client.post("/api/chat", json={})).content

    content, _ = run(answer, work)
    assert content == b"all of it"


async def _cut_before_head(head, body, writer):
    return "close"


async def _cut_in_body(head, body, writer):
    writer.write(chunked_head() + chunk(b"half"))
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

    run(answer, work, **timeouts)


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

    reply, upstream = run(_echo_raw, work)
    assert reply == {"echo": "blob"} and upstream.requests[0][0].startswith(b"PUT /api/blobs/x HTTP/1.1")


async def _echo_raw(head, body, writer):
    writer.write(json_answer({"echo": body.decode()}))
