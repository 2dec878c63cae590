"""The prepare and train commands: help that explains itself, a data report on stdout, errors as one paragraph."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from tests.trainer.helpers import write_qa_csv
from tunesmith.cli import cli, main


@pytest.mark.parametrize(
    "command, words",
    [
        (
            "prepare",
            [
                "CSV/TSV",
                "JSONL",
                "Parquet",
                "save_to_disk",
                "--base",
                "--data",
                "--output-dir",
                "--set",
                "--max-steps",
                "embedded",
            ],
        ),
        ("train", ["LoRA", "chat template", "checkpoint", "--restart", "--set", "metrics.jsonl", "loss.png"]),
    ],
)
def test_help_explains_the_command(command, words):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for word in words:
        assert word in text


def test_prepare_without_a_config_prints_the_report(tiny_llama, tmp_path):
    data = write_qa_csv(tmp_path / "qa.csv")
    result = CliRunner().invoke(
        cli,
        [
            "prepare",
            "--base",
            str(tiny_llama),
            "--data",
            str(data),
            "--output-dir",
            str(tmp_path / "run"),
            "--set",
            "train.max_seq_len=64",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "data report" in result.output and "rows in" in result.output and "60" in result.output
    report = json.loads((tmp_path / "run" / "data" / "data_report.json").read_text())
    assert f"{report['rows_out']['train']}, {report['tokens']['train']}" in result.output


@pytest.mark.parametrize(
    "content, args, expected",
    [
        ('{"prompt": "a", "completion": "b"}\n{"prompt": \n', [], "bad.jsonl:2: line 2 is not valid JSON"),
        ('{"prompt": "a", "completion": "b"}\n', ["--set", "lora.r=zero"], "`lora.r` = 'zero' is not valid"),
        ('{"prompt": "a", "completion": "b"}\n', ["--set", "train.method=qlora"], "QLoRA (4-bit base weights)"),
    ],
)
def test_errors_exit_2_with_one_paragraph_and_no_traceback(tiny_llama, tmp_path, capsys, content, args, expected):
    data = tmp_path / "bad.jsonl"
    data.write_text(content)
    with pytest.raises(SystemExit) as info:
        main(
            [
                "train",
                "--base",
                str(tiny_llama),
                "--data",
                str(data),
                "--output-dir",
                str(tmp_path / "run"),
                "--max-steps",
                "1",
                *args,
            ]
        )
    assert info.value.code == 2
    captured = capsys.readouterr()
    text = " ".join(captured.err.split())
    assert expected in text and "Traceback" not in captured.err


def test_train_shows_progress_and_the_fit_verdict(tiny_llama, tmp_path):
    data = write_qa_csv(tmp_path / "qa.csv")
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--base",
            str(tiny_llama),
            "--data",
            str(data),
            "--output-dir",
            str(tmp_path / "run"),
            "--max-steps",
            "6",
            "--set",
            "train.eval_steps=3",
            "--set",
            "train.max_seq_len=64",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "train_report.json").read_text())
    text = " ".join(result.output.split())
    data_report = json.loads((tmp_path / "run" / "data" / "data_report.json").read_text())
    rows = data_report["rows_out"]
    assert f"data: {rows['train']} training and {rows['val']} validation rows" in text
    assert data_report["warnings"], "60 questions are few: the report warns"
    assert all(f"warning: {' '.join(warning.split())}" in text for warning in data_report["warnings"])
    assert "training" in text and "6/6" in text and "ETA" in text
    assert re.search(r"\b\d+ tok/s", text), "tokens/s is measured from the train logs, not left at '-'"
    assert f"loss {report['final_train_loss']:.4f}" in text
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    last_eval = [row["eval_loss"] for row in metrics if "eval_loss" in row][-1]
    assert f"eval {last_eval:.4f}" in text
    assert f"{report['fit']}: {report['fit_reason']}" in text
    assert f"adapter: {tmp_path / 'run' / 'adapter'}" in text
