"""The project config: YAML + flags + --set into typed structs; errors name the key, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.config import load_config
from tunesmith.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_flags_alone_give_a_complete_config_on_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(base="some/model", data=["qa.csv"])
    assert config.data[0].path == str(tmp_path / "qa.csv")
    assert config.name == "qa"
    assert config.output_dir == str(tmp_path / "runs" / "qa")
    assert (config.train.method, config.lora.r, config.train.packing) == ("lora", 16, True)
    assert config.split.val_fraction == 0.1
    assert config.package.quant == ["Q4_K_M"] and config.publish.hf is None


def test_yaml_paths_resolve_against_the_config_folder_and_set_overrides_win(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "model").mkdir()
    path = project / "tunesmith.yaml"
    path.write_text(
        "base: model\nname: support-bot\ndata:\n  - path: data/qa.csv\n    columns: {prompt: Q, response: A}\n"
        "lora: {r: 8, target_modules: [q_proj, v_proj]}\ntrain: {learning_rate: 1.0e-4, max_steps: 100}\n"
        "package:\n  quant: [Q4_K_M, Q8_0]\n  modelfile: {system: Be kind., parameters: {temperature: 0.2}}\n"
        "publish:\n  hf: {repo: me/support-bot}\n  ollama: {name: me/support-bot}\n"
    )
    config = load_config(path, overrides=["train.learning_rate=3e-4", "lora.r=4", "data.0.format=csv"], max_steps=7)
    assert config.base == str(project / "model")
    assert config.data[0].path == str(project / "data" / "qa.csv")
    assert config.data[0].columns == {"prompt": "Q", "response": "A"} and config.data[0].format == "csv"
    assert config.train.learning_rate == 3e-4 and config.lora.r == 4 and config.train.max_steps == 7
    assert config.lora.target_modules == ["q_proj", "v_proj"]
    assert config.package.modelfile.parameters == {"temperature": 0.2} and config.package.quant == ["Q4_K_M", "Q8_0"]
    assert config.publish.hf.repo == "me/support-bot" and config.publish.hf.private is True
    assert config.name == "support-bot"


@pytest.mark.parametrize(
    "overrides, message, hint",
    [
        (["train.method=dpo"], "`train.method` = 'dpo'", "one of lora, qlora"),
        (["lora.r=0"], "`lora.r` = 0", "int >= 1"),
        (["lora.rank=8"], "unknown key `lora.rank`", "r, alpha, dropout, target_modules, rslora"),
        (["split.val_fraction=1.5"], "`split.val_fraction` = 1.5", "float >= 0.0 and < 1.0"),
        (["train.learning_rate=fast"], "`train.learning_rate` = 'fast'", "float > 0"),
        (["train.scheduler=step"], "`train.scheduler` = 'step'", "linear, cosine, constant"),
        (["data.0.format=xlsx"], "`data.0.format` = 'xlsx'", "csv, tsv, jsonl, parquet, text, hf_disk"),
        (["data.3.format=csv"], "index '3' does not exist", "from 0 to 0"),
        (["publish.hf.repo=no slash"], "`publish.hf.repo` = 'no slash'", "matching"),
        (["train.max_steps"], "is not KEY=VALUE", "--set train.learning_rate=1e-4"),
        (["clean.near_dup_threshold=0"], "`clean.near_dup_threshold` = 0", "float > 0.0 and <= 1.0"),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_allowed(overrides, message, hint):
    with pytest.raises(ConfigError) as info:
        load_config(base="m", data=["qa.csv"], overrides=overrides)
    assert message in str(info.value)
    assert hint in str(info.value)


@pytest.mark.parametrize(
    "text, message, where",
    [
        ("base: m\ndata: [{path: a.csv}]\ntrain:\n  epochs: [1\n", "invalid YAML", ":5"),
        ("- just\n- a list\n", "YAML mapping", ""),
        ("base: m\n", "no training data", "data"),
        ("data: [{path: a.csv}]\n", "no base model", "base"),
        ("base: m\ndata: [{path: a.csv, colums: {}}]\n", "unknown key `data.0.colums`", ""),
    ],
)
def test_bad_config_files_say_where(tmp_path, text, message, where):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value) or where in str(info.value)
    assert where in str(info.value)


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config file does not exist"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("example", sorted(p.parent.name for p in EXAMPLES.glob("*/tunesmith.yaml")))
def test_every_example_config_is_valid(example):
    config = load_config(EXAMPLES / example / "tunesmith.yaml")
    assert config.data and config.base


def test_an_empty_section_means_its_defaults_and_takes_the_max_steps_flag(tmp_path):
    path = tmp_path / "tunesmith.yaml"
    path.write_text("base: model\ndata:\n  - path: qa.csv\ntrain:\nlora:\n")
    config = load_config(path, max_steps=12)
    assert config.train.max_steps == 12 and config.lora.r == 16


def test_a_section_that_is_not_a_mapping_is_named_with_max_steps_too(tmp_path):
    path = tmp_path / "tunesmith.yaml"
    path.write_text("base: model\ndata:\n  - path: qa.csv\ntrain: 5\n")
    with pytest.raises(ConfigError, match="train"):
        load_config(path, max_steps=12)
