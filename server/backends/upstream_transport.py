"""The httpx transport of the Ollama upstreams: httpx's own, with a lean HTTP/1.1 connection pool under it.

Hand-written because httpcore's pool and the h11 state machine under it were the largest share of the proxy's own
work per request (locks and events per request, a state machine walked per event, anyio's bookkeeping per read and
write), and its request left in two send()s, head then body, each as costly on a small machine as the rest of the
request's Python. Here a connection is an `asyncio.Protocol`, answers are parsed by httptools (uvicorn's parser, in
C) as they arrive, and a request leaves in one send(). It speaks what the server's clients send to Ollama: GET and
POST with a known length over plain HTTP. Anything else (https, other methods, a body of unknown length) goes to
httpcore's own pool. Failures are httpcore's exceptions, raised where its pool raises them, so httpx maps them as
always; pytest-httpx, which replaces the transport's request handling, replaces this pool with it.
"""

from __future__ import annotations

import asyncio
import collections
import select
import ssl
import time

import httpcore
import httptools
import httpx

__all__ = ["upstream_transport"]

# Reading pauses while this much of an answer is received and not yet taken, and resumes below half of it.
_HIGH_WATER = 256 * 1024
_TIMED_OUT = object()
_LEAN_METHODS = (b"GET", b"POST")


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(_TIMED_OUT)


class _Connection(asyncio.Protocol):
    """One kept-alive connection; httptools parses each answer as its bytes arrive, before anyone reads it."""

    transport: asyncio.Transport  # set by the event loop before anything else runs

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.error: Exception | None = None
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.keep_alive = False
        self.complete = False
        self.framed = False  # a length or chunked encoding says where the body ends (else the end of the connection)
        self.body: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.paused = False
        self.waiter: asyncio.Future | None = None

    # ---- asyncio ------------------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as err:
            self.error = httpcore.RemoteProtocolError(f"the upstream's answer is not HTTP/1.1: {err}")
            self.transport.close()
        self._wake()

    def connection_lost(self, error: Exception | None) -> None:
        self.closed = True
        if self.head_done and not self.framed and not self.complete:
            self.complete = True  # an answer without a length ends with its connection
        elif not self.complete and self.error is None:
            if error is not None:
                self.error = httpcore.ReadError(str(error) or type(error).__name__)
            elif self.head_done:
                self.error = httpcore.RemoteProtocolError("the upstream closed the connection in the middle of a body")
            else:
                self.error = httpcore.RemoteProtocolError("Server disconnected without sending a response.")
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    # ---- httptools ----------------------------------------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or (lowered == b"transfer-encoding" and b"chunked" in value.lower()):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.head_done = True
        self.keep_alive = self.parser.should_keep_alive()  # asked now: the parser forgets once the message ends

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        self.complete = True

    # ---- the pool's side ----------------------------------------------------------------------------------------

    async def wait(self, timeout: float | None) -> None:
        """Until more of the answer (or its end, or a failure) has arrived."""
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            if await waiter is _TIMED_OUT:
                raise httpcore.ReadTimeout(f"the upstream sent nothing for {timeout:g} s")
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    def take(self) -> bytes:
        chunk = self.body.popleft()
        self.buffered -= len(chunk)
        if self.paused and self.buffered < _HIGH_WATER // 2:
            self.paused = False
            self.transport.resume_reading()
        return chunk

    def reusable(self) -> bool:
        """Whether an idle connection may take the next request: not closed, and nothing unasked for on it (the
        kernel is asked too, for an end the event loop has not read yet)."""
        if self.closed or self.error is not None or self.head_done:
            return False
        sock = self.transport.get_extra_info("socket")
        if sock is None or sock.fileno() < 0:
            return False
        poll = select.poll()
        poll.register(sock.fileno(), select.POLLIN)
        return not poll.poll(0)


