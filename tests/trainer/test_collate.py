"""Packing: rows within max_seq_len, samples isolated from each other (same logits as unpacked), labels as unpacked."""

from __future__ import annotations

import pytest
import torch

from tunesmith.config import load_config
from tunesmith.progress import SILENT
from tunesmith.trainer.backends import Device
from tunesmith.trainer.backends.hf import HfBackend
from tunesmith.trainer.collate import Collator, pack_examples, padded_rows
from tunesmith.trainer.format import IGNORE, Tokenized


def _examples(lengths: list[int]) -> list[Tokenized]:
    examples = []
    for n, length in enumerate(lengths):
        ids = [(n * 7 + i * 3) % 390 + 3 for i in range(length)]
        examples.append(Tokenized(ids, [IGNORE] * (length // 2) + ids[length // 2 :]))
    return examples


def test_packing_fills_rows_without_exceeding_max_seq_len_and_keeps_every_token():
    examples = _examples([30, 5, 17, 12, 28, 3, 9, 22])
    rows = pack_examples(examples, 32)
    assert all(len(row["input_ids"]) <= 32 for row in rows)
    assert sum(len(row["input_ids"]) for row in rows) == sum(len(e.input_ids) for e in examples)
    assert len(rows) == 5  # 126 tokens in 32-token rows need at least 4; first-fit-decreasing gets 5 here
    assert pack_examples(examples, 32) == rows


def test_packed_position_ids_restart_per_sample_and_each_first_label_is_masked():
    examples = _examples([6, 4])
    (row,) = pack_examples(examples, 16)
    assert row["position_ids"] == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]
    assert row["input_ids"] == examples[0].input_ids + examples[1].input_ids
    assert row["labels"] == [IGNORE] + examples[0].labels[1:] + [IGNORE] + examples[1].labels[1:]


def test_collator_joins_packed_rows_into_one_padding_free_sequence_and_pads_plain_rows_with_a_mask():
    collate = Collator(pad_token_id=0)
    rows = pack_examples(_examples([6, 4]), 10) + pack_examples(_examples([3]), 16)
    packed = collate(rows)
    assert "attention_mask" not in packed and packed["input_ids"].shape == (1, 13)
    assert packed["position_ids"][0].tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 0, 1, 2]
    assert packed["input_ids"][0].tolist() == rows[0]["input_ids"] + rows[1]["input_ids"]
    assert packed["labels"][0].tolist() == rows[0]["labels"] + rows[1]["labels"]
    plain = collate(padded_rows(_examples([5, 2])))
    assert plain["attention_mask"].tolist() == [[1] * 5, [1, 1, 0, 0, 0]]
    assert plain["input_ids"][1, 2:].eq(0).all() and plain["labels"][1, 2:].eq(IGNORE).all()


@pytest.mark.parametrize("family", ["tiny_llama", "tiny_qwen"])
def test_packed_samples_do_not_attend_to_each_other(family, request, tmp_path):
    base = request.getfixturevalue(family)
    config = load_config(base=str(base), data=[str(tmp_path / "unused.csv")], overrides=["lora.dropout=0"])
    model, _ = HfBackend().load(config, Device("cpu", False), SILENT)
    model.eval()
    examples = _examples([9, 14, 6])
    batch = Collator(0)(pack_examples(examples, 16))  # three rows, joined into one sequence
    assert batch["input_ids"].shape == (1, 29)
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        start = 0
        for example in sorted(examples, key=lambda e: -len(e.input_ids)):  # rows come longest first
            alone = model(input_ids=torch.tensor([example.input_ids])).logits[0]
            torch.testing.assert_close(packed[start : start + len(example.input_ids)], alone, atol=1e-5, rtol=1e-4)
            start += len(example.input_ids)
        # Without the restart of position ids the later samples would see the earlier ones: prove the check bites.
        leaky = model(input_ids=batch["input_ids"]).logits[0]
        assert not torch.allclose(leaky[9:23], packed[9:23], atol=1e-3)
