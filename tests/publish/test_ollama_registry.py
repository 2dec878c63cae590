"""Publishing to the Ollama registry through the daemon's HTTP API, answered by pytest-httpx with Ollama's shapes.

Why a fake: the push to ollama.com cannot succeed here, and refused or broken daemon answers are needed on demand
(tests/ollama/test_publish.py creates in the real daemon).
"""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from tests.fixtures.package_folder import CREATE_VALUES, write_adapter_package, write_package
from tests.fixtures.progress import RecordingProgress
from tunesmith.errors import PublishError
from tunesmith.publish import publish_to_ollama

DAEMON = "http://127.0.0.1:11434"
NAME = "alice/demo:latest"


def ndjson(*parts: dict) -> bytes:
    return b"".join(json.dumps(part).encode() + b"\n" for part in parts)


@pytest.fixture
def package(tmp_path):
    return write_package(tmp_path / "demo")


@pytest.fixture
def digest(package):
    return hashlib.sha256((package / "demo-Q4_K_M.gguf").read_bytes()).hexdigest()


def _daemon(httpx_mock, digest, *, has_blob=False, push=None, create=None):
    httpx_mock.add_response(method="GET", url=f"{DAEMON}/api/version", json={"version": "0.13.5"})
    httpx_mock.add_response(
        method="HEAD", url=f"{DAEMON}/api/blobs/sha256:{digest}", status_code=200 if has_blob else 404
    )
    if not has_blob:
        httpx_mock.add_response(method="POST", url=f"{DAEMON}/api/blobs/sha256:{digest}", status_code=201)
    httpx_mock.add_response(
        method="POST",
        url=f"{DAEMON}/api/create",
        content=create
        or ndjson(
            {"status": "parsing GGUF"},
            {"status": f"using existing layer sha256:{digest}"},
            {"status": "creating new layer sha256:" + "1" * 64},
            {"status": "writing manifest"},
            {"status": "success"},
        ),
    )
    if push is not None:
        httpx_mock.add_response(method="POST", url=f"{DAEMON}/api/push", content=push)


