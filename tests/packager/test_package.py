"""`build_package` end to end: the folder a user gets, that llama.cpp runs it and that it stops; atomic and resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tunesmith.embedded_base import EMBEDDED_HUB_ID, embedded_base_dir
from tunesmith.errors import ModelError, PackageError
from tunesmith.modelfiles import parse_modelfile
from tunesmith.packager.package import PackageSpec, build_package

SECRET = "hf_TUNESMITHSECRETsentinel0123456789"


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    return embedded_base_dir()


@pytest.fixture(scope="session")
def tiny_base(smollm2_tiny_base) -> Path:
    return smollm2_tiny_base


@pytest.fixture(scope="session")
def tiny_adapter(smollm2_tiny_adapter) -> Path:
    return smollm2_tiny_adapter


def _hf_logits(model_dir: Path, ids: list[int]) -> np.ndarray:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


def _gguf_logits(gguf: Path, ids: list[int]) -> np.ndarray:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=256, logits_all=True, verbose=False)
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)])


def test_package_with_adapter_matches_the_merged_model_logits(tmp_path, tiny_base, tiny_adapter):
    from transformers import AutoTokenizer

    result = build_package(PackageSpec(base=tiny_base, adapter=tiny_adapter, out=tmp_path / "pkg", quants=["F16"]))
    gguf = tmp_path / "pkg" / "pkg-F16.gguf"
    assert gguf in result.files
    ids = AutoTokenizer.from_pretrained(tiny_base)("The river bends and the town wakes.")["input_ids"]
    # The reference: the adapter merged by peft itself, in float32.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    merged = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32), tiny_adapter
    ).merge_and_unload()
    with torch.no_grad():
        expected = merged(torch.tensor([ids])).logits[0].numpy()
    base_only = _hf_logits(tiny_base, ids)
    got = _gguf_logits(gguf, ids)
    assert np.abs(expected - base_only).max() > 0.05, "the adapter must change the model for this test to mean anything"
    assert np.abs(got - expected).max() < 0.05
    assert (got.argmax(-1) == expected.argmax(-1)).mean() == 1.0


def _header_types(gguf_path: Path) -> tuple[dict[str, int], int]:
    """Tensors per storage type as gguf-py reads them, and how many of the layers' tensors are matrices."""
    import collections

    import gguf

    tensors = gguf.GGUFReader(gguf_path).tensors
    counts = collections.Counter(t.tensor_type.name for t in tensors)
    return dict(counts), sum(1 for t in tensors if len(t.shape) == 2 and t.name.startswith("blk."))


def test_quality_report_and_card_record_the_tensor_types_llama_cpp_wrote(tmp_path, tiny_base):
    out = tmp_path / "pkg"
    result = build_package(PackageSpec(base=tiny_base, out=out, quants=["Q4_K_M", "F16"]))
    quality = json.loads((out / "quality.json").read_text())
    assert quality == result.quality
    assert list(quality["files"]) == ["Q4_K_M"]  # the f16 file is the converter's own, nothing was quantized
    record = quality["files"]["Q4_K_M"]
    types, matrices = _header_types(out / "pkg-Q4_K_M.gguf")
    assert record["file"] == "pkg-Q4_K_M.gguf" and record["quant"] == "Q4_K_M"
    assert record["tensor_types"] == types
    assert record["size_bytes"] == (out / "pkg-Q4_K_M.gguf").stat().st_size
    # Every layer matrix of the tiny model is 64 or 128 wide: no K-quant block (256) fits, so all of them fall back
    # (the tied embedding llama.cpp stores as Q8_0 by its own rule for narrow rows, which is no fallback).
    assert not any(kind.endswith("_K") for kind in types)
    assert types["Q8_0"] >= 1 and types["Q5_0"] >= 1
    assert record["fallbacks"] == matrices > 0
    card = (out / "README.md").read_text()
    row = next(line for line in card.splitlines() if line.startswith("| `pkg-Q4_K_M.gguf` |") and " × " in line)
    for kind, count in types.items():
        assert f"{count} × {kind}" in row
    assert row.endswith(f"| {matrices} (rows not a multiple of Q4_K_M's block size) |")
    assert not [line for line in card.splitlines() if line.startswith("| `pkg-F16.gguf` |") and " × " in line]


