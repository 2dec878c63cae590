"""ROUGE-L, the demo's measure of "answers like the data": the longest common subsequence of words, as an F1."""

from __future__ import annotations

import pytest

from tunesmith.similarity import longest_common_subsequence, rouge_l, words

LCS = [
    ("identical", "a b c", "a b c", 3),
    ("in order, not adjacent", "a b c d", "a x c y d", 3),
    ("order matters", "a b c", "c b a", 1),
    ("nothing in common", "a b", "c d", 0),
    ("one side empty", "", "a b", 0),
    ("longer second", "b d", "a b c d e", 2),
]


@pytest.mark.parametrize(("first", "second", "length"), [case[1:] for case in LCS], ids=[case[0] for case in LCS])
def test_longest_common_subsequence(first, second, length):
    assert longest_common_subsequence(first.split(), second.split()) == length
    assert longest_common_subsequence(second.split(), first.split()) == length


def test_words_are_lower_cased_runs_of_letters_and_digits():
    assert words("Run `tunesmith package --base BASE`, then runs/NAME/adapter!") == [
        "run",
        "tunesmith",
        "package",
        "base",
        "base",
        "then",
        "runs",
        "name",
        "adapter",
    ]


ROUGE = [
    ("the same answer", "Run `tunesmith lint Modelfile`.", "run tunesmith lint modelfile", 1.0),
    ("no word in common", "Q4_K_M by default.", "Paris.", 0.0),
    ("an empty answer", "Q4_K_M by default.", "", 0.0),
    # 3 of 4 reference words, in order, among 6 answer words: P = 3/6, R = 3/4, F1 = 0.6
    ("half the answer, most of the reference", "use tunesmith lint here", "please use tunesmith to lint it", 0.6),
]


@pytest.mark.parametrize(
    ("reference", "candidate", "score"), [case[1:] for case in ROUGE], ids=[case[0] for case in ROUGE]
)
def test_rouge_l_is_the_f1_of_the_longest_common_subsequence(reference, candidate, score):
    assert rouge_l(reference, candidate) == pytest.approx(score)
