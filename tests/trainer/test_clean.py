"""Cleaning and deduplication: what is normalised, what is dropped and why, which records group together."""

from __future__ import annotations

import pytest
from tunesmith.trainer.clean import clean_records, clean_text, strip_boilerplate
from tunesmith.trainer.dedup import dedup_records
from tunesmith.trainer.records import Record

from tunesmith.config import Clean


@pytest.mark.parametrize("raw, form, cleaned", [
    ("  hello   world  ", "NFC", "hello world"),
    ("line one\r\nline two\rline three", "NFC", "line one\nline two\nline three"),
    ("a\n\n\n\n\nb", "NFC", "a\n\nb"),
    ("zero\u200bwidth\x00 and\x07 bell\ufeff", "NFC", "zerowidth and bell"),
    ("cafe\u0301", "NFC", "caf\u00e9"),
    ("\ufb01ne \u2460", "NFKC", "fine 1"),
    ("\ufb01ne", "none", "\ufb01ne"),
    ("tab\tstays\tone space", "NFC", "tab stays one space"),
])
def test_clean_text(raw, form, cleaned):
    assert clean_text(raw, form) == cleaned


def test_gutenberg_header_and_footer_are_stripped_and_plain_text_is_untouched():
    book = ("The Project Gutenberg eBook of Tales\nlicence blah\n*** START OF THE PROJECT GUTENBERG EBOOK TALES ***\n"
            "Once upon a time.\n*** END OF THE PROJECT GUTENBERG EBOOK TALES ***\nmore licence")
    assert strip_boilerplate(book).strip() == "Once upon a time."
    assert strip_boilerplate("No markers here.") == "No markers here."


def _chat(question: str, answer: str, origin: str = "qa.csv:2") -> Record:
    return Record("chat", origin, messages=({"role": "user", "content": question},
                                            {"role": "assistant", "content": answer}))


def test_filters_drop_records_with_their_reason():
    records = [
        _chat("What is tea?", "A drink made from leaves."),
        _chat("Empty answer?", "   "),
        _chat("Hi", "Yo"),
        _chat("Long?", "word " * 100),
        _chat("Who are you?", "As an AI language model, I cannot say."),
        _chat("As an AI language model, what is tea?", "A drink."),  # the phrase in the question is fine
        Record("text", "book.txt", text="\x00\x01"),
    ]
    config = Clean(min_chars=10, max_chars=200, banned_phrases=["as an ai language model"])
    result = clean_records(records, config)
    assert [r.messages[0]["content"] for r in result.kept] == ["What is tea?", "As an AI language model, what is tea?"]
    assert dict(result.dropped) == {"empty": 2, "too_short": 1, "too_long": 1, "banned_phrase": 1}


def test_exact_duplicates_ignore_case_and_spacing_and_near_duplicates_are_grouped_or_dropped():
    base = "the lighthouse keeper climbed the stairs at dusk to light the great lamp for the ships at sea"
    records = [
        Record("text", "a", text=base),
        Record("text", "b", text=base.upper().replace(" ", "  ")),  # exact duplicate after normalising
        Record("text", "c", text=base + " tonight"),  # near-duplicate
        Record("text", "d", text="a recipe for bread needs flour water salt and yeast and a warm kitchen"),
    ]
    dropped = dedup_records(records, exact=True, near=True, threshold=0.8, seed=1)
    assert [r.origin for r in dropped.kept] == ["a", "d"]
    assert dict(dropped.dropped) == {"duplicate": 1, "near_duplicate": 1}
    grouped = dedup_records(records, exact=True, near=False, threshold=0.8, seed=1)
    assert [r.origin for r in grouped.kept] == ["a", "c", "d"]
    groups = {r.origin: r.group for r in grouped.kept}
    assert groups["a"] == groups["c"] != groups["d"]


def test_near_duplicate_threshold_is_respected():
    a = "one two three four five six seven eight nine ten eleven twelve"
    b = "one two three four five six seven eight nine ten something else"
    records = [Record("text", "a", text=a), Record("text", "b", text=b)]
    assert len(dedup_records(records, exact=True, near=True, threshold=0.95, seed=1).kept) == 2
    assert len(dedup_records(records, exact=True, near=True, threshold=0.5, seed=1).kept) == 1
