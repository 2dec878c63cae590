"""Formatting: chats through real chat templates with loss only on the assistant's tokens; raw text with EOS."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.errors import DataError, ModelError
from tunesmith.trainer.base_model import load_tokenizer
from tunesmith.trainer.format import IGNORE, format_record
from tunesmith.trainer.records import Record

TEMPLATES = Path(__file__).resolve().parents[2] / ".cache" / "reference" / "llama.cpp" / "models" / "templates"

CHAT = (
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris."},
    {"role": "user", "content": "And of Italy?"},
    {"role": "assistant", "content": "Rome is the capital of Italy."},
)


def _labelled_runs(tokenizer, example) -> list[str]:
    """The decoded text of each contiguous run of labelled tokens."""
    runs, current = [], []
    for token, label in zip(example.input_ids, example.labels):
        if label != IGNORE:
            assert label == token
            current.append(token)
        elif current:
            runs.append(tokenizer.decode(current))
            current = []
    if current:
        runs.append(tokenizer.decode(current))
    return runs


@pytest.fixture(scope="module")
def tokenizer(tiny_llama):
    return load_tokenizer(tiny_llama)


def test_chatml_labels_cover_exactly_the_assistant_replies_and_their_end_token(tokenizer):
    example = format_record(Record("chat", "t:1", messages=CHAT), tokenizer, 512)
    assert _labelled_runs(tokenizer, example) == [
        "The capital of France is Paris.<|im_end|>\n",
        "Rome is the capital of Italy.<|im_end|>\n",
    ]
    # Everything the template renders is in the ids, in order: the prompt is context, not target.
    assert tokenizer.decode(example.input_ids) == tokenizer.apply_chat_template(list(CHAT), tokenize=False)


REPLIES = ("The capital of France is Paris.", "Rome is the capital of Italy.")


# Qwen3's template renders earlier turns differently once a later turn exists (it drops their reasoning, and the
# empty think block of the last turn): each reply is labelled as the full conversation renders it.
@pytest.mark.parametrize(
    "template, end_marker, replies",
    [
        ("Qwen-Qwen2.5-7B-Instruct.jinja", "<|im_end|>", REPLIES),
        ("Qwen-Qwen3-0.6B.jinja", "<|im_end|>", REPLIES),
        ("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|eot_id|>", REPLIES),
        ("google-gemma-2-2b-it.jinja", "<end_of_turn>", REPLIES),
        ("microsoft-Phi-3.5-mini-instruct.jinja", "<|end|>", REPLIES),
        ("HuggingFaceTB-SmolLM3-3B.jinja", "<|im_end|>", REPLIES),
    ],
)
def test_real_chat_templates_label_each_reply_up_to_its_end_of_turn(tiny_llama, template, end_marker, replies):
    tokenizer = load_tokenizer(tiny_llama)
    tokenizer.chat_template = (TEMPLATES / template).read_text()
    chat = CHAT[1:] if template.startswith("google-gemma") else CHAT  # Gemma 2 rejects system messages
    example = format_record(Record("chat", "t:1", messages=chat), tokenizer, 4096)
    runs = _labelled_runs(tokenizer, example)
    assert len(runs) == len(replies)
    for run, reply in zip(runs, replies):
        assert reply in run
        assert end_marker in run
        assert "capital of France?" not in run and "Italy?" not in run and "one short sentence" not in run


def test_raw_text_trains_every_token_and_ends_with_eos(tokenizer):
    example = format_record(Record("text", "book.txt", text="Rivers flow to the sea."), tokenizer, 512)
    assert example.labels == example.input_ids
    assert example.input_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(example.input_ids[:-1]) == "Rivers flow to the sea."


def test_eos_ends_a_document_not_each_of_its_chunks(tokenizer):
    from tunesmith.trainer.chunk import chunk_records
    from tunesmith.trainer.records import record_from_json, record_to_json

    book = Record("text", "book.txt", text=" ".join(f"Sentence {i} of the book." for i in range(40)))
    chunks = [record_from_json(record_to_json(c), "x") for c in chunk_records([book], tokenizer, 40, 0)]
    assert len(chunks) > 2
    endings = [format_record(c, tokenizer, 64).input_ids[-1] == tokenizer.eos_token_id for c in chunks]
    assert endings == [False] * (len(chunks) - 1) + [True]
    assert all(tokenizer.eos_token_id not in format_record(c, tokenizer, 64).input_ids for c in chunks[:-1])


def test_truncation_keeps_max_seq_len_tokens_and_eos_for_text(tokenizer):
    example = format_record(Record("text", "book.txt", text="the sea " * 200), tokenizer, 32)
    assert len(example.input_ids) == 32 and example.input_ids[-1] == tokenizer.eos_token_id


def test_tokenizer_without_chat_template_is_a_clear_error_for_chat_data(tiny_llama):
    tokenizer = load_tokenizer(tiny_llama)
    tokenizer.chat_template = None
    with pytest.raises(ModelError, match="no chat template") as info:
        format_record(Record("chat", "qa.csv:7", messages=CHAT), tokenizer, 512)
    assert "qa.csv:7" in str(info.value) and "raw text" in str(info.value)


def test_template_that_raises_on_the_data_names_the_row(tiny_llama):
    tokenizer = load_tokenizer(tiny_llama)
    tokenizer.chat_template = (TEMPLATES / "google-gemma-2-2b-it.jinja").read_text()
    with pytest.raises(DataError, match="chat template rejects") as info:
        format_record(Record("chat", "chats.jsonl:3", messages=CHAT), tokenizer, 512)
    assert info.value.where == "chats.jsonl:3"
