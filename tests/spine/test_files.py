"""Atomic artifacts: whole or absent, never half-written, and with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from tunesmith.files import atomic_dir, atomic_file, write_text_atomic


def test_atomic_file_replaces_only_on_success(tmp_path):
    target = tmp_path / "report.json"
    write_text_atomic(target, "good")
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_atomic_dir_swaps_in_a_complete_folder_and_keeps_the_old_one_on_failure(tmp_path):
    target = tmp_path / "package"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target, replace=True) as tmp:
        (tmp / "b").write_text("2")
        raise RuntimeError("crash")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with atomic_dir(target, replace=True) as tmp:
        (tmp / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["package"]


def test_artifacts_get_the_permissions_of_ordinary_files(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "f", "x")
        with atomic_dir(tmp_path / "d"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_write_removes_what_a_killed_writer_left_and_keeps_what_a_live_one_writes(tmp_path):
    target = tmp_path / "package"
    dead_dir = tmp_path / f".package.{_dead_pid()}.abc123.partial"
    (dead_dir / "sub").mkdir(parents=True)
    (dead_dir / "sub" / "half.gguf").write_bytes(b"GGUF")
    dead_file = tmp_path / f".model.gguf.{_dead_pid()}.xyz.partial"
    dead_file.write_bytes(b"GGUF")
    live = tmp_path / f".package.{os.getppid()}.def456.partial"
    live.mkdir()
    other = tmp_path / ".package.notapid.partial"  # not ours to judge
    other.mkdir()
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with atomic_file(tmp_path / "model.gguf") as tmp:
        tmp.write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, "model.gguf", "package"])
