"""A fake Ollama for bench/proxy.py that answers at once, so that what the bench measures is the proxy in front of it.

It speaks just enough of Ollama's HTTP API: GET /api/tags lists one model; POST /api/chat answers a streamed chat
(NDJSON, chunked), a whole chat (`"stream": false`: one JSON object) or, when the request carries tools, a streamed
tool call. Every answer is built once at start; a request costs a scan for its head and body and one write. It is
an `asyncio.Protocol` rather than streams: no task, reader or writer per connection, so its own rate stays tens of
times above any proxy's (bench/proxy.py reports it, and the CPU time it spends while a proxy is measured).
Usage: .venv/bin/python bench/fake_ollama.py PORT [--pieces 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re

MODEL = "bench:latest"
_STAMP = "2025-01-01T00:00:00Z"
# Ollama's default is a stream; a client asks for a whole answer with `"stream": false` (any JSON spacing).
_WHOLE = re.compile(rb'"stream"\s*:\s*false')


def _chunked(lines: list[dict]) -> bytes:
    encoded = [json.dumps(line).encode() + b"\n" for line in lines]
    body = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in encoded) + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n" + body


def _json(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


def _final(content: str, prompt_tokens: int, eval_tokens: int) -> dict:
    """Ollama's last line of an answer (or a whole answer): done, why, the token counts and its timings."""
    return {
        "model": MODEL,
        "created_at": _STAMP,
        "message": {"role": "assistant", "content": content},
        "done": True,
        "done_reason": "stop",
        "total_duration": 1_000_000,
        "load_duration": 10_000,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": 100_000,
        "eval_count": eval_tokens,
        "eval_duration": 800_000,
    }


def streamed_chat(pieces: int) -> bytes:
    """`pieces` content lines, then the final one."""
    words = [
        {"model": MODEL, "created_at": _STAMP, "message": {"role": "assistant", "content": f" word{i}"}, "done": False}
        for i in range(pieces)
    ]
    return _chunked([*words, _final("", 12, pieces)])


def whole_chat(pieces: int) -> bytes:
    """The same answer as `streamed_chat`, as Ollama sends it with `"stream": false`."""
    return _json(_final("".join(f" word{i}" for i in range(pieces)), 12, pieces))


def streamed_tool_call() -> bytes:
    """The call in one line (as Ollama sends parsed calls), then the final line."""
    call = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    first = {
        "model": MODEL,
        "created_at": _STAMP,
        "message": {"role": "assistant", "content": "", "tool_calls": [call]},
        "done": False,
    }
    return _chunked([first, _final("", 180, 20)])


def tags() -> bytes:
    model = {"name": MODEL, "model": MODEL, "modified_at": _STAMP, "size": 1, "digest": "0" * 64, "details": {}}
    return _json({"models": [model]})


def _content_length(head: bytes) -> int:
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = head.find(b"\r\n", at + 2)
    return int(head[at + 17 : end if end >= 0 else len(head)])


class _Connection(asyncio.Protocol):
    """One kept-alive connection: requests may arrive split or several at once; each is answered in order."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self._answers = answers
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        out = []
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            length = _content_length(head)
            if len(buffer) < end + 4 + length:
                break
            body = buffer[end + 4 : end + 4 + length]
            buffer = buffer[end + 4 + length :]
            out.append(self._answer(head, body))
        self._buffer = buffer
        if out:
            self._transport.write(b"".join(out))

    def _answer(self, head: bytes, body: bytes) -> bytes:
        if head.startswith(b"GET /api/tags"):
            return self._answers["tags"]
        if b'"tools"' in body:
            return self._answers["tool call"]
        return self._answers["whole" if _WHOLE.search(body) else "stream"]


async def serve(port: int, pieces: int) -> None:
    """Answer on 127.0.0.1:`port` until cancelled."""
    answers = {
        "tags": tags(),
        "stream": streamed_chat(pieces),
        "whole": whole_chat(pieces),
        "tool call": streamed_tool_call(),
    }
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(answers), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--pieces", type=int, default=8, help="content pieces per answer")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.pieces))


if __name__ == "__main__":
    main()
