"""`tunesmith publish` as a user runs it: results on stdout, errors as one paragraph with status 2, no token shown.

Why fakes: the Hub and ollama.com cannot be reached from here (tests/ollama/test_publish.py creates in the real
daemon).
"""

from __future__ import annotations

import hashlib
import logging

import pytest
from huggingface_hub import constants as hub_constants

from tests.server.test_publish_hub import REPO, TOKEN, hub  # noqa: F401  (the fake Hub fixture)
from tests.server.test_publish_ollama import _daemon, _push_ok, ndjson
from tests.server.test_publish_package import write_package
from tunesmith.cli import main


@pytest.fixture
def package(tmp_path):
    return write_package(tmp_path / "demo")


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as caught:
        main(["publish", *args])
        raise SystemExit(0)
    return caught.value.code


def test_publish_to_both_prints_where_and_how_to_run(hub, package, httpx_mock, capsys):  # noqa: F811
    digest = hashlib.sha256((package / "demo-Q4_K_M.gguf").read_bytes()).hexdigest()
    _daemon(httpx_mock, digest, push=_push_ok(digest, 10))
    assert _run(str(package), "--hf", REPO, "--ollama", "alice/demo") == 0
    out = capsys.readouterr().out
    assert f"Hugging Face: https://huggingface.co/{REPO}" in out
    assert f"ollama run hf.co/{REPO}" in out and "huggingface.co/settings/keys" in out
    assert "Ollama registry: https://ollama.com/alice/demo" in out
    assert hub.repos[REPO]["visibility"] == "private"


def test_the_ollama_host_flag_and_no_push(package, httpx_mock, capsys, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:9999")
    digest = hashlib.sha256((package / "demo-Q4_K_M.gguf").read_bytes()).hexdigest()
    httpx_mock.add_response(method="GET", url="http://gpu-box:9999/api/version", json={"version": "0.13.5"})
    httpx_mock.add_response(method="HEAD", url=f"http://gpu-box:9999/api/blobs/sha256:{digest}")
    httpx_mock.add_response(method="POST", url="http://gpu-box:9999/api/create", content=ndjson({"status": "success"}))
    assert _run(str(package), "--ollama", "alice/demo:q4", "--no-push") == 0
    assert "Ollama (local): alice/demo:q4" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "words"), [
    ((), "nothing to publish to"),
    (("--ollama", "demo"), "has no namespace"),
    (("--hf", "alice"), "is not a Hugging Face repo id"),
])
def test_bad_invocations_exit_2_with_one_paragraph(package, capsys, args, words):
    assert _run(str(package), *args) == 2
    err = capsys.readouterr().err
    assert words in err.replace("\n", " ") and "Traceback" not in err


def test_a_missing_package_is_named(tmp_path, capsys):
    assert _run(str(tmp_path / "nope"), "--ollama", "alice/demo") == 2
    assert "the package folder does not exist" in capsys.readouterr().err


def test_with_hf_token_set_nothing_printed_logged_or_raised_holds_it(hub, package, capsys, caplog,  # noqa: F811
                                                                     monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_DEBUG", True)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")
    assert _run(str(package), "--hf", REPO) == 0
    hub.fail[("POST", "/api/repos/create")] = 403
    assert _run(str(package), "--hf", REPO) == 2
    out, err = capsys.readouterr()
    assert "may not write to alice/demo-GGUF" in err.replace("\n", " ")
    assert "curl" in caplog.text  # huggingface_hub did log every request, headers included
    for text in (out, err, caplog.text):
        assert TOKEN not in text
