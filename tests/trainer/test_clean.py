"""Cleaning and deduplication: what is normalised, what is dropped and why, which records group together."""

from __future__ import annotations

import pytest

from tunesmith.config import Clean
from tunesmith.trainer.clean import clean_records, clean_text, strip_boilerplate
from tunesmith.trainer.dedup import dedup_records, group_near_duplicate_chunks
from tunesmith.trainer.records import Record

CODE_ANSWER = (
    "Use a generator:\n"
    "\n"
    "```python\n"
    "def pairs(items):\n"
    "    for left, right in zip(items, items[1:]):\n"
    "        if left  != right:  # two spaces kept\n"
    "            yield left, right\n"
    "\n"
    "\tprint('tab-indented')\n"
    "```"
)
TABLE_ANSWER = (
    "| name   | qty |\n|--------|-----|\n| apples |   3 |\n| pears  |  12 |\n\n- fruit\n  - nested item\n    1. deeper"
)


@pytest.mark.parametrize(
    "raw, form, cleaned",
    [
        pytest.param(CODE_ANSWER, "NFC", CODE_ANSWER, id="code keeps indentation byte for byte"),
        pytest.param(TABLE_ANSWER, "NFC", TABLE_ANSWER, id="markdown table and nested list keep their columns"),
        pytest.param("  hello   world  ", "NFC", "hello   world", id="a lone line is trimmed, inner spaces kept"),
        pytest.param(
            "    x = 1\n    if x:\n        y = 2\n",
            "NFC",
            "x = 1\nif x:\n    y = 2",
            id="a block indented as a whole keeps its relative indentation",
        ),
        pytest.param(
            "def f():  \n    return 1\t\t\nend \u00a0",
            "NFC",
            "def f():\n    return 1\nend",
            id="trailing spaces and tabs go",
        ),
        pytest.param("line one\r\n  line two\rline three", "NFC", "line one\n  line two\nline three", id="CRLF and CR"),
        pytest.param("a\n\n\n\n\nb", "NFC", "a\n\nb", id="blank lines collapse"),
        pytest.param("a\n   \n\t\n\n    b", "NFC", "a\n\n    b", id="whitespace-only lines count as blank"),
        pytest.param("\n\n  \n  first\n    second\n\n\n", "NFC", "first\n  second", id="the whole text is trimmed"),
        pytest.param("zero\u200bwidth\x00 and\x07 bell\ufeff", "NFC", "zerowidth and bell", id="control chars go"),
        pytest.param("\x1b[31m    red\x7f\x0c", "NFC", "[31m    red", id="control chars go, indentation stays"),
        pytest.param("cafe\u0301", "NFC", "caf\u00e9", id="NFC"),
        pytest.param("\ufb01ne \u2460", "NFKC", "fine 1", id="NFKC"),
        pytest.param("\ufb01ne", "none", "\ufb01ne", id="no normalisation"),
        pytest.param("tab\tstays\t\ttwo", "NFC", "tab\tstays\t\ttwo", id="tabs are kept as they are"),
    ],
)
def test_clean_text(raw, form, cleaned):
    assert clean_text(raw, form) == cleaned


def test_a_code_reply_reaches_training_with_its_indentation():
    record = Record(
        "chat",
        "qa.jsonl:1",
        messages=(
            {"role": "user", "content": "  How do I pair items?  "},
            {"role": "assistant", "content": CODE_ANSWER + "  \r\n"},
        ),
    )
    kept = clean_records([record], Clean()).kept
    assert [m["content"] for m in kept[0].messages] == ["How do I pair items?", CODE_ANSWER]


def test_gutenberg_header_and_footer_are_stripped_and_plain_text_is_untouched():
    book = (
        "The Project Gutenberg eBook of Tales\nlicence blah\n*** START OF THE PROJECT GUTENBERG EBOOK TALES ***\n"
        "Once upon a time.\n*** END OF THE PROJECT GUTENBERG EBOOK TALES ***\nmore licence"
    )
    assert strip_boilerplate(book).strip() == "Once upon a time."
    assert strip_boilerplate("No markers here.") == "No markers here."


