"""Our HF → GGUF converter against llama.cpp's own converter and against the HF model itself, family by family."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from tests.fixtures.reference_convert import reference_convert
from tests.fixtures.tiny_models import FAMILIES
from tunesmith.packager import SUPPORTED_ARCHITECTURES, convert_to_gguf

pytestmark = pytest.mark.slow

# Output types checked byte for byte beyond f16, on one BPE and one SentencePiece family.
_EXTRA_TYPES = [("llama", "bf16"), ("llama", "q8_0"), ("gemma3", "f32"), ("phi3", "q8_0")]
_JOBS = [(family, "f16") for family in FAMILIES] + _EXTRA_TYPES
_SAMPLES = [
    "The quick brown fox jumps over the lazy dog.",
    "Numbers like 3.14159 and 2718, and café résumé naïve.",
    "def add(a, b):\n    return a + b",
    "  leading spaces, trailing spaces  ",
    "Unseen words: xylophone quokka zephyr 🦙",
]


@pytest.fixture(scope="session")
def converted(tiny_model_dirs, tmp_path_factory) -> dict[tuple[str, str], tuple[Path, Path]]:
    """{(family, out_type): (our GGUF, llama.cpp's GGUF)} for every job, the reference run once for all."""
    ours_dir, ref_dir = tmp_path_factory.mktemp("ours"), tmp_path_factory.mktemp("reference")
    reference_convert([(tiny_model_dirs[f], ref_dir / f"{f}-{t}.gguf", t) for f, t in _JOBS])
    return {
        (f, t): (convert_to_gguf(tiny_model_dirs[f], ours_dir / f"{f}-{t}.gguf", out_type=t), ref_dir / f"{f}-{t}.gguf")
        for f, t in _JOBS
    }


def _read(path: Path) -> tuple[dict, dict]:
    reader = gguf.GGUFReader(path)
    fields = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    tensors = {t.name: (t.tensor_type.name, tuple(int(n) for n in t.shape), t.data.tobytes()) for t in reader.tensors}
    return fields, tensors


def test_every_fixture_family_is_a_supported_architecture():
    assert {spec["arch"] for spec in FAMILIES.values()} <= set(SUPPORTED_ARCHITECTURES)


@pytest.mark.parametrize("job", _JOBS, ids=[f"{f}-{t}" for f, t in _JOBS])
def test_metadata_matches_llama_cpp_converter(converted, job):
    ours, reference = (_read(path)[0] for path in converted[job])
    # Both converters name the model after its folder; the folders differ only in our test layout, never here,
    # so no key is excluded.
    # One deliberate addition: where the tokenizer files leave it unsaid (llama.cpp's converter then writes nothing
    # and runtimes guess differently), tunesmith records whether the tokenizer adds BOS, as training saw it.
    if "tokenizer.ggml.add_bos_token" not in reference:
        assert ours.pop("tokenizer.ggml.add_bos_token") is False
    assert sorted(ours) == sorted(reference)
    for key in reference:
        assert ours[key] == reference[key], key


@pytest.mark.parametrize("job", _JOBS, ids=[f"{f}-{t}" for f, t in _JOBS])
def test_tensors_match_llama_cpp_converter_byte_for_byte(converted, job):
    ours, reference = (_read(path)[1] for path in converted[job])
    assert sorted(ours) == sorted(reference)
    for name, (qtype, shape, data) in reference.items():
        assert ours[name][:2] == (qtype, shape), name
        assert ours[name][2] == data, name


@pytest.fixture(scope="session")
def llama_models(converted):
    import llama_cpp

    models = {}
    for family in FAMILIES:
        path = converted[(family, "f16")][0]
        models[family] = llama_cpp.Llama(
            model_path=str(path), n_ctx=128, n_batch=128, logits_all=True, n_threads=1, verbose=False
        )
    yield models
    for model in models.values():
        model.close()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_llama_cpp_tokenizes_like_the_hf_tokenizer(llama_models, tiny_model_dirs, family):
    from tokenizers import Tokenizer

    model_dir = tiny_model_dirs[family]
    hf = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    for text in _SAMPLES:
        got = llama_models[family].tokenize(text.encode("utf-8"), add_bos=True, special=False)
        expected = hf.encode(text).ids
        if (model_dir / "tokenizer.model").is_file():
            import sentencepiece

            # transformers' fast copy of a SentencePiece model merges leading spaces differently from the model
            # itself; llama.cpp follows the SentencePiece model, which is what the weights were trained with.
            spm = sentencepiece.SentencePieceProcessor(model_file=str(model_dir / "tokenizer.model"))
            assert got == expected[:1] + spm.encode(text), text
            if text[0].isspace():
                continue
        assert got == expected, text


@pytest.mark.parametrize("family", list(FAMILIES))
def test_llama_cpp_logits_match_the_hf_model(llama_models, tiny_model_dirs, family):
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    ids = Tokenizer.from_file(str(tiny_model_dirs[family] / "tokenizer.json")).encode(_SAMPLES[0]).ids
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dirs[family], dtype=torch.float32)
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0].numpy()
    llm = llama_models[family]
    llm.reset()
    llm.eval(ids)  # one batch of many tokens: also the path that crashed on some AMX CPUs
    got = np.asarray(llm.scores[: len(ids)], dtype=np.float32)
    assert got.shape == expected.shape
    # f16 weights against float32: a few thousandths of the logit range apart, same top-1 at every position.
    scale = float(np.abs(expected).max())
    assert float(np.abs(got - expected).max()) < 0.01 * max(scale, 1.0)
    assert (got.argmax(-1) == expected.argmax(-1)).all()


@pytest.mark.parametrize(
    "job", [("qwen3", "f16"), ("mistral", "f16"), ("llama", "bf16"), ("llama", "q8_0")], ids=lambda job: "-".join(job)
)
def test_converting_large_tensors_block_by_block_gives_the_same_bytes(
    converted, tiny_model_dirs, tmp_path, monkeypatch, job
):
    from tunesmith.packager import convert

    # Tiny tensors fit in one block; shrink the block so that every matrix goes through the row-block path.
    monkeypatch.setattr(convert, "_BLOCK_ELEMENTS", 256)
    family, out_type = job
    ours = convert_to_gguf(tiny_model_dirs[family], tmp_path / "blocks.gguf", out_type=out_type)
    assert _read(ours)[1] == _read(converted[job][1])[1]
