"""Loading a GGUF for serving (server/backends/llama_load.py) keeps the text of tokens longer than 32 bytes, which
llama-cpp-python's own detokenize drops: the embedded SmolLM2's rule of 64 dashes is one."""

from __future__ import annotations

import pytest

from tunesmith.embedded_base import embedded_gguf_path
from tunesmith.server.backends.llama_load import load_llama

DASHES = "-" * 64
PROMPT = "A rule:\n"


@pytest.fixture(scope="module")
def dashes_token():
    llm = load_llama(embedded_gguf_path(), n_ctx=128)
    [token] = llm.tokenize(DASHES.encode(), add_bos=False)
    return llm, token


def test_a_generated_token_longer_than_32_bytes_keeps_its_text(dashes_token):
    llm, token = dashes_token
    for stream in (False, True):
        # The bias makes the model write the long token twice, whatever it would have written.
        answer = llm.create_completion(PROMPT, max_tokens=2, temperature=0, logit_bias={token: 100.0}, stream=stream)
        text = "".join(chunk["choices"][0]["text"] for chunk in answer) if stream else answer["choices"][0]["text"]
        assert text == DASHES * 2


def test_text_of_long_and_short_tokens_round_trips(dashes_token):
    llm, _ = dashes_token
    text = "def f():\n" + " " * 40 + "return 1\n" + DASHES + " done"
    assert llm.detokenize(llm.tokenize(text.encode(), add_bos=False)).decode() == text


def test_llama_cpp_pythons_own_detokenize_still_drops_them():
    """Why the replacement exists; when this fails, llama-cpp-python keeps long pieces and it can go."""
    from llama_cpp import Llama

    llm = Llama(str(embedded_gguf_path()), n_ctx=128, verbose=False)
    [token] = llm.tokenize(DASHES.encode(), add_bos=False)
    assert llm.detokenize([token]) == b""
