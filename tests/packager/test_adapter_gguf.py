"""LoRA adapter → GGUF adapter: llama.cpp's convert_lora_to_gguf.py writes the same file, and llama.cpp applying it to
the base GGUF gives the merged model's logits; adapters a GGUF adapter cannot carry are refused, pointing to merged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from tests.fixtures.reference_convert import REFERENCE_DIR
from tunesmith.errors import ModelError, PackageError
from tunesmith.packager.adapter_gguf import convert_adapter_to_gguf
from tunesmith.packager.convert import convert_to_gguf

# (family, dtype the adapter is saved in): qwen2 in bfloat16 also checks the float32 detour llama.cpp takes.
ADAPTERS = {"llama": torch.float32, "qwen2": torch.bfloat16}
_ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
_TEXT = "The quick brown fox jumps over the lazy dog while the farmer counts 1234 sheep."


def make_adapter(base: Path, out: Path, *, seed: int = 1, dtype: torch.dtype = torch.float32, **lora) -> Path:
    """A peft LoRA adapter of `base` with random (non-zero) B matrices, so that it visibly changes the model."""
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    torch.manual_seed(seed)
    options = {"r": 4, "lora_alpha": 8, "target_modules": _ALL_PROJECTIONS, "init_lora_weights": False, **lora}
    get_peft_model(model, LoraConfig(**options)).save_pretrained(out)
    if dtype != torch.float32:
        weights = out / "adapter_model.safetensors"
        save_file({k: v.to(dtype) for k, v in load_file(weights).items()}, weights, metadata={"format": "pt"})
    return out


def reference_lora_convert(adapter: Path, base: Path, out: Path) -> Path:
    """llama.cpp's own convert_lora_to_gguf.py, with its bundled gguf-py first on the path."""
    env = dict(os.environ, PYTHONPATH=str(REFERENCE_DIR / "gguf-py"), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [
            sys.executable,
            str(REFERENCE_DIR / "convert_lora_to_gguf.py"),
            "--base",
            str(base),
            "--outfile",
            str(out),
            "--outtype",
            "f16",
            str(adapter),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


@pytest.fixture(scope="session")
def adapters(tiny_model, tmp_path_factory) -> dict[str, tuple[Path, Path, Path, Path]]:
    """{family: (base folder, adapter folder, our GGUF adapter, llama.cpp's GGUF adapter)}."""
    root = tmp_path_factory.mktemp("adapters")
    built = {}
    for family, dtype in ADAPTERS.items():
        base = tiny_model(family)
        adapter = make_adapter(base, root / f"{family}-adapter", dtype=dtype)
        ours = convert_adapter_to_gguf(adapter, base, root / f"{family}-ours.gguf")
        built[family] = (base, adapter, ours, reference_lora_convert(adapter, base, root / f"{family}-ref.gguf"))
    return built


def _read(path: Path) -> tuple[dict, dict]:
    reader = gguf.GGUFReader(path)
    fields = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    tensors = {t.name: (t.tensor_type.name, tuple(int(n) for n in t.shape), t.data.tobytes()) for t in reader.tensors}
    return fields, tensors


@pytest.mark.parametrize("family", ADAPTERS)
def test_adapter_metadata_matches_llama_cpp_lora_converter(adapters, family):
    ours, reference = (_read(path)[0] for path in adapters[family][2:])
    assert sorted(ours) == sorted(reference)
    for key in reference:
        assert ours[key] == reference[key], key
    assert ours["general.type"] == "adapter" and ours["adapter.type"] == "lora"
    assert ours["adapter.lora.alpha"] == 8.0
    assert ours["general.architecture"] == family


@pytest.mark.parametrize("family", ADAPTERS)
def test_adapter_tensors_match_llama_cpp_lora_converter_byte_for_byte(adapters, family):
    ours, reference = (_read(path)[1] for path in adapters[family][2:])
    assert sorted(ours) == sorted(reference)
    assert len(ours) == 2 * 2 * len(_ALL_PROJECTIONS)  # a and b, two layers
    assert "blk.0.attn_q.weight.lora_a" in ours and "blk.1.ffn_down.weight.lora_b" in ours
    for name, (qtype, shape, data) in reference.items():
        assert ours[name][:2] == (qtype, shape), name
        assert ours[name][2] == data, name


def test_llama_lora_b_rows_of_q_and_k_follow_the_rope_permutation(adapters):
    from safetensors.torch import load_file

    _, adapter, ours, _ = adapters["llama"]
    raw = load_file(adapter / "adapter_model.safetensors")
    tensors = {t.name: np.array(t.data) for t in gguf.GGUFReader(ours).tensors}
    for module, gguf_name in (
        ("self_attn.q_proj", "attn_q"),
        ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"),
    ):
        lora_b = raw[f"base_model.model.model.layers.0.{module}.lora_B.weight"].numpy().astype(np.float16)
        written = tensors[f"blk.0.{gguf_name}.weight.lora_b"]
        assert sorted(map(bytes, written)) == sorted(map(bytes, lora_b))  # the same rows...
        assert (written == lora_b).all() == (gguf_name == "attn_v")  # ...reordered for q and k only


def _logits(ids: list[int], model: Path, lora: Path | None = None) -> np.ndarray:
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(model),
        lora_path=str(lora) if lora else None,
        n_ctx=128,
        n_threads=1,
        logits_all=True,
        verbose=False,
    )
    try:
        llm.eval(ids)
        return np.asarray(llm.scores[: len(ids)], dtype=np.float32)
    finally:
        llm.close()


@pytest.mark.parametrize("family", ADAPTERS)
def test_llama_cpp_applying_the_adapter_to_the_base_gives_the_merged_models_logits(adapters, family, tmp_path):
    from tokenizers import Tokenizer

    from tunesmith.packager.merge import merge_adapter

    base, adapter, ours, _ = adapters[family]
    base_gguf = convert_to_gguf(base, tmp_path / "base-f16.gguf")
    merged_gguf = convert_to_gguf(
        merge_adapter(base, adapter, tmp_path / "merged", dtype="float32"), tmp_path / "merged-f16.gguf"
    )
    ids = Tokenizer.from_file(str(base / "tokenizer.json")).encode(_TEXT).ids
    merged = _logits(ids, merged_gguf)
    applied = _logits(ids, base_gguf, ours)
    scale = float(np.abs(merged).max())
    assert float(np.abs(_logits(ids, base_gguf) - merged).max()) > 0.05 * scale, "the adapter must matter"
    assert float(np.abs(applied - merged).max()) < 0.01 * scale
    assert (applied.argmax(-1) == merged.argmax(-1)).all()


def _set_config(**values):
    def change(adapter: Path) -> None:
        path = adapter / "adapter_config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **values}))

    return change


def _retrain(**lora):
    def change(adapter: Path) -> None:
        make_adapter(
            Path(json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]), adapter, **lora
        )

    return change


