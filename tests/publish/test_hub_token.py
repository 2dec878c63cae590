"""Publishing to the Hugging Face Hub, against test_hub.py's fake, for the token and the Hub's failures: the token
goes to the Hub only, never to the storage URLs, and is never logged, printed or raised; without one, nothing is
sent; a refusal, a server error or a broken connection becomes a PublishError that says what to do.
"""

from __future__ import annotations

import hashlib
import logging

import httpx2
import pytest
from huggingface_hub import constants as hub_constants

from tests.publish.test_hub import REPO, TOKEN
from tunesmith.errors import PublishError
from tunesmith.publish import publish_to_hf

# The Hub's own host: the only one that may see the token.
HUB = "huggingface.co"


def test_the_token_goes_to_the_hub_only_never_to_the_storage_urls(hub, package):
    publish_to_hf(package, REPO)
    for request in hub.requests:
        sent = request.headers.get("authorization")
        if request.url.host == HUB:
            assert sent == f"Bearer {TOKEN}"
        else:
            assert sent is None and TOKEN not in str(request.headers)


@pytest.mark.parametrize(
    ("where", "failure", "words"),
    [
        (("POST", "/api/repos/create"), 401, "did not accept the token"),
        (("POST", "/api/repos/create"), 403, "may not write to alice/demo-GGUF"),
        (("POST", f"/api/models/{REPO}/commit/main"), 500, "the Hub answered 500"),
        (
            ("POST", f"/api/models/{REPO}/commit/main"),
            httpx2.ConnectError("connection reset by peer"),
            "the connection to the Hub broke (ConnectError: connection reset by peer)",
        ),
        (("PUT", f"/upload/{'0' * 64}"), httpx2.ReadTimeout("timed out"), "the upload stopped"),
    ],
    ids=["401", "403", "500", "network", "storage"],
)
def test_hub_failures_become_publish_errors_that_say_what_to_do(hub, package, monkeypatch, where, failure, words):
    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", lambda seconds: None)  # its retries, at once
    if where[0] == "PUT":  # the storage URL of the first GGUF
        where = ("PUT", f"/upload/{hashlib.sha256((package / 'demo-Q4_K_M.gguf').read_bytes()).hexdigest()}")
    hub.fail[where] = failure
    with pytest.raises(PublishError) as caught:
        publish_to_hf(package, REPO)
    message = str(caught.value)
    assert words in message
    assert "https://huggingface.co/alice/demo-GGUF" in message
    assert ("hf auth login" in message) if failure == 401 else True
    assert ("Re-run" in message) if words.startswith(("the Hub answered", "the upload", "the connection")) else True
    assert TOKEN not in message


def test_no_token_fails_before_any_request(hub, package, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(hub_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    with pytest.raises(PublishError, match="not signed in to the Hugging Face Hub.*HF_TOKEN.*hf auth login"):
        publish_to_hf(package, REPO)
    assert hub.requests == []


def test_the_token_is_never_logged_printed_or_raised(hub, package, monkeypatch, caplog, capsys):
    monkeypatch.setattr(hub_constants, "HF_DEBUG", True)  # huggingface_hub then logs each request as curl
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")
    publish_to_hf(package, REPO)
    hub.fail[("POST", "/api/repos/create")] = 401
    with pytest.raises(PublishError) as caught:
        publish_to_hf(package, REPO)
    out, err = capsys.readouterr()
    assert "Authorization" in caplog.text or "authorization" in caplog.text  # the curl lines were logged
    for text in (caplog.text, out, err, str(caught.value), repr(caught.value)):
        assert TOKEN not in text
