"""The adapter that `tunesmith train` writes feeds `tunesmith package --adapter`; the GGUF's logits match the
merged model's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.trainer.helpers import write_qa_csv
from tunesmith.cli import main
from tunesmith.config import load_config
from tunesmith.trainer import train_adapter


@pytest.mark.timeout(600)
def test_trained_adapter_packages_to_a_gguf_that_matches_the_merged_model(tiny_model, tmp_path):
    from llama_cpp import Llama
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = tiny_model("llama")  # SmolLM2's tokenizer and chat template, which llama.cpp knows
    config = load_config(
        base=str(base),
        data=[str(write_qa_csv(tmp_path / "qa.csv"))],
        output_dir=str(tmp_path / "run"),
        max_steps=6,
        overrides=["train.learning_rate=0.05", "train.eval_steps=3", "train.max_seq_len=128", "train.warmup_ratio=0"],
    )
    adapter = train_adapter(config).adapter

    main(["package", "--base", str(base), "--adapter", str(adapter), "--out", str(tmp_path / "pkg"), "--quant", "F16"])
    (gguf,) = (tmp_path / "pkg").glob("*-F16.gguf")

    ids = list(
        AutoTokenizer.from_pretrained(base).apply_chat_template(
            [{"role": "user", "content": "What is 3 plus 4?"}], add_generation_prompt=True, return_dict=True
        )["input_ids"]
    )
    with torch.no_grad():
        plain = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        before = plain(torch.tensor([ids])).logits[0].numpy()
        merged = PeftModel.from_pretrained(plain, adapter).merge_and_unload()
        expected = merged(torch.tensor([ids])).logits[0].numpy()
    llm = Llama(model_path=str(gguf), n_ctx=256, logits_all=True, verbose=False)
    llm.eval(ids)
    got = np.array(llm.scores[: len(ids)])
    assert np.abs(expected - before).max() > 0.05, "training must have changed the model for the test to mean anything"
    assert np.abs(got - expected).max() < 0.05
    assert (got.argmax(-1) == expected.argmax(-1)).all()
