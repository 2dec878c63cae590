"""The model card: Hub front matter a Hub parser reads back, the files, how to run, parameters and quality."""

from __future__ import annotations

import yaml

from tunesmith.packager.card import CardFile, ModelCard, render_model_card


def _card(**overrides) -> ModelCard:
    values = dict(
        name="pirate-tutor",
        files=[CardFile("pirate-tutor-Q4_K_M.gguf", "Q4_K_M", 105_000_000), CardFile("pirate-tutor-Q8_0.gguf", "Q8_0", 145_000_000)],
        family="chatml",
        parameters={"stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.2, "num_ctx": 8192},
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        license="apache-2.0",
        adapter="runs/pirate/adapter",
        system="Answer like a pirate | always.",
        quality_markdown="| check | value |\n|---|---|\n| f16 top-1 | 1.0 |",
    )
    values.update(overrides)
    return ModelCard(**values)


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    head, _, _ = text[4:].partition("\n---\n")
    return yaml.safe_load(head)


def test_card_front_matter_carries_hub_metadata():
    meta = _front_matter(render_model_card(_card()))
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert meta["base_model_relation"] == "finetune"
    assert meta["license"] == "apache-2.0"
    assert meta["pipeline_tag"] == "text-generation"
    assert {"gguf", "ollama", "chatml"} <= set(meta["tags"])


def test_card_without_adapter_says_quantized_and_omits_unknown_fields():
    meta = _front_matter(render_model_card(_card(adapter=None, base_model=None, license=None)))
    assert "base_model" not in meta and "license" not in meta
    meta = _front_matter(render_model_card(_card(adapter=None)))
    assert meta["base_model_relation"] == "quantized"


def test_card_lists_files_usage_parameters_system_and_quality():
    text = render_model_card(_card())
    assert "| `pirate-tutor-Q4_K_M.gguf` | Q4_K_M | 100.1 MiB |" in text
    assert "ollama create pirate-tutor -f Modelfile" in text
    assert "ollama run hf.co/USER/pirate-tutor:Q4_K_M" in text
    assert "| temperature | `0.2` |" in text
    assert "Answer like a pirate | always." in text
    assert "| f16 top-1 | 1.0 |" in text


def test_card_escapes_pipes_in_parameter_values_so_the_table_stays_intact():
    text = render_model_card(_card())
    row = next(line for line in text.splitlines() if line.startswith("| stop |"))
    assert row.count(" | ") == 1  # one column separator: the stops' own pipes are escaped
    assert "<\\|im_end\\|>" in row
