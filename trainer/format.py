"""Records → token ids and labels: chats through the base model's own chat template, loss on assistant tokens only;
raw text on every token, with EOS appended per document.

A chat's tools are rendered by the template (`apply_chat_template(messages, tools=...)`); the assistant's text, tool
calls and thinking are learned (its thinking only read, when the source says `reasoning: context`); tool results,
system and user turns are context.

Assistant spans are found by rendering the conversation prefix by prefix (the template's own output, whatever the
family), then mapped to tokens through the tokenizer's offsets; `{% generation %}` markers are not needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunesmith.errors import DataError, ModelError
from tunesmith.modelfiles.prompt import in_ollama_order, prompt_ids, strip_template_bos, tokenizer_adds_bos
from tunesmith.trainer.records import Record

__all__ = ["IGNORE", "Tokenized", "assistant_spans", "format_record"]

IGNORE = -100


@dataclass(frozen=True)
class Tokenized:
    input_ids: list[int]
    labels: list[int]


def _render(
    tokenizer: Any, messages: list[dict[str, Any]], generation_prompt: bool, tools: Sequence[dict[str, Any]] = ()
) -> str:
    return tokenizer.apply_chat_template(
        messages, tools=list(tools) or None, tokenize=False, add_generation_prompt=generation_prompt
    )


def _render_or_none(tokenizer: Any, messages: list[dict[str, Any]]) -> str | None:
    try:
        return _render(tokenizer, messages, False)
    except Exception:  # noqa: BLE001 (a template written for tools may need them: Hermes iterates `tools` unguarded)
        return None


def assistant_spans(
    tokenizer: Any, messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]] = ()
) -> tuple[str, list[tuple[int, int, int]]]:
    """The rendered conversation and, per learned assistant turn, (start, end, message index) of what it says in
    the rendering (its text, tool calls and thinking, with its end-of-turn).

    Tools and calls are rendered in the order Ollama's TEMPLATEs write them, so the served prompt is the trained one.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(
            "the base model's tokenizer has no chat template, so chat data cannot be formatted",
            where="tokenizer_config.json",
            hint="Use an instruct/chat base model, or train on raw text (a `text` column or .txt files).",
        )
    messages, ordered = in_ollama_order(list(messages), list(tools) or None)
    tools = ordered or ()
    full = _render(tokenizer, messages, False, tools)
    if tools and full == _render_or_none(tokenizer, messages):
        raise ModelError(
            "the base model's chat template renders no tools, so the tool definitions would not reach the model",
            where="chat_template",
            hint="Train a base whose template renders tools (Qwen2.5, Qwen3, Llama 3.1, Mistral Nemo, "
            "Hermes), or leave `tools` out of the data.",
        )
    spans: list[tuple[int, int, int]] = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant" or index == 0:
            continue
        found = _locate(tokenizer, messages, index, tools, full, spans[-1][1] if spans else 0)
        if found is None:
            spans = []
            break
        spans.append((*found, index))
    last = len(messages) - 1
    if messages[last]["role"] == "assistant":
        # The last reply is learned after the very prompt it is served with. Some templates render it otherwise
        # once a reply follows (Hermes closes a last tool result without its newline), or move the system prompt
        # into the last user turn (Mistral): the reply as the template renders it where the conversation is a prefix
        # of itself (with, else without, its system prompt), after the served prompt; earlier replies are kept
        # where that prompt renders them as the whole conversation does.
        before = _render(tokenizer, messages[:-1], True, tools)
        reply: tuple[str, int] | None = None  # the reply's text to the end of the conversation, and its length
        if spans and spans[-1][2] == last:
            start, end, _ = spans[-1]
            reply = (full[start:], end - start) if start != len(before) or not full.startswith(before) else None
        else:
            for variant in (messages, [m for m in messages if m["role"] != "system"]):
                variant_full = _render(tokenizer, variant, False, tools)
                variant_before = _render(tokenizer, variant[:-1], True, tools)
                if variant_full.startswith(variant_before) and len(variant_full) > len(variant_before):
                    reply = (variant_full[len(variant_before) :], len(variant_full) - len(variant_before))
                    break
        if reply is not None:
            shared = len(os.path.commonprefix([before, full]))
            full = before + reply[0]
            spans = [span for span in spans if span[2] != last and span[1] <= shared]
            spans.append((len(before), len(before) + reply[1], last))
    if not spans:
        raise ModelError(
            "cannot locate the assistant's replies in the chat template's output",
            where="chat_template",
            hint="The template must render a conversation as its prefix plus the reply; end each chat "
            "with an assistant message, or fix the template.",
        )
    return full, spans


