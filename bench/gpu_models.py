"""What bench/train_gpu.py trains on: a random 1.04 B Llama with a word-level tokenizer (built on the GPU machine, which
cannot download one), fixed and ragged chat-like samples, and the arithmetic behind its MFU columns."""

from __future__ import annotations

import math
import random
from pathlib import Path

SHAPE = dict(
    vocab_size=32000,
    hidden_size=2048,
    intermediate_size=8192,
    num_hidden_layers=16,
    num_attention_heads=32,
    num_key_value_heads=8,
    max_position_embeddings=8192,
    tie_word_embeddings=True,
)
BATCH, FIXED_LEN, RAGGED_MAX = 4, 2048, 4096
CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
Samples = list[tuple[list[int], list[int]]]


def build(folder: Path) -> dict:
    """The random model and a 32000-token word-level tokenizer (token ids are all the bench needs), plus the GPU's
    measured bf16 matmul rate."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {token: i for i, token in enumerate(specials + [f"w{i}" for i in range(SHAPE["vocab_size"] - 3)])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="w0"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(**SHAPE, eos_token_id=2, pad_token_id=0, bos_token_id=None)
    config.architectures = ["LlamaForCausalLM"]
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    torch.cuda.empty_cache()
    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    times = []
    for index in range(13):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        if index >= 3:
            times.append(start.elapsed_time(end) / 1e3)
    times.sort()
    return {
        "params": params,
        "peak_tflops": 2 * 8192**3 / times[len(times) // 2] / 1e12,
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "attention_kernels": _attention_kernels(),
    }


def _attention_kernels() -> dict:
    """Which exact attention kernels for packed rows this torch has, and what SDPA picks for the model's heads."""
    import importlib.util
    import inspect

    import torch

    found: dict = {"flash_attn package": importlib.util.find_spec("flash_attn") is not None}
    found["flash sdpa"] = torch.backends.cuda.is_flash_attention_available()
    try:
        from torch.nn.attention.varlen import varlen_attn

        found["torch varlen_attn"] = str(inspect.signature(varlen_attn))
    except ImportError:
        found["torch varlen_attn"] = None
    found["flex_attention"] = importlib.util.find_spec("torch.nn.attention.flex_attention") is not None
    heads, kv_heads = SHAPE["num_attention_heads"], SHAPE["num_key_value_heads"]
    q = torch.empty(1, heads, 2048, SHAPE["hidden_size"] // heads, device="cuda", dtype=torch.bfloat16)
    k = torch.empty(1, kv_heads, 2048, SHAPE["hidden_size"] // heads, device="cuda", dtype=torch.bfloat16)
    found["sdpa choice (causal, gqa)"] = str(torch._fused_sdp_choice(q, k, k, is_causal=True, enable_gqa=True))
    return found


def ragged(count: int, seed: int = 0) -> Samples:
    """(input ids, labels) of chat-like samples: log-normal lengths (median ~600) clipped to 50-4000 tokens, the
    first 20-60% a prompt without loss."""
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        length = int(min(4000, max(50, rng.lognormvariate(math.log(600), 0.9))))
        ids = [rng.randrange(3, SHAPE["vocab_size"]) for _ in range(length - 1)] + [2]
        prompt = int(length * rng.uniform(0.2, 0.6))
        samples.append((ids, [-100] * prompt + ids[prompt:]))
    return samples


def fixed(count: int, seed: int = 1) -> Samples:
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        ids = [rng.randrange(3, SHAPE["vocab_size"]) for _ in range(FIXED_LEN)]
        samples.append((ids, list(ids)))
    return samples


def data(kind: str, steps: int) -> Samples:
    # Ragged: enough samples for tunesmith's packed steps (~16k tokens each), the hungriest side.
    return fixed(BATCH * steps) if kind == "fixed" else ragged(max(600, 20 * steps))


def attention_flops_per_token(kind: str, steps: int) -> float:
    """Training FLOPs of causal attention per token, averaged over the case's samples, which 6 x params leaves out:
    QK^T and PV over the causal half of each sample of length L (2 x L^2 x hidden per layer forward, twice that
    backward), so 6 x hidden x L per token and layer."""
    lengths = [len(ids) for ids, _ in data(kind, steps)]
    per_layer = 6 * SHAPE["hidden_size"] * sum(n * n for n in lengths) / sum(lengths)
    return per_layer * SHAPE["num_hidden_layers"]
