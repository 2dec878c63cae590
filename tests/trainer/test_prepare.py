"""prepare: data → runs/<name>/data with a report; reuse when unchanged; bad input stops with a named cause."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.trainer.helpers import QA, write_jsonl, write_qa_csv
from tests.trainer.prose import random_prose, token_runs
from tunesmith.config import load_config
from tunesmith.errors import ConfigError, DataError, ModelError
from tunesmith.trainer import prepare_data, read_split
from tunesmith.trainer.base_model import load_tokenizer
from tunesmith.trainer.format import format_record

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _config(base, data, out, *overrides, **flags):
    return load_config(base=str(base), data=[str(d) for d in data], output_dir=str(out), overrides=overrides, **flags)


def test_prepare_writes_splits_and_a_report_that_matches_them(tiny_llama, tmp_path):
    rows = QA + QA[:5] + [("What is 1 plus 1?", "")]  # five exact duplicates and one empty answer
    csv_path = write_qa_csv(tmp_path / "qa.csv", rows)
    result = prepare_data(_config(tiny_llama, [csv_path], tmp_path / "run", "train.max_seq_len=64"))
    report = json.loads((tmp_path / "run" / "data" / "data_report.json").read_text())
    assert report == result.report and not result.reused
    assert report["rows_in"] == 66 and report["dropped"] == {"duplicate": 5, "empty": 1}
    train, val = read_split(result.paths, "train"), read_split(result.paths, "val")
    assert (len(train), len(val)) == (report["rows_out"]["train"], report["rows_out"]["val"])
    assert len(train) + len(val) == 60
    assert 4 <= len(val) <= 9
    tokenizer = load_tokenizer(tiny_llama)
    lengths = [len(format_record(r, tokenizer, 10**6).input_ids) for r in train]
    assert report["tokens"]["train"] == sum(lengths)
    assert report["length_tokens"]["train"]["max"] == max(lengths)
    assert report["length_tokens"]["train"]["p50"] == sorted(lengths)[len(lengths) // 2]
    assert report["sources"][0]["columns"] == {"prompt": "Question", "response": "Answer"}
    assert report["sources"][0]["detected"] is True
    assert any("training conversations" in w for w in report["warnings"])
    assert (tmp_path / "run" / "run.json").is_file()


def test_prepare_is_reused_until_data_or_settings_change(tiny_llama, tmp_path):
    csv_path = write_qa_csv(tmp_path / "qa.csv")
    config = _config(tiny_llama, [csv_path], tmp_path / "run")
    first = prepare_data(config)
    train_file = tmp_path / "run" / "data" / "train.jsonl"
    stamp = train_file.stat().st_mtime_ns
    assert prepare_data(config).reused and train_file.stat().st_mtime_ns == stamp
    assert not prepare_data(_config(tiny_llama, [csv_path], tmp_path / "run", "split.val_fraction=0.3")).reused
    write_qa_csv(csv_path, QA[:30])
    again = prepare_data(config)
    assert not again.reused and again.report["rows_in"] == 30 and first.report["rows_in"] == 60


def test_reused_data_is_weighed_against_the_new_training_settings(tiny_llama, tmp_path):
    csv_path = write_qa_csv(tmp_path / "qa.csv")
    first = prepare_data(_config(tiny_llama, [csv_path], tmp_path / "run"))
    assert not [w for w in first.report["warnings"] if "times over" in w]
    stamp = (tmp_path / "run" / "data" / "train.jsonl").stat().st_mtime_ns
    again = prepare_data(_config(tiny_llama, [csv_path], tmp_path / "run", "train.max_steps=500"))
    assert again.reused and (tmp_path / "run" / "data" / "train.jsonl").stat().st_mtime_ns == stamp
    repeats = [w for w in again.report["warnings"] if "times over" in w]
    assert len(repeats) == 1 and repeats[0].startswith("max_steps=500 x 4 rows per step reads the training data")
    on_disk = json.loads((tmp_path / "run" / "data" / "data_report.json").read_text())
    assert on_disk == again.report and again.report["plan"]["rows_per_step"] == 4


def test_near_duplicates_never_straddle_the_split(tiny_llama, tmp_path):
    base = "please tell me how i can reset the password of my notes account from the settings page"
    rows = [{"prompt": f"{base} number {i}", "completion": f"Answer {i}."} for i in range(40)]
    rows += [
        {"prompt": f"question {i} about a completely different topic such as cooking rice", "completion": "Rice."}
        for i in range(40)
    ]
    data = write_jsonl(tmp_path / "chats.jsonl", rows)
    result = prepare_data(
        _config(
            tiny_llama,
            [data],
            tmp_path / "run",
            "clean.near_dedup=false",
            "clean.near_dup_threshold=0.6",
            "split.val_fraction=0.3",
        )
    )
    train, val = read_split(result.paths, "train"), read_split(result.paths, "val")
    assert len(train) + len(val) == 80
    assert not {r.group for r in train} & {r.group for r in val}
    families = [{("password" in r.content) for r in split} for split in (train, val)]
    assert all(len(f) == 1 for f in families)  # each near-duplicate family sits wholly on one side


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_near_identical_books_land_on_one_side_and_no_validation_text_is_trained_on(tiny_llama, tmp_path, seed):
    books = tmp_path / "books"
    books.mkdir()
    story = random_prose(1, 30)
    (books / "a.txt").write_text(story, encoding="utf-8")
    (books / "b.txt").write_text(random_prose(2, 3) + "\n\n" + story, encoding="utf-8")  # an edition with a preface
    for name in ("c", "d"):
        (books / f"{name}.txt").write_text(random_prose(ord(name), 30), encoding="utf-8")
    result = prepare_data(
        _config(
            tiny_llama,
            [books],
            tmp_path / "run",
            "clean.near_dedup=false",
            "chunk.max_tokens=80",
            "chunk.overlap_tokens=24",
            "split.val_fraction=0.2",
            f"seed={seed}",
        )
    )
    train, val = read_split(result.paths, "train"), read_split(result.paths, "val")
    assert train and val
    sides = {
        ("val" if record in val else "train")
        for record in train + val
        if record.origin.startswith((str(books / "a.txt"), str(books / "b.txt")))
    }
    assert len(sides) == 1
    tokenizer = load_tokenizer(tiny_llama)
    seen = set().union(*(token_runs(tokenizer, r.text, 8) for r in train))
    assert [r.origin for r in val if token_runs(tokenizer, r.text, 8) & seen] == []


def test_continued_pretraining_folder_is_stripped_chunked_by_tokens_and_warned_small(tiny_llama, tmp_path):
    config = load_config(
        EXAMPLES / "pretrain-books" / "tunesmith.yaml",
        base=str(tiny_llama),
        output_dir=str(tmp_path / "run"),
        overrides=["chunk.max_tokens=120", "train.max_seq_len=128"],
    )
    result = prepare_data(config)
    records = read_split(result.paths, "train") + read_split(result.paths, "val")
    assert result.report["kind"] == "text" and len(records) > 20
    tokenizer = load_tokenizer(tiny_llama)
    assert all(len(tokenizer(r.text, add_special_tokens=False)["input_ids"]) <= 120 for r in records)
    assert not any("GUTENBERG" in r.text or "Licence and distribution" in r.text for r in records)
    assert all(r.text.rstrip().endswith((".", "CHAPTER", "Point", "Room")) or r.text[-1].isalnum() for r in records)
    assert any("MiB of text for continued pre-training" in w for w in result.report["warnings"])
    assert result.report["rows_out"]["val"] > 0


@pytest.mark.parametrize("example", ["chat-qa-csv", "instruction-jsonl", "pretrain-books", "tool-calling"])
def test_every_example_project_prepares(tiny_llama, tmp_path, example):
    config = load_config(
        EXAMPLES / example / "tunesmith.yaml",
        base=str(tiny_llama),
        output_dir=str(tmp_path / "run"),
        overrides=["train.max_seq_len=256"],
    )
    report = prepare_data(config).report
    assert report["rows_out"]["train"] > 0 and report["tokens"]["train"] > 0


def test_every_row_filtered_out_lists_the_reasons_and_what_to_loosen(tiny_llama, tmp_path):
    csv_path = write_qa_csv(tmp_path / "qa.csv")
    with pytest.raises(DataError) as info:
        prepare_data(_config(tiny_llama, [csv_path], tmp_path / "run", "clean.min_chars=500"))
    assert "every one of the 60 rows was filtered out (too_short: 60)" in str(info.value)
    assert "min_chars" in str(info.value) and str(csv_path) in str(info.value)
    assert not (tmp_path / "run" / "data").exists()


def _not_causal(tmp_path: Path) -> Path:
    folder = tmp_path / "bert"
    folder.mkdir()
    config = {"model_type": "bert", "architectures": ["BertForSequenceClassification"]}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(
    "make_base, overrides, error, message",
    [
        (lambda tmp, tiny: tmp / "missing", [], ModelError, "base model folder does not exist"),
        (
            lambda tmp, tiny: _not_causal(tmp),
            [],
            ModelError,
            "not a causal language model (architectures: BertForSequence",
        ),
        (
            lambda tmp, tiny: tiny,
            ["train.max_seq_len=4096"],
            ConfigError,
            "`train.max_seq_len` = 4096 is beyond the model's context of 256 tokens",
        ),
    ],
)
def test_bad_base_models_are_refused_before_any_work(tiny_llama, tmp_path, make_base, overrides, error, message):
    csv_path = write_qa_csv(tmp_path / "qa.csv")
    with pytest.raises(error) as info:
        prepare_data(_config(make_base(tmp_path, tiny_llama), [csv_path], tmp_path / "run", *overrides))
    assert message in str(info.value)
    assert info.value.hint
    assert not (tmp_path / "run").exists()


def test_output_folder_of_another_run_or_foreign_files_is_refused(tiny_llama, tiny_qwen, tmp_path):
    csv_path = write_qa_csv(tmp_path / "qa.csv")
    prepare_data(_config(tiny_llama, [csv_path], tmp_path / "run"))
    with pytest.raises(ConfigError, match="belongs to another run") as info:
        prepare_data(_config(tiny_qwen, [csv_path], tmp_path / "run"))
    assert "--output-dir" in str(info.value)
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"\xff")
    with pytest.raises(ConfigError, match="not empty and is not a tunesmith run folder"):
        prepare_data(_config(tiny_llama, [csv_path], foreign))
    assert (foreign / "holiday.jpg").read_bytes() == b"\xff"
