"""merge_adapter: merged weights behave like base + adapter, the folder is complete, and bad adapters fail up front."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.fixtures.progress import RecordingProgress
from tunesmith.errors import ModelError, PackageError
from tunesmith.packager import merge as merge_module
from tunesmith.packager.merge import merge_adapter

IDS = [1, 504, 3205, 2593, 30, 216, 1485, 314, 253, 4243, 28, 2]


def _tiny_llama(folder: Path, tokenizer, *, hidden: int = 64, layers: int = 2, dtype=torch.float32) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        initializer_range=0.1,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(hidden + layers)
    LlamaForCausalLM(config).to(dtype).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _lora(base: Path, folder: Path, *, name: str, targets=("q_proj", "v_proj", "down_proj")) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    torch.manual_seed(7)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=16, target_modules=list(targets), init_lora_weights=False)
    )
    peft_model.save_pretrained(folder)
    # The Hub id a trainer would record; set afterwards so that saving does not look it up online.
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps(dict(config, base_model_name_or_path=name)))
    return folder


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from tunesmith.embedded_base import embedded_base_dir

    return AutoTokenizer.from_pretrained(embedded_base_dir())


@pytest.fixture(scope="session")
def models(tmp_path_factory, tokenizer) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("merge")
    base = _tiny_llama(root / "base", tokenizer)
    wide = _tiny_llama(root / "wide", tokenizer, hidden=96)
    deep = _tiny_llama(root / "deep", tokenizer, layers=4)
    bf16 = _tiny_llama(root / "bf16", tokenizer, dtype=torch.bfloat16)
    return {
        "base": base,
        "bf16": bf16,
        "adapter": _lora(base, root / "adapter", name="tiny/base"),
        "bf16_adapter": _lora(bf16, root / "bf16-adapter", name="tiny/bf16"),
        "wide_adapter": _lora(wide, root / "wide-adapter", name="tiny/wide-96"),
        "deep_adapter": _lora(deep, root / "deep-adapter", name="tiny/deep-4"),
    }


def _logits(model) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([IDS])).logits[0].float().numpy()


def _peft_logits(base: Path, adapter: Path) -> np.ndarray:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    return _logits(PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), adapter))


def _saved_dtypes(folder: Path) -> set[str]:
    raw = (folder / "model.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    return {info["dtype"] for name, info in header.items() if name != "__metadata__"}


def test_merged_model_gives_the_logits_of_base_plus_adapter(tmp_path, models, tokenizer):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = merge_adapter(models["base"], models["adapter"], tmp_path / "merged")

    merged = _logits(AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32))
    expected = _peft_logits(models["base"], models["adapter"])
    base_only = _logits(AutoModelForCausalLM.from_pretrained(models["base"], dtype=torch.float32))
    # float16 storage rounds the weights; the adapter's effect is far larger than that rounding.
    assert np.abs(merged - expected).max() < 0.05
    assert np.abs(base_only - expected).max() > 0.5
    assert (merged.argmax(-1) == expected.argmax(-1)).mean() == 1.0

    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config and config["dtype"] == "float16"
    assert _saved_dtypes(out) == {"F16"}  # the float32 base is saved as float16
    assert not any("lora" in key for key in _header_names(out / "model.safetensors"))
    reloaded = AutoTokenizer.from_pretrained(out)
    assert reloaded.chat_template == tokenizer.chat_template
    assert reloaded("Hello there")["input_ids"] == tokenizer("Hello there")["input_ids"]
    assert not list(tmp_path.glob(".*partial"))


def _header_names(path: Path) -> list[str]:
    raw = path.read_bytes()
    return list(json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")]))


@pytest.mark.parametrize(
    ("base", "adapter", "dtype", "stored"),
    [
        ("bf16", "bf16_adapter", "auto", {"BF16"}),
        ("base", "adapter", "bfloat16", {"BF16"}),
        ("base", "adapter", "float32", {"F32"}),
    ],
)
def test_merge_dtype(tmp_path, models, base, adapter, dtype, stored):
    out = merge_adapter(models[base], models[adapter], tmp_path / "merged", dtype=dtype)
    assert _saved_dtypes(out) == stored


def test_adapter_tokenizer_files_win_over_the_base(tmp_path, models):
    adapter = shutil.copytree(models["adapter"], tmp_path / "adapter")
    (adapter / "chat_template.jinja").write_text("{% for m in messages %}<{{ m['content'] }}>{% endfor %}")
    recorder = RecordingProgress()
    out = merge_adapter(models["base"], adapter, tmp_path / "merged", progress=recorder)
    from transformers import AutoTokenizer

    rendered = AutoTokenizer.from_pretrained(out).apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    )
    assert rendered == "<hi>"
    assert any("adapter" in note for note in recorder.notes)


def _break(kind: str, tmp_path: Path, models: dict[str, Path]) -> tuple[Path, Path, Path, dict]:
    """(base, adapter, out, kwargs) for one kind of bad input."""
    base, out = models["base"], tmp_path / "merged"
    adapter = shutil.copytree(models["adapter"], tmp_path / "adapter")
    kwargs: dict = {}
    if kind == "another base (shapes)":
        adapter = models["wide_adapter"]
    elif kind == "another base (modules)":
        adapter = models["deep_adapter"]
    elif kind == "no adapter_config.json":
        (adapter / "adapter_config.json").unlink()
    elif kind == "a full model":
        adapter = models["bf16"]
    elif kind == "no adapter weights":
        (adapter / "adapter_model.safetensors").unlink()
    elif kind == "unreadable safetensors":
        (adapter / "adapter_model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    elif kind == "not LoRA":
        config = json.loads((adapter / "adapter_config.json").read_text())
        (adapter / "adapter_config.json").write_text(json.dumps(dict(config, peft_type="IA3")))
    elif kind == "broken adapter_config.json":
        (adapter / "adapter_config.json").write_text('{"peft_type": "LORA",\n  "r": 4,,\n}')
    elif kind == "missing adapter folder":
        adapter = tmp_path / "nowhere"
    elif kind == "output inside the base":
        out = base / "merged"
    elif kind == "output inside the adapter":
        out = adapter / "merged"
    elif kind == "output is a non-model folder":
        (out / "notes").mkdir(parents=True)
        (out / "notes" / "todo.txt").write_text("keep me")
    elif kind == "unknown dtype":
        kwargs["dtype"] = "int8"
    return base, adapter, out, kwargs


@pytest.mark.parametrize(
    ("kind", "error", "words"),
    [
        (
            "another base (shapes)",
            ModelError,
            ["tiny/wide-96", "down_proj.lora_A.weight has shape [4, 192]", "[64, 128]"],
        ),
        ("another base (modules)", ModelError, ["tiny/deep-4", "model.layers.2.self_attn.q_proj", "lacks"]),
        ("no adapter_config.json", ModelError, ["no adapter_config.json", "save_pretrained"]),
        ("a full model", ModelError, ["full model", "base model instead"]),
        ("no adapter weights", ModelError, ["no adapter_model.safetensors"]),
        ("unreadable safetensors", ModelError, ["unreadable safetensors", "adapter_model.safetensors"]),
        ("not LoRA", ModelError, ["only LoRA", "IA3", "peft_type"]),
        ("broken adapter_config.json", ModelError, ["invalid JSON", "adapter_config.json:2"]),
        ("missing adapter folder", ModelError, ["adapter folder does not exist", "nowhere"]),
        ("output inside the base", PackageError, ["overlaps an input folder"]),
        ("output inside the adapter", PackageError, ["overlaps an input folder"]),
        ("output is a non-model folder", PackageError, ["not a model folder"]),
        ("unknown dtype", PackageError, ["unknown merge dtype 'int8'", "float16"]),
    ],
)
def test_bad_input_is_reported_before_any_loading(tmp_path, models, monkeypatch, kind, error, words):
    def no_loading(*args, **kwargs):
        raise AssertionError("the base model was loaded before the inputs were checked")

    monkeypatch.setattr(merge_module, "_load_base", no_loading)
    base, adapter, out, kwargs = _break(kind, tmp_path, models)
    with pytest.raises(error) as caught:
        merge_adapter(base, adapter, out, **kwargs)
    for word in words:
        assert word in str(caught.value)
    assert not (out / "config.json").exists()


def _quantized_base_config(tmp_path: Path, base: Path) -> Path:
    folder = shutil.copytree(base, tmp_path / "base-4bit")
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {
        "quant_method": "bitsandbytes",
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": "bfloat16",
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_4bit_base_without_bitsandbytes_says_what_is_needed(tmp_path, models, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real_find_spec(name, *a)
    )
    base = _quantized_base_config(tmp_path, models["base"])
    with pytest.raises(ModelError) as caught:
        merge_adapter(base, models["adapter"], tmp_path / "merged")
    assert "bitsandbytes" in str(caught.value) and "pip install 'tunesmith[gpu]'" in str(caught.value)


def test_4bit_base_is_dequantized_then_merged(tmp_path, models):
    # bitsandbytes' CPU backend (in the dev extra) quantizes for real here, as CUDA does on a GPU.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32)
    AutoModelForCausalLM.from_pretrained(models["base"], quantization_config=quant, device_map="cpu").save_pretrained(
        tmp_path / "base-4bit"
    )
    shutil.copy(models["base"] / "tokenizer.json", tmp_path / "base-4bit")
    shutil.copy(models["base"] / "tokenizer_config.json", tmp_path / "base-4bit")

    out = merge_adapter(tmp_path / "base-4bit", models["adapter"], tmp_path / "merged")

    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    assert _saved_dtypes(out) == {"F16"}
    dequantized = AutoModelForCausalLM.from_pretrained(tmp_path / "base-4bit", device_map="cpu").dequantize()
    expected = _logits(PeftModel.from_pretrained(dequantized.float(), models["adapter"]))
    merged = _logits(AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32))
    assert np.abs(merged - expected).max() < 0.05
