"""Broken model folders and adapters through `tunesmith package --force`: the earlier package must survive.

Every case asks to replace release/pkg (an earlier, good package) with `--force`; the failure must name the folder
or file and the fix, and release/ must hold exactly what it held before: no half-written package, no litter.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests.reliability.conftest import assert_clean_failure, snapshot


def _edit_config(**changes) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        config.update(changes)
        (folder / "config.json").write_text(json.dumps(config))

    return edit


def _truncate(name: str, keep: float) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: int(len(data) * keep)])

    return edit


def _write(name: str, content: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_text(content)


def _remove(*names: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        for name in names:
            (folder / name).unlink()

    return edit


def _sharded(folder: Path) -> None:
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    index = {
        "metadata": {},
        "weight_map": {
            "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
            "lm_head.weight": "model-00002-of-00002.safetensors",
        },
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


# (id, how to break a copy of the tiny model, words the message must hold)
BASE_CASES = [
    ("no config.json", _remove("config.json"), ["no config.json in the model folder", "save_pretrained(DIR)"]),
    ("config.json not JSON", _write("config.json", '{"architectures": [\n'), ["config.json:2", "invalid JSON"]),
    ("config.json without architectures", _edit_config(architectures=None), ["config.json", "no `architectures` list"]),
    (
        "unsupported architecture",
        _edit_config(architectures=["FooForCausalLM"]),
        ["config.json", "architecture 'FooForCausalLM' is not supported", "Supported architectures: LlamaForCausalLM"],
    ),
    (
        "truncated safetensors",
        _truncate("model.safetensors", 0.5),
        ["model.safetensors", "lies beyond the end of the file", "download or save it again"],
    ),
    (
        "safetensors that is not safetensors",
        _write("model.safetensors", "<html>404</html>"),
        ["model.safetensors", "unreadable safetensors file", "download or save it again"],
    ),
    ("no weights", _remove("model.safetensors"), ["no *.safetensors weights in the model folder"]),
    (
        "legacy .bin weights",
        lambda folder: (folder / "model.safetensors").rename(folder / "pytorch_model.bin"),
        ["legacy pytorch_model.bin format"],
    ),
    ("a shard missing", _sharded, ["the safetensors index lists 1 missing shard(s)", "model-00002-of-00002"]),
    (
        "tokenizer missing",
        _remove("tokenizer.json"),
        ["no tokenizer in the model folder", "tokenizer.save_pretrained(DIR)"],
    ),
    (
        "tokenizer.json that is not a tokenizer",
        _write("tokenizer.json", "{}"),
        ["cannot load the tokenizer", "tokenizer.save_pretrained(DIR)"],
    ),
]


@pytest.fixture
def broken_base(tiny_llama, tmp_path) -> Callable[[Callable[[Path], None]], Path]:
    def make(edit: Callable[[Path], None]) -> Path:
        folder = Path(shutil.copytree(tiny_llama, tmp_path / "base"))
        edit(folder)
        return folder

    return make


def _package(cli, release: Path, base: Path | str, *args):
    return cli("package", "--base", base, "--out", release / "pkg", "--force", "--quant", "Q8_0", *args)


@pytest.mark.parametrize(("edit", "words"), [case[1:] for case in BASE_CASES], ids=[case[0] for case in BASE_CASES])
def test_a_broken_base_model_fails_cleanly_and_keeps_the_earlier_package(cli, release, broken_base, edit, words):
    base = broken_base(edit)
    before = snapshot(release)
    outcome = _package(cli, release, base)
    assert_clean_failure(outcome, str(base), *words)
    assert snapshot(release) == before


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("missing", ["model folder does not exist", "--base embedded"]),
        ("file", ["model folder is a file, not a folder", "not a file inside it"]),
    ],
)
def test_a_base_that_is_not_a_folder_is_named(cli, release, tmp_path, where, words):
    base = tmp_path / "model.gguf"
    if where == "file":
        base.write_bytes(b"GGUF")
    before = snapshot(release)
    assert_clean_failure(_package(cli, release, base), str(base), *words)
    assert snapshot(release) == before


def _lora(folder: Path, hidden: int, module: str = "q_proj", **config) -> Path:
    """A LoRA adapter as peft saves it, for a model of width `hidden`, targeting layer 0's `module`."""
    folder.mkdir()
    prefix = f"base_model.model.model.layers.0.self_attn.{module}"
    save_file(
        {
            f"{prefix}.lora_A.weight": np.zeros((4, hidden), np.float32),
            f"{prefix}.lora_B.weight": np.zeros((hidden, 4), np.float32),
        },
        str(folder / "adapter_model.safetensors"),
    )
    settings = {
        "peft_type": "LORA",
        "r": 4,
        "lora_alpha": 8,
        "target_modules": [module],
        "base_model_name_or_path": "/models/wider-model",
        **config,
    }
    (folder / "adapter_config.json").write_text(json.dumps(settings))
    return folder


