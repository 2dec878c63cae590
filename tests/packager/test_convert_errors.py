"""Bad model folders and options fail fast with an error that names the folder or file and says what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    ("unsupported-architecture", "llama", _set_architecture, ModelError,
     ["FalconForCausalLM", "not supported", *SUPPORTED_ARCHITECTURES, "config.json"]),
    ("missing-tokenizer", "mistral", _drop("tokenizer.json", "tokenizer.model"), ModelError,
     ["no tokenizer", "save_pretrained"]),
    ("unreadable-safetensors", "qwen3", _truncate_weights, ModelError,
     ["model.safetensors", "unreadable safetensors", "download or save it again"]),
    ("missing-config", "gemma2", _drop("config.json"), ModelError, ["no config.json", "save_pretrained"]),
    ("config-without-head-count", "phi3", _drop_config_key("num_attention_heads"), ModelError,
     ["config.json", "'num_attention_heads'", "Copy config.json from the base model"]),
    ("config-without-gemma2-softcapping", "gemma2", _drop_config_key("attn_logit_softcapping"), ModelError,
     ["config.json", "'attn_logit_softcapping'"]),
    ("tensor-of-another-architecture", "llama", _unknown_tensor, ModelError,
     ["model.layers.0.mystery.weight", "llama", "save the model again"]),
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
    import contextlib

    import gguf

    class Recorder:
        def __init__(self) -> None:
            self.tasks: list[tuple[str, float | None]] = []
            self.advanced = 0.0

        @contextlib.contextmanager
        def task(self, description, total=None):
            self.tasks.append((description, total))
            yield self._advance

        def _advance(self, amount=1.0):
            self.advanced += amount

        def note(self, message):
            pass

    recorder = Recorder()
    out = convert_to_gguf(tiny_model("qwen3"), tmp_path / "qwen3.gguf", progress=recorder)
    tensors = len(gguf.GGUFReader(out).tensors)
    assert recorder.tasks == [("Writing qwen3.gguf", tensors)]
    assert recorder.advanced == tensors


def test_interrupted_conversion_keeps_the_previous_file_and_leaves_no_partial_one(tiny_model, tmp_path):
    import contextlib

    class Interrupt:
        @contextlib.contextmanager
        def task(self, description, total=None):
            def advance(amount=1.0):
                raise KeyboardInterrupt  # the user presses Ctrl-C after the first tensor is written

            yield advance

        def note(self, message):
            pass

    out = tmp_path / "model.gguf"
    out.write_bytes(b"previous good file")
    with pytest.raises(KeyboardInterrupt):
        convert_to_gguf(tiny_model("llama"), out, progress=Interrupt())
    assert out.read_bytes() == b"previous good file"
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]
