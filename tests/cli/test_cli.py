"""The command line as a user meets it: --help everywhere, errors as one paragraph with exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tunesmith.commands import COMMANDS


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tunesmith", *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


def test_top_level_help_lists_every_command():
    result = _run("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command.name in result.stdout


@pytest.mark.parametrize("name", [command.name for command in COMMANDS])
def test_every_command_explains_itself(name):
    result = _run(name, "--help")
    assert result.returncode == 0, result.stderr
    assert f"Usage: tunesmith {name}" in result.stdout
    body = result.stdout.split("\n", 2)[2]
    assert len(body.split()) >= 8, f"`tunesmith {name} --help` says too little:\n{result.stdout}"


def test_package_with_missing_base_exits_2_with_one_paragraph_and_no_traceback(tmp_path):
    missing = tmp_path / "no-such-model"
    result = _run("package", "--base", str(missing), "--out", str(tmp_path / "pkg"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "model folder does not exist" in result.stderr
    assert str(missing) in result.stderr.replace("\n", "")
    assert not (tmp_path / "pkg").exists()


def test_package_refuses_output_inside_input(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    result = _run("package", "--base", str(base), "--out", str(base / "pkg"))
    assert result.returncode == 2
    assert "overlaps an input folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(base.iterdir()) == []


def test_bad_param_flag_names_the_flag_and_the_form(tmp_path):
    result = _run("package", "--base", str(tmp_path), "--out", str(tmp_path / "p"), "--param", "temperature")
    assert result.returncode == 2
    assert "--param 'temperature' is not KEY=VALUE" in result.stderr.replace("\n", " ")


def test_unknown_option_is_a_usage_error_with_status_2():
    result = _run("package", "--no-such-flag")
    assert result.returncode == 2
    assert "No such option" in result.stderr


def test_package_help_offers_as_adapter():
    result = _run("package", "--help")
    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    assert "--as-adapter" in help_text and "FROM base + ADAPTER" in help_text


def test_package_as_adapter_without_an_adapter_is_refused_before_the_base_is_read(tmp_path):
    missing = tmp_path / "no-such-model"
    result = _run("package", "--base", str(missing), "--out", str(tmp_path / "pkg"), "--as-adapter")
    message = " ".join(result.stderr.split())
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--as-adapter keeps an adapter separate, and no --adapter was given" in message
    assert "--adapter DIR" in message and "drop --as-adapter" in message
    assert "model folder does not exist" not in message
    assert not (tmp_path / "pkg").exists()


def _lm_head_adapter(base, out, **lora):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    get_peft_model(model, LoraConfig(r=4, lora_alpha=8, **lora)).save_pretrained(out)
    return out


# (case, LoRA settings, words the refusal holds besides the advice to package merged)
HEAD_ADAPTERS = [
    ("modules_to_save lm_head", {"target_modules": ["q_proj"], "modules_to_save": ["lm_head"]}, ["modules_to_save"]),
    ("LoRA on lm_head", {"target_modules": ["q_proj", "lm_head"]}, ["it trains lm_head"]),
]


@pytest.mark.parametrize(("lora", "words"), [case[1:] for case in HEAD_ADAPTERS], ids=[c[0] for c in HEAD_ADAPTERS])
def test_package_as_adapter_refuses_an_adapter_that_trains_lm_head_and_says_package_merged(
    tiny_model, tmp_path, lora, words
):
    base = tiny_model("llama")
    adapter = _lm_head_adapter(base, tmp_path / "adapter", **lora)
    result = _run(
        "package", "--base", str(base), "--adapter", str(adapter), "--as-adapter", "--out", str(tmp_path / "pkg")
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    paragraph = result.stderr.strip()
    assert paragraph and "\n\n" not in paragraph, "one paragraph"
    message = " ".join(paragraph.split())
    assert "this adapter cannot be packaged as a GGUF adapter" in message
    assert "Package it merged instead (drop --as-adapter)" in message
    for word in words:
        assert word in message
    assert not (tmp_path / "pkg").exists() and not (tmp_path / ".pkg.work").exists()