def test_existing_package_is_kept_without_force(tmp_path, tiny_base):
    out = tmp_path / "pkg"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(PackageError, match="already exists") as caught:
        build_package(PackageSpec(base=tiny_base, out=out, quants=["F16"]))
    assert "--force" in str(caught.value)
    assert (out / "keep.txt").read_text() == "mine"


def test_failure_mid_package_leaves_the_old_package_and_resumes_from_the_f16(tmp_path, tiny_base, monkeypatch):
    out = tmp_path / "pkg"
    build_package(PackageSpec(base=tiny_base, out=out, quants=["F16"]))
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    import tunesmith.packager.quantize as quantize_module

    def broken_quantize(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(quantize_module, "quantize_gguf", broken_quantize)
    with pytest.raises(RuntimeError, match="disk full"):
        build_package(PackageSpec(base=tiny_base, out=out, quants=["Q8_0"], force=True))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]

    monkeypatch.undo()
    import tunesmith.packager.convert as convert_module

    calls = []
    real_convert = convert_module.convert_to_gguf
    monkeypatch.setattr(convert_module, "convert_to_gguf", lambda *a, **k: calls.append(a) or real_convert(*a, **k))
    result = build_package(PackageSpec(base=tiny_base, out=out, quants=["Q8_0"], force=True))
    assert calls == [], "the f16 GGUF of the interrupted run is reused"
    assert [p.name for p in result.files if p.suffix == ".gguf"] == ["pkg-Q8_0.gguf"]
    assert not (tmp_path / ".pkg.work").exists()


