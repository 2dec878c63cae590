"""Bad training data through `tunesmith prepare`: one clean failure each, and the run's earlier data left alone.

Each case re-prepares the run `qa` (prepared once from a good CSV) from a broken source, as a user does who points
the config at a new file; the message must name the file (and line), the problem and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.conftest import assert_clean_failure, snapshot
from tests.trainer.helpers import write_jsonl, write_qa_csv


def _text(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


def _csv(name: str, header: tuple[str, ...]) -> Callable[[Path], Path]:
    return lambda folder: write_qa_csv(folder / name, header=header)


def _jsonl(name: str, rows: list) -> Callable[[Path], Path]:
    return lambda folder: write_jsonl(folder / name, rows)


def _folder(name: str, files: dict[str, str]) -> Callable[[Path], Path]:
    def write(root: Path) -> Path:
        folder = root / name
        folder.mkdir()
        for file, text in files.items():
            (folder / file).write_text(text, encoding="utf-8")
        return folder

    return write


_GOOD = [{"prompt": "What is 2 plus 2?", "completion": "4."}] * 3
_CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}

# (id, writes the source and returns its path, extra CLI args, words the message must hold)
CASES = [
    ("empty CSV", _text("empty.csv", ""), [], ["empty.csv", "the file is empty", "Add data, or remove this source"]),
    (
        "CSV with a header only",
        _text("header.csv", "Question,Answer\n"),
        [],
        ["header.csv", "header but no rows", "Add data rows below it"],
    ),
    (
        "CSV without recognisable columns",
        _csv("cols.csv", ("Foo", "Bar")),
        [],
        ["cols.csv", "columns found are: Foo, Bar", "columns: {prompt: Question, response: Answer}"],
    ),
    (
        "CSV missing the mapped column",
        _csv("mapped.csv", ("Question", "Answer")),
        ["--set", "data.0.columns={prompt: Question, response: Reply}"],
        ["mapped.csv", "column(s) not found", "'Reply'", "Question, Answer", "Fix `columns:`"],
    ),
    (
        "CSV row with too many cells",
        _text("ragged.csv", "Question,Answer\nq,a\nq2,a2,extra\n"),
        [],
        ["ragged.csv:3", "3 cells but the header has 2", "Quote cells"],
    ),
    (
        "CSV in Latin-1",
        _text("latin.csv", "Question,Answer\nCaf\xe9?,Oui\n".encode("latin-1")),
        [],
        ["latin.csv:2", "not UTF-8", "0xe9", "iconv"],
    ),
    (
        "tab-separated data named .csv",
        _text("tabs.csv", "Question\tAnswer\nq\ta\n"),
        [],
        ["tabs.csv", "tab-separated", "format: tsv"],
    ),
    (
        "malformed JSONL line 3",
        _text("broken.jsonl", '{"prompt": "a", "completion": "b"}\n\n{"prompt": "c",\n'),
        [],
        ["broken.jsonl:3", "line 3 is not valid JSON", "one JSON object"],
    ),
    (
        "JSONL of unknown shape",
        _jsonl("shape.jsonl", [{"foo": "a", "bar": "b"}] * 2),
        [],
        ["shape.jsonl", "cannot tell which columns", "foo, bar", "columns:"],
    ),
    (
        "JSONL line that is not an object",
        _text("list.jsonl", '{"prompt": "a", "completion": "b"}\n[1, 2]\n'),
        [],
        ["list.jsonl:2", "expected a JSON object, got list", "{...} object"],
    ),
    (
        "JSONL chat without an assistant turn",
        _jsonl("noreply.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}]),
        [],
        ["noreply.jsonl:1", "no assistant message", "at least one assistant reply"],
    ),
    (
        "JSONL messages that are not a list",
        _jsonl("msgs.jsonl", [_CHAT, {"messages": "hello"}]),
        [],
        ["msgs.jsonl:2", "`messages` must be a non-empty list", '"role": "user"'],
    ),
    (
        "JSONL message with an unknown role",
        _jsonl(
            "role.jsonl", [{"messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]}]
        ),
        [],
        ["role.jsonl:1", "messages[0] needs a role", '"role": "user"'],
    ),
    (
        "Parquet that is not Parquet",
        _text("table.parquet", "just,some,text\n"),
        [],
        ["table.parquet", "unreadable Parquet file", "written completely"],
    ),
    ("empty folder", _folder("notes", {}), [], ["notes", "holds no .txt or .md files", "folder of .txt/.md files"]),
    (
        "folder of blank text files",
        _folder("blank", {"a.txt": "  \n", "b.md": ""}),
        [],
        ["blank", "the text source is empty", "Add text"],
    ),
    (
        "binary .txt",
        _text("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
        [],
        ["photo.txt:3", "binary data, not text", "NUL byte at offset 8", "Point the source at a text file"],
    ),
    (
        "UTF-16 .txt",
        _text("wide.txt", "Once upon a time.\n".encode("utf-16-le")),
        [],
        ["wide.txt:1", "binary data, not text", "re-save it as UTF-8"],
    ),
    (
        "unknown extension",
        _text("book.epub", "PK\x03\x04"),
        [],
        ["book.epub", "unknown data format '.epub'", "Supported: .csv", "format:"],
    ),
    (
        "source that does not exist",
        lambda folder: folder / "missing.csv",
        [],
        ["missing.csv", "data source does not exist", "Check the `path`"],
    ),
    (
        "every row filtered out",
        _jsonl("short.jsonl", _GOOD),
        ["--set", "clean.min_chars=1000"],
        ["short.jsonl", "every one of the 3 rows was filtered out", "too_short", "Loosen the `clean:` settings"],
    ),
    (
        "format forced wrongly",
        _jsonl("forced.jsonl", _GOOD),
        ["--set", "data.0.format=parquet"],
        ["forced.jsonl", "unreadable Parquet file"],
    ),
]


@pytest.mark.parametrize(("write", "args", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_data_fails_cleanly_and_keeps_the_prepared_data(cli, project, tiny_llama, write, args, words):
    source = write(project)
    runs = project / "runs"
    before = snapshot(runs)
    outcome = cli(
        "prepare",
        "--base",
        tiny_llama,
        "--data",
        source,
        "--output-dir",
        runs / "qa",
        "--set",
        "name=qa",
        "--set",
        "train.max_seq_len=64",
        *args,
    )
    assert_clean_failure(outcome, *words)
    assert outcome.err.lstrip().startswith("error:") or "\nerror:" in outcome.err
    assert snapshot(runs) == before
    # The run says how the command ended, in the words it printed.
    status = json.loads((runs / "qa" / "status.json").read_text(encoding="utf-8"))
    assert status["status"] == "failed" and " ".join(status["error"].split()) in " ".join(outcome.err.split())


def test_the_prepared_data_was_really_there_to_keep(project):
    report = json.loads((project / "runs" / "qa" / "data" / "data_report.json").read_text())
    assert report["rows_in"] == 60
