"""Records → token ids and labels: chats through the base model's own chat template, loss on assistant tokens only;
raw text on every token, with EOS appended per document.

Assistant spans are found by rendering the conversation prefix by prefix (the template's own output, whatever the
family), then mapped to tokens through the tokenizer's offsets; `{% generation %}` markers are not needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tunesmith.errors import DataError, ModelError
from tunesmith.modelfiles.prompt import prompt_ids, strip_template_bos, tokenizer_adds_bos
from tunesmith.trainer.records import Record

__all__ = ["IGNORE", "Tokenized", "assistant_spans", "format_record"]

IGNORE = -100


@dataclass(frozen=True)
class Tokenized:
    input_ids: list[int]
    labels: list[int]


def _render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def assistant_spans(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of what the assistant says (including its end-of-turn)."""
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError("the base model's tokenizer has no chat template, so chat data cannot be formatted",
                         where="tokenizer_config.json",
                         hint="Use an instruct/chat base model, or train on raw text (a `text` column or .txt files).")
    full = _render(tokenizer, messages, False)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant" or index == 0:
            continue
        before = _render(tokenizer, messages[:index], True)
        upto = _render(tokenizer, messages[: index + 1], False)
        # A template may close the whole conversation (e.g. an EOS after the last turn): only the part of `upto`
        # that the full rendering shares counts, and it must reach past the generation prompt.
        end = len(os.path.commonprefix([upto, full]))
        if not (full.startswith(before) and end > len(before)):
            spans = []
            break
        spans.append((len(before), end))
    if not spans and messages[-1]["role"] == "assistant":
        # Some templates rewrite earlier turns (drop old reasoning) or move the system prompt into the last user turn
        # (Mistral), so only the last reply is learned: after the very prompt it is served with, as the template
        # renders the reply where the conversation is a prefix of itself (with, else without, its system prompt).
        before = _render(tokenizer, messages[:-1], True)
        for variant in (messages, [m for m in messages if m["role"] != "system"]):
            variant_full, variant_before = _render(tokenizer, variant, False), _render(tokenizer, variant[:-1], True)
            if variant_full.startswith(variant_before) and len(variant_full) > len(variant_before):
                full = before + variant_full[len(variant_before):]
                spans = [(len(before), len(full))]
                break
    if not spans:
        raise ModelError("cannot locate the assistant's replies in the chat template's output", where="chat_template",
                         hint="The template must render a conversation as its prefix plus the reply; end each chat "
                              "with an assistant message, or fix the template.")
    return full, spans


def format_record(record: Record, tokenizer: Any, max_seq_len: int) -> Tokenized:
    """Token ids and labels of one record, truncated to `max_seq_len` tokens.

    Raw text ends with EOS where its document ends; a chunk that the next chunk continues does not, so the model
    does not learn to stop mid-book.
    """
    if record.kind == "text":
        ids = list(tokenizer(record.text)["input_ids"])
        if tokenizer.eos_token_id is None:
            raise ModelError("the tokenizer has no EOS token", where="tokenizer_config.json",
                             hint="Set `eos_token` in tokenizer_config.json.")
        if not record.ends_document:
            ids = ids[:max_seq_len]
            return Tokenized(ids, list(ids))
        ids = ids[: max_seq_len - 1]
        if not ids or ids[-1] != tokenizer.eos_token_id:
            ids.append(tokenizer.eos_token_id)
        return Tokenized(ids, list(ids))
    try:
        text, spans = assistant_spans(tokenizer, list(record.messages))
    except ModelError as err:
        raise ModelError(err.message, where=f"{record.origin} ({err.where})", hint=err.hint) from err
    except Exception as err:  # a jinja template raising on the data (e.g. roles out of order)
        raise DataError(f"the chat template rejects this conversation: {err}", where=record.origin,
                        hint="Check the order of roles (system, then user/assistant alternating).") from err
    # The prompt rule of serving: the template's text without the BOS it writes, BOS first when the tokenizer adds
    # one (as Ollama and llama.cpp do), so a template that never writes BOS is trained with the BOS it is served with.
    stripped = strip_template_bos(text, tokenizer.chat_template, tokenizer.bos_token)
    shift = len(text) - len(stripped)
    spans = [(start - shift, end - shift) for start, end in spans]
    # The last reply's prompt is tokenized alone, as a server tokenizes it: whitespace closing a generation prompt
    # (Llama 3's "\n\n") may otherwise merge differently with the reply that follows it.
    cut = spans[-1][0]
    token_ids, starts = [], []
    for offset, part in ((0, stripped[:cut]), (cut, stripped[cut:])):
        encoded = tokenizer(part, add_special_tokens=False, return_offsets_mapping=True)
        token_ids += encoded["input_ids"]
        starts += [offset + start for start, _end in encoded["offset_mapping"]]
    ids = prompt_ids(stripped, lambda _: token_ids, add_bos=tokenizer_adds_bos(tokenizer),
                     bos_id=tokenizer.bos_token_id)
    labels = [IGNORE] * (len(ids) - len(token_ids))
    span_index = 0
    for token_id, start in zip(token_ids, starts):
        while span_index < len(spans) and start >= spans[span_index][1]:
            span_index += 1
        inside = span_index < len(spans) and spans[span_index][0] <= start < spans[span_index][1]
        labels.append(token_id if inside else IGNORE)
    return Tokenized(ids[:max_seq_len], labels[:max_seq_len])
