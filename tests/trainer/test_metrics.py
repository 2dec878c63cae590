"""metrics.jsonl rows: tokens/s measures training between train logs, never the evaluations in between."""

from __future__ import annotations

import json
from types import SimpleNamespace

from tunesmith.trainer.metrics import MetricsWriter


def test_tokens_per_second_leaves_the_evaluation_time_out(tmp_path, monkeypatch):
    clock = iter([0.0, 1.0, 10.0, 11.0])  # train begins, step 1 logged, eval ends 9 s later, step 2 logged
    monkeypatch.setattr("tunesmith.trainer.metrics.time.perf_counter", lambda: next(clock))
    writer = MetricsWriter(tmp_path / "metrics.jsonl")
    state = SimpleNamespace(global_step=0, max_steps=0, num_input_tokens_seen=0, is_world_process_zero=True)
    writer.on_train_begin(None, state, None)
    state.global_step, state.num_input_tokens_seen = 1, 100
    writer.on_log(None, state, None, logs={"loss": 2.0, "learning_rate": 1e-3})
    writer.on_log(None, state, None, logs={"eval_loss": 1.9})
    state.global_step, state.num_input_tokens_seen = 2, 200
    writer.on_log(None, state, None, logs={"loss": 1.8, "learning_rate": 1e-3})

    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == [
        {
            "step": 1,
            "loss": 2.0,
            "lr": 1e-3,
            "grad_norm": None,
            "epoch": None,
            "tokens_seen": 100,
            "tokens_per_s": 100.0,
        },
        {"step": 1, "eval_loss": 1.9},
        {
            "step": 2,
            "loss": 1.8,
            "lr": 1e-3,
            "grad_norm": None,
            "epoch": None,
            "tokens_seen": 200,
            "tokens_per_s": 100.0,
        },
    ]


def test_other_ranks_write_nothing(tmp_path):
    writer = MetricsWriter(tmp_path / "metrics.jsonl")
    state = SimpleNamespace(global_step=1, num_input_tokens_seen=10, is_world_process_zero=False)
    writer.on_train_begin(None, state, None)
    writer.on_log(None, state, None, logs={"loss": 2.0})
    assert not (tmp_path / "metrics.jsonl").exists()
