"""A scripted stand-in for Ollama on a real socket, for the tests of the upstreams' transport and generation client:
an HTTP/1.1 server in the test's event loop answers each request as the test says, and records what it received and
on how many connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx

from tunesmith.server.backends.upstream_transport import upstream_transport

# answer(head, body, writer) writes one answer; it returns "close" to end the connection after it.
Answer = Callable[[bytes, bytes, asyncio.StreamWriter], Awaitable[str | None]]


def json_answer(payload: object, status: bytes = b"200 OK", headers: bytes = b"") -> bytes:
    body = json.dumps(payload).encode()
    head = b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s" % (status, len(body), headers)
    return head + b"\r\n" + body


def chunked_head() -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class ScriptedUpstream:
    """What the scripted server received (head and body of each request), on how many connections, and how many of
    them the client closed."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.left_by_client = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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


async def _with_upstream(answer: Answer, work: Callable, userinfo: str, timeouts: dict[str, float]):
    upstream = ScriptedUpstream(answer)
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0)
    url = f"http://{userinfo}127.0.0.1:{server.sockets[0].getsockname()[1]}"
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=4)
    transport = upstream_transport(verify=httpx.create_ssl_context(), limits=limits)
    timeout = httpx.Timeout(5.0, **timeouts)
    try:
        # follow_redirects as the `ollama` client sets it
        async with httpx.AsyncClient(
            base_url=url, transport=transport, timeout=timeout, follow_redirects=True
        ) as client:
            return await work(client), upstream
    finally:
        server.close()


def run(answer: Answer, work: Callable, *, userinfo: str = "", **timeouts: float):
    """`await work(client)` with an httpx client over the transport in front of a scripted upstream (`userinfo`,
    e.g. "user:secret@", goes in its URL): the work's result and the upstream's record."""
    return asyncio.run(_with_upstream(answer, work, userinfo, timeouts))