# (case id, how to make the adapter unsupported, the key or tensor the error names, words of its message)
UNSUPPORTED = [
    (
        "modules_to_save",
        _retrain(target_modules=["q_proj"], modules_to_save=["lm_head"]),
        "modules_to_save",
        "saves whole modules",
    ),
    (
        "embed_tokens_target",
        _retrain(target_modules=["q_proj", "embed_tokens"]),
        "adapter_model.safetensors",
        "trains embed_tokens",
    ),
    ("lm_head_target", _retrain(target_modules=["q_proj", "lm_head"]), "adapter_model.safetensors", "trains lm_head"),
    ("dora", _set_config(use_dora=True), "use_dora", "DoRA"),
    ("rslora", _set_config(use_rslora=True), "use_rslora", "alpha / sqrt(rank)"),
    ("alpha_pattern", _set_config(alpha_pattern={"q_proj": 32}), "alpha_pattern", "another alpha"),
    ("trained_bias", _set_config(bias="lora_only"), "bias", "trains biases"),
]


@pytest.mark.parametrize(("change", "where", "words"), [c[1:] for c in UNSUPPORTED], ids=[c[0] for c in UNSUPPORTED])
def test_adapter_a_gguf_adapter_cannot_carry_is_refused_with_a_hint_to_package_merged(
    adapters, tmp_path, change, where, words
):
    import shutil

    base, adapter, _, _ = adapters["llama"]
    broken = Path(shutil.copytree(adapter, tmp_path / "adapter"))
    config_path = broken / "adapter_config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "base_model_name_or_path": str(base)}))
    change(broken)
    out = tmp_path / "out" / "adapter.gguf"
    with pytest.raises(ModelError) as caught:
        convert_adapter_to_gguf(broken, base, out)
    message = str(caught.value)
    assert "cannot be packaged as a GGUF adapter" in message
    assert words in message
    assert str(broken) in message and where in message
    assert "Package it merged instead (drop --as-adapter)" in message
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_unknown_adapter_out_type_lists_the_valid_ones_and_writes_nothing(adapters, tmp_path):
    base, adapter, _, _ = adapters["llama"]
    with pytest.raises(PackageError, match=r"unknown GGUF adapter type 'q4_k_m'.*f16, f32"):
        convert_adapter_to_gguf(adapter, base, tmp_path / "a.gguf", out_type="q4_k_m")
    assert list(tmp_path.iterdir()) == []


def test_quality_session_refuses_an_adapter_of_another_architecture(adapters, tmp_path):
    from tunesmith.packager.quality_llama import open_gguf

    qwen2_base = convert_to_gguf(adapters["qwen2"][0], tmp_path / "qwen2-f16.gguf")
    llama_adapter = adapters["llama"][2]
    with (
        pytest.raises(PackageError, match="llama.cpp could not load the GGUF adapter") as caught,
        open_gguf(qwen2_base, n_ctx=64, adapter=llama_adapter),
    ):
        pass
    assert str(llama_adapter) in str(caught.value)
