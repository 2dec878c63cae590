"""Batches for training: padding-free packing (position ids restart per sample) or plain padded batches.

A packed batch is one sequence with no attention mask; samples never attend to each other: transformers' sdpa derives
a block-diagonal causal mask from the position ids, unsloth cuts the row at them, and the varlen attention
(packed_attention.py) reads each sample's bounds, handed over with the batch. Each sample's first label is masked, as
it is unpacked.
"""

from __future__ import annotations

import itertools
from typing import Any

from tunesmith.trainer.format import IGNORE, Tokenized

__all__ = ["Collator", "pack_examples", "padded_rows", "sample_bounds"]


def pack_examples(examples: list[Tokenized], max_seq_len: int) -> list[dict[str, list[int]]]:
    """First-fit-decreasing packing into rows of at most `max_seq_len` tokens (deterministic)."""
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i].input_ids), i))
    bins: list[list[int]] = []
    room: list[int] = []
    for index in order:
        size = len(examples[index].input_ids)
        slot = next((b for b, free in enumerate(room) if free >= size), None)
        if slot is None:
            bins.append([index])
            room.append(max_seq_len - size)
        else:
            bins[slot].append(index)
            room[slot] -= size
    rows = []
    for members in bins:
        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for index in sorted(members):
            example = examples[index]
            ids += example.input_ids
            labels += [IGNORE] + example.labels[1:]
            positions += list(range(len(example.input_ids)))
        rows.append({"input_ids": ids, "labels": labels, "position_ids": positions})
    return rows


def sample_bounds(position_ids: list[int]) -> tuple[list[int], int]:
    """Cumulative bounds of the samples in a packed row (each starts where its position is 0) and the longest one."""
    bounds = [i for i, position in enumerate(position_ids) if position == 0 or i == 0] + [len(position_ids)]
    return bounds, max((end - start for start, end in itertools.pairwise(bounds)), default=0)


def padded_rows(examples: list[Tokenized]) -> list[dict[str, list[int]]]:
    """One row per example (no packing)."""
    return [{"input_ids": list(e.input_ids), "labels": list(e.labels)} for e in examples]


class Collator:
    """Packed rows of a batch become one padding-free sequence (position ids restart per sample, no attention mask);
    plain rows are padded to the longest, with an attention mask. With `bounds`, a packed batch also carries its
    samples' cumulative bounds and the longest sample, under transformers' names for them (`cu_seq_lens_q`,
    `max_length_q`, and the same for keys), computed here on the CPU so the GPU never waits to learn them."""

    def __init__(self, pad_token_id: int, *, bounds: bool = False) -> None:
        self.pad_token_id = pad_token_id
        self.bounds = bounds

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        if "position_ids" in rows[0]:
            # One row for the whole batch: no padding to compute, and the samples stay apart by their positions.
            batch: dict[str, Any] = {
                key: torch.tensor([[value for row in rows for value in row[key]]], dtype=torch.long)
                for key in ("input_ids", "labels", "position_ids")
            }
            if self.bounds:
                bounds, longest = sample_bounds([value for row in rows for value in row["position_ids"]])
                batch["cu_seq_lens_q"] = batch["cu_seq_lens_k"] = torch.tensor(bounds, dtype=torch.int32)
                batch["max_length_q"] = batch["max_length_k"] = longest
            return batch
        width = max(len(row["input_ids"]) for row in rows)
        padded: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "attention_mask": []}
        for row in rows:
            pad = width - len(row["input_ids"])
            padded["input_ids"].append(row["input_ids"] + [self.pad_token_id] * pad)
            padded["labels"].append(row["labels"] + [IGNORE] * pad)
            padded["attention_mask"].append([1] * len(row["input_ids"]) + [0] * pad)
        return {key: torch.tensor(value, dtype=torch.long) for key, value in padded.items()}
