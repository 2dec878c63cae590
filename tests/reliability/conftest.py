"""Shared pieces of the bad-input matrix: run the CLI in-process, snapshot earlier artifacts, assert one clean failure.

A failing command must exit 2 with one paragraph that names what was wrong, where and what to do, print no
traceback, and leave every artifact an earlier command wrote exactly as it was.

The fault tests' `stack` (a server over a FaultyOllama) is fault_stack.py's, offered here to the folder.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.package_folder import write_package
from tests.reliability.fault_stack import stack  # noqa: F401  (the server over a FaultyOllama, for the fault tests)
from tests.trainer.conftest import tiny_llama  # noqa: F401  (the session's tiny model, reused here)
from tests.trainer.helpers import write_qa_csv
from tunesmith import console
from tunesmith.cli import main


@dataclass(frozen=True)
class Outcome:
    code: int | str | None
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout and stderr with line breaks and runs of spaces folded, so wrapped words still match."""
        return " ".join(f"{self.out}\n{self.err}".split())


@pytest.fixture
def cli(capsys, monkeypatch):
    """`cli(*args)`: run `tunesmith ARGS` the way the console script does; return its exit code and output."""
    # Wide consoles: tables (lint) keep each problem on one line.
    monkeypatch.setattr(console.out, "_width", 400)
    monkeypatch.setattr(console.err, "_width", 400)

    def run(*args: str) -> Outcome:
        capsys.readouterr()
        with pytest.raises(SystemExit) as caught:
            main([str(arg) for arg in args])
            raise SystemExit(0)
        captured = capsys.readouterr()
        return Outcome(caught.value.code, captured.out, captured.err)

    return run


def assert_clean_failure(outcome: Outcome, *words: str) -> None:
    """Exit status 2, no traceback, and every one of `words` (what, where, what to do) in the message."""
    assert outcome.code == 2, f"exit {outcome.code}\n{outcome.out}\n{outcome.err}"
    assert "Traceback" not in outcome.out + outcome.err, outcome.err
    for word in words:
        assert word in outcome.text, f"{word!r} not in:\n{outcome.text}"


def snapshot(folder: Path) -> dict[str, tuple[str, int] | None]:
    """Every entry under `folder` (hidden ones too): files by content hash and mtime, folders by name; but not a
    run's status.json, which records how the last command ended (a failed one too), and is meant to change."""
    entries: dict[str, tuple[str, int] | None] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.name == "status.json":
            continue
        if path.is_file():
            entries[name] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        else:
            entries[name] = None
    return entries


@pytest.fixture(scope="session")
def prepared_original(tiny_llama, tmp_path_factory) -> Path:  # noqa: F811
    """A project folder whose run `qa` was prepared once: project/qa.csv and project/runs/qa/data/."""
    project = tmp_path_factory.mktemp("prepared")
    data = write_qa_csv(project / "qa.csv")
    code = _main(
        "prepare",
        "--base",
        tiny_llama,
        "--data",
        data,
        "--output-dir",
        project / "runs" / "qa",
        "--set",
        "name=qa",
        "--set",
        "train.max_seq_len=64",
    )
    assert code == 0 and (project / "runs" / "qa" / "data" / "train.jsonl").is_file()
    return project


@pytest.fixture
def project(prepared_original, tmp_path) -> Path:
    """A private copy of the prepared project (mtimes kept), with an adapter an earlier `train` left in the run."""
    copy = Path(shutil.copytree(prepared_original, tmp_path / "project"))
    adapter = copy / "runs" / "qa" / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8}\n')
    (adapter / "adapter_model.safetensors").write_bytes(b"earlier adapter weights")
    return copy


@pytest.fixture
def release(tmp_path) -> Path:
    """A folder holding an earlier package, release/pkg, as `tunesmith package` laid it out."""
    folder = tmp_path / "release"
    write_package(folder / "pkg")
    return folder


def _main(*args) -> int | str | None:
    try:
        main([str(arg) for arg in args])
    except SystemExit as exit_:
        return exit_.code
    return 0
