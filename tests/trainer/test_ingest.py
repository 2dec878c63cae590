"""Ingest: every supported format into records, the format detected and reported, and bad input named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainer.helpers import write_jsonl, write_qa_csv
from tunesmith.config import Source
from tunesmith.errors import DataError
from tunesmith.trainer.ingest import read_source

QA_CHAT = (("user", "What is 2 plus 2?"), ("assistant", "2 plus 2 is 4."))


def _chat(record) -> tuple[tuple[str, str], ...]:
    return tuple((m["role"], m["content"]) for m in record.messages)


def _write_csv(path: Path) -> Path:
    return write_qa_csv(path, [("What is 2 plus 2?", "2 plus 2 is 4.")])


def _write_tsv(path: Path) -> Path:
    path.write_text("prompt\tresponse\nWhat is 2 plus 2?\t2 plus 2 is 4.\n", encoding="utf-8")
    return path


def _write_messages(path: Path) -> Path:
    return write_jsonl(path, [{"messages": [{"role": r, "content": c} for r, c in QA_CHAT]}])


def _write_sharegpt(path: Path) -> Path:
    return write_jsonl(
        path, [{"conversations": [{"from": "human", "value": QA_CHAT[0][1]}, {"from": "gpt", "value": QA_CHAT[1][1]}]}]
    )


def _write_instruction(path: Path) -> Path:
    return write_jsonl(path, [{"instruction": "What is 2 plus", "input": "2?", "output": "2 plus 2 is 4."}])


def _write_prompt_completion(path: Path) -> Path:
    return write_jsonl(path, [{"prompt": "What is 2 plus 2?", "completion": "2 plus 2 is 4."}])


def _write_text_jsonl(path: Path) -> Path:
    return write_jsonl(path, [{"text": "Rivers flow to the sea."}])


def _write_parquet(path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"question": ["What is 2 plus 2?"], "answer": ["2 plus 2 is 4."]}), path)
    return path


def _write_saved_dataset(path: Path) -> Path:
    import datasets

    datasets.Dataset.from_dict({"prompt": ["What is 2 plus 2?"], "completion": ["2 plus 2 is 4."]}).save_to_disk(path)
    return path


def _write_folder(path: Path) -> Path:
    path.mkdir()
    (path / "b.md").write_text("# Second\n\nRivers flow.", encoding="utf-8")
    (path / "a.txt").write_text("First book.", encoding="utf-8")
    (path / "cover.jpg").write_bytes(b"\xff\xd8")
    return path


@pytest.mark.parametrize(
    "name, writer, fmt, expected",
    [
        ("qa.csv", _write_csv, "csv", QA_CHAT),
        ("qa.tsv", _write_tsv, "tsv", QA_CHAT),
        ("chats.jsonl", _write_messages, "jsonl", QA_CHAT),
        ("sharegpt.json", _write_sharegpt, "jsonl", QA_CHAT),
        (
            "alpaca.jsonl",
            _write_instruction,
            "jsonl",
            (("user", "What is 2 plus\n\n2?"), ("assistant", "2 plus 2 is 4.")),
        ),
        ("pc.jsonl", _write_prompt_completion, "jsonl", QA_CHAT),
        ("qa.parquet", _write_parquet, "parquet", QA_CHAT),
        ("saved", _write_saved_dataset, "hf_disk", QA_CHAT),
    ],
)
def test_chat_sources_are_read_and_their_format_detected(tmp_path, name, writer, fmt, expected):
    data = read_source(Source(path=str(writer(tmp_path / name))))
    assert (data.format, data.detected) == (fmt, True)
    assert len(data.records) == 1 and data.records[0].kind == "chat"
    assert _chat(data.records[0]) == expected
    assert data.records[0].origin.startswith(str(tmp_path / name))


def test_text_sources_become_documents_one_per_file_in_name_order(tmp_path):
    data = read_source(Source(path=str(_write_folder(tmp_path / "books"))))
    assert data.format == "text"
    assert [(Path(r.origin).name, r.text) for r in data.records] == [
        ("a.txt", "First book."),
        ("b.md", "# Second\n\nRivers flow."),
    ]
    jsonl = read_source(Source(path=str(_write_text_jsonl(tmp_path / "t.jsonl"))))
    assert [(r.kind, r.text) for r in jsonl.records] == [("text", "Rivers flow to the sea.")]


def test_configured_columns_and_system_prompt_override_detection(tmp_path):
    path = write_qa_csv(tmp_path / "sheet.csv", [("Hi", "Hello!", "extra")], header=("Frage", "Antwort", "note"))
    data = read_source(Source(path=str(path), columns={"prompt": "Frage", "response": "Antwort"}, system="Be kind."))
    assert data.mapping == {"prompt": "Frage", "response": "Antwort"}
    assert _chat(data.records[0]) == (("system", "Be kind."), ("user", "Hi"), ("assistant", "Hello!"))


def test_format_can_be_forced_for_an_odd_extension(tmp_path):
    path = tmp_path / "export.data"
    path.write_text("question,answer\nWhat is 2 plus 2?,2 plus 2 is 4.\n", encoding="utf-8")
    data = read_source(Source(path=str(path), format="csv"))
    assert (data.format, data.detected) == ("csv", False) and _chat(data.records[0]) == QA_CHAT


def _bad_json_line(path: Path) -> Path:
    path.write_text('{"prompt": "a", "completion": "b"}\n\n{"prompt": "c", "completion": }\n', encoding="utf-8")
    return path


def _latin1(path: Path) -> Path:
    path.write_bytes("question,answer\nok,fine\ncaf\xe9,na\xefve\n".encode("latin-1"))
    return path


def _misnamed(path: Path) -> Path:
    return write_qa_csv(path, [("a", "b")], header=("Frage", "Antwort"))


def _empty(path: Path) -> Path:
    path.write_text("", encoding="utf-8")
    return path


def _header_only(path: Path) -> Path:
    path.write_text("question,answer\n", encoding="utf-8")
    return path


def _unknown(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04")
    return path


def _no_assistant(path: Path) -> Path:
    return write_jsonl(path, [{"messages": [{"role": "user", "content": "hi"}]}])


def _array_not_object(path: Path) -> Path:
    path.write_text('{"text": "ok"}\n["not", "an", "object"]\n', encoding="utf-8")
    return path


def _ragged(path: Path) -> Path:
    path.write_text("question,answer\nok,fine\na,b,c\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "name, writer, columns, message, where, hint",
    [
        ("bad.jsonl", _bad_json_line, {}, "line 3 is not valid JSON", "bad.jsonl:3", "one JSON object"),
        ("latin.csv", _latin1, {}, "not UTF-8 (byte 0xe9", "latin.csv:3", "iconv"),
        ("sheet.csv", _misnamed, {}, "the columns found are: Frage, Antwort", "sheet.csv", "columns: {prompt:"),
        (
            "sheet2.csv",
            _misnamed,
            {"prompt": "Question", "response": "Antwort"},
            "column(s) not found: prompt: 'Question'; the columns found are: Frage, Antwort",
            "sheet2.csv",
            "Fix `columns:`",
        ),
        ("empty.jsonl", _empty, {}, "the file is empty", "empty.jsonl", "Add data"),
        ("header.csv", _header_only, {}, "header but no rows", "header.csv", "Add data rows"),
        ("notes.xlsx", _unknown, {}, "unknown data format '.xlsx'", "notes.xlsx", "Supported: .csv"),
        ("chat.jsonl", _no_assistant, {}, "no assistant message", "chat.jsonl:1", "assistant reply"),
        ("mixed.jsonl", _array_not_object, {}, "expected a JSON object, got list", "mixed.jsonl:2", "{...}"),
        ("ragged.csv", _ragged, {}, "row has 3 cells but the header has 2", "ragged.csv:3", "Quote cells"),
    ],
)
def test_bad_input_names_file_line_and_fix(tmp_path, name, writer, columns, message, where, hint):
    path = writer(tmp_path / name)
    with pytest.raises(DataError) as info:
        read_source(Source(path=str(path), columns=columns))
    assert message in info.value.message
    assert info.value.where.endswith(where)
    assert hint in info.value.hint


def test_missing_source_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_source(Source(path=str(tmp_path / "nothing.csv")))
