"""The varlen attention over packed rows, on the CPU: when it is chosen, the bounds the collator hands over, and that a
model run through it keeps packed samples apart exactly as transformers' sdpa with its block-diagonal mask does (the
per-sample SDPA path stands in for the flash kernel, which needs a GPU: tests/trainer/test_packed_attention_gpu.py)."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from tests.trainer.test_collate import _examples
from tunesmith.trainer.collate import Collator, pack_examples, padded_rows, sample_bounds
from tunesmith.trainer.packed_attention import (
    VARLEN,
    choose_attention,
    register_with_transformers,
    segment_attention,
    varlen_attention,
)

LLAMA = SimpleNamespace(num_attention_heads=32, hidden_size=2048, head_dim=64, attention_dropout=0.0)
CHOICES = [
    ("packed bf16 llama on cuda", {}, True, "flash varlen"),
    ("padded batches", {"packing": False}, False, "train.packing: false"),
    ("cpu", {"device_kind": "cpu", "flash": False}, False, "no flash attention kernel"),
    ("cuda without the kernel", {"flash": False}, False, "no flash attention kernel"),
    ("fp32 on cuda", {"precision": "fp32"}, False, "bf16 or fp16, not fp32"),
    ("head size 20", {"model_config": SimpleNamespace(num_attention_heads=4, hidden_size=80)}, False, "not 20"),
    ("head size 512", {"model_config": SimpleNamespace(num_attention_heads=2, hidden_size=1024)}, False, "not 512"),
    ("gemma 2 soft-capping", {"model_config": SimpleNamespace(**vars(LLAMA), attn_logit_softcapping=50.0)}, False,
     "soft-caps"),
    ("attention dropout", {"model_config": SimpleNamespace(**{**vars(LLAMA), "attention_dropout": 0.1})}, False,
     "dropout"),
]  # fmt: skip


@pytest.mark.parametrize("case, changes, varlen, reason", CHOICES, ids=[c[0] for c in CHOICES])
def test_varlen_attention_is_chosen_only_where_the_flash_kernel_computes_the_model_exactly(
    case, changes, varlen, reason
):
    settings = dict(packing=True, device_kind="cuda", precision="bf16", model_config=LLAMA, flash=True)
    choice = choose_attention(**{**settings, **changes})
    assert choice.varlen is varlen and reason in choice.reason


@pytest.mark.parametrize(
    "positions, bounds, longest",
    [
        ([0, 1, 2, 0, 1, 0, 1, 2, 3], [0, 3, 5, 9], 4),
        ([0, 1, 2, 3], [0, 4], 4),
        ([0, 0, 0], [0, 1, 2, 3], 1),
        ([3, 4, 0, 1], [0, 2, 4], 2),  # a row that does not start at position 0 still starts a sample
    ],
)
def test_sample_bounds_cut_a_packed_row_where_positions_restart(positions, bounds, longest):
    assert sample_bounds(positions) == (bounds, longest)


def test_collator_hands_the_varlen_attention_each_packed_samples_bounds_and_nothing_to_padded_rows():
    rows = pack_examples(_examples([6, 4]), 10) + pack_examples(_examples([3]), 16)
    batch = Collator(0, bounds=True)(rows)
    assert batch["cu_seq_lens_q"].tolist() == batch["cu_seq_lens_k"].tolist() == [0, 6, 10, 13]
    assert batch["cu_seq_lens_q"].dtype == torch.int32 and batch["max_length_q"] == batch["max_length_k"] == 6
    assert "cu_seq_lens_q" not in Collator(0)(rows)
    assert set(Collator(0, bounds=True)(padded_rows(_examples([5, 2])))) == {"input_ids", "labels", "attention_mask"}


def _block_diagonal(bounds: list[int], window: int | None) -> torch.Tensor:
    total = bounds[-1]
    sample = torch.zeros(total, dtype=torch.long)
    for n, (start, end) in enumerate(itertools.pairwise(bounds)):
        sample[start:end] = n
    index = torch.arange(total)
    allowed = (sample[:, None] == sample[None, :]) & (index[:, None] >= index[None, :])
    if window is not None:
        allowed &= index[:, None] - index[None, :] < window
    return allowed


@pytest.mark.parametrize("window", [None, 3])
def test_attention_per_sample_equals_one_masked_attention_over_the_whole_row(window):
    torch.manual_seed(0)
    bounds = [0, 7, 9, 20, 21, 32]
    q = torch.randn(32, 4, 8, dtype=torch.float64)
    k, v = (torch.randn(32, 2, 8, dtype=torch.float64) for _ in range(2))  # grouped-query: 2 kv heads for 4
    got = varlen_attention(q, k, v, torch.tensor(bounds), 11, scale=0.3, window=window)
    expected = F.scaled_dot_product_attention(
        q.transpose(0, 1),
        k.repeat_interleave(2, dim=1).transpose(0, 1),
        v.repeat_interleave(2, dim=1).transpose(0, 1),
        attn_mask=_block_diagonal(bounds, window),
        scale=0.3,
    ).transpose(0, 1)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(segment_attention(q, k, v, torch.tensor(bounds), scale=0.3, window=window), got)


@pytest.fixture(scope="module")
def two_llamas(tiny_llama):
    """The tiny Llama through transformers' sdpa and through the varlen attention (float32, CPU), without a KV cache
    as in training (with one, sdpa no longer reads packed samples from the positions)."""
    from transformers import AutoModelForCausalLM

    models = []
    for attention in ("sdpa", register_with_transformers()):
        model = AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation=attention).eval()
        model.config.use_cache = False
        models.append(model)
    return models


def test_a_model_on_the_varlen_attention_computes_packed_rows_as_sdpa_with_its_block_diagonal_mask(two_llamas):
    sdpa, varlen = two_llamas
    assert varlen.config._attn_implementation == VARLEN
    examples = _examples([9, 14, 6, 1])
    rows = pack_examples(examples, 16)
    with torch.no_grad():
        expected = sdpa(**Collator(0)(rows)).logits
        # With the collator's bounds, and without them (cut at the restarting positions inside the attention).
        with_bounds = varlen(**Collator(0, bounds=True)(rows)).logits
        from_positions = varlen(**Collator(0)(rows)).logits
        alone = varlen(input_ids=torch.tensor([examples[1].input_ids])).logits[0]
    torch.testing.assert_close(with_bounds, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(from_positions, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(with_bounds[0, :14], alone, atol=1e-5, rtol=1e-4)  # the longest sample comes first
    # One running position and one sample: the later samples see the earlier ones, so the comparison can tell.
    with torch.no_grad():
        leaky = varlen(input_ids=Collator(0)(rows)["input_ids"]).logits
    assert not torch.allclose(leaky[0, 14:], expected[0, 14:], atol=1e-3)


def test_a_padded_batch_on_the_varlen_attention_keeps_its_padding_mask(two_llamas):
    sdpa, varlen = two_llamas
    batch = Collator(0)(padded_rows(_examples([9, 4])))
    with torch.no_grad():
        torch.testing.assert_close(varlen(**batch).logits, sdpa(**batch).logits, atol=1e-5, rtol=1e-4)


def test_packed_training_gradients_through_the_varlen_attention_equal_sdpas(two_llamas):
    sdpa, varlen = two_llamas
    batch = Collator(0, bounds=True)(pack_examples(_examples([9, 14, 6]), 16))
    grads = []
    for model in (sdpa, varlen):
        model.zero_grad()
        inputs = {k: v for k, v in batch.items() if model is varlen or not k.startswith(("cu_", "max_"))}
        model(**inputs).loss.backward()
        grads.append(model.model.layers[0].self_attn.q_proj.weight.grad.clone())
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-4)
