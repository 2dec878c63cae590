"""The model card: Hub front matter a Hub parser reads back, the files, how to run, parameters and quality."""

from __future__ import annotations

import pytest
import yaml

from tunesmith.packager.card import CardContent, CardFile, render_model_card


def _card(**overrides) -> CardContent:
    values = {
        "name": "pirate-tutor",
        "files": [
            CardFile("pirate-tutor-Q4_K_M.gguf", "Q4_K_M", 105_000_000),
            CardFile("pirate-tutor-Q8_0.gguf", "Q8_0", 145_000_000),
        ],
        "family": "chatml",
        "parameters": {"stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.2, "num_ctx": 8192},
        "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "license": "apache-2.0",
        "adapter": "runs/pirate/adapter",
        "system": "Answer like a pirate | always.",
        "quality_markdown": "| check | value |\n|---|---|\n| f16 top-1 | 1.0 |",
    }
    return CardContent(**{**values, **overrides})


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


def test_card_of_a_separate_adapter_says_adapter_and_runs_it_with_the_base():
    adapter_file = CardFile("pirate-tutor-adapter-F16.gguf", "F16", 2_000_000)
    text = render_model_card(_card(adapter_file=adapter_file))
    assert _front_matter(text)["base_model_relation"] == "adapter"
    assert "| `pirate-tutor-adapter-F16.gguf` | LoRA adapter (F16) | 1.9 MiB |" in text
    assert "llama-cli -m pirate-tutor-Q4_K_M.gguf --lora pirate-tutor-adapter-F16.gguf -cnv" in text
    assert "separate GGUF adapter" in text
    assert "hf.co/" not in text
    assert "hf.co/USER/pirate-tutor:Q4_K_M" in render_model_card(_card())


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


_Q4 = CardFile("m-Q4_K_M.gguf", "Q4_K_M", 1, {"Q5_0": 96, "Q4_K": 60, "F32": 61}, 96)
_Q8 = CardFile("m-Q8_0.gguf", "Q8_0", 1, {"Q8_0": 10, "F32": 5}, 0)
_F16 = CardFile("m-F16.gguf", "F16", 1)

# (case id, files, quality markdown, the tensor-type rows the card must hold)
TENSOR_TYPE_CASES = [
    (
        "fallbacks",
        [_Q4],
        None,
        ["| `m-Q4_K_M.gguf` | 96 × Q5_0, 60 × Q4_K, 61 × F32 | 96 (rows not a multiple of Q4_K_M's block size) |"],
    ),
    ("no fallbacks", [_Q8], "| check | value |", ["| `m-Q8_0.gguf` | 10 × Q8_0, 5 × F32 | none |"]),
    ("f16 has no row", [_F16, _Q8], None, ["| `m-Q8_0.gguf` | 10 × Q8_0, 5 × F32 | none |"]),
    ("only f16, no quality", [_F16], None, []),
]


@pytest.mark.parametrize(
    ("files", "quality", "rows"), [c[1:] for c in TENSOR_TYPE_CASES], ids=[c[0] for c in TENSOR_TYPE_CASES]
)
def test_card_quality_section_lists_tensor_types_and_fallbacks_per_quantized_file(files, quality, rows):
    text = render_model_card(_card(files=files, quality_markdown=quality))
    table = [line for line in text.splitlines() if line.startswith("| `m-") and " × " in line]
    assert table == rows
    assert ("## Quality" in text) == bool(rows or quality)


@pytest.mark.parametrize(
    ("tools", "line"),
    [
        ("hermes", "Tools: carried (tool calls in the hermes format"),
        (None, "Tools: not carried by the Modelfile's template."),
    ],
)
def test_card_says_whether_the_template_carries_tools(tools, line):
    text = render_model_card(_card(tools=tools))
    assert "## Chat format" in text and line in text


def test_card_says_the_template_carries_thinking_and_how_it_is_switched():
    text = render_model_card(_card(tools="hermes", thinking="think-tags"))
    assert (
        "Thinking: carried (reasoning between <think> and </think>; Ollama's `think` and the OpenAI "
        "`reasoning_effort` switch it, answers carry it as `thinking` / `reasoning_content`)."
    ) in text
    assert "Thinking" not in render_model_card(_card(tools="hermes"))
