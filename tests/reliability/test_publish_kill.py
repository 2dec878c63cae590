"""`tunesmith publish --ollama` killed with SIGKILL while the GGUF is on its way to the daemon: the same command run
again finishes, the daemon ends with each blob once and whole, creates the model from the Modelfile's values and
pushes it, and the package folder is as the packager left it.

The daemon is a fake over real sockets (tests/reliability/fake_ollama_daemon.py) in Ollama's shapes; the package is
a real one, written by the packager from a tiny Llama.

Why a fake: the daemon must stall the upload at a chosen byte so the kill lands mid-blob, and the push must succeed
without ollama.com.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.kill import kill_when
from tests.reliability.fake_ollama_daemon import FakeOllamaDaemon
from tests.reliability.fault_upstream import wait_for
from tunesmith.modelfiles import parse_modelfile
from tunesmith.packager.package import PackageSpec, build_package

NAME = "alice/tiny:v1"
SYSTEM = "Answer in one word."
# Stop reading the upload here; the F16 GGUF of the tiny Llama (a 49152-token embedding) is several times larger
# than this plus what the two sockets' kernel buffers can hold, so the body stays incomplete when the client dies.
STALL_AT = 256 * 1024


@pytest.fixture(scope="module")
def package(tiny_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("publish-kill") / "package"
    build_package(
        PackageSpec(
            base=tiny_model("llama"),
            out=out,
            name="tiny",
            quants=["F16"],
            system=SYSTEM,
            parameters={"temperature": 0.3, "num_ctx": 256},
        )
    )
    return out


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        path.name: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(folder.iterdir())
    }


def _command(package: Path) -> list[str]:
    return [sys.executable, "-m", "tunesmith", "publish", str(package), "--ollama", NAME]


def _env(daemon: FakeOllamaDaemon) -> dict[str, str]:
    return {**os.environ, "OLLAMA_HOST": daemon.url, "COLUMNS": "200"}


@pytest.mark.timeout(300)
def test_a_publish_killed_mid_upload_is_finished_by_the_same_command(package):
    gguf = package / "tiny-F16.gguf"
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    size = gguf.stat().st_size
    assert size > 4 * STALL_AT, f"the GGUF ({size} bytes) is too small for the kill to land inside its upload"
    before = _snapshot(package)

    with FakeOllamaDaemon(stall_uploads_after=STALL_AT).running() as daemon:
        process = kill_when(
            _command(package), daemon.stalled.is_set, timeout=120, env=_env(daemon), stderr=subprocess.PIPE
        )
        stalled = daemon.stalled.is_set()
        _, killed_err = process.communicate(timeout=30)
        assert stalled and process.returncode == -signal.SIGKILL, killed_err.decode()[-2000:]
        daemon.resume.set()
        assert wait_for(lambda: daemon.uploads[0].outcome != "receiving", 30)
        [cut] = daemon.uploads
        assert cut.digest == digest and cut.outcome == "partial" and STALL_AT <= cut.received < size
        assert daemon.blobs == {} and daemon.creates == [] and daemon.pushes == []

        daemon.stall_uploads_after = None
        again = subprocess.run(
            _command(package), env=_env(daemon), capture_output=True, text=True, timeout=240, check=False
        )
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        assert "https://ollama.com/alice/tiny:v1" in again.stdout

    # The half body was never taken as the blob: the whole file was sent again and kept once, under its digest.
    assert daemon.blobs == {digest: gguf.read_bytes()}
    assert [(u.digest, u.outcome, u.received) for u in daemon.uploads] == [
        (digest, "partial", cut.received),
        (digest, "stored", size),
    ]
    assert daemon.requests.count(("HEAD", f"/api/blobs/sha256:{digest}")) == 2

    modelfile = parse_modelfile((package / "Modelfile").read_text(), source="Modelfile")
    assert modelfile.from_ == "./tiny-F16.gguf" and modelfile.system == SYSTEM and modelfile.template
    [create] = daemon.creates
    assert create["model"] == NAME and create["files"] == {"tiny-F16.gguf": f"sha256:{digest}"}
    assert create["template"] == modelfile.template and create["system"] == SYSTEM
    assert create["parameters"] == modelfile.parameters
    assert create["parameters"]["temperature"] == 0.3 and create["parameters"]["num_ctx"] == 256
    assert create["parameters"]["stop"], "the chat family's stop tokens reach Ollama"
    assert [push["model"] for push in daemon.pushes] == [NAME]

    assert _snapshot(package) == before, "publishing changed or left something in the package folder"
