"""Exact and near-duplicate detection: content hashes, and MinHash LSH (datasketch) over word shingles.

Near-duplicates are grouped (union-find over confirmed LSH pairs); each record carries its group, so the split can
keep a whole group on one side even when near-duplicates are kept. Documents are compared before chunking and their
chunks again after it, since two documents can share long passages (and near-identical ones can be cut at shifted
places) while their chunks fall in different blocks.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field, replace

from tunesmith.trainer.records import Record

__all__ = ["DedupResult", "content_key", "dedup_records", "group_near_duplicate_chunks"]

_WORDS = re.compile(r"\w+")
_NUM_PERM = 128


@dataclass
class DedupResult:
    kept: list[Record]
    dropped: Counter[str] = field(default_factory=Counter)


def content_key(text: str) -> str:
    """A hash that ignores case and whitespace, so trivially different copies count as exact duplicates."""
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()[:20]


def dedup_records(records: list[Record], *, exact: bool, near: bool, threshold: float, seed: int) -> DedupResult:
    """Drop exact duplicates (`exact`) and near-duplicates (`near`); tag every kept record with its group."""
    result = DedupResult(kept=[])
    seen: set[str] = set()
    unique: list[Record] = []
    for record in records:
        key = content_key(record.content)
        if exact and key in seen:
            result.dropped["duplicate"] += 1
            continue
        seen.add(key)
        unique.append(replace(record, group=key))
    groups = _near_groups([r.content for r in unique], threshold, seed)
    leaders: set[int] = set()
    for index, record in enumerate(unique):
        leader = groups[index]
        if near and leader in leaders:
            result.dropped["near_duplicate"] += 1
            continue
        leaders.add(leader)
        result.kept.append(replace(record, group=unique[leader].group))
    return result


def group_near_duplicate_chunks(records: list[Record], *, threshold: float, seed: int) -> list[Record]:
    """Merge the groups of near-duplicate text chunks, so that no near-duplicate pair straddles the split.

    Chunks are only grouped, never dropped: dropping a chunk would cut a hole in the middle of a document. Chats pass
    through (dedup_records grouped them already). The merged group takes the smallest name, whatever the row order.
    """
    texts = [index for index, record in enumerate(records) if record.kind == "text"]
    roots = _near_groups([records[index].text for index in texts], threshold, seed)
    parent: dict[str, str] = {}

    def root(label: str) -> str:
        path = []
        while parent.get(label, label) != label:
            path.append(label)
            label = parent[label]
        for member in path:  # path compression keeps long chains of merged blocks cheap
            parent[member] = label
        return label

    for position, leader in enumerate(roots):
        a, b = root(records[texts[position]].split_group), root(records[texts[leader]].split_group)
        if a != b:
            parent[max(a, b)] = min(a, b)
    if not parent:
        return list(records)
    return [replace(r, group=root(r.split_group)) if r.kind == "text" else r for r in records]


def _shingles(text: str) -> set[bytes]:
    words = _WORDS.findall(text.lower())
    if len(words) < 3:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2)}


def _near_groups(texts: list[str], threshold: float, seed: int) -> list[int]:
    """For each text, the index of the first text of its near-duplicate group."""
    from datasketch import MinHash, MinHashLSH

    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if len(texts) < 2:
        return parent
    hashes = MinHash.bulk([_shingles(t) for t in texts], num_perm=_NUM_PERM, seed=seed)
    lsh = MinHashLSH(threshold=threshold, num_perm=_NUM_PERM)
    for index, minhash in enumerate(hashes):
        for other in lsh.query(minhash):
            # LSH yields candidates; confirm them so the threshold means what it says.
            if minhash.jaccard(hashes[other]) >= threshold:
                a, b = root(index), root(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        lsh.insert(index, minhash)
    return [root(i) for i in range(len(texts))]
