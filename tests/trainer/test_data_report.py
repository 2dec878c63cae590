"""The data report's warnings: fixed floors for the data, and the data weighed against what `train:` asks of it."""

from __future__ import annotations

from collections import Counter

import pytest

from tunesmith.config import Train
from tunesmith.trainer.data_report import build_report, plan_training, report_table


def _report(
    train: Train, *, examples: int = 500, length: int = 20, kind: str = "chat", text_bytes: int = 10**5, val: int = 50
) -> dict:
    return build_report(
        sources=[],
        rows_in=examples + val,
        dropped=Counter(),
        kind=kind,
        train_lengths=[length] * examples,
        val_lengths=[length] * val,
        text_bytes=text_bytes,
        train=train,
        config_hash="h",
    )


def _train(**fields) -> Train:
    return Train(**{"max_seq_len": 64, "packing": False, "batch_size": 4, "grad_accum": 2, **fields})


@pytest.mark.parametrize(
    "train, examples, expected",
    [
        pytest.param(_train(), 500, [], id="three epochs over 500 rows: no warning"),
        pytest.param(
            _train(epochs=25), 500, ["epochs=25 reads the training data (500 rows) 25 times over"], id="too many epochs"
        ),
        pytest.param(
            _train(max_steps=1000),
            500,
            ["max_steps=1000 x 8 rows per step reads the training data (500 rows) 16 times over"],
            id="max_steps repeats the data",
        ),
        pytest.param(_train(max_steps=600), 500, [], id="max_steps within ten passes"),
        pytest.param(
            _train(max_steps=10),
            500,
            ["max_steps=10 x 8 rows per step reads only 80 of the training data's 500 rows (16%)"],
            id="max_steps stops before one pass",
        ),
        pytest.param(
            _train(batch_size=8, grad_accum=4),
            20,
            ["20 rows is fewer than one batch (32 = batch_size x grad_accum)"],
            id="fewer rows than one batch",
        ),
        pytest.param(
            _train(packing=True, batch_size=8, grad_accum=4),
            90,
            ["29 rows packed from 90 examples is fewer than one batch"],
            id="packing: rows, not examples, count",
        ),
        pytest.param(
            _train(packing=True, max_steps=200),
            300,
            [
                (
                    "max_steps=200 x 8 rows per step reads the training data (94 rows packed from 300 examples) 17 "
                    "times over"
                )
            ],
            id="packing: passes count packed rows",
        ),
    ],
)
def test_plan_warnings_weigh_the_data_against_the_training_asked_for(train, examples, expected):
    warnings = _report(train, examples=examples)["warnings"]
    planned = [w for w in warnings if "rows" in w]
    assert len(planned) == len(expected)
    for warning, start in zip(planned, expected):
        assert warning.startswith(start), warning


@pytest.mark.parametrize(
    "kind, examples, text_bytes, val, expected",
    [
        pytest.param(
            "text",
            500,
            2 * 2**20,
            50,
            "only 2.00 MiB of text for continued pre-training; under ~10 MiB",
            id="little text",
        ),
        pytest.param("chat", 60, 0, 5, "only 60 training conversations", id="few chats"),
        pytest.param("chat", 500, 0, 0, "no validation split", id="no validation"),
    ],
)
def test_data_floors_still_warn(kind, examples, text_bytes, val, expected):
    warnings = _report(_train(), examples=examples, kind=kind, text_bytes=text_bytes, val=val)["warnings"]
    assert [w for w in warnings if w.startswith(expected)]
    assert not [w for w in _report(_train(), kind=kind, text_bytes=20 * 2**20)["warnings"] if w.startswith(expected)]


def test_replanning_replaces_only_the_plan_warnings():
    report = _report(_train(max_steps=1000), examples=60, val=0)
    assert len(report["warnings"]) == 3  # few chats, no validation, repeats
    replanned = plan_training(report, _train())
    assert replanned["warnings"] == report["warnings"][:2]
    assert replanned["plan"]["passes"] == 3.0 and report["plan"]["passes"] == pytest.approx(133.33)
    assert plan_training(replanned, _train(max_steps=1000)) == report


def test_the_table_shows_the_plan():
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(report_table(_report(_train(max_steps=1000))))
    text = console.export_text()
    assert "training: rows per pass, per step, passes" in text and "500, 8, 16" in text
