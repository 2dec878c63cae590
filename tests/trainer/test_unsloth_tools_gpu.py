"""On a CUDA GPU: the tool-calling example's chats (Qwen2.5's template renders their three tools) train through the
unsloth backend, whose batches learn exactly the assistant's parts, each call and each answer, never the tool list,
the tool results or the user's words; packed samples go through the varlen attention."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

from tests.fixtures.progress import RecordingProgress
from tests.trainer.test_unsloth_gpu import _tokenizer_dir

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tool-calling"
STEPS = 6


@pytest.fixture(scope="module")
def gpu_qwen(tmp_path_factory) -> Path:
    """A random 2-layer Qwen2 (hidden 128, head dim 64, grouped-query) with SmolLM2's tokenizer, saved in bf16."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    folder = tmp_path_factory.mktemp("gpu-qwen")
    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_dir())
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    config.architectures = ["Qwen2ForCausalLM"]
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _expected_runs(messages: list[dict]) -> list[str]:
    """What Qwen2.5's template writes for each assistant turn after `<|im_start|>assistant\\n`, spelled out here by
    hand: its text, then each call as <tool_call> JSON with the arguments' keys sorted, then the end marker."""
    runs = []
    for message in messages:
        if message["role"] != "assistant":
            continue
        text = message.get("content") or ""
        for call in message.get("tool_calls") or []:
            function = call["function"]
            arguments = json.dumps(function["arguments"], sort_keys=True, ensure_ascii=False)
            text += ("\n" if text else "") + (
                f'<tool_call>\n{{"name": "{function["name"]}", "arguments": {arguments}}}\n</tool_call>'
            )
        runs.append(text + "<|im_end|>\n")
    return runs


def _labelled_runs(ids: list[int], labels: list[int]) -> list[list[int]]:
    runs, current = [], []
    for token, label in zip(ids, labels, strict=True):
        if label != -100:
            assert label == token
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    return runs + ([current] if current else [])


def test_unsloth_learns_exactly_the_assistant_parts_of_tool_calling_chats(gpu_qwen, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from tunesmith.config import load_config
    from tunesmith.trainer import train_adapter
    from tunesmith.trainer.backends.unsloth import UnslothBackend

    batches: list[dict] = []
    fit = UnslothBackend.fit

    def recording_fit(self, model, *args, **kwargs):
        def record(module, _args, inputs):
            if module.training:
                batches.append({key: inputs[key][0].tolist() for key in ("input_ids", "labels", "position_ids")})

        hook = model.register_forward_pre_hook(record, with_kwargs=True)
        try:
            return fit(self, model, *args, **kwargs)
        finally:
            hook.remove()

    monkeypatch.setattr(UnslothBackend, "fit", recording_fit)
    config = load_config(
        EXAMPLE / "tunesmith.yaml",
        base=str(gpu_qwen),
        output_dir=str(tmp_path / "run"),
        max_steps=STEPS,
        overrides=["train.backend=unsloth", "train.eval_steps=3"],
    )
    progress = RecordingProgress()
    result = train_adapter(config, progress=progress)
    assert (result.report["backend"], result.report["steps"]) == ("unsloth", STEPS)
    assert "attention: flash varlen kernel over each packed sample" in progress.notes

    chats: dict[str, list[list[str]]] = {}
    for line in (EXAMPLE / "calls.jsonl").read_text(encoding="utf-8").splitlines():
        messages = json.loads(line)["messages"]
        chats.setdefault(messages[0]["content"], []).append(_expected_runs(messages))
    tokenizer = AutoTokenizer.from_pretrained(gpu_qwen)
    assert len(batches) == STEPS
    samples = 0
    for batch in batches:
        starts = [i for i, position in enumerate(batch["position_ids"]) if position == 0] + [len(batch["input_ids"])]
        assert len(starts) > 2, "a step of the example packs several chats"
        for start, end in itertools.pairwise(starts):
            ids, labels = batch["input_ids"][start:end], [-100] + batch["labels"][start + 1 : end]
            text = tokenizer.decode(ids)
            runs = [tokenizer.decode(run) for run in _labelled_runs(ids, labels)]
            # The tool list is in the prompt, and never learned.
            assert "Current weather in a city." in text and not any("Current weather" in run for run in runs)
            user = text.split("<|im_start|>user\n", 1)[1].split("<|im_end|>", 1)[0]
            assert runs in chats[user], (user, runs)
            samples += 1
    assert samples >= 2 * STEPS

    # Unsloth's packed path now calls a varlen kernel (ours where its torch has none) instead of SDPA per length.
    from unsloth.utils import attention_dispatch

    assert attention_dispatch._TORCH_VARLEN_ATTN is not None
