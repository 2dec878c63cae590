"""On a CUDA GPU: the flash varlen kernel computes the same attention and gradients as SDPA run one sample at a time,
and the transformers backend trains packed rows through it with samples kept apart."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from tests.trainer.test_collate import _examples
from tunesmith.trainer.collate import Collator, pack_examples
from tunesmith.trainer.packed_attention import VARLEN, flash_varlen_available, segment_attention, varlen_attention

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available() or not flash_varlen_available(), reason="needs a flash GPU"),
]


def _relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    got, expected = got.detach().double(), expected.detach().double()
    return float((got - expected).norm() / expected.norm())


@pytest.mark.parametrize("window", [None, 100])
@pytest.mark.parametrize("heads, kv_heads, head_dim", [(32, 8, 64), (9, 3, 64), (4, 4, 128)])
def test_flash_varlen_matches_sdpa_per_sample_forward_and_backward(heads, kv_heads, head_dim, window):
    rng = random.Random(heads + kv_heads)
    lengths = [1, 2, 700, 33] + [rng.randrange(1, 900) for _ in range(20)]
    bounds = torch.tensor([0, *itertools.accumulate(lengths)], device="cuda")
    total = int(bounds[-1])
    torch.manual_seed(heads)
    inputs = [
        torch.randn(total, count, head_dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        for count in (heads, kv_heads, kv_heads)
    ]
    grad = torch.randn(total, heads, head_dim, device="cuda", dtype=torch.bfloat16)
    out = varlen_attention(*inputs, bounds, max(lengths), scale=0.125, window=window)
    out.backward(grad)
    got = [out.detach()] + [x.grad for x in inputs]
    # The reference in float32, one sample at a time (on upcast copies of the same inputs).
    upcast = [x.detach().float().requires_grad_() for x in inputs]
    expected = segment_attention(*upcast, bounds, scale=0.125, window=window)
    expected.backward(grad.float())
    for name, a, b in zip(("out", "dq", "dk", "dv"), got, [expected] + [x.grad for x in upcast], strict=True):
        assert torch.isfinite(a).all(), name
        assert _relative_error(a, b) < 1e-2, name


@pytest.fixture(scope="module")
def wide_llama(tiny_llama, tmp_path_factory):
    """The tiny Llama with a wide initial spread, so each token's output depends on its context and leaks show."""
    import shutil

    from transformers import AutoConfig, AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("wide-llama") / "model"
    shutil.copytree(tiny_llama, folder)
    config = AutoConfig.from_pretrained(folder)
    config.initializer_range = 0.2
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    return folder


def test_transformers_backend_trains_packed_rows_through_the_varlen_kernel_with_samples_apart(wide_llama, tmp_path):
    from tunesmith.config import load_config
    from tunesmith.progress import SILENT
    from tunesmith.trainer.backends import Device
    from tunesmith.trainer.backends.hf import HfBackend

    config = load_config(base=str(wide_llama), data=[str(tmp_path / "unused.csv")], overrides=["lora.dropout=0"])
    model, precision = HfBackend().load(config, Device("cuda", torch.cuda.is_bf16_supported()), SILENT)
    assert model.config._attn_implementation == VARLEN and precision in ("bf16", "fp16")
    model.cuda()
    examples = _examples([9, 14, 6, 1, 30])
    rows = pack_examples(examples, 32)
    batch = {k: v.cuda() if torch.is_tensor(v) else v for k, v in Collator(0, bounds=True)(rows).items()}
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        packed = model(**batch).logits[0].float()
        leaky = model(input_ids=batch["input_ids"], position_ids=None).logits[0].float()
        starts = [i for i, p in enumerate(batch["position_ids"][0].tolist()) if p == 0] + [packed.shape[0]]
        worst = 0.0
        for start, end in itertools.pairwise(starts):
            alone = model(input_ids=batch["input_ids"][:, start:end]).logits[0].float()
            worst = max(worst, float((packed[start:end] - alone).abs().max()))
    # Each sample's logits as if it were alone (to bf16 rounding); with one running position, later samples see
    # earlier ones, and their logits move far more than that rounding: the comparison can tell.
    assert worst <= 0.02 * float(packed.abs().max()), worst
    assert float((leaky[starts[1] :] - packed[starts[1] :]).abs().max()) > 5 * worst
