"""The studio page's routes: the page and its files are served as they are installed, /studio/info says how the
page is guarded, and without API keys the page and the routes that start or cancel work answer this machine only.

The page itself is tested in a real browser (tests/studio/).
"""

from __future__ import annotations

import pytest
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException

from tunesmith.server.auth import is_loopback, loopback_guard

KEY = "sk-studio"


def test_the_page_and_its_files_are_served_with_their_types(serve_ollama):
    client = serve_ollama({"http://upstream:11434": ["llama3.2"]})
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/studio/app.js">' in page.text
    script = client.get("/studio/app.js")
    assert script.headers["content-type"].startswith("text/javascript") and "import" in script.text
    assert client.get("/studio/studio.css").headers["content-type"].startswith("text/css")
    missing = client.get("/studio/nothing.js")
    assert missing.status_code == 404 and "the studio has no file 'nothing.js'" in missing.json()["error"]["message"]


@pytest.mark.parametrize(("keys", "info"), [((), (False, True)), ((KEY,), (True, False))], ids=["no keys", "keys"])
def test_studio_info_says_whether_keys_guard_the_server(serve_ollama, keys, info):
    client = serve_ollama({"http://upstream:11434": ["llama3.2"]}, api_keys=keys)
    body = client.get("/studio/info").json()
    assert (body["keys"], body["loopback_only"]) == info and body["version"]
    # The page itself is never behind the key: it asks for one when /v1 answers 401.
    assert client.get("/").status_code == 200
    assert client.get("/v1/models").status_code == (401 if keys else 200)


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        (None, True),
        ("testclient", True),
        ("192.168.1.20", False),
        ("10.0.0.2", False),
        ("::ffff:192.168.1.20", False),
        ("2001:db8::1", False),
    ],
)
def test_is_loopback(host, local):
    assert is_loopback(host) is local


def _connection(path: str, method: str = "GET", host: str = "192.168.1.20") -> ASGIConnection:
    scope = {"type": "http", "path": path, "method": method, "headers": [], "client": (host, 5000), "query_string": b""}
    return ASGIConnection(scope)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "path", "refused"),
    [
        ("GET", "/", True),
        ("GET", "/studio/app.js", True),
        ("GET", "/studio/info", True),
        ("POST", "/v1/runs", True),
        ("POST", "/v1/runs/demo/package", True),
        ("POST", "/v1/publish", True),
        ("POST", "/v1/jobs/job_1/cancel", True),
        ("GET", "/v1/runs", False),
        ("GET", "/v1/jobs", False),
        ("POST", "/v1/chat/completions", False),
        ("GET", "/health", False),
    ],
)
def test_without_keys_the_page_and_work_routes_refuse_other_machines(method, path, refused):
    guard = loopback_guard()
    assert guard(_connection(path, method, host="127.0.0.1"), None) is None  # type: ignore[arg-type]
    if not refused:
        assert guard(_connection(path, method), None) is None  # type: ignore[arg-type]
        return
    with pytest.raises(PermissionDeniedException, match="start it with --api-key KEY"):
        guard(_connection(path, method), None)  # type: ignore[arg-type]
