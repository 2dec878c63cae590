"""Our Ollama templates of the known families, rendered by Go's own text/template the way Ollama does, against the
models' real Jinja chat templates rendered by transformers' `apply_chat_template` (add_generation_prompt=True), byte
for byte: llama.cpp's reference templates of each family, published templates outside llama.cpp's set, Qwen 2.5's
default system prompt and the embedded SmolLM2's own template. test_reference_templates.py checks every reference
template's outcome.

Conventions the comparisons make explicit:
- BOS: llama.cpp (and so Ollama) adds BOS itself when the model's tokenizer asks for it (Llama 3.x, Gemma, Mistral);
  a leading BOS the Jinja template writes is stripped before comparing, as the template must not write it twice.
- Llama 3.1/3.3 write "Cutting Knowledge Date: December 2023 / Today Date: 26 Jul 2024" in every system header
  (their default `date_string`); our llama3.1 template writes the same header, with or without a system prompt.
  Llama 3.2 writes today's date there; our llama3.2 template computes it from Ollama's currentDate, so both render
  the same day.
- Go templates cannot trim, and Llama 3.1 and Gemma trim message text: the conversations use trimmed text.
- Ollama turns a Modelfile SYSTEM into a leading system message; the "modelfile system" cases check that path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.modelfiles.template_renders import compare_renders, render_jinja
from tunesmith.modelfiles import choose_chat_format

HI = {"role": "user", "content": "Hi there"}
CONVERSATIONS = {
    "single_turn": [HI],
    "with_system": [{"role": "system", "content": "You are terse."}, HI],
    "multi_turn": [
        HI,
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Write a haiku\nabout rain."},
        {"role": "assistant", "content": "Rain taps the window.\nPuddles hold the grey sky.\nI stay in."},
        {"role": "user", "content": "Thanks, now one about snow."},
    ],
    "multi_turn_with_system": [
        {"role": "system", "content": "Answer with one word.\nNo punctuation."},
        HI,
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Sky colour?"},
    ],
}

# (reference template, bos, eos, the family we expect, whether its Jinja accepts a system message)
FAMILY_CASES = {
    "llama3.1": ("meta-llama-Llama-3.1-8B-Instruct", "<|begin_of_text|>", "<|eot_id|>", "llama3.1", True),
    "llama3.3": ("meta-llama-Llama-3.3-70B-Instruct", "<|begin_of_text|>", "<|eot_id|>", "llama3.1", True),
    "llama3.2": ("meta-llama-Llama-3.2-3B-Instruct", "<|begin_of_text|>", "<|eot_id|>", "llama3.2", True),
    "qwen2.5": ("Qwen-Qwen2.5-7B-Instruct", None, "<|im_end|>", "qwen2.5", True),
    "qwen3": ("Qwen-Qwen3-0.6B", None, "<|im_end|>", "qwen3", True),
    "gemma2": ("google-gemma-2-2b-it", "<bos>", "<eos>", "gemma", False),
    "phi3.5": ("microsoft-Phi-3.5-mini-instruct", "<s>", "<|endoftext|>", "phi3", True),
    "mistral_nemo": ("mistralai-Mistral-Nemo-Instruct-2407", "<s>", "</s>", "mistral", True),
}


# Published chat templates of models whose files are not among llama.cpp's (tests/modelfiles/published/): Llama 3,
# Phi-3 mini, Gemma 3 and Llama 2 as Ollama's template/index.json records them; Mistral 7B v0.3 from its tokenizer.
PUBLISHED = Path(__file__).with_name("published")


@pytest.mark.parametrize(
    "name, bos, eos, family",
    [
        ("Meta-Llama-3-8B-Instruct", "<|begin_of_text|>", "<|eot_id|>", "llama3"),
        ("Phi-3-mini-4k-instruct", "<s>", "<|endoftext|>", "phi3"),
        ("gemma-3-it", "<bos>", "<eos>", "gemma"),
        ("Llama-2-7b-chat", "<s>", "</s>", "llama2"),
        ("Mistral-7B-Instruct-v0.3", "<s>", "</s>", "mistral-v0.3"),
    ],
)
def test_registry_template_matches_published_templates_outside_llama_cpps_set(
    name, bos, eos, family, go_render, smollm2_tokenizer
) -> None:
    chat_template = (PUBLISHED / f"{name}.jinja").read_text()
    chosen = choose_chat_format(chat_template, bos_token=bos, eos_token=eos)
    assert (chosen.family, chosen.source) == (family, "registry")
    assert (
        compare_renders(go_render, smollm2_tokenizer, chat_template, bos, eos, CONVERSATIONS, chosen.template, True)
        == 6
    )  # four conversations, two of them again with a Modelfile SYSTEM


@pytest.mark.parametrize("case", FAMILY_CASES.values(), ids=FAMILY_CASES.keys())
def test_registry_template_renders_in_go_exactly_like_the_real_chat_template(
    case, go_render, reference_templates: Path, smollm2_tokenizer
) -> None:
    name, bos, eos, family, takes_system = case
    chat_template = (reference_templates / f"{name}.jinja").read_text()
    chosen = choose_chat_format(chat_template, bos_token=bos, eos_token=eos)
    assert (chosen.family, chosen.source) == (family, "registry")
    assert eos in chosen.stop
    conversations = dict(CONVERSATIONS)
    if not takes_system:
        # Gemma 2's template refuses system messages outright; our gemma template folds them into the first user
        # turn as Gemma 3's does, which the published Gemma 3 template checks below.
        with pytest.raises(Exception, match="System role not supported"):
            render_jinja(smollm2_tokenizer, chat_template, CONVERSATIONS["with_system"], bos, eos)
        conversations = {k: v for k, v in CONVERSATIONS.items() if "system" not in k}
    compared = compare_renders(
        go_render,
        smollm2_tokenizer,
        chat_template,
        bos,
        eos,
        conversations,
        chosen.template,
        with_modelfile_system=takes_system,
    )
    assert compared >= len(conversations)


def test_qwen25_default_system_prompt_is_kept_and_replaced_by_a_modelfile_system(
    go_render, reference_templates: Path
) -> None:
    chosen = choose_chat_format(
        (reference_templates / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text(), bos_token=None, eos_token="<|im_end|>"
    )
    default, custom = go_render(
        [
            {"template": chosen.template, "messages": [HI]},
            {"template": chosen.template, "messages": [HI], "system": "Be kind."},
        ]
    )
    assert default["output"].startswith(
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a "
        "helpful assistant.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
    )
    assert custom["output"].startswith("<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\n")


def test_smollm2_embedded_template_renders_in_go_exactly_like_its_tokenizer(go_render, smollm2_tokenizer) -> None:
    chat_template = smollm2_tokenizer.chat_template
    bos, eos = smollm2_tokenizer.bos_token, smollm2_tokenizer.eos_token
    # SmolLM2's bos_token is <|im_start|>, which its template writes as text, and its tokenizer adds no BOS: nothing
    # may be stripped, even though the packager passes the tokenizer's bos_token.
    assert bos == "<|im_start|>" and "bos_token" not in chat_template
    assert smollm2_tokenizer("Hi").input_ids == smollm2_tokenizer("Hi", add_special_tokens=False).input_ids
    chosen = choose_chat_format(chat_template, bos_token=bos, eos_token=eos)
    assert (chosen.family, chosen.source, chosen.stop[-1]) == ("chatml", "registry", "<|im_end|>")
    assert "You are a helpful AI assistant named SmolLM" in chosen.note
    requests = [{"template": chosen.template, "messages": m} for m in CONVERSATIONS.values()]
    for request, result in zip(requests, go_render(requests)):
        assert result["output"] == smollm2_tokenizer.apply_chat_template(
            request["messages"], tokenize=False, add_generation_prompt=True
        )
    assert (
        compare_renders(go_render, smollm2_tokenizer, chat_template, bos, eos, CONVERSATIONS, chosen.template, True)
        == 6
    )