def _push_ok(digest: str, size: int) -> bytes:
    layer = "sha256:" + digest
    return ndjson(
        {"status": "retrieving manifest"},
        {"status": f"pushing {digest[:12]}", "digest": layer, "total": size, "completed": 0},
        {"status": f"pushing {digest[:12]}", "digest": layer, "total": size, "completed": size // 2},
        {"status": f"pushing {digest[:12]}", "digest": layer, "total": size, "completed": size},
        {"status": "pushing 2222", "digest": "sha256:" + "2" * 64, "total": 120, "completed": 120},
        {"status": "pushing manifest"},
        {"status": "success"},
    )


def test_publish_sends_the_blob_creates_from_the_modelfile_and_pushes(httpx_mock, package, digest):
    gguf = (package / "demo-Q4_K_M.gguf").read_bytes()
    _daemon(httpx_mock, digest, push=_push_ok(digest, len(gguf)))
    progress = RecordingProgress()

    assert publish_to_ollama(package, "alice/demo", progress=progress) == "https://ollama.com/alice/demo"

    calls = [(request.method, request.url.path) for request in httpx_mock.get_requests()]
    assert calls == [
        ("GET", "/api/version"),
        ("HEAD", f"/api/blobs/sha256:{digest}"),
        ("POST", f"/api/blobs/sha256:{digest}"),
        ("POST", "/api/create"),
        ("POST", "/api/push"),
    ]
    blob, create, push = httpx_mock.get_requests()[2:]
    assert blob.content == gguf and blob.headers["content-length"] == str(len(gguf))
    assert json.loads(create.content) == {
        "model": NAME,
        "stream": True,
        "files": {"demo-Q4_K_M.gguf": f"sha256:{digest}"},
        **CREATE_VALUES,
    }
    assert json.loads(push.content) == {"model": NAME, "insecure": False, "stream": True}
    bars = {task["description"]: (task["done"], task["total"]) for task in progress.tasks}
    assert bars["copying demo-Q4_K_M.gguf to Ollama"] == (len(gguf), len(gguf))
    assert bars[f"pushing {digest[:12]}"] == (len(gguf), len(gguf))
    assert bars["pushing 222222222222"] == (120, 120)


def test_a_blob_the_daemon_has_is_not_sent_again(httpx_mock, package, digest):
    _daemon(httpx_mock, digest, has_blob=True)
    progress = RecordingProgress()
    assert publish_to_ollama(package, "alice/demo:q4", push=False, progress=progress) == "alice/demo:q4"
    methods = [(request.method, request.url.path) for request in httpx_mock.get_requests()]
    assert ("POST", f"/api/blobs/sha256:{digest}") not in methods and ("POST", "/api/push") not in methods
    assert any("already has demo-Q4_K_M.gguf" in note for note in progress.notes)


def test_a_push_cut_by_the_network_says_rerun_and_the_rerun_resumes(httpx_mock, package, digest):
    size = (package / "demo-Q4_K_M.gguf").stat().st_size
    layer = "sha256:" + digest
    _daemon(
        httpx_mock,
        digest,
        push=ndjson(
            {"status": "retrieving manifest"},
            {"status": f"pushing {digest[:12]}", "digest": layer, "total": size, "completed": size // 3},
            {"error": "max retries exceeded: write tcp 10.0.0.2:51234->34.1.2.3:443: connection reset by peer"},
        ),
    )
    with pytest.raises(PublishError) as caught:
        publish_to_ollama(package, NAME)
    assert "the push stopped on a network error" in str(caught.value)
    assert "Re-run the same command" in str(caught.value)

    first = len(httpx_mock.get_requests())
    _daemon(httpx_mock, digest, has_blob=True, push=_push_ok(digest, size))
    assert publish_to_ollama(package, NAME) == "https://ollama.com/alice/demo"
    rerun = [(request.method, request.url.path) for request in httpx_mock.get_requests()[first:]]
    assert rerun == [
        ("GET", "/api/version"),
        ("HEAD", f"/api/blobs/sha256:{digest}"),
        ("POST", "/api/create"),
        ("POST", "/api/push"),
    ]


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("unauthorized: access denied", "ollama.com refused the push"),
        ('401: {"errors":[{"code":"UNAUTHORIZED"}]}', "ollama.com refused the push"),
    ],
)
def test_a_push_refused_for_want_of_sign_in_says_how_to_sign_in(httpx_mock, package, digest, error, words):
    _daemon(httpx_mock, digest, push=ndjson({"status": "retrieving manifest"}, {"error": error}))
    with pytest.raises(PublishError) as caught:
        publish_to_ollama(package, NAME)
    message = str(caught.value)
    assert words in message and "ollama signin" in message and "https://ollama.com/settings/keys" in message


def test_a_daemon_that_is_not_running_is_named_with_how_to_start_it(httpx_mock, package):
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"), url=f"{DAEMON}/api/version")
    with pytest.raises(PublishError) as caught:
        publish_to_ollama(package, NAME)
    assert "no Ollama daemon answers at http://127.0.0.1:11434" in str(caught.value)
    assert "ollama serve" in str(caught.value)


def test_the_host_option_is_where_every_request_goes(httpx_mock, package, digest):
    httpx_mock.add_response(method="GET", url="http://gpu-box:9999/api/version", json={"version": "0.13.5"})
    httpx_mock.add_response(method="HEAD", url=f"http://gpu-box:9999/api/blobs/sha256:{digest}")
    httpx_mock.add_response(method="POST", url="http://gpu-box:9999/api/create", content=ndjson({"status": "success"}))
    assert publish_to_ollama(package, NAME, host="gpu-box:9999", push=False) == NAME


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("supplied file was not in GGUF format", "Ollama answered: supplied file was not in GGUF format"),
        ("path or Modelfile are required", "too old for creating models from blobs.*Update Ollama"),
    ],
)
def test_create_refused_by_the_daemon_reports_its_reason(httpx_mock, package, digest, error, words):
    httpx_mock.add_response(method="GET", url=f"{DAEMON}/api/version", json={"version": "0.13.5"})
    httpx_mock.add_response(method="HEAD", url=f"{DAEMON}/api/blobs/sha256:{digest}")
    httpx_mock.add_response(method="POST", url=f"{DAEMON}/api/create", status_code=400, json={"error": error})
    with pytest.raises(PublishError, match=words):
        publish_to_ollama(package, NAME)


