"""Seeded prose of random words: no phrase repeats by chance, so any text shared between two chunks was copied."""

from __future__ import annotations

import random
from typing import Any


def random_prose(seed: int, paragraphs: int, sentences: int = 5) -> str:
    rng = random.Random(seed)

    def word() -> str:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 6)))

    return "\n\n".join(
        " ".join(f"{word().capitalize()} {word()} {word()}." for _ in range(sentences)) for _ in range(paragraphs)
    )


def token_runs(tokenizer: Any, text: str, length: int) -> set[tuple[int, ...]]:
    """Every run of `length` consecutive token ids of `text`."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return {tuple(ids[i : i + length]) for i in range(len(ids) - length + 1)}
