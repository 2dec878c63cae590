"""How alike two answers are in words: ROUGE-L, the F-measure of their longest common subsequence of words.

Hand-written because it is twenty lines, where the `rouge-score` package would bring nltk and absl along for them.
Words are runs of lower-case letters and digits, as rouge-score's default tokenizer splits them (no stemming).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["longest_common_subsequence", "rouge_l", "words"]

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """The words ROUGE-L compares: lower-cased runs of letters and digits (`runs/NAME/adapter` is three)."""
    return _WORD.findall(text.lower())


def longest_common_subsequence(first: Sequence[str], second: Sequence[str]) -> int:
    """The length of the longest sequence of items found in both, in order though not necessarily adjacent."""
    if len(second) > len(first):
        first, second = second, first
    previous = [0] * (len(second) + 1)
    for item in first:
        current = [0]
        for j, other in enumerate(second):
            current.append(previous[j] + 1 if item == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F1 of `candidate` against `reference`, from 0 (no word in common) to 1 (the same words in order)."""
    expected, given = words(reference), words(candidate)
    common = longest_common_subsequence(expected, given) if expected and given else 0
    if not common:
        return 0.0
    precision, recall = common / len(given), common / len(expected)
    return 2 * precision * recall / (precision + recall)
