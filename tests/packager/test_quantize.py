"""quantize_gguf: llama.cpp writes the requested type (with its fallbacks reported), atomically, and bad input fails."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.progress import RecordingProgress
from tests.fixtures.reference_convert import reference_f16
from tests.fixtures.smollm2_tiny import smollm2_tiny_llama
from tunesmith.errors import PackageError
from tunesmith.packager.quantize import QUANT_TYPES, normalize_quant, quantize_gguf


@pytest.fixture(scope="session")
def smollm2_f16(tmp_path_factory) -> Path:
    from tunesmith.embedded_base import embedded_base_dir

    return reference_f16(embedded_base_dir(), tmp_path_factory.getbasetemp() / "smollm2-f16.gguf")


@pytest.fixture(scope="session")
def smollm2_q4_k_m(smollm2_f16, tmp_path_factory):
    return quantize_gguf(smollm2_f16, tmp_path_factory.mktemp("q") / "smollm2-Q4_K_M.gguf", threads=2)


@functools.lru_cache
def _tensors(path: Path) -> dict[str, tuple[str, list[int]]]:
    """{name: (type, shape)} as gguf-py's reader sees them (slow on big vocabularies, so read once per file)."""
    import gguf

    return {t.name: (t.tensor_type.name, [int(n) for n in t.shape]) for t in gguf.GGUFReader(path).tensors}


def _types(path: Path) -> dict[str, str]:
    return {name: kind for name, (kind, _) in _tensors(path).items()}


def _shapes(path: Path) -> dict[str, list[int]]:
    return {name: shape for name, (_, shape) in _tensors(path).items()}


def test_quant_types_are_llama_cpp_ftypes():
    import llama_cpp

    for name, value in QUANT_TYPES.items():
        constant = "LLAMA_FTYPE_ALL_F32" if name == "F32" else f"LLAMA_FTYPE_MOSTLY_{name}"
        assert getattr(llama_cpp, constant) == value, name


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Q4_K_M", "Q4_K_M"),
        ("q4_k_m", "Q4_K_M"),
        (" q8_0 ", "Q8_0"),
        ("f16", "F16"),
        ("Q6_k", "Q6_K"),
        ("iq4_xs", "IQ4_XS"),
    ],
)
def test_normalize_quant_is_case_insensitive(given, expected):
    assert normalize_quant(given) == expected


def test_q4_k_m_on_smollm2_reports_the_fallback_types(smollm2_f16, smollm2_q4_k_m):
    result = smollm2_q4_k_m
    types = _types(result.path)
    shapes = _shapes(smollm2_f16)
    assert result.quant == "Q4_K_M"
    assert result.tensor_types == {name: list(types.values()).count(name) for name in set(types.values())}
    assert sum(result.tensor_types.values()) == len(shapes)
    assert result.size_bytes == result.path.stat().st_size < smollm2_f16.stat().st_size * 0.45
    # K-quants pack rows in blocks of 256: SmolLM2's 576-wide rows cannot use them, its 1536-wide ones can.
    for name, kind in types.items():
        if len(shapes[name]) < 2:
            assert kind == "F32", name
        elif shapes[name][0] % 256:
            assert not kind.endswith("_K"), (name, kind)
        else:
            assert kind in {"Q4_K", "Q6_K"}, (name, kind)
    assert result.tensor_types.get("Q5_0", 0) > 0 and result.tensor_types.get("Q4_K", 0) > 0
    narrow = sum(1 for name, shape in shapes.items() if len(shape) == 2 and shape[0] % 256)
    assert 0.5 * narrow < result.fallbacks <= narrow
    summary = result.summary()
    assert "Q5_0" in summary and "Q4_K" in summary and f"{result.fallbacks} tensors" in summary


