"""A fake Ollama over real sockets whose answers a test scripts path by path, to make the upstream fail on purpose.

Raw asyncio in a thread of its own (no HTTP library between the test and the bytes), so it can do what a real
daemon does when it breaks: hang, send garbage, reset the connection mid-answer. It records every connection and
when the peer closed it, which is how the tests see that the server cancelled an upstream request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

MODEL = "echo:latest"


def chat_line(content: str, *, done: bool = False) -> bytes:
    """One NDJSON line of a streamed /api/chat, in Ollama's documented shape."""
    part: dict = {
        "model": MODEL,
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    if done:
        part.update(done_reason="stop", prompt_eval_count=3, eval_count=2)
    return json.dumps(part).encode() + b"\n"


def generate_line(response: str, *, done: bool = False) -> bytes:
    """One NDJSON line of a streamed /api/generate."""
    part: dict = {"model": MODEL, "created_at": "2025-01-01T00:00:00Z", "response": response, "done": done}
    if done:
        part.update(done_reason="stop", prompt_eval_count=3, eval_count=2)
    return json.dumps(part).encode() + b"\n"


def tags_body(*names: str) -> dict:
    return {
        "models": [
            {
                "name": name,
                "model": name,
                "modified_at": "2025-01-01T00:00:00Z",
                "size": 1,
                "digest": "0" * 64,
                "details": {},
            }
            for name in names
        ]
    }


@dataclass
class Connection:
    """One accepted connection: the request paths it carried and when the peer closed it (monotonic seconds)."""

    paths: list[str] = field(default_factory=list)
    closed_at: float | None = None


class Exchange:
    """What a handler uses to answer one request on its connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> None:
        self.reader, self.writer, self.body = reader, writer, body
        self.keep_alive = True

    def json_body(self) -> dict:
        return json.loads(self.body or b"{}")

    async def send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.writer.write(
            b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s"
            % (status, content_type.encode(), len(body), body)
        )
        await self.writer.drain()

    async def send_json(self, payload: object, status: int = 200) -> None:
        await self.send(status, json.dumps(payload).encode())

    async def start_stream(self) -> None:
        self.writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        await self.writer.drain()

    async def send_chunk(self, data: bytes) -> None:
        self.writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await self.writer.drain()

    async def end_stream(self) -> None:
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()

    def reset(self) -> None:
        """Drop the connection with a TCP RST, as a crashed daemon's kernel does."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()
        self.keep_alive = False

    async def until_closed(self) -> None:
        """Wait until the peer closes the connection (EOF or reset); the request body was already read."""
        with contextlib.suppress(ConnectionError):
            while await self.reader.read(65536):
                pass
        self.keep_alive = False


Handler = Callable[[Exchange], Awaitable[None]]


async def answer_tags(exchange: Exchange) -> None:
    await exchange.send_json(tags_body(MODEL))


def _answer(line: Callable[..., bytes]) -> Handler:
    async def handler(exchange: Exchange) -> None:
        """A short answer, streamed or whole as the request asks, whatever else it asks."""
        if exchange.json_body().get("stream", True):
            await exchange.start_stream()
            for piece in (line("ok"), line("", done=True)):
                await exchange.send_chunk(piece)
            await exchange.end_stream()
        else:
            await exchange.send_json(json.loads(line("ok", done=True)))

    return handler


answer_chat = _answer(chat_line)
answer_generate = _answer(generate_line)


async def answer_embed(exchange: Exchange) -> None:
    inputs = exchange.json_body().get("input")
    count = 1 if isinstance(inputs, str) else len(inputs or ())
    await exchange.send_json({"model": MODEL, "embeddings": [[0.5, -0.5, 1.0]] * count, "prompt_eval_count": count})


class FaultyOllama:
    """`handlers` maps a request path ("/api/chat") to the coroutine answering it; a path not there is a 404."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.handlers: dict[str, Handler] = {}
        self.heal()
        self.connections: list[Connection] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection()
        self.connections.append(connection)
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                length = next(
                    (int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0
                )
                body = await reader.readexactly(length) if length else b""
                path = request_line.split(" ")[1]
                connection.paths.append(path)
                exchange = Exchange(reader, writer, body)
                handler = self.handlers.get(path)
                if handler is None:
                    await exchange.send_json({"error": f"no route {path}"}, status=404)
                else:
                    await handler(exchange)
                if not exchange.keep_alive:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            connection.closed_at = time.monotonic()
            self._writers.discard(writer)
            writer.close()

    def heal(self) -> None:
        """Answer every path as a healthy Ollama does again."""
        self.handlers = {
            "/api/tags": answer_tags,
            "/api/chat": answer_chat,
            "/api/generate": answer_generate,
            "/api/embed": answer_embed,
        }

    def connections_to(self, path: str) -> list[Connection]:
        return [connection for connection in self.connections if path in connection.paths]

    @contextlib.contextmanager
    def running(self) -> Iterator[FaultyOllama]:
        """Listen on 127.0.0.1 (`port`, or a free one) until the block ends; `url` says where."""
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            listening = asyncio.start_server(self._serve, "127.0.0.1", self.port)
            self._server = self._loop.run_until_complete(listening)
            self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
            started.set()
            self._loop.run_forever()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        started.wait(10)
        try:
            yield self
        finally:
            self.stop_listening()
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(10)
            self._loop.close()

    def stop_listening(self) -> None:
        """Close the port and drop every open connection, as a daemon that exits does."""
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)

    async def _shutdown(self) -> None:
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await asyncio.sleep(0.05)


def refused_url() -> str:
    """The URL of a local port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass; return whether it held."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(0.01)
    return True