def _chat(question: str, answer: str, origin: str = "qa.csv:2") -> Record:
    return Record(
        "chat", origin, messages=({"role": "user", "content": question}, {"role": "assistant", "content": answer})
    )


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


_RECIPE = (
    "Knead the dough for ten minutes on a floured board, then leave it to rise in a warm kitchen until it has "
    "doubled, shape it into a loaf and bake it in a hot oven for forty minutes"
)


@pytest.mark.parametrize(
    "first, second",
    [
        pytest.param(CODE_ANSWER, CODE_ANSWER.replace("    ", "  "), id="indentation width"),
        pytest.param(CODE_ANSWER, CODE_ANSWER.replace("    ", "\t"), id="tabs against spaces"),
        pytest.param(TABLE_ANSWER, TABLE_ANSWER.replace("   ", " "), id="table padding"),
        pytest.param("one  two\n\nthree", "one two\nthree", id="inner runs and blank lines"),
    ],
)
def test_whitespace_only_differences_are_still_exact_duplicates_after_cleaning(first, second):
    records = [_chat("Show me.", first, "a.csv:2"), _chat("Show  me.", second, "a.csv:3")]
    cleaned = clean_records(records, Clean(min_chars=1)).kept
    assert cleaned[0].messages[1]["content"] != cleaned[1].messages[1]["content"]  # the data keeps its layout
    result = dedup_records(cleaned, exact=True, near=False, threshold=0.8, seed=1)
    assert [r.origin for r in result.kept] == ["a.csv:2"] and dict(result.dropped) == {"duplicate": 1}


@pytest.mark.parametrize(
    "second",
    [
        pytest.param("    " + _RECIPE.replace(", ", ",\n    ") + " today", id="re-indented with a word added"),
        pytest.param(_RECIPE.replace(" ", "   ").replace("minutes", "mins"), id="spaced out with a word changed"),
    ],
)
def test_near_duplicates_ignore_layout(second):
    records = [Record("text", "a", text=_RECIPE), Record("text", "b", text=second)]
    cleaned = clean_records(records, Clean(min_chars=1)).kept
    assert len(dedup_records(cleaned, exact=True, near=True, threshold=0.8, seed=1).kept) == 1
    grouped = dedup_records(cleaned, exact=True, near=False, threshold=0.8, seed=1).kept
    assert len(grouped) == 2 and grouped[0].group == grouped[1].group


_PASSAGE = "the storm broke over the point at midnight and the keeper climbed to the lamp with his oil can and his coat"
_OTHER = "a recipe for bread needs flour water salt and yeast and a warm kitchen and patience for the dough to rise"


def _chunks(*texts_and_groups: tuple[str, str]) -> list[Record]:
    return [Record("text", f"doc#chunk{i}", text=text, group=group) for i, (text, group) in enumerate(texts_and_groups)]


@pytest.mark.parametrize(
    "records, groups",
    [
        pytest.param(
            _chunks(
                ("opening words of one book " * 5, "a:0"),
                (_PASSAGE, "a:1"),
                (_PASSAGE + " again", "b:0"),
                (_OTHER, "b:1"),
            ),
            ["a:0", "a:1", "a:1", "b:1"],
            id="a shared passage joins its two blocks",
        ),
        pytest.param(
            _chunks((_PASSAGE, "x:1"), (_OTHER, "y:0"), (_PASSAGE.upper(), "x:0"), (_OTHER + " today", "z:3")),
            ["x:0", "y:0", "x:0", "y:0"],
            id="the merged group takes the smallest name",
        ),
        pytest.param(_chunks((_PASSAGE, "a:0"), (_OTHER, "a:1")), ["a:0", "a:1"], id="different chunks stay apart"),
    ],
)
def test_near_duplicate_chunks_share_a_group(records, groups):
    assert [r.group for r in group_near_duplicate_chunks(records, threshold=0.8, seed=1)] == groups


def test_grouping_chunks_leaves_chats_and_a_lone_chunk_alone():
    chat = _chat("What happened at the point?", _PASSAGE)
    records = [chat, *_chunks((_PASSAGE, "a:0"))]
    assert group_near_duplicate_chunks(records, threshold=0.8, seed=1) == records
