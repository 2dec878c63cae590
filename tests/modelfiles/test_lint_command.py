"""`tunesmith lint FILE` as a user runs it: a table of issues, exit 0 when clean, 2 when there are errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tunesmith", "lint", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_lint_exits_2_and_prints_each_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_text("FROM ./m.gguf\nPARAMETER temprature 0.3\nPARAMETER stop <|im_end|> # end of turn\n")
    result = _lint(path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    rows = [line for line in result.stdout.splitlines() if "error" in line and "│" in line]
    assert "2" in rows[0].split("│")[1] and "did you mean temperature?" in rows[0]
    assert "3" in rows[1].split("│")[1] and "holds a '#'" in rows[1]
    assert "2 error(s), 0 warning(s)" in result.stdout


def test_lint_exits_0_on_a_clean_modelfile_and_keeps_carriage_returns_in_values(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_bytes(b'FROM ./m.gguf\r\nSYSTEM """one\r\ntwo"""\r\nPARAMETER num_ctx 4096\r\n')
    result = _lint(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems found" in result.stdout


def test_lint_exits_0_but_shows_warnings(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_text('FROM x\nSYSTEM """Be brief.\nPARAMETER stop x\n"""\n')
    result = _lint(path)
    assert result.returncode == 0
    assert "warning" in result.stdout and "0 error(s), 1 warning(s)" in result.stdout


def test_lint_of_a_binary_file_is_a_one_paragraph_error(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_bytes(b"FROM \xff\xfe\n")
    result = _lint(path)
    assert result.returncode == 2
    assert "not UTF-8" in result.stderr and "Traceback" not in result.stderr
