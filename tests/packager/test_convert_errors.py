"""Bad model folders and options fail fast with an error that names the folder or file and says what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.progress import RecordingProgress
from tests.fixtures.tiny_models import copy_model
from tunesmith.errors import ModelError, PackageError
from tunesmith.packager import SUPPORTED_ARCHITECTURES, convert_to_gguf


def _set_architecture(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["FalconForCausalLM"]
    (folder / "config.json").write_text(json.dumps(config))


def _drop_config_key(key: str):
    def breaker(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        del config[key]
        (folder / "config.json").write_text(json.dumps(config))

    return breaker


def _truncate_weights(folder: Path) -> None:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])


def _drop(*names: str):
    def breaker(folder: Path) -> None:
        for name in names:
            (folder / name).unlink()

    return breaker


def _unknown_tensor(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    tensors["model.layers.0.mystery.weight"] = tensors["model.norm.weight"].clone()
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})


# (case id, family, how to break the folder, error class, words the message must hold)
CASES = [
    (
        "unsupported-architecture",
        "llama",
        _set_architecture,
        ModelError,
        ["FalconForCausalLM", "not supported", *SUPPORTED_ARCHITECTURES, "config.json"],
    ),
    (
        "missing-tokenizer",
        "mistral",
        _drop("tokenizer.json", "tokenizer.model"),
        ModelError,
        ["no tokenizer", "save_pretrained"],
    ),
    (
        "unreadable-safetensors",
        "qwen3",
        _truncate_weights,
        ModelError,
        ["model.safetensors", "unreadable safetensors", "download or save it again"],
    ),
    ("missing-config", "gemma2", _drop("config.json"), ModelError, ["no config.json", "save_pretrained"]),
    (
        "config-without-head-count",
        "phi3",
        _drop_config_key("num_attention_heads"),
        ModelError,
        ["config.json", "'num_attention_heads'", "Copy config.json from the base model"],
    ),
    (
        "config-without-gemma2-softcapping",
        "gemma2",
        _drop_config_key("attn_logit_softcapping"),
        ModelError,
        ["config.json", "'attn_logit_softcapping'"],
    ),
    (
        "tensor-of-another-architecture",
        "llama",
        _unknown_tensor,
        ModelError,
        ["model.layers.0.mystery.weight", "llama", "save the model again"],
    ),
]


@pytest.mark.parametrize(("family", "breaker", "error", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_model_folder_is_refused_with_a_clear_error(tiny_model, tmp_path, family, breaker, error, words):
    folder = copy_model(tiny_model(family), tmp_path / family)
    breaker(folder)
    out = tmp_path / "out" / "model.gguf"
    with pytest.raises(error) as caught:
        convert_to_gguf(folder, out)
    message = str(caught.value)
    assert str(folder) in message
    for word in words:
        assert word in message
    assert not out.parent.exists() or not any(out.parent.iterdir())  # no file, not even a partial one


def test_unknown_output_type_lists_the_valid_ones(tiny_model, tmp_path):
    with pytest.raises(PackageError, match=r"'q4_k_m'.*f32, f16, bf16, q8_0"):
        convert_to_gguf(tiny_model("llama"), tmp_path / "model.gguf", out_type="q4_k_m")


def test_conversion_reports_progress_once_per_tensor(tiny_model, tmp_path):
    import gguf

    recorder = RecordingProgress()
    out = convert_to_gguf(tiny_model("qwen3"), tmp_path / "qwen3.gguf", progress=recorder)
    tensors = len(gguf.GGUFReader(out).tensors)
    assert [(task["description"], task["total"]) for task in recorder.tasks] == [("Writing qwen3.gguf", tensors)]
    assert recorder.tasks[0]["done"] == tensors


def test_interrupted_conversion_keeps_the_previous_file_and_leaves_no_partial_one(tiny_model, tmp_path):
    import contextlib

    class Interrupt(RecordingProgress):
        @contextlib.contextmanager
        def task(self, description, total=None):
            def advance(amount=1.0):
                raise KeyboardInterrupt  # the user presses Ctrl-C after the first tensor is written

            yield advance

    out = tmp_path / "model.gguf"
    out.write_bytes(b"previous good file")
    with pytest.raises(KeyboardInterrupt):
        convert_to_gguf(tiny_model("llama"), out, progress=Interrupt())
    assert out.read_bytes() == b"previous good file"
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]


def _phi3_long_config(rope_section: str, rope: dict) -> dict:
    return {
        "architectures": ["Phi3ForCausalLM"],
        "hidden_size": 64,
        "num_attention_heads": 4,
        "max_position_embeddings": 512,
        "original_max_position_embeddings": 256,
        rope_section: {"long_factor": [1.0, 2.0], "short_factor": [1.0, 1.0], **rope},
    }


# (case id, config.json of a Phi-3 long-context model, the key the error must name, the value it must quote)
PHI3_ROPE_CASES = [
    (
        "rope_parameters",
        _phi3_long_config("rope_parameters", {"rope_type": "dynamic", "rope_theta": 1e4}),
        "rope_parameters.rope_type",
        "'dynamic'",
    ),
    (
        "rope_scaling-rope_type",
        _phi3_long_config("rope_scaling", {"rope_type": "linear"}),
        "rope_scaling.rope_type",
        "'linear'",
    ),
    ("rope_scaling-type", _phi3_long_config("rope_scaling", {"type": "ntk"}), "rope_scaling.type", "'ntk'"),
    ("no-type", _phi3_long_config("rope_scaling", {}), "rope_scaling.rope_type", "None"),
]


@pytest.mark.parametrize(
    ("config", "key", "value"), [c[1:] for c in PHI3_ROPE_CASES], ids=[c[0] for c in PHI3_ROPE_CASES]
)
def test_unknown_phi3_long_rope_type_names_the_key_the_value_and_the_supported_ones(config, key, value):
    import gguf

    from tunesmith.packager.gguf_arch import FAMILIES, Hparams

    hparams = Hparams(config, where="/models/phi/config.json")
    writer = gguf.GGUFWriter(path=None, arch="phi3")
    with pytest.raises(ModelError) as caught:
        list(FAMILIES["Phi3ForCausalLM"].extra_tensors(writer, hparams))
    message = str(caught.value)
    assert message.startswith(f"/models/phi/config.json: {key}: {key} {value} is not supported")
    for supported in ("'longrope'", "'su'", "'yarn'"):
        assert supported in message


@pytest.mark.parametrize("kind", ["longrope", "su", "yarn", "LongRoPE"])
def test_supported_phi3_long_rope_types_write_both_factor_tensors(kind):
    import gguf

    from tunesmith.packager.gguf_arch import FAMILIES, Hparams

    hparams = Hparams(_phi3_long_config("rope_scaling", {"rope_type": kind}))
    tensors = list(FAMILIES["Phi3ForCausalLM"].extra_tensors(gguf.GGUFWriter(path=None, arch="phi3"), hparams))
    assert [name for name, _ in tensors] == [gguf.MODEL_TENSOR.ROPE_FACTORS_LONG, gguf.MODEL_TENSOR.ROPE_FACTORS_SHORT]
    assert tensors[0][1].tolist() == [1.0, 2.0]


def test_unknown_phi3_long_rope_type_in_a_model_folder_stops_the_conversion(tiny_model, tmp_path):
    folder = copy_model(tiny_model("phi3-long"), tmp_path / "phi3-long")
    config = json.loads((folder / "config.json").read_text())
    section = "rope_parameters" if isinstance(config.get("rope_parameters"), dict) else "rope_scaling"
    config[section] = {**config[section], "rope_type": "dynamic"}
    config[section].pop("type", None)
    (folder / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out" / "model.gguf"
    with pytest.raises(ModelError, match=rf"config.json: {section}.rope_type: .*'dynamic' is not supported"):
        convert_to_gguf(folder, out)
    assert not out.exists()
