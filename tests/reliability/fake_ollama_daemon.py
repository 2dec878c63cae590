"""A fake Ollama daemon over real sockets for publishing: blobs, /api/create and /api/push in Ollama's shapes.

http.server in a thread of its own, so another process (a `tunesmith publish` the test starts and kills) talks to
it over TCP exactly as to `ollama serve`. It keeps a blob only when the whole body arrived and hashes to the digest
in its path, as Ollama does, and records every upload, create and push; it can stall an upload half-way so that a
test kills the client while the bytes are in flight.

Why a fake: the push half needs ollama.com, and the kill tests need a daemon that stalls a blob upload on cue; a
real Ollama does neither on demand (tests/ollama/ publishes to the real one).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_READ = 64 * 1024
_BLOBS = "/api/blobs/sha256:"


@dataclass
class Upload:
    """One POST of a blob: the digest it claimed, the bytes that arrived, what became of it."""

    digest: str
    expected: int | None
    received: int = 0
    outcome: str = "receiving"  # "stored", "partial" (the body ended early) or "mismatch" (wrong digest)


@dataclass
class FakeOllamaDaemon:
    """`stall_uploads_after`: when set, a blob upload stops reading after that many bytes until `resume` is set
    (`stalled` is set when it does), so a kill lands inside the upload."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)
    creates: list[dict] = field(default_factory=list)
    pushes: list[dict] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    stall_uploads_after: int | None = None
    stalled: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    _models: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stored_uploads(self, digest: str) -> list[Upload]:
        return [upload for upload in self.uploads if upload.digest == digest and upload.outcome == "stored"]

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeOllamaDaemon]:
        """Listen on a free port of 127.0.0.1 until the block ends; `url` says where."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.resume.set()
            server.shutdown()
            server.server_close()
            thread.join(10)


def _handler_for(daemon: FakeOllamaDaemon) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        fake = daemon

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeOllamaDaemon

    def log_message(self, format: str, *args: object) -> None:
        pass

    # --- answers -----------------------------------------------------------------------------------------------
    def _send_json(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _stream(self, parts: list[dict]) -> None:
        """An NDJSON status stream, chunked, one line per chunk as the daemon flushes them."""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in parts:
            line = json.dumps(part).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _json_body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    # --- routes ------------------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self.fake.requests.append(("GET", self.path))
        if self.path == "/api/version":
            self._send_json(200, {"version": "0.13.5"})
        else:
            self._send_json(404, {"error": f"no route {self.path}"})

    def do_HEAD(self) -> None:
        self.fake.requests.append(("HEAD", self.path))
        digest = self.path.removeprefix(_BLOBS)
        self._send_empty(200 if self.path.startswith(_BLOBS) and digest in self.fake.blobs else 404)

    def do_POST(self) -> None:
        self.fake.requests.append(("POST", self.path))
        if self.path.startswith(_BLOBS):
            self._receive_blob(self.path.removeprefix(_BLOBS))
        elif self.path == "/api/create":
            self._create(self._json_body())
        elif self.path == "/api/push":
            self._push(self._json_body())
        else:
            self._send_json(404, {"error": f"no route {self.path}"})

    def _receive_blob(self, digest: str) -> None:
        length = self.headers.get("Content-Length")
        upload = Upload(digest, int(length) if length is not None else None)
        self.fake.uploads.append(upload)
        hasher, chunks = hashlib.sha256(), []
        for chunk in self._body_chunks(upload.expected):
            stall = self.fake.stall_uploads_after
            if stall is not None and upload.received < stall <= upload.received + len(chunk):
                self.fake.stalled.set()
                self.fake.resume.wait(120)
            upload.received += len(chunk)
            hasher.update(chunk)
            chunks.append(chunk)
        if upload.expected is not None and upload.received < upload.expected:
            # The client went away mid-body: nothing to answer, and nothing is kept.
            upload.outcome = "partial"
            self.close_connection = True
            return
        if hasher.hexdigest() != digest:
            upload.outcome = "mismatch"
            self._send_json(400, {"error": "digest mismatch"})
            return
        with self.fake._lock:
            self.fake.blobs.setdefault(digest, b"".join(chunks))
        upload.outcome = "stored"
        self._send_empty(201)

    def _body_chunks(self, expected: int | None) -> Iterator[bytes]:
        """The request body as it arrives: Content-Length bytes, or a chunked body; ends early at EOF."""
        try:
            if expected is not None:
                left = expected
                while left and (chunk := self.rfile.read1(min(_READ, left))):
                    left -= len(chunk)
                    yield chunk
                return
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                yield self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        except (ConnectionError, ValueError):
            return

    def _create(self, request: dict) -> None:
        self.fake.creates.append(request)
        layers = [*request.get("files", {}).values(), *request.get("adapters", {}).values()]
        missing = [layer for layer in layers if layer.removeprefix("sha256:") not in self.fake.blobs]
        if not layers or missing:
            self._send_json(400, {"error": f"no blob for {', '.join(missing) or 'any file'}: upload it first"})
            return
        self.fake._models[request["model"]] = layers
        self._stream(
            [
                {"status": "parsing GGUF"},
                *({"status": f"using existing layer {layer}"} for layer in layers),
                {"status": "writing manifest"},
                {"status": "success"},
            ]
        )

    def _push(self, request: dict) -> None:
        self.fake.pushes.append(request)
        layers = self.fake._models.get(request["model"])
        if layers is None:
            self._send_json(404, {"error": f"model '{request['model']}' not found"})
            return
        parts: list[dict] = [{"status": "retrieving manifest"}]
        for layer in layers:
            total = len(self.fake.blobs[layer.removeprefix("sha256:")])
            label = f"pushing {layer.removeprefix('sha256:')[:12]}"
            parts += [
                {"status": label, "digest": layer, "total": total, "completed": done} for done in (0, total // 2, total)
            ]
        self._stream([*parts, {"status": "pushing manifest"}, {"status": "success"}])
