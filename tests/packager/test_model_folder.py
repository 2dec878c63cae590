"""open_model_folder: a complete folder opens; every kind of broken folder fails at once with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tunesmith.errors import ModelError
from tunesmith.packager.model_folder import open_model_folder


def _valid_folder(root: Path) -> Path:
    folder = root / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    (folder / "tokenizer.json").write_text("{}")
    save_file({"a.weight": torch.ones(2, 3), "b.weight": torch.zeros(4)}, folder / "model.safetensors")
    return folder


def test_open_model_folder_reads_what_convert_and_merge_use(tmp_path):
    path = _valid_folder(tmp_path)
    folder = open_model_folder(path)
    assert folder.path == path
    assert folder.architecture == "LlamaForCausalLM"
    assert folder.config == {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
    assert folder.weight_files == (path / "model.safetensors",)
    assert folder.tokenizer_files == (path / "tokenizer.json",)
    assert folder.quantization is None


def _shard(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    save_file({"b.weight": torch.zeros(4)}, folder / "model-00002-of-00002.safetensors")
    save_file({"a.weight": torch.ones(2, 3)}, folder / "model-00001-of-00002.safetensors")
    index = {
        "weight_map": {"b.weight": "model-00002-of-00002.safetensors", "a.weight": "model-00001-of-00002.safetensors"}
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


def _quantized(folder: Path) -> None:
    config = {"architectures": ["LlamaForCausalLM"], "quantization_config": {"quant_method": "bitsandbytes"}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer.model").write_bytes(b"\0")


# (case id, change to the valid folder, weight file names, tokenizer file names, quantization_config)
LAYOUTS = [
    ("single_file", lambda folder: None, ["model.safetensors"], ["tokenizer.json"], None),
    (
        "sharded_in_shard_order",
        _shard,
        ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"],
        ["tokenizer.json"],
        None,
    ),
    (
        "quantized_with_both_tokenizers",
        _quantized,
        ["model.safetensors"],
        ["tokenizer.json", "tokenizer.model"],
        {"quant_method": "bitsandbytes"},
    ),
]


@pytest.mark.parametrize(
    ("change", "weights", "tokenizers", "quantization"), [c[1:] for c in LAYOUTS], ids=[c[0] for c in LAYOUTS]
)
def test_open_model_folder_lists_weights_tokenizers_and_quantization(
    tmp_path, change, weights, tokenizers, quantization
):
    path = _valid_folder(tmp_path)
    change(path)
    folder = open_model_folder(path)
    assert [p.name for p in folder.weight_files] == weights
    assert [p.name for p in folder.tokenizer_files] == tokenizers
    assert folder.quantization == quantization


def _remove(name):
    return lambda folder: (folder / name).unlink()


def _write(name, data: bytes):
    return lambda folder: (folder / name).write_bytes(data)


def _truncate(folder: Path) -> None:
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-8])


def _legacy_bin(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\0")


def _missing_shard(folder: Path) -> None:
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    index = {
        "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors"}
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


BROKEN = [
    ("no_config", _remove("config.json"), "no config.json", "save_pretrained"),
    ("config_not_json", _write("config.json", b'{"architectures": [\n oops'), "invalid JSON", "config.json:2"),
    ("no_architectures", _write("config.json", b'{"model_type": "llama"}'), "no `architectures`", "LlamaForCausalLM"),
    ("no_tokenizer", _remove("tokenizer.json"), "no tokenizer", "tokenizer.save_pretrained"),
    ("no_weights", _remove("model.safetensors"), "no *.safetensors", "Copy the model"),
    ("legacy_bin", _legacy_bin, "pytorch_model.bin", "safe_serialization=True"),
    ("truncated_weights", _truncate, "beyond the end of the file", "truncated"),
    ("garbage_weights", _write("model.safetensors", b"\xff" * 64), "unreadable safetensors", "truncated or not"),
    ("missing_shard", _missing_shard, "missing shard", "model-00002-of-00002"),
]


@pytest.mark.parametrize(("breakage", "message", "hint"), [case[1:] for case in BROKEN], ids=[c[0] for c in BROKEN])
def test_open_model_folder_names_what_is_broken_and_the_fix(tmp_path, breakage, message, hint):
    folder = _valid_folder(tmp_path)
    breakage(folder)
    with pytest.raises(ModelError) as caught:
        open_model_folder(folder)
    text = str(caught.value)
    assert message in text
    assert hint in text
    assert str(folder) in text


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_open_model_folder_rejects_missing_path_and_plain_file(tmp_path, kind):
    path = tmp_path / "nothing"
    if kind == "file":
        path.write_text("x")
    with pytest.raises(ModelError, match="does not exist|is a file, not a folder") as caught:
        open_model_folder(path)
    assert str(path) in str(caught.value)