@pytest.mark.slow
def test_package_embedded_model_end_to_end(tmp_path, smollm2_dir, monkeypatch):
    """The user's path: SmolLM2 → Q4_K_M + Modelfile + card + quality; llama.cpp runs it and the reply stops."""
    monkeypatch.setenv("HF_TOKEN", SECRET)
    out = tmp_path / "smol"
    result = build_package(
        PackageSpec(
            base=smollm2_dir,
            out=out,
            base_model_id=EMBEDDED_HUB_ID,
            license="apache-2.0",
            system="You are a concise assistant.",
            parameters={"temperature": "0.3"},
        )
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == ["Modelfile", "README.md", "quality.json", "smol-Q4_K_M.gguf"]
    modelfile = parse_modelfile((out / "Modelfile").read_text(), source=str(out / "Modelfile"))
    assert modelfile.from_ == "./smol-Q4_K_M.gguf"
    assert "<|im_end|>" in modelfile.parameters["stop"]
    assert modelfile.parameters["temperature"] == 0.3
    assert modelfile.system == "You are a concise assistant."
    assert modelfile.template and "<|im_start|>" in modelfile.template
    quality = json.loads((out / "quality.json").read_text())
    assert quality == result.quality
    assert result.passed, json.dumps(quality, indent=2)
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["base_model"] == EMBEDDED_HUB_ID and front["license"] == "apache-2.0"
    for path in out.iterdir():
        assert SECRET.encode() not in path.read_bytes(), f"the token leaked into {path.name}"

    from llama_cpp import Llama

    llm = Llama(model_path=str(out / "smol-Q4_K_M.gguf"), n_ctx=512, verbose=False)
    reply = llm.create_chat_completion(
        messages=[{"role": "user", "content": "What is 2 + 2?"}],
        max_tokens=64,
        temperature=0.0,
        stop=modelfile.parameters["stop"],
    )
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["choices"][0]["message"]["content"].strip()


def test_package_as_adapter_keeps_the_lora_separate_and_llama_cpp_applies_it(tmp_path, tiny_base, tiny_adapter):
    from llama_cpp import Llama
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.packager.convert import convert_to_gguf

    out = tmp_path / "pkg"
    result = build_package(
        PackageSpec(base=tiny_base, adapter=tiny_adapter, out=out, quants=["Q8_0", "F16"], as_adapter=True)
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "Modelfile",
        "README.md",
        "pkg-adapter-F16.gguf",
        "pkg-base-F16.gguf",
        "pkg-base-Q8_0.gguf",
        "quality.json",
    ]
    modelfile = parse_modelfile((out / "Modelfile").read_text(), source=str(out / "Modelfile"))
    assert (modelfile.from_, modelfile.adapter) == ("./pkg-base-Q8_0.gguf", "./pkg-adapter-F16.gguf")
    # The base files hold the base alone: the f16 is exactly what converting the base gives.
    assert (out / "pkg-base-F16.gguf").read_bytes() == convert_to_gguf(tiny_base, tmp_path / "b.gguf").read_bytes()

    ids = AutoTokenizer.from_pretrained(tiny_base)("The river bends and the town wakes.")["input_ids"]
    merged = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32), tiny_adapter
    ).merge_and_unload()
    with torch.no_grad():
        expected = merged(torch.tensor([ids])).logits[0].numpy()
    llm = Llama(
        model_path=str(out / "pkg-base-F16.gguf"),
        lora_path=str(out / "pkg-adapter-F16.gguf"),
        n_ctx=256,
        logits_all=True,
        verbose=False,
    )
    llm.eval(ids)
    got = np.array(llm.scores[: len(ids)])
    assert np.abs(expected - _hf_logits(tiny_base, ids)).max() > 0.05, "the adapter must change the model"
    assert np.abs(got - expected).max() < 0.05
    assert (got.argmax(-1) == expected.argmax(-1)).all()

    # The quality report ran every GGUF with the adapter applied, against the merged model.
    quality = json.loads((out / "quality.json").read_text())
    assert quality == result.quality
    checks = {check["name"]: check for check in quality["checks"]}
    assert checks["f16 top-1 agreement"]["passed"] and checks["f16 max abs logit diff"]["passed"]
    assert "Q8_0 perplexity / f16" in checks
    card = (out / "README.md").read_text()
    assert "| `pkg-adapter-F16.gguf` | LoRA adapter (F16) |" in card
    assert "llama-cli -m pkg-base-Q8_0.gguf --lora pkg-adapter-F16.gguf -cnv" in card
    assert "hf.co/" not in card


def _modules_to_save_adapter(tmp_path: Path, tiny_base: Path) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    adapter = tmp_path / "adapter-with-head"
    get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"], modules_to_save=["lm_head"])
    ).save_pretrained(adapter)
    return adapter


# (case id, whether to pass an adapter that saves lm_head, error class, words the message must hold)
AS_ADAPTER_REFUSALS = [
    ("no adapter", None, PackageError, ["--as-adapter needs an adapter", "--adapter DIR"]),
    (
        "adapter saves lm_head",
        _modules_to_save_adapter,
        ModelError,
        ["cannot be packaged as a GGUF adapter", "modules_to_save", "Package it merged instead"],
    ),
]


@pytest.mark.parametrize(
    ("make", "error", "words"), [c[1:] for c in AS_ADAPTER_REFUSALS], ids=[c[0] for c in AS_ADAPTER_REFUSALS]
)
def test_package_as_adapter_refuses_before_any_long_step(tmp_path, tiny_base, monkeypatch, make, error, words):
    import tunesmith.packager.convert as convert_module
    import tunesmith.packager.merge as merge_module

    adapter = make(tmp_path, tiny_base) if make else None
    for module, function in ((convert_module, "convert_to_gguf"), (merge_module, "merge_adapter")):
        monkeypatch.setattr(module, function, lambda *a, **k: pytest.fail("a long step started"))
    with pytest.raises(error) as caught:
        build_package(PackageSpec(base=tiny_base, adapter=adapter, out=tmp_path / "pkg", as_adapter=True))
    for word in words:
        assert word in str(caught.value)
    assert not (tmp_path / "pkg").exists() and not (tmp_path / ".pkg.work").exists()
