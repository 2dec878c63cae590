"""Shared fixtures for the modelfiles tests: the embedded SmolLM2 tokenizer (both for its own template and as
apply_chat_template's host). Go's renderer and the reference templates come from tests/fixtures/go_render.py.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """The embedded SmolLM2-135M-Instruct tokenizer (real ChatML template, eos <|im_end|>, no BOS added)."""
    from transformers import AutoTokenizer

    from tunesmith.embedded_base import embedded_base_dir

    return AutoTokenizer.from_pretrained(embedded_base_dir())
