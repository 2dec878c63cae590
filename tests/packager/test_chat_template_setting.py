"""`chat_template:` / `--chat-template`: a base given another chat template trains with it, and its package (GGUF,
Modelfile, quality report) carries it, while the user's base folder is left as it was."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tunesmith.cli import cli, main
from tunesmith.config import load_config
from tunesmith.errors import ConfigError
from tunesmith.modelfiles.base_templates import SHIPPED, resolve_chat_template
from tunesmith.packager.package import PackageSpec, build_package
from tunesmith.trainer.base_model import chat_template_of, load_tokenizer

REFERENCE = Path(__file__).resolve().parents[2] / ".cache" / "reference" / "llama.cpp" / "models" / "templates"


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_shipped_templates_are_the_published_ones():
    assert resolve_chat_template("qwen2.5") == (REFERENCE / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text()
    assert resolve_chat_template("qwen3") == (REFERENCE / "Qwen-Qwen3-0.6B.jinja").read_text()
    assert set(SHIPPED) == {"chatml", "qwen2.5", "qwen3"}


def test_a_project_names_a_shipped_template_or_a_file_beside_it(tmp_path):
    (tmp_path / "mine.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    (tmp_path / "a.yaml").write_text("base: embedded\nchat_template: mine.jinja\ndata: [{path: d.jsonl}]\n")
    config = load_config(tmp_path / "a.yaml")
    assert config.chat_template == str(tmp_path / "mine.jinja")
    assert chat_template_of(config) == (tmp_path / "mine.jinja").read_text()
    (tmp_path / "b.yaml").write_text("base: embedded\nchat_template: hermes-ish\ndata: [{path: d.jsonl}]\n")
    with pytest.raises(ConfigError) as caught:
        chat_template_of(load_config(tmp_path / "b.yaml"))
    assert "'hermes-ish' is neither a chat template tunesmith ships nor a Jinja file" in caught.value.message
    assert "qwen2.5" in caught.value.hint


def test_a_go_template_given_as_chat_template_is_refused_with_where_it_belongs(tmp_path):
    (tmp_path / "t.gotmpl").write_text("{{ .Prompt }}")
    with pytest.raises(ConfigError) as caught:
        resolve_chat_template(str(tmp_path / "t.gotmpl"))
    assert "is not a Jinja chat template" in caught.value.message and "package.template" in caught.value.hint


def test_the_tokenizer_trains_with_the_given_template(smollm2_tiny_base):
    tokenizer = load_tokenizer(smollm2_tiny_base, resolve_chat_template("qwen2.5"))
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")


@pytest.mark.slow
def test_the_package_carries_the_template_it_was_trained_with(tmp_path, smollm2_tiny_base, smollm2_tiny_adapter):
    from llama_cpp import Llama

    before = _tree_digest(smollm2_tiny_base)
    result = build_package(
        PackageSpec(
            base=smollm2_tiny_base,
            adapter=smollm2_tiny_adapter,
            out=tmp_path / "pkg",
            quants=["Q8_0"],
            chat_template=resolve_chat_template("qwen2.5"),
        )
    )
    gguf = tmp_path / "pkg" / "pkg-Q8_0.gguf"
    llm = Llama(model_path=str(gguf), n_ctx=64, verbose=False, vocab_only=True)
    assert llm.metadata["tokenizer.chat_template"] == resolve_chat_template("qwen2.5")
    # The TEMPLATE is the family of that template, with its tools, and the report and card say so.
    assert (result.family, json.loads((tmp_path / "pkg" / "quality.json").read_text())["chat"]["tools"]) == (
        "qwen2.5",
        "hermes",
    )
    assert "{{- if .Tools }}" in (tmp_path / "pkg" / "Modelfile").read_text()
    assert _tree_digest(smollm2_tiny_base) == before


def test_package_command_takes_a_chat_template(tmp_path, capsys):
    assert "--chat-template NAME|FILE" in CliRunner().invoke(cli, ["package", "--help"]).output
    with pytest.raises(SystemExit) as exited:
        main(["package", "--base", str(tmp_path), "--out", str(tmp_path / "pkg"), "--chat-template", "nope"])
    assert exited.value.code == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "--chat-template: 'nope' is neither a chat template tunesmith ships" in said and "qwen2.5" in said
