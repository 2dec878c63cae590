"""The generation client of the Ollama backend (server/backends/ollama_wire.py) against a scripted Ollama on a real
socket: the bodies Ollama reads, whole and streamed answers, the errors the `ollama` client would raise, and what
the httpx client does on the way (auth from the URL, redirects, cookies) where the request is sent past it."""

from __future__ import annotations

import asyncio
import json

import msgspec
import ollama
import pytest

from tests.server.scripted_upstream import chunk, chunked_head, json_answer, run
from tunesmith.server.backends.base import GenerateRequest
from tunesmith.server.backends.ollama_wire import ChatPart, Generations

_CHAT = GenerateRequest(model="m:latest", messages=[{"role": "user", "content": "hi"}], options={"temperature": 0.5})


async def _ollama_chat(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
    done = {"model": "m:latest", "message": {"role": "assistant", "content": ""}, "done": True}
    done |= {"done_reason": "stop", "prompt_eval_count": 7, "eval_count": 2}
    if not json.loads(body)["stream"]:
        writer.write(json_answer({**done, "message": {"role": "assistant", "content": "Hello there"}}))
        return
    words = [{**done, "message": {"role": "assistant", "content": word}, "done": False} for word in ("Hello", " there")]
    lines = [json.dumps(line).encode() + b"\n" for line in [*words, done]]
    writer.write(chunked_head() + b"".join(chunk(line) for line in lines) + b"0\r\n\r\n")


def test_generations_send_ollamas_body_and_read_whole_and_streamed_answers():
    async def work(client):
        generations = Generations(client)
        whole = await generations.whole(_CHAT)
        streamed = [part async for part in generations.stream(_CHAT)]
        return whole, streamed

    (whole, streamed), upstream = run(_ollama_chat, work)
    assert isinstance(whole, ChatPart) and whole.message.content == "Hello there" and whole.eval_count == 2
    assert [part.message.content for part in streamed] == ["Hello", " there", ""] and streamed[-1].done
    bodies = [json.loads(body) for _, body in upstream.requests]
    sent = {"model": "m:latest", "messages": [{"role": "user", "content": "hi"}], "options": {"temperature": 0.5}}
    assert bodies == [{**sent, "stream": False}, {**sent, "stream": True}]
    assert upstream.connections == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (json_answer({"error": "model 'm' not found"}, b"404 Not Found"), ollama.ResponseError),
        (json_answer(["not", "an", "object"]), msgspec.ValidationError),
        (json_answer({"model": "m:latest", "done": True}), msgspec.ValidationError),
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

    raised, _ = run(reply, work)
    if isinstance(raised, ollama.ResponseError):
        assert (raised.error, raised.status_code) == ("model 'm' not found", 404)


def test_an_error_line_in_a_stream_is_ollamas_response_error():
    async def answer(head, body, writer):
        line = json.dumps({"error": "out of memory"}).encode() + b"\n"
        writer.write(chunked_head() + chunk(line) + b"0\r\n\r\n")

    async def work(client):
        with pytest.raises(ollama.ResponseError, match="out of memory"):
            async for _ in Generations(client).stream(_CHAT):
                pass

    run(answer, work)


_DONE = {"model": "m:latest", "message": {"role": "assistant", "content": "ok"}, "done": True, "done_reason": "stop"}


def test_a_user_and_password_in_the_url_go_as_basic_auth():
    async def answer(head, body, writer):
        writer.write(json_answer(_DONE))

    async def work(client):
        return (await Generations(client).whole(_CHAT)).message.content

    content, upstream = run(answer, work, userinfo="user:secret@")
    assert content == "ok"
    headers = dict(line.split(b": ", 1) for line in upstream.requests[0][0].split(b"\r\n")[1:] if line)
    assert headers[b"Authorization"] == b"Basic dXNlcjpzZWNyZXQ="


def test_a_redirect_in_front_of_ollama_is_followed_and_its_cookies_kept():
    async def answer(head, body, writer):
        if head.startswith(b"POST /api/chat "):
            writer.write(b"HTTP/1.1 307 Temporary Redirect\r\nlocation: /ollama/api/chat\r\ncontent-length: 0\r\n\r\n")
        else:
            writer.write(json_answer(_DONE, headers=b"set-cookie: route=b; Path=/\r\n"))

    async def work(client):
        generations = Generations(client)
        return [(await generations.whole(_CHAT)).message.content for _ in range(2)]

    contents, upstream = run(answer, work)
    assert contents == ["ok", "ok"]
    # The first answer is a redirect: the request goes again through the client, which follows it, and so on.
    paths = [head.split(b" ")[1] for head, _ in upstream.requests]
    assert paths == [b"/api/chat", b"/api/chat", b"/ollama/api/chat", b"/api/chat", b"/ollama/api/chat"]
    assert all(json.loads(body)["messages"] == _CHAT.messages for _, body in upstream.requests)
    assert b"cookie: route=b" in upstream.requests[3][0].lower()
