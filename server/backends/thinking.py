"""A model's reasoning out of its streamed text, for the embedded backend (Ollama splits its own).

Thinking models (Qwen3, DeepSeek-R1 and its distills) open their reply with `<think>`, reason, close with
`</think>` and answer. The splitter passes reasoning and answer on as they come, holding back only what may be a
partial tag; as Ollama's thinking parser (thinking/parser.go), it drops the blank space after each tag, so both
backends return the same reasoning, and a reply that does not open with `<think>` is all answer. A prompt that
already ends inside `<think>` (the R1 distills' generation prompt) starts the reply in the reasoning. Hand-written: llama-cpp-python splits reasoning only in its own fixed chat handlers.
"""

from __future__ import annotations

__all__ = ["CLOSE_TAG", "OPEN_TAG", "ThinkTagSplitter", "prompt_opens_thinking"]

OPEN_TAG, CLOSE_TAG = "<think>", "</think>"

_BEFORE, _START, _THINKING, _AFTER, _ANSWER = range(5)


def prompt_opens_thinking(prompt: str) -> bool:
    """Whether the prompt ends inside an open <think> block, so the reply starts with reasoning."""
    return prompt.rstrip().endswith(OPEN_TAG)


def _partial(text: str, tag: str) -> int:
    """How many characters at the end of `text` could begin `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkTagSplitter:
    """Feed the model's text piece by piece; get back (reasoning, answer) for each piece."""

    def __init__(self, *, in_thinking: bool = False) -> None:
        self._state = _START if in_thinking else _BEFORE
        self._pending = ""

    def feed(self, text: str) -> tuple[str, str]:
        self._pending += text
        reasoning, answer = [], []
        while True:
            pending = self._pending
            if self._state == _BEFORE:
                stripped = pending.lstrip()
                if stripped.startswith(OPEN_TAG):
                    self._pending, self._state = stripped[len(OPEN_TAG) :], _START
                elif not stripped or OPEN_TAG.startswith(stripped):
                    break  # blank space or a partial <think>: wait for more
                else:  # no reasoning: the whole reply, blank start included, is the answer
                    self._state = _ANSWER
                continue
            if self._state in (_START, _AFTER):
                stripped = pending.lstrip()
                self._pending = stripped
                if not stripped:
                    break
                self._state = _THINKING if self._state == _START else _ANSWER
                continue
            if self._state == _THINKING:
                thought, found, rest = pending.partition(CLOSE_TAG)
                if found:
                    reasoning.append(thought)
                    self._pending, self._state = rest, _AFTER
                    continue
                keep = _partial(pending, CLOSE_TAG)
                reasoning.append(pending[: len(pending) - keep])
                self._pending = pending[len(pending) - keep :]
                break
            answer.append(pending)
            self._pending = ""
            break
        return "".join(reasoning), "".join(answer)

    def finish(self) -> tuple[str, str]:
        """What is held back when the model stops: a partial tag, as the reasoning or answer it was part of."""
        pending, self._pending = self._pending, ""
        if self._state == _THINKING:
            return pending, ""
        if self._state == _BEFORE:
            return "", pending
        return "", ""
