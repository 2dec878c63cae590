"""Chunking by tokens of the base tokenizer on sentence/paragraph boundaries; the seeded, group-keeping split."""

from __future__ import annotations

import itertools
import random

import pytest

from tests.trainer.prose import random_prose, token_runs
from tunesmith.trainer.base_model import load_tokenizer
from tunesmith.trainer.chunk import chunk_records, chunk_text
from tunesmith.trainer.records import Record
from tunesmith.trainer.split import split_records

SENTENCES = [f"Sentence number {i} tells of the keeper and the sea." for i in range(60)]
BOOK = "\n\n".join(" ".join(SENTENCES[i : i + 4]) for i in range(0, 60, 4))


@pytest.fixture(scope="module")
def tokenizer(tiny_llama):
    return load_tokenizer(tiny_llama)


def _tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("max_tokens, overlap", [(40, 0), (64, 16), (150, 30), (1000, 0)])
def test_chunks_fit_the_token_budget_end_on_sentences_and_cover_the_text(tokenizer, max_tokens, overlap):
    chunks = chunk_text(BOOK, tokenizer, max_tokens, overlap)
    assert all(_tokens(tokenizer, c) <= max_tokens for c in chunks)
    assert all(c.endswith("sea.") for c in chunks)
    covered = [s for s in SENTENCES if any(s in c for c in chunks)]
    assert covered == SENTENCES
    if max_tokens >= _tokens(tokenizer, BOOK):
        assert chunks == [BOOK]
    else:
        assert len(chunks) > 1
        # Budgets are used: a chunk could not also have held the next sentence, or it ends a paragraph and is
        # at least three quarters full.
        for current, following in itertools.pairwise(chunks):
            new = next(s for s in SENTENCES if s in following and s not in current)
            full = _tokens(tokenizer, f"{current} {new}") > max_tokens
            paragraph = (
                BOOK.split(current, 1)[1].startswith("\n\n") and _tokens(tokenizer, current) >= 0.75 * max_tokens
            )
            assert full or paragraph


def test_overlap_repeats_the_tail_of_the_previous_chunk(tokenizer):
    chunks = chunk_text(BOOK, tokenizer, 100, 40)
    for previous, current in itertools.pairwise(chunks):
        first_sentence = current.split(". ")[0].split("\n\n")[0]
        assert first_sentence.rstrip(".") in previous
        assert current.split(". ")[1].split("\n\n")[0] not in previous  # one sentence (31 tokens) fits in 40
    no_overlap = chunk_text(BOOK, tokenizer, 100, 0)
    for previous, current in itertools.pairwise(no_overlap):
        assert current.split(".")[0] not in previous


def test_a_sentence_longer_than_the_window_is_cut_by_tokens(tokenizer):
    run_on = "and the sea " * 80
    chunks = chunk_text(run_on.strip(), tokenizer, 32, 0)
    assert len(chunks) > 1 and all(_tokens(tokenizer, c) <= 32 for c in chunks)
    assert "".join(chunks).replace(" ", "") == run_on.replace(" ", "")


VERSE = "The keeper wrote:\n\n    The lamp is lit.\n      The sea is grey.\n    The gulls are home.\n\n" + "\n\n".join(
    f'"Light {i} burns," he said. (The night was long.) Dawn came at last!\n  Then sleep.' for i in range(12)
)
CODE = "Run this:\n\n" + "\n\n".join(f"def step_{i}(x):\n    y = x + {i}.\n    return y." for i in range(15))


@pytest.mark.parametrize(
    "text, phrase",
    [
        pytest.param(VERSE, '"Light 3 burns," he said.', id="verse and quotes"),
        pytest.param(CODE, "    return y.", id="code"),
    ],
)
@pytest.mark.parametrize("max_tokens, overlap", [(40, 0), (64, 16), (2000, 0)])
def test_chunks_keep_the_layout_of_the_text(tokenizer, text, phrase, max_tokens, overlap):
    chunks = chunk_text(text, tokenizer, max_tokens, overlap)
    assert all(chunk in text for chunk in chunks)  # verbatim: line breaks, indentation and quotes as written
    if max_tokens >= _tokens(tokenizer, text):
        assert chunks == [text]
    else:
        assert len(chunks) > 1
    assert any(phrase in chunk for chunk in chunks)


def test_chunk_records_keep_chats_and_label_chunks_with_their_origin(tokenizer):
    chat = Record("chat", "qa.csv:2", messages=({"role": "user", "content": "hi"},), group="g-chat")
    book = Record("text", "book.txt", text=BOOK, group="g-book")
    out = chunk_records([chat, book], tokenizer, 40, 0)
    assert out[0] is chat
    assert out[1].origin == "book.txt#chunk1" and len(out) > 10
    assert {r.group for r in out[1:9]} == {"g-book:0"} and out[9].group == "g-book:1"