def test_quantized_file_runs_and_agrees_with_f16_on_the_next_token(smollm2_f16, smollm2_q4_k_m):
    from tunesmith.packager.quality_llama import open_gguf

    with open_gguf(smollm2_f16) as f16, open_gguf(smollm2_q4_k_m.path) as q4:
        ids = f16.tokenize("The capital of France is Paris. The capital of Italy is Rome. The capital of Spain is")
        assert q4.tokenize("The capital of France is Paris.") == f16.tokenize("The capital of France is Paris.")
        agree = (f16.logits(ids).argmax(-1) == q4.logits(ids).argmax(-1)).mean()
    assert agree >= 0.7


def _unknown_arch_gguf(path: Path) -> Path:
    import gguf

    writer = gguf.GGUFWriter(path, "no-such-architecture")
    writer.add_tensor("blk.0.attn_q.weight", np.ones((64, 64), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_failed_quantize_leaves_the_previous_file_and_no_partial(tmp_path):
    source = _unknown_arch_gguf(tmp_path / "odd.gguf")
    target = tmp_path / "out.gguf"
    target.write_bytes(b"previous good file")
    with pytest.raises(PackageError, match="could not quantize .*unknown model architecture: 'no-such-architecture'"):
        quantize_gguf(source, target, "Q8_0", threads=1)
    assert target.read_bytes() == b"previous good file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.gguf", "out.gguf"]


def _bad_case(kind: str, tmp_path: Path, smollm2_f16: Path) -> tuple[Path, Path, str]:
    if kind == "unknown type":
        return smollm2_f16, tmp_path / "o.gguf", "Q4_K_X"
    if kind == "needs an importance matrix":
        return smollm2_f16, tmp_path / "o.gguf", "iq2_xxs"
    if kind == "missing source":
        return tmp_path / "missing.gguf", tmp_path / "o.gguf", "Q4_K_M"
    if kind == "source is not GGUF":
        (tmp_path / "fake.gguf").write_bytes(b"PK\x03\x04 this is a zip file, not a GGUF" * 10)
        return tmp_path / "fake.gguf", tmp_path / "o.gguf", "Q4_K_M"
    if kind == "output is the source":
        return smollm2_f16, smollm2_f16, "Q4_K_M"
    return smollm2_f16, tmp_path, "Q4_K_M"  # output is a folder


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("unknown type", ["unknown quantization type 'Q4_K_X'", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16"]),
        ("needs an importance matrix", ["IQ2_XXS", "importance matrix"]),
        ("missing source", ["does not exist", "missing.gguf"]),
        ("source is not GGUF", ["not a readable GGUF", "fake.gguf"]),
        ("output is the source", ["overwrite its source"]),
        ("output is a folder", ["is a folder"]),
    ],
)
def test_bad_input_is_reported(tmp_path, smollm2_f16, kind, words):
    src, dst, quant = _bad_case(kind, tmp_path, smollm2_f16)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(PackageError) as caught:
        quantize_gguf(src, dst, quant)
    for word in words:
        assert word in str(caught.value)
    assert sorted(tmp_path.iterdir()) == before


def test_q8_0_quantizes_every_matrix_and_notes_it(smollm2_f16, tmp_path, capfd):
    recorder = RecordingProgress()
    result = quantize_gguf(smollm2_f16, tmp_path / "m.gguf", "q8_0", threads=2, progress=recorder)
    notes = recorder.notes
    shapes = _shapes(smollm2_f16)
    for name, kind in _types(result.path).items():
        assert kind == ("Q8_0" if len(shapes[name]) >= 2 else "F32"), name
    assert notes and "Q8_0" in notes[0] and "m.gguf" in notes[0]
    assert result.fallbacks == 0 and "another type" not in notes[0]
    assert "blk.0" not in capfd.readouterr().err  # llama.cpp's per-tensor log stays off the console


def test_requantizing_is_refused_unless_asked(smollm2_f16, smollm2_q4_k_m, tmp_path):
    q4 = smollm2_q4_k_m.path
    with pytest.raises(PackageError, match=r"already quantized \(Q4_K, Q5_0, Q6_K, Q8_0 tensors\)"):
        quantize_gguf(q4, tmp_path / "q8.gguf", "Q8_0")
    assert not (tmp_path / "q8.gguf").exists()
    result = quantize_gguf(q4, tmp_path / "q8.gguf", "Q8_0", allow_requantize=True, threads=2)
    assert result.tensor_types.get("Q8_0", 0) == sum(1 for shape in _shapes(smollm2_f16).values() if len(shape) >= 2)


@pytest.fixture(scope="session")
def wide_tiny_f16(tmp_path_factory) -> Path:
    """A tiny random Llama whose rows (256, 512) fit K-quant blocks, so every matrix can take the type asked for."""
    folder = smollm2_tiny_llama(tmp_path_factory.mktemp("wide-tiny"), hidden_size=256, intermediate_size=512)
    return reference_f16(folder, folder / "model-f16.gguf")


# llama.cpp's choices for a two-layer model with a tied embedding: Q6_K stores every matrix as Q6_K; Q5_K_M keeps
# Q5_K but gives the output (here the embedding) and the last layer's attn_v and ffn_down Q6_K ("more bits").
_Q5_K_M_MORE_BITS = {"token_embd.weight", "blk.1.attn_v.weight", "blk.1.ffn_down.weight"}
K_QUANT_CASES = [
    ("Q6_K", lambda name: "Q6_K", {"Q6_K": 15, "F32": 5}),
    ("Q5_K_M", lambda name: "Q6_K" if name in _Q5_K_M_MORE_BITS else "Q5_K", {"Q5_K": 12, "Q6_K": 3, "F32": 5}),
]


@pytest.mark.parametrize(("quant", "matrix_type", "counts"), K_QUANT_CASES, ids=[c[0] for c in K_QUANT_CASES])
def test_k_quants_write_the_types_asked_for_and_llama_cpp_runs_them(
    wide_tiny_f16, tmp_path, quant, matrix_type, counts
):
    import gguf

    from tunesmith.packager.quality_llama import open_gguf

    result = quantize_gguf(wide_tiny_f16, tmp_path / f"m-{quant}.gguf", quant, threads=2)
    assert (result.quant, result.fallbacks, result.tensor_types) == (quant, 0, counts)
    reader = gguf.GGUFReader(result.path)
    assert int(reader.fields["general.file_type"].parts[-1][0]) == QUANT_TYPES[quant]
    shapes = _shapes(wide_tiny_f16)
    for name, kind in _types(result.path).items():
        assert kind == (matrix_type(name) if len(shapes[name]) == 2 else "F32"), name

    text = "The quick brown fox jumps over the lazy dog, and the farmer counts 1234 sheep in the field."
    with open_gguf(wide_tiny_f16) as f16, open_gguf(result.path) as quantized:
        ids = f16.tokenize(text)
        expected, got = f16.logits(ids), quantized.logits(ids)
    assert got.shape == expected.shape and np.isfinite(got).all()
    cosine = (got * expected).sum(-1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(expected, axis=-1)
    assert cosine.min() >= 0.99, cosine.min()


def test_q6_k_is_closer_to_f16_than_q5_k_m(wide_tiny_f16, tmp_path):
    from tunesmith.packager.quality_llama import open_gguf

    text = "Ollama serves GGUF files; llama.cpp reads them; tunesmith writes them from Hugging Face folders."
    errors = {}
    with open_gguf(wide_tiny_f16) as f16:
        ids = f16.tokenize(text)
        expected = f16.logits(ids)
    for quant in ("Q5_K_M", "Q6_K"):
        result = quantize_gguf(wide_tiny_f16, tmp_path / f"m-{quant}.gguf", quant, threads=2)
        with open_gguf(result.path) as session:
            errors[quant] = float(np.abs(session.logits(ids) - expected).mean())
    assert 0 < errors["Q6_K"] < errors["Q5_K_M"]