def test_a_push_stream_that_ends_without_success_is_an_error(httpx_mock, package, digest):
    _daemon(httpx_mock, digest, has_blob=True, push=ndjson({"status": "retrieving manifest"}))
    with pytest.raises(PublishError, match="ended without success.*retrieving manifest.*Re-run"):
        publish_to_ollama(package, NAME)


def test_a_bad_name_fails_before_any_request(httpx_mock, package):
    with pytest.raises(PublishError, match="has no namespace"):
        publish_to_ollama(package, "demo")
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize("daemon_has_adapter", [False, True], ids=["new adapter", "adapter already in the daemon"])
def test_an_adapter_package_sends_both_blobs_and_creates_with_files_and_adapters(
    httpx_mock, tmp_path, daemon_has_adapter
):
    folder = write_adapter_package(tmp_path / "demo")
    base_bytes, adapter_bytes = (
        (folder / name).read_bytes() for name in ("demo-base-Q4_K_M.gguf", "demo-adapter-F16.gguf")
    )
    base, adapter = hashlib.sha256(base_bytes).hexdigest(), hashlib.sha256(adapter_bytes).hexdigest()
    httpx_mock.add_response(method="GET", url=f"{DAEMON}/api/version", json={"version": "0.13.5"})
    for digest, held in ((base, False), (adapter, daemon_has_adapter)):
        httpx_mock.add_response(
            method="HEAD", url=f"{DAEMON}/api/blobs/sha256:{digest}", status_code=200 if held else 404
        )
        if not held:
            httpx_mock.add_response(method="POST", url=f"{DAEMON}/api/blobs/sha256:{digest}", status_code=201)
    httpx_mock.add_response(method="POST", url=f"{DAEMON}/api/create", content=ndjson({"status": "success"}))
    httpx_mock.add_response(method="POST", url=f"{DAEMON}/api/push", content=_push_ok(base, len(base_bytes)))

    assert publish_to_ollama(folder, "alice/demo") == "https://ollama.com/alice/demo"

    requests = httpx_mock.get_requests()
    sent = [
        ("HEAD", f"/api/blobs/sha256:{base}"),
        ("POST", f"/api/blobs/sha256:{base}"),
        ("HEAD", f"/api/blobs/sha256:{adapter}"),
    ]
    if not daemon_has_adapter:
        sent.append(("POST", f"/api/blobs/sha256:{adapter}"))
    assert [(request.method, request.url.path) for request in requests] == [
        ("GET", "/api/version"),
        *sent,
        ("POST", "/api/create"),
        ("POST", "/api/push"),
    ]
    blobs = {
        request.url.path: request.content
        for request in requests
        if request.url.path.startswith("/api/blobs") and request.method == "POST"
    }
    assert blobs[f"/api/blobs/sha256:{base}"] == base_bytes
    if not daemon_has_adapter:
        assert blobs[f"/api/blobs/sha256:{adapter}"] == adapter_bytes
    # As `ollama create -f Modelfile` sends it: the base under `files`, the LoRA under `adapters`.
    assert json.loads(requests[-2].content) == {
        "model": NAME,
        "stream": True,
        "files": {"demo-base-Q4_K_M.gguf": f"sha256:{base}"},
        "adapters": {"demo-adapter-F16.gguf": f"sha256:{adapter}"},
        **CREATE_VALUES,
    }


def test_a_daemon_that_dies_during_the_push_says_rerun(httpx_mock, package, digest):
    _daemon(httpx_mock, digest, has_blob=True)
    httpx_mock.add_exception(
        httpx.RemoteProtocolError("peer closed connection without sending complete message"), url=f"{DAEMON}/api/push"
    )
    with pytest.raises(PublishError) as caught:
        publish_to_ollama(package, NAME)
    assert "the connection to the Ollama daemon broke (RemoteProtocolError: peer closed" in str(caught.value)
    assert "Re-run the same command" in str(caught.value)