def _locate(
    tokenizer: Any, messages: list[dict[str, Any]], index: int, tools: Sequence[dict[str, Any]], full: str, after: int
) -> tuple[int, int] | None:
    """(start, end) of assistant turn `index` in `full`: after the prompt the template renders before it, else after
    its generation prompt's first appearance past `after` (for templates that close a last turn otherwise)."""
    before = _render(tokenizer, messages[:index], True, tools)
    upto = _render(tokenizer, messages[: index + 1], False, tools)
    if full.startswith(before) and upto.startswith(before):
        end = _turn_end(full, before, upto, messages[index])
        if end > len(before):
            return len(before), end
    generation_prompt = before[
        len(os.path.commonprefix([before, _render(tokenizer, messages[:index], False, tools)])) :
    ]
    at, own = full.find(generation_prompt, after), upto.rfind(generation_prompt)
    if not generation_prompt.strip() or at < 0 or own < 0:
        return None
    start = at + len(generation_prompt)
    end = _turn_end(full, full[:start], full[:start] + upto[own + len(generation_prompt) :], messages[index])
    return (start, end) if end > start else None


def _turn_end(full: str, before: str, upto: str, message: dict[str, Any]) -> int:
    """Where the assistant turn that `upto` ends with ends in `full` (both start with `before`), or 0."""
    turn = upto[len(before) :]
    said = [
        part for part in (message["content"], *(c["function"]["name"] for c in message.get("tool_calls", ()))) if part
    ]

    def whole(text: str) -> bool:
        return all(part in text for part in said)

    shared = len(os.path.commonprefix([turn, full[len(before) :]]))
    if shared == len(turn) or (shared and whole(turn[:shared])):
        # A template may close the whole conversation (an EOS after the last turn): the shared part counts.
        return len(before) + shared
    # A template may render a turn otherwise once a later turn follows (Qwen3 drops its thinking block): the turn
    # as the last one renders it, less a leading part that holds nothing the assistant says.
    for cut in range(1, len(turn)):
        if not whole(turn[cut:]):
            break
        if full.startswith(turn[cut:], len(before)):
            return len(before) + len(turn) - cut
    return 0


def _without_thinking(
    text: str, spans: list[tuple[int, int, int]], messages: list[dict[str, Any]]
) -> list[tuple[int, int, int]]:
    """Spans that start after each turn's thinking, for thinking that is read as context but not learned."""
    out = []
    for start, end, index in spans:
        reasoning = messages[index].get("reasoning_content", "").strip()
        found = text.find(reasoning, start, end) if reasoning else -1
        out.append((found + len(reasoning), end, index) if found >= 0 else (start, end, index))
    return out


def format_record(record: Record, tokenizer: Any, max_seq_len: int) -> Tokenized:
    """Token ids and labels of one record, truncated to `max_seq_len` tokens.

    Raw text ends with EOS where its document ends; a chunk that the next chunk continues does not, so the model
    does not learn to stop mid-book.
    """
    if record.kind == "text":
        ids = list(tokenizer(record.text)["input_ids"])
        if tokenizer.eos_token_id is None:
            raise ModelError(
                "the tokenizer has no EOS token",
                where="tokenizer_config.json",
                hint="Set `eos_token` in tokenizer_config.json.",
            )
        if not record.ends_document:
            ids = ids[:max_seq_len]
            return Tokenized(ids, list(ids))
        ids = ids[: max_seq_len - 1]
        if not ids or ids[-1] != tokenizer.eos_token_id:
            ids.append(tokenizer.eos_token_id)
        return Tokenized(ids, list(ids))
    try:
        text, turns = assistant_spans(tokenizer, list(record.messages), record.tools)
        if record.reasoning == "context":
            turns = _without_thinking(text, turns, list(record.messages))
    except ModelError as err:
        raise ModelError(err.message, where=f"{record.origin} ({err.where})", hint=err.hint) from err
    except Exception as err:  # a jinja template raising on the data (e.g. roles out of order)
        raise DataError(
            f"the chat template rejects this conversation: {err}",
            where=record.origin,
            hint="Check the order of roles (system, then user/assistant alternating).",
        ) from err
    # The prompt rule of serving: the template's text without the BOS it writes, BOS first when the tokenizer adds
    # one (as Ollama and llama.cpp do), so a template that never writes BOS is trained with the BOS it is served with.
    stripped = strip_template_bos(text, tokenizer.chat_template, tokenizer.bos_token)
    shift = len(text) - len(stripped)
    spans = [(start - shift, end - shift) for start, end, _index in turns]
    # The last reply's prompt is tokenized alone, as a server tokenizes it: whitespace closing a generation prompt
    # (Llama 3's "\n\n") may otherwise merge differently with the reply that follows it.
    cut = spans[-1][0]
    token_ids, starts = [], []
    for offset, part in ((0, stripped[:cut]), (cut, stripped[cut:])):
        encoded = tokenizer(part, add_special_tokens=False, return_offsets_mapping=True)
        token_ids += encoded["input_ids"]
        starts += [offset + start for start, _end in encoded["offset_mapping"]]
    ids = prompt_ids(
        stripped, lambda _: token_ids, add_bos=tokenizer_adds_bos(tokenizer), bos_id=tokenizer.bos_token_id
    )
    labels = [IGNORE] * (len(ids) - len(token_ids))
    span_index = 0
    for token_id, start in zip(token_ids, starts):
        while span_index < len(spans) and start >= spans[span_index][1]:
            span_index += 1
        inside = span_index < len(spans) and spans[span_index][0] <= start < spans[span_index][1]
        labels.append(token_id if inside else IGNORE)
    return Tokenized(ids[:max_seq_len], labels[:max_seq_len])
