"""Every chat template of llama.cpp's reference set gets its expected outcome: a registry family, or a Go template
tunesmith derives from the Jinja one ("derived"), each rendering the check conversations byte for byte like the Jinja
template and surviving a trip through a Modelfile; or a refusal whose error says why and points to --template FILE.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.modelfiles.template_renders import compare_renders, render_jinja
from tunesmith.errors import ModelfileError
from tunesmith.modelfiles import Modelfile, choose_chat_format, lint_modelfile, parse_modelfile, render_modelfile
from tunesmith.modelfiles.derive import CHECK_CONVERSATIONS

REFERENCE = sorted(
    Path(__file__)
    .resolve()
    .parents[2]
    .joinpath(".cache", "reference", "llama.cpp", "models", "templates")
    .glob("*.jinja")
)

# Why a refused template cannot become an Ollama template (the words its error must hold).
PLAIN_CONVERSATION_FAILS = "it fails on a plain user/assistant/user conversation"
USER_TEXT_DEPENDS_ON_NEXT = "the text after a user message depends on what follows it"

# What each of llama.cpp's reference templates must give: a registry family, "derived" (tunesmith writes the Go
# template from the Jinja one), or the reason it is refused. A template that stops converting fails here.
_DERIVED = [
    "Apertus-8B-Instruct",
    "Apriel-1.6-15b-Thinker-fixed",
    "ByteDance-Seed-OSS",
    "Cohere2MoE",
    "GLM-4.6",
    "GLM-4.7-Flash",
    "GigaChat3-10B-A1.8B",
    "GigaChat3.1-10B-A1.8B",
    "HuggingFaceTB-SmolLM3-3B",
    "Kimi-K2-Instruct",
    "Kimi-K2-Thinking",
    "Kimi-K3",
    "MiniMax-M1",
    "MiniMax-M2",
    "MiniMax-M3",
    "Mistral-Small-3.2-24B-Instruct-2506",
    "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16",
    "NVIDIA-Nemotron-Nano-v2",
    "Qwen-QwQ-32B",
    "Qwen3.5-4B",
    "Reka-Edge",
    "Spark2.5",
    "StepFun3.5-Flash",
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B",
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B",
    "deepseek-ai-DeepSeek-V3.1",
    "deepseek-ai-DeepSeek-V3.2",
    "deepseek-ai-DeepSeek-V4-Flash-0731",
    "deepseek-ai-DeepSeek-V4",
    "google-gemma-4-31B-it-interleaved",
    "google-gemma-4-31B-it",
    "ibm-granite-granite-3.3-2B-Instruct",
    "ibm-granite-granite-4.0",
    "ibm-granite-granite-4.1",
    "inclusionai-ling-3.0-flash",
    "llama-cpp-deepseek-r1",
    "llama-cpp-rwkv-world",
    "meetkai-functionary-medium-v3.1",
    "meetkai-functionary-medium-v3.2",
    "mistralai-Ministral-3-14B-Reasoning-2512",
    "moonshotai-Kimi-K2",
    "muse-glimmer",
    "openai-gpt-oss-120b",
    "poolside-Laguna-S-2.1",
    "poolside-Laguna-XS-2.1",
    "poolside-Laguna-XS.2",
    "tencent-Hy3",
    "unsloth-Apriel-1.5",
    "unsloth-mistral-Devstral-Small-2507",
    "upstage-Solar-Open-100B",
]
_CHATML = [
    "Bielik-11B-v3.0-Instruct",
    "LFM2-8B-A1B",
    "LFM2.5-8B-A1B",
    "LFM2.5-Instruct",
    "MiMo-VL",
    "Qwen3-Coder",
    "openbmb-MiniCPM5-1B",
]
EXPECTED_OUTCOME: dict[str, str] = {
    **dict.fromkeys(_DERIVED, "derived"),
    **dict.fromkeys(_CHATML, "chatml"),
    "Qwen-Qwen2.5-7B-Instruct": "qwen2.5",
    "Qwen-Qwen3-0.6B": "qwen3",
    "google-gemma-2-2b-it": "gemma",
    "meta-llama-Llama-3.1-8B-Instruct": "llama3.1",
    "meta-llama-Llama-3.3-70B-Instruct": "llama3.1",
    "meta-llama-Llama-3.2-3B-Instruct": "llama3.2",
    "microsoft-Phi-3.5-mini-instruct": "phi3",
    "mistralai-Mistral-Nemo-Instruct-2407": "mistral",
    # Tool-use templates whose loops expect tool definitions, or render a user turn from the turns after it.
    "CohereForAI-c4ai-command-r-plus-tool_use": PLAIN_CONVERSATION_FAILS,
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use": PLAIN_CONVERSATION_FAILS,
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use": PLAIN_CONVERSATION_FAILS,
    "fireworks-ai-llama-3-firefunction-v2": PLAIN_CONVERSATION_FAILS,
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": USER_TEXT_DEPENDS_ON_NEXT,
}
_REFUSALS = (PLAIN_CONVERSATION_FAILS, USER_TEXT_DEPENDS_ON_NEXT)


def test_every_reference_template_has_an_expected_outcome() -> None:
    assert sorted(p.stem for p in REFERENCE) == sorted(EXPECTED_OUTCOME)


@pytest.mark.parametrize("path", REFERENCE, ids=[p.stem for p in REFERENCE])
def test_every_real_template_gets_a_go_template_that_renders_identically_or_a_clear_error(
    path: Path, go_render, smollm2_tokenizer
) -> None:
    chat_template = path.read_text()
    expected = EXPECTED_OUTCOME.get(path.stem)
    assert expected is not None, f"{path.stem} is new: add its outcome to EXPECTED_OUTCOME"
    if expected in _REFUSALS:
        with pytest.raises(ModelfileError) as caught:
            choose_chat_format(chat_template, bos_token="<s>", eos_token="</s>")
        assert expected in caught.value.message
        assert "--template FILE" in str(caught.value)
        return
    chosen = choose_chat_format(chat_template, bos_token="<s>", eos_token="</s>")
    assert chosen.family == expected
    assert chosen.source == ("derived" if expected == "derived" else "registry")
    accepted = {}
    for index, conversation in enumerate(CHECK_CONVERSATIONS):
        try:
            render_jinja(smollm2_tokenizer, chat_template, list(conversation), "<s>", "</s>")
        except Exception:  # noqa: BLE001, S112 (the template rejects this conversation, e.g. a system message)
            continue
        accepted[str(index)] = list(conversation)
    assert accepted, "no check conversation renders with this template"
    compare_renders(go_render, smollm2_tokenizer, chat_template, "<s>", "</s>", accepted, chosen.template, False)
    # And the chosen template and stops survive a trip through a Modelfile.
    modelfile = Modelfile(
        from_="model.gguf", template=chosen.template, parameters={**chosen.parameters, "stop": chosen.stop}
    )
    text = render_modelfile(modelfile)
    assert parse_modelfile(text) == modelfile
    assert lint_modelfile(text) == []


def test_reference_templates_are_present(reference_templates: Path) -> None:
    assert len(REFERENCE) > 20