# (id, builds the adapter folder in the given path, words the message must hold)
ADAPTER_CASES = [
    ("adapter folder missing", lambda path: path, ["adapter folder does not exist", "adapter_config.json"]),
    (
        "no adapter_config.json",
        lambda path: (path.mkdir(), path)[1],
        ["no adapter_config.json in the adapter folder", "save_pretrained(DIR)"],
    ),
    (
        "adapter_config.json not JSON",
        lambda path: (_lora(path, 32), _write("adapter_config.json", "{r: 8")(path))[0],
        ["adapter_config.json:1", "invalid JSON", "Fix the JSON syntax at that line"],
    ),
    (
        "not a LoRA adapter",
        lambda path: _lora(path, 32, peft_type="IA3"),
        ["peft_type", "only LoRA adapters can be merged, this one is 'IA3'", "Train a LoRA"],
    ),
    (
        "adapter weights missing",
        lambda path: (_lora(path, 32), _remove("adapter_model.safetensors")(path))[0],
        ["no adapter_model.safetensors in the adapter folder", "save_pretrained(DIR)"],
    ),
    (
        "legacy adapter weights",
        lambda path: (_lora(path, 32), (path / "adapter_model.safetensors").rename(path / "adapter_model.bin"))[0],
        ["legacy adapter_model.bin format", "(safetensors)"],
    ),
    (
        "truncated adapter weights",
        lambda path: (_lora(path, 32), _truncate("adapter_model.safetensors", 0.3)(path))[0],
        ["adapter_model.safetensors", "unreadable safetensors file", "save the adapter again"],
    ),
    (
        "adapter of a wider model",
        lambda path: _lora(path, 64),
        [
            "the adapter's shapes do not fit the base model",
            "has shape [4, 64]",
            "[32, 32]",
            "trained on '/models/wider-model'",
            "merge it onto that model",
        ],
    ),
    (
        "adapter of another architecture",
        lambda path: _lora(path, 32, module="query_key_value"),
        [
            "the adapter targets modules the base model lacks",
            "model.layers.0.self_attn.query_key_value",
            "trained on '/models/wider-model'",
        ],
    ),
]


@pytest.mark.parametrize(
    ("build", "words"), [case[1:] for case in ADAPTER_CASES], ids=[case[0] for case in ADAPTER_CASES]
)
def test_a_bad_adapter_fails_cleanly_and_keeps_the_earlier_package(cli, release, tiny_llama, tmp_path, build, words):
    adapter = build(tmp_path / "adapter")
    before = snapshot(release)
    outcome = _package(cli, release, tiny_llama, "--adapter", adapter)
    assert_clean_failure(outcome, str(tmp_path / "adapter"), *words)
    assert snapshot(release) == before


def test_a_full_model_given_as_the_adapter_is_told_apart(cli, release, tiny_llama, broken_base):
    model = broken_base(lambda folder: None)
    before = snapshot(release)
    outcome = _package(cli, release, tiny_llama, "--adapter", model)
    assert_clean_failure(outcome, str(model), "a full model, not a LoRA adapter", "Pass it as the base model instead")
    assert snapshot(release) == before


# The trainer's own checks of the base, through `tunesmith prepare` (id, how to break the model, words).
TRAINER_CASES = [
    ("no config.json", _remove("config.json"), ["no config.json in the base model folder", "--base embedded"]),
    (
        "not a causal LM",
        _edit_config(architectures=["BertModel"]),
        ["config.json", "not a causal language model (architectures: BertModel", "a decoder model such as Llama"],
    ),
    (
        "tokenizer missing",
        _remove("tokenizer.json"),
        ["no tokenizer in the model folder", "tokenizer.save_pretrained(DIR)"],
    ),
    (
        "tokenizer.json that is not a tokenizer",
        _write("tokenizer.json", "{}"),
        ["cannot load the tokenizer", "tokenizer.save_pretrained(DIR)"],
    ),
    (
        "context shorter than max_seq_len",
        _edit_config(max_position_embeddings=32),
        ["train.max_seq_len", "= 64 is beyond the model's context of 32 tokens", "Set train.max_seq_len to 32 or less"],
    ),
]


@pytest.mark.parametrize(
    ("edit", "words"), [case[1:] for case in TRAINER_CASES], ids=[case[0] for case in TRAINER_CASES]
)
def test_a_broken_base_fails_prepare_cleanly_and_leaves_no_run_folder(cli, project, broken_base, edit, words):
    base = broken_base(edit)
    before = snapshot(project / "runs")
    outcome = cli(
        "prepare",
        "--base",
        base,
        "--data",
        project / "qa.csv",
        "--output-dir",
        project / "runs" / "new",
        "--set",
        "train.max_seq_len=64",
    )
    assert_clean_failure(outcome, *words)
    assert snapshot(project / "runs") == before  # runs/new is not claimed for a run that never started


def test_after_a_failed_first_prepare_the_fixed_command_may_use_the_folder(cli, project, broken_base, tiny_llama):
    run = project / "runs" / "new"
    args = ("--data", project / "qa.csv", "--output-dir", run, "--set", "train.max_seq_len=64")
    assert_clean_failure(cli("prepare", "--base", broken_base(_write("tokenizer.json", "{}")), *args))
    outcome = cli("prepare", "--base", tiny_llama, *args)
    assert outcome.code == 0, outcome.err
    assert (run / "data" / "train.jsonl").is_file()
