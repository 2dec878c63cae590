"""`tunesmith package` killed with SIGKILL mid-way: nothing half-written at --out (or the previous package intact
under --force), and the same command run again resumes from the f16 GGUF and finishes a package llama.cpp loads.

SIGKILL leaves no chance to clean up, so this is the promise of write-then-rename, not of exception handlers
(tests/packager/test_package.py covers those in-process).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.kill import kill_when
from tunesmith.modelfiles import parse_modelfile

# A SentencePiece family with a 600-token vocabulary: the quality step, which dominates, stays at seconds.
FAMILY = "mistral"


def _command(base: Path, out: Path, eval_text: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tunesmith",
        "package",
        "--base",
        str(base),
        "--out",
        str(out),
        "--quant",
        "Q8_0",
        "--eval-text",
        str(eval_text),
        *extra,
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def _assembling(out: Path) -> bool:
    """The package folder is being written under its temporary name (the f16 GGUF exists by then)."""
    return any(out.parent.glob(f".{out.name}.*.partial"))


def _kill_while_assembling(command: list[str], out: Path) -> None:
    process = kill_when(command, lambda: _assembling(out), timeout=240, env=_env())
    assert process.returncode == -signal.SIGKILL, "the package finished before it could be killed"


def _digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def _run(command: list[str]) -> str:
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout + done.stderr


def _assert_valid_package(out: Path, system: str | None = None) -> None:
    from llama_cpp import Llama

    assert sorted(path.name for path in out.iterdir()) == ["Modelfile", "README.md", "pkg-Q8_0.gguf", "quality.json"]
    modelfile = parse_modelfile((out / "Modelfile").read_text(), source=str(out / "Modelfile"))
    assert modelfile.from_ == "./pkg-Q8_0.gguf" and modelfile.system == system
    assert json.loads((out / "quality.json").read_text())["checks"]
    llm = Llama(model_path=str(out / "pkg-Q8_0.gguf"), n_ctx=64, n_threads=1, verbose=False)
    tokens = llm.tokenize(b"Fine-tuning a small model")
    llm.eval(tokens)
    assert llm.n_tokens == len(tokens) > 0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_killed_package_leaves_no_half_package_and_the_same_command_resumes(tiny_model, tmp_path):
    base = tiny_model(FAMILY)
    out = tmp_path / "pkg"
    eval_text = tmp_path / "heldout.txt"
    eval_text.write_text("Weights, tokenizers and templates must agree, or the model speaks nonsense.\n")
    command = _command(base, out, eval_text)

    _kill_while_assembling(command, out)
    assert not out.exists(), "a half-written package sits at --out"
    [f16] = (tmp_path / ".pkg.work").glob("*/model-f16.gguf")
    assert f16.stat().st_size > 0

    log = _run(command)
    assert "Writing model-f16.gguf" not in log, "the f16 GGUF of the killed run was written again"
    _assert_valid_package(out)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["heldout.txt", "pkg"], "leftovers beside --out"

    # Replacing a good package: a kill mid-way leaves the old one as it was, byte for byte.
    before = _digests(out)
    again = _command(base, out, eval_text, "--force", "--system", "Answer in one line.")
    _kill_while_assembling(again, out)
    assert _digests(out) == before
    _run(again)
    _assert_valid_package(out, system="Answer in one line.")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["heldout.txt", "pkg"], "leftovers beside --out"
