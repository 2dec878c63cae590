"""On a CUDA GPU: QLoRA (4-bit base through bitsandbytes) and LoRA in half precision train and give a PEFT adapter."""

from __future__ import annotations

import json

import pytest
import torch

from tunesmith.config import load_config
from tunesmith.trainer import train_adapter
from tests.trainer.helpers import write_qa_csv

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.mark.parametrize("method", ["qlora", "lora"])
def test_training_on_cuda_lowers_the_loss_and_writes_an_adapter(tiny_qwen, tmp_path, method):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    config = load_config(base=str(tiny_qwen), data=[str(write_qa_csv(tmp_path / "qa.csv"))],
                         output_dir=str(tmp_path / "run"), max_steps=30,
                         overrides=[f"train.method={method}", "train.learning_rate=0.01", "train.eval_steps=10",
                                    "train.max_seq_len=128", "train.early_stopping_patience=0"])
    result = train_adapter(config)
    report = result.report
    assert report["device"] == "cuda" and report["method"] == method
    assert report["precision"] == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
              if '"loss"' in line]
    assert len(losses) == 30 and sum(losses[-5:]) < sum(losses[:5])
    base = AutoModelForCausalLM.from_pretrained(tiny_qwen, dtype=torch.float32)
    ids = torch.tensor([[5, 17, 33, 60, 2]])
    with torch.no_grad():
        before = base(ids).logits
        after = PeftModel.from_pretrained(base, result.adapter)(ids).logits
    assert not torch.allclose(before, after, atol=1e-4)
