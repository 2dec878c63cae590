"""`tunesmith publish` as a user runs it: results on stdout, errors as one paragraph with status 2, no token shown.

Why fakes: the Hub and ollama.com cannot be reached from here (tests/ollama/test_publish.py creates in the real
daemon).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest
from huggingface_hub import constants as hub_constants

from tests.fixtures.package_folder import write_package
from tests.publish.test_hub import REPO, TOKEN, hub  # noqa: F401  (the fake Hub fixture)
from tests.publish.test_ollama_registry import _daemon, _push_ok, ndjson
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


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "nothing to publish to"),
        (("--ollama", "demo"), "has no namespace"),
        (("--hf", "alice"), "is not a Hugging Face repo id"),
    ],
)
def test_bad_invocations_exit_2_with_one_paragraph(package, capsys, args, words):
    assert _run(str(package), *args) == 2
    err = capsys.readouterr().err
    assert words in err.replace("\n", " ") and "Traceback" not in err


def test_a_missing_package_is_named(tmp_path, capsys):
    assert _run(str(tmp_path / "nope"), "--ollama", "alice/demo") == 2
    assert "the package folder does not exist" in capsys.readouterr().err


def test_with_hf_token_set_nothing_printed_logged_or_raised_holds_it(
    hub,  # noqa: F811 (the fake Hub fixture)
    package,
    capsys,
    caplog,
    monkeypatch,
):
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


# Publishing needs no web server: the command, its help and a run through both services import no Litestar.
_WITHOUT_A_WEB_SERVER = textwrap.dedent("""
    import json, sys
    from tunesmith.cli import main

    codes = []
    for args in sys.argv[1:]:
        try:
            main(json.loads(args))
        except SystemExit as exit:
            codes.append(exit.code)
        else:
            codes.append(0)
    print(json.dumps({"codes": codes, "web": sorted(name for name in sys.modules
                                                    if name.split(".")[0] in ("litestar", "uvicorn"))}))
""")


def test_publish_imports_no_web_server(package, tmp_path):
    runs = [
        ["publish", "--help"],
        ["run", "--help"],
        # No token: the Hub run stops after huggingface_hub is imported; no daemon: the Ollama run after hashing.
        ["publish", str(package), "--hf", REPO],
        ["publish", str(package), "--ollama", "alice/demo", "--ollama-host", "127.0.0.1:9"],
    ]
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}
    env.pop("HF_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_A_WEB_SERVER, *map(json.dumps, runs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {"codes": [0, 0, 2, 2], "web": []}, done.stderr
    assert "not signed in to the Hugging Face Hub" in done.stderr
    assert "no Ollama daemon answers at http://127.0.0.1:9" in done.stderr
