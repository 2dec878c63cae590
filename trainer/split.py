"""The train/validation split: deterministic for a seed, whole groups to one side, independent of row order.

Groups (a block of a document's chunks, a cluster of near-duplicates) are ordered by a seeded hash of their key and
taken into validation until it holds the requested fraction of records, so no near-duplicate straddles the split.
A group that would take validation past 1.5x the fraction is passed over for the next one (a family of near-identical
books must not become half the validation set); if every group is that large, the smallest one validates.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from tunesmith.trainer.records import Record

__all__ = ["split_records"]


def split_records(records: list[Record], val_fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """Return (train, validation); each keeps the records' original order."""
    if val_fraction <= 0 or not records:
        return list(records), []
    sizes: dict[str, int] = defaultdict(int)
    for record in records:
        sizes[record.split_group] += 1
    if len(sizes) < 2:
        return list(records), []
    order = sorted(sizes, key=lambda group: hashlib.sha256(f"{seed}:{group}".encode()).digest())
    target = val_fraction * len(records)
    val_groups: set[str] = set()
    taken = 0
    for group in order:
        if taken >= target or len(val_groups) == len(order) - 1:  # training is never empty
            break
        if taken + sizes[group] <= target * 1.5:
            val_groups.add(group)
            taken += sizes[group]
    if not val_groups:
        val_groups.add(min(order, key=lambda group: sizes[group]))
    train = [r for r in records if r.split_group not in val_groups]
    val = [r for r in records if r.split_group in val_groups]
    return train, val
