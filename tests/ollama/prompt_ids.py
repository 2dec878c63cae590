"""What the prompt-token tests compare: the ids training feeds before a reply, the ids llama.cpp evaluates for a
rendered text, a package's model in the embedded backend, and messages in the shape Ollama's /api/chat takes."""

from __future__ import annotations

from pathlib import Path

from tunesmith.server.backends.llamacpp import LlamaCppBackend
from tunesmith.trainer.format import IGNORE, format_record
from tunesmith.trainer.records import Record


def trained_prompt(tokenizer, conversation: list[dict], tools: tuple[dict, ...] = ()) -> list[int]:
    """The ids the trainer feeds before the last reply's first learned token."""
    example = format_record(Record("chat", "test", messages=tuple(conversation), tools=tools), tokenizer, 10**6)
    learned = [i for i, label in enumerate(example.labels) if label != IGNORE]
    last_start = max(i for i in learned if i - 1 not in learned)
    return example.input_ids[:last_start]


def gguf_ids(model, text: str) -> list[int]:
    """The ids llama.cpp evaluates for `text` with the GGUF's own tokenizer: BOS where the GGUF adds one, then the text
    with its special tokens read as such."""
    return ([model.llm.token_bos()] if model.adds_bos else []) + model.llm.tokenize(
        text.encode(), add_bos=False, special=True
    )


def loaded_model(backend: LlamaCppBackend, package: Path):
    """The embedded backend's loaded model of the package folder `package`."""
    return next(model for model in backend._models.values() if model.package.folder == package)


def ollama_messages(messages) -> list[dict]:
    """Messages as Ollama's /api/chat takes them: reasoning as `thinking`, calls without `type`."""
    sent = []
    for message in messages:
        m = {("thinking" if key == "reasoning_content" else key): value for key, value in message.items()}
        if m.get("tool_calls"):
            m["tool_calls"] = [{"id": c["id"], "function": c["function"]} for c in m["tool_calls"]]
        sent.append(m)
    return sent