def test_every_block_starts_where_the_previous_chunk_ended(tokenizer):
    chunks = chunk_text(BOOK, tokenizer, 100, 40, block=3)
    assert len(chunks) > 7
    for index, (previous, current) in enumerate(itertools.pairwise(chunks), start=1):
        first_sentence = current[: current.index(" tells")]  # "Sentence number N"
        assert (f"{first_sentence} tells" in previous) == (index % 3 != 0), index


@pytest.mark.parametrize("seed, overlap, val_fraction", [(0, 24, 0.1), (1, 24, 0.2), (2, 40, 0.1), (3, 40, 0.3)])
def test_no_text_of_validation_appears_in_training(tokenizer, seed, overlap, val_fraction):
    books = [Record("text", f"book{i}.txt", text=random_prose(seed * 10 + i, 30), group=f"g{i}") for i in range(3)]
    chunks = chunk_records(books, tokenizer, 80, overlap)
    assert len({r.group for r in chunks}) >= 15  # several blocks per book
    shared = [
        len(token_runs(tokenizer, a.text, 8) & token_runs(tokenizer, b.text, 8))
        for a, b in itertools.pairwise(chunks)
        if a.origin.split("#")[0] == b.origin.split("#")[0]
    ]
    assert sum(1 for n in shared if n) >= len(shared) * 0.8  # overlap is on: most neighbours share text
    train, val = split_records(chunks, val_fraction, seed)
    assert val and train
    seen = set().union(*(token_runs(tokenizer, r.text, 8) for r in train))  # 8 tokens: half a sentence
    assert [r.origin for r in val if token_runs(tokenizer, r.text, 8) & seen] == []


def test_chunks_of_near_identical_documents_keep_their_one_group(tokenizer):
    book = random_prose(1, 30)
    records = [
        Record("text", "a.txt", text=book, group="g"),
        Record("text", "b.txt", text=random_prose(9, 3) + "\n\n" + book, group="g"),  # with a preface
        Record("text", "c.txt", text=random_prose(2, 30), group="h"),
    ]
    out = chunk_records(records, tokenizer, 80, 24)
    assert {r.group for r in out if not r.origin.startswith("c.txt")} == {"g"}
    assert {r.group for r in out if r.origin.startswith("c.txt")} == {f"h:{i}" for i in range(6)}


def _records(n: int) -> list[Record]:
    return [Record("text", f"f:{i}", text=str(i), group=f"g{i // 3}") for i in range(n)]


def test_split_is_deterministic_for_a_seed_and_independent_of_row_order():
    records = _records(300)
    train, val = split_records(records, 0.1, seed=7)
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    _, val2 = split_records(shuffled, 0.1, seed=7)
    assert {r.origin for r in val} == {r.origin for r in val2}
    assert 25 <= len(val) <= 35 and len(train) + len(val) == 300
    _, other = split_records(records, 0.1, seed=8)
    assert {r.origin for r in other} != {r.origin for r in val}


def test_split_never_puts_one_group_on_both_sides():
    train, val = split_records(_records(300), 0.2, seed=3)
    assert not {r.group for r in train} & {r.group for r in val}


@pytest.mark.parametrize("n, fraction, expected_val", [(1, 0.5, 0), (5, 0.0, 0), (2, 0.1, 1)])
def test_split_edge_cases_keep_training_non_empty(n, fraction, expected_val):
    records = [Record("text", f"f:{i}", text=str(i), group=f"g{i}") for i in range(n)]
    train, val = split_records(records, fraction, seed=1)
    assert len(val) == expected_val and len(train) == n - expected_val


@pytest.mark.parametrize(
    "sizes, fraction, low, high",
    [
        pytest.param([90] + [8] * 11, 0.2, 29, 43, id="a large family is passed over, blocks fill in"),
        pytest.param([50, 50, 10], 0.1, 10, 10, id="every group but one too large: the small one validates"),
        pytest.param([50, 60, 70], 0.1, 50, 50, id="all too large: the smallest validates"),
        pytest.param([3, 3], 0.9, 3, 3, id="one group always trains"),
    ],
)
def test_split_passes_over_groups_that_would_overshoot(sizes, fraction, low, high):
    records = [Record("text", f"{g}:{i}", text="x", group=f"g{g}") for g, size in enumerate(sizes) for i in range(size)]
    for seed in range(8):
        train, val = split_records(records, fraction, seed)
        assert low <= len(val) <= high and len(train) + len(val) == len(records)
        assert not {r.group for r in train} & {r.group for r in val}
