"""measure_quality and its llama.cpp session: checks pass on faithful GGUFs, fail on wrong ones, and say why."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.reference_convert import reference_f16
from tunesmith.packager.quality import PERPLEXITY_RATIO_LIMITS, QualityReport, measure_quality, perplexity
from tunesmith.packager.quality_llama import open_gguf
from tunesmith.packager.quality_text import HELDOUT_TEXT, SAMPLE_PROMPT, SAMPLE_TEXT


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    from tunesmith.embedded_base import embedded_base_dir

    return embedded_base_dir()


@pytest.fixture(scope="session")
def smollm2_f16(tmp_path_factory, smollm2_dir) -> Path:
    return reference_f16(smollm2_dir, tmp_path_factory.getbasetemp() / "smollm2-f16.gguf")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory, smollm2_dir) -> tuple[Path, Path]:
    """A tiny random Llama (float32 weights, SmolLM2's tokenizer and chat template) and its f16 GGUF."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        initializer_range=0.1,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, reference_f16(folder, folder / "tiny-f16.gguf")


@pytest.fixture(scope="session")
def smollm2_report(smollm2_dir, smollm2_f16, tmp_path_factory) -> QualityReport:
    from tunesmith.packager.quantize import quantize_gguf

    q4 = quantize_gguf(smollm2_f16, tmp_path_factory.mktemp("q") / "smollm2-Q4_K_M.gguf", threads=2).path
    return measure_quality(
        smollm2_dir,
        smollm2_f16,
        {"Q4_K_M": q4},
        sample_text=SAMPLE_TEXT,
        heldout_text=HELDOUT_TEXT,
        chat_prompt=SAMPLE_PROMPT,
        stop=["<|im_end|>"],
        threads=1,
    )


@pytest.mark.slow
def test_smollm2_package_passes_and_reports_what_q4_k_m_costs(smollm2_report):
    report = smollm2_report
    assert report.passed, report.to_markdown()
    names = [check.name for check in report.checks]
    assert names == [
        "tokenizer ids match",
        "f16 top-1 agreement",
        "f16 max abs logit diff",
        "f16 perplexity gap to HF",
        "f16 reply stops",
        "Q4_K_M perplexity / f16",
        "Q4_K_M reply stops",
    ]
    ppl = report.perplexity
    # The f16 holds the HF weights exactly; only arithmetic differs. Quantizing again costs something real.
    assert abs(ppl["f16"] / ppl["hf"] - 1) < 0.005
    assert 1.0 < ppl["Q4_K_M"] / ppl["f16"] < PERPLEXITY_RATIO_LIMITS["Q4_K_M"]
    assert 5 < ppl["f16"] < 200  # an instruct model on plain English prose, not a broken one (~49k vocab)
    stops = report.check("Q4_K_M reply stops")
    assert 0 < stops.value < 128 and "'<|im_end|>'" in stops.explanation


@pytest.mark.slow
def test_report_serialises_to_json_and_a_markdown_table(smollm2_report):
    data = json.loads(json.dumps(smollm2_report.to_json()))
    assert data["passed"] is True
    assert [c["name"] for c in data["checks"]] == [c.name for c in smollm2_report.checks]
    assert set(data["checks"][0]) == {"name", "value", "threshold", "passed", "explanation", "comparison"}
    markdown = smollm2_report.to_markdown()
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(smollm2_report.checks)
    assert all(row.count(" | ") == 3 for row in rows)  # no stray pipes break the table
    assert "| Q4_K_M perplexity / f16 |" in markdown


def test_tiny_model_f16_checks_pass(tiny):
    folder, f16 = tiny
    report = measure_quality(
        folder, f16, {}, sample_text=SAMPLE_TEXT, heldout_text=HELDOUT_TEXT, chat_prompt=None, stop=[], threads=1
    )
    assert [c.name for c in report.checks] == [
        "tokenizer ids match",
        "f16 top-1 agreement",
        "f16 max abs logit diff",
        "f16 perplexity gap to HF",
    ]
    assert report.passed, report.to_markdown()
    # Random weights leave near-ties, so one position in a hundred may flip; the logits themselves stay close.
    assert report.check("f16 top-1 agreement").value >= 0.98
    assert report.check("f16 max abs logit diff").value < 0.05


def test_a_gguf_of_another_model_fails_the_logit_and_perplexity_checks(tiny, smollm2_f16):
    folder, _ = tiny
    report = measure_quality(
        folder,
        smollm2_f16,
        {},
        sample_text=SAMPLE_TEXT,
        heldout_text=HELDOUT_TEXT,
        chat_prompt=None,
        stop=[],
        threads=1,
    )
    assert report.check("tokenizer ids match").passed  # same tokenizer, different weights
    failed = {c.name for c in report.checks if not c.passed}
    assert failed == {"f16 top-1 agreement", "f16 max abs logit diff", "f16 perplexity gap to HF"}
    assert not report.passed and "**FAIL**" in report.to_markdown()


def test_a_reply_that_never_stops_fails_the_generation_check(tiny):
    folder, f16 = tiny
    report = measure_quality(
        folder,
        f16,
        {},
        sample_text=SAMPLE_TEXT,
        heldout_text=HELDOUT_TEXT,
        chat_prompt=SAMPLE_PROMPT,
        stop=[],
        num_predict=6,
        threads=1,
    )
    check = report.check("f16 reply stops")
    with open_gguf(f16, threads=1) as session:
        generation = session.generate(session.chat_prompt(SAMPLE_PROMPT), 6, [])
    assert generation.ended_by == "limit"  # a random model rambles
    assert (check.value, check.passed) == (6, False) and "6-token limit" in check.explanation


def test_a_stop_string_ends_the_reply(smollm2_f16):
    with open_gguf(smollm2_f16, threads=1) as session:
        prompt = session.chat_prompt(SAMPLE_PROMPT)
        free = session.generate(prompt, 64, [])
        word = free.text.split()[2]
        stopped = session.generate(prompt, 64, [word])
    assert free.ended_by == "eog" and free.stop_text == "<|im_end|>"
    assert stopped.ended_by == "stop" and stopped.stop_text == word
    assert stopped.text.endswith(word) and free.text.startswith(stopped.text)
    assert len(stopped.tokens) < len(free.tokens)


def test_chat_prompt_matches_the_hf_chat_template(smollm2_dir, smollm2_f16):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    expected = tokenizer.apply_chat_template(
        [{"role": "user", "content": SAMPLE_PROMPT}], add_generation_prompt=True, tokenize=True, return_dict=False
    )
    with open_gguf(smollm2_f16, threads=1) as session:
        assert session.chat_prompt(SAMPLE_PROMPT) == list(expected)


def test_batched_multi_token_decode_equals_token_by_token_decode(smollm2_f16):
    with open_gguf(smollm2_f16, n_ctx=256, threads=1) as session:
        ids = session.tokenize(SAMPLE_TEXT)[:24]
        batched = session.logits(ids)
        session._clear()
        stepwise = np.concatenate([session._decode([token], start=i, all_logits=True) for i, token in enumerate(ids)])
    assert batched.shape == stepwise.shape == (24, session.n_vocab)
    # Different batch shapes round f16 products differently; that moves logits by hundredths, not more.
    assert np.abs(batched - stepwise).max() < 0.15
    assert (batched.argmax(-1) == stepwise.argmax(-1)).mean() >= 0.98


@pytest.mark.parametrize(
    ("sample", "heldout", "words"),
    [
        ("", HELDOUT_TEXT, ["sample_text is too short", "a few sentences"]),
        (SAMPLE_TEXT, "   ", ["heldout_text is too short"]),
    ],
)
def test_empty_texts_are_refused(tiny, sample, heldout, words):
    from tunesmith.errors import PackageError

    folder, f16 = tiny
    with pytest.raises(PackageError) as caught:
        measure_quality(folder, f16, {}, sample_text=sample, heldout_text=heldout, chat_prompt=None, stop=[])
    assert all(word in str(caught.value) for word in words)


def test_missing_or_broken_gguf_is_a_package_error(tmp_path):
    from tunesmith.errors import PackageError

    (tmp_path / "broken.gguf").write_bytes(b"GGUF" + b"\x00" * 60)
    cases = [
        (tmp_path / "missing.gguf", "does not exist"),
        (tmp_path / "broken.gguf", "could not load the GGUF: .*error"),
    ]
    for path, words in cases:
        with pytest.raises(PackageError, match=words), open_gguf(path, threads=1):
            pass


@pytest.mark.parametrize(
    ("name", "windows", "logits_of", "expected"),
    [
        # Uniform logits over V tokens: every token has probability 1/V, so perplexity is V.
        ("uniform", [[0, 1, 2, 3]], lambda w: np.zeros((len(w), 7)), 7.0),
        # Two equally likely tokens at every step, whatever the window.
        ("two choices", [[0, 1, 0], [1, 1]], lambda w: np.array([[0.0, 0.0, -1e9]] * len(w)), 2.0),
        # A model certain of the right next token.
        ("certain", [[0, 1, 2, 0]], lambda w: np.eye(3)[[1, 2, 0, 0]] * 50.0, 1.0),
    ],
)
def test_perplexity(name, windows, logits_of, expected):
    assert math.isclose(perplexity(windows, logits_of), expected, rel_tol=1e-6)
