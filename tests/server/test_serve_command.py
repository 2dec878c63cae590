"""`tunesmith serve` as a user starts it: a real process on a free port, keys from the environment, never logged."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from click.testing import CliRunner

from tunesmith.cli import cli
from tunesmith.embedded_base import embedded_gguf_path


def test_help_explains_backends_keys_and_settings():
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for words in ("--ollama", "--model", "--api-key", "TUNESMITH_API_KEYS", "serve:", "/health"):
        assert words in result.output


def test_nothing_to_serve_is_a_clear_error(tmp_path):
    # In a folder without runs/, with no Ollama URL and no package folder.
    result = subprocess.run(
        [sys.executable, "-m", "tunesmith", "serve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "TUNESMITH_SERVE_OLLAMA": "", "TUNESMITH_SERVE_MODELS": ""},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "nothing to serve" in result.stderr and "--runs DIR" in result.stderr


def test_serve_runs_a_package_with_keys_from_the_environment(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    os.link(embedded_gguf_path(), package / "tiny-Q4_1.gguf")
    (package / "Modelfile").write_text("FROM ./tiny-Q4_1.gguf\nPARAMETER temperature 0\nPARAMETER num_ctx 512\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "sk-tunesmith-do-not-log"
    process = subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "serve", "--model", str(package), "--port", str(port), "--threads", "1"],
        env={**os.environ, "TUNESMITH_API_KEYS": f"{secret},sk-other"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        body = {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}
        assert httpx.post(f"{base}/v1/chat/completions", json=body).status_code == 401
        answer = httpx.post(
            f"{base}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {secret}"}, timeout=60
        )
        assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] >= 1
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "serving on" in output and secret not in output
    assert '"status": 401' in output and '"status": 200' in output
