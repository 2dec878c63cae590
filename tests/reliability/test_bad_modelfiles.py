"""Broken Modelfiles through `tunesmith lint`: exit 2, the line, the problem and the fix, and the file left as it was.

Each case breaks the Modelfile of an earlier package (release/pkg) the way a hand edit does; the last case runs the
real console script, so the exit status and the absence of a traceback are checked end to end.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.reliability.conftest import assert_clean_failure, snapshot

_HEAD = "FROM ./demo-Q4_K_M.gguf\n"

# (id, Modelfile text, line ("-": the whole file), words the problem must hold)
CASES = [
    (
        "unknown instruction",
        _HEAD + "PARAMETR temperature 0.7\n",
        2,
        ["'PARAMETR' is not a Modelfile command", "start each line with one of FROM, ADAPTER, TEMPLATE"],
    ),
    (
        "bad PARAMETER value",
        _HEAD + "PARAMETER temperature hot\n",
        2,
        ["PARAMETER temperature takes a number (like 0.7), not 'hot'"],
    ),
    (
        "whole number given a fraction",
        _HEAD + "PARAMETER num_ctx 4.5\n",
        2,
        ["PARAMETER num_ctx takes a whole number (like 4096), not '4.5'"],
    ),
    (
        "misspelt parameter",
        _HEAD + "PARAMETER temprature 0.7\n",
        2,
        ["PARAMETER temprature is not a parameter Ollama knows; did you mean temperature?"],
    ),
    (
        "missing FROM",
        'SYSTEM "You are terse."\nPARAMETER temperature 0.2\n',
        "-",
        ["there is no FROM line; add one first, e.g. `FROM ./model.gguf`"],
    ),
    ("empty file", "", "-", ["there is no FROM line"]),
    ("FROM without a value", "FROM\n", 1, ["FROM has no value", "put the value on the same line"]),
    (
        "unterminated triple quotes",
        _HEAD + 'SYSTEM """You are\nhelpful.\nPARAMETER temperature 0.2\n',
        2,
        ['the SYSTEM value opened with """ is never closed', 'end the value with """'],
    ),
    ("unterminated quote", _HEAD + 'SYSTEM "You are helpful.\n', 2, ['the SYSTEM value opened with " is never closed']),
    (
        "template Go would reject",
        _HEAD + 'TEMPLATE """{{ .Prompt """\n',
        2,
        ["TEMPLATE: Go's text/template would reject it", "unclosed action"],
    ),
    (
        "unknown MESSAGE role",
        _HEAD + "MESSAGE robot hello\n",
        2,
        ["MESSAGE role 'robot' is not one of system, user, assistant", "`MESSAGE user ...`"],
    ),
]


def _problems(text: str) -> str:
    """The lint table as plain words: box-drawing characters and runs of spaces folded away."""
    return " ".join(re.sub(r"[\u2500-\u257f]", " ", text).split())


@pytest.mark.parametrize(("content", "line", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_broken_modelfile_is_reported_at_its_line(cli, release, content, line, words):
    modelfile = release / "pkg" / "Modelfile"
    modelfile.write_text(content, encoding="utf-8")
    before = snapshot(release)
    outcome = cli("lint", modelfile)
    assert_clean_failure(outcome)
    problems = _problems(outcome.out)
    assert f"{line} error {words[0]}" in problems, problems  # the row: line, severity, problem
    for word in words[1:]:
        assert word in problems, problems
    assert re.search(r"[1-9]\d* error\(s\)", problems)
    assert snapshot(release) == before


def test_the_earlier_packages_modelfile_lints_clean(cli, release):
    outcome = cli("lint", release / "pkg" / "Modelfile")
    assert outcome.code == 0 and "no problems found" in outcome.out


def test_a_modelfile_that_is_not_utf8_is_one_paragraph(cli, release):
    modelfile = release / "pkg" / "Modelfile"
    modelfile.write_bytes(_HEAD.encode() + 'SYSTEM "Caf\xe9"\n'.encode("latin-1"))
    before = snapshot(release)
    assert_clean_failure(cli("lint", modelfile), str(modelfile), "the file is not UTF-8 text", "save it as UTF-8")
    assert snapshot(release) == before


def test_lint_of_a_missing_file_is_a_usage_error(cli, tmp_path):
    assert_clean_failure(cli("lint", tmp_path / "Modelfile"), "Invalid value for 'FILE'", "does not exist")


def test_the_console_script_exits_2_without_a_traceback(tmp_path):
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(_HEAD + 'SYSTEM """never closed\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "tunesmith", "lint", str(modelfile)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert 'the SYSTEM value opened with """ is never closed' in _problems(result.stdout)