class _Body:
    """An answer's body as httpcore hands it to httpx: its chunks as they arrive; closed, the connection goes back."""

    def __init__(self, pool: _LeanPool, key: tuple, connection: _Connection, timeout: float | None) -> None:
        self._pool, self._key, self._connection, self._timeout = pool, key, connection, timeout
        self._closed = False

    async def __aiter__(self):
        connection = self._connection
        while True:
            if connection.body:
                yield connection.take()
            elif connection.complete:
                return
            elif connection.error is not None:
                raise connection.error
            else:
                await connection.wait(self._timeout)

    async def aclose(self) -> None:
        if not self._closed:  # a second close must not hand the connection back twice
            self._closed = True
            self._pool.release(self._key, self._connection)


class _LeanPool:
    """An httpcore-shaped pool (`handle_async_request`, `aclose`) keeping idle connections per origin."""

    def __init__(self, fallback: httpcore.AsyncConnectionPool, limits: httpx.Limits) -> None:
        self._fallback = fallback
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._idle: dict[tuple, list[_Connection]] = {}
        self._open: set[_Connection] = set()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        url, headers = request.url, request.headers
        lean = url.scheme == b"http" and request.method in _LEAN_METHODS
        if not lean or any(name.lower() in (b"transfer-encoding", b"upgrade", b"expect") for name, _ in headers):
            return await self._fallback.handle_async_request(request)
        timeouts = request.extensions.get("timeout", {})
        body = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
        head = [b"%s %s HTTP/1.1\r\n" % (request.method, url.target)]
        head += [b"%s: %s\r\n" % (name, value) for name, value in headers]
        key = (url.host, url.port or 80)
        connection = self._idle_connection(key) or await self._connect(key, timeouts.get("connect"))
        try:
            connection.transport.write(b"".join(head) + b"\r\n" + body)  # one send(): head and body together
            while not connection.head_done:
                if connection.error is not None:
                    raise connection.error
                await connection.wait(timeouts.get("read"))
        except BaseException:
            self._close(connection)
            raise
        response = httpcore.Response(
            connection.parser.get_status_code(),
            headers=connection.headers,
            content=_Body(self, key, connection, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": connection.reason},
        )
        return response

    def _idle_connection(self, key: tuple) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            fresh = self._expiry is None or now - connection.idle_since < self._expiry
            if fresh and connection.reusable():
                return connection
            self._close(connection)
        return None

    async def _connect(self, key: tuple, timeout: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        host = key[0].decode("ascii")
        opening = loop.create_connection(_Connection, host, key[1], happy_eyeballs_delay=0.25)
        try:
            _, connection = await asyncio.wait_for(opening, timeout)
        except (asyncio.TimeoutError, TimeoutError) as err:
            raise httpcore.ConnectTimeout(str(err)) from err
        except OSError as err:
            raise httpcore.ConnectError(str(err) or type(err).__name__) from err
        self._open.add(connection)
        return connection

    def release(self, key: tuple, connection: _Connection) -> None:
        """Keep a connection whose answer was read to its end for the next request; close any other."""
        idle = self._idle.setdefault(key, [])
        room = self._max_idle is None or len(idle) < self._max_idle
        if connection.complete and not connection.closed and connection.keep_alive and room:
            connection._reset()
            connection.idle_since = time.monotonic()
            idle.append(connection)
        else:
            self._close(connection)

    def _close(self, connection: _Connection) -> None:
        self._open.discard(connection)
        if not connection.closed:
            connection.transport.close()

    async def aclose(self) -> None:
        for connection in list(self._open):
            self._close(connection)
        self._idle.clear()
        await self._fallback.aclose()

    async def __aenter__(self) -> None:  # httpx's transport enters its pool and keeps the transport
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def upstream_transport(*, verify: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """An httpx transport like `httpx.AsyncHTTPTransport(verify=verify, limits=limits)`, over the lean pool."""
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    # httpx offers no way to pass a pool of one's own; its transport calls `_pool` for every request.
    transport._pool = _LeanPool(transport._pool, limits)  # type: ignore[assignment]
    return transport
