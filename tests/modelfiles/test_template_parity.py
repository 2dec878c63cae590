"""Our Ollama templates, rendered by Go's own text/template the way Ollama does, against the models' real Jinja
chat templates rendered by transformers' `apply_chat_template` (add_generation_prompt=True), byte for byte.

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

from tunesmith.errors import ModelfileError
from tunesmith.modelfiles import Modelfile, choose_chat_format, lint_modelfile, parse_modelfile, render_modelfile
from tunesmith.modelfiles.derive import CHECK_CONVERSATIONS

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
MODELFILE_SYSTEM = "You are a pirate. Speak like one."

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
        _compare(go_render, smollm2_tokenizer, chat_template, bos, eos, CONVERSATIONS, chosen.template, True) == 6
    )  # four conversations, two of them again with a Modelfile SYSTEM


def _jinja(tokenizer, chat_template: str, messages: list[dict], bos: str | None, eos: str | None) -> str:
    text = tokenizer.apply_chat_template(
        messages,
        chat_template=chat_template,
        bos_token=bos or "",
        eos_token=eos or "",
        tokenize=False,
        add_generation_prompt=True,
    )
    # llama.cpp adds BOS itself for the tokenizers whose templates write `bos_token`: the Ollama template must not.
    return text[len(bos) :] if bos and "bos_token" in chat_template and text.startswith(bos) else text


def _compare(
    go_render,
    smollm2_tokenizer,
    chat_template: str,
    bos: str | None,
    eos: str | None,
    conversations: dict[str, list[dict]],
    template: str,
    with_modelfile_system: bool,
) -> int:
    requests, expected = [], []
    for messages in conversations.values():
        requests.append({"template": template, "messages": messages})
        expected.append(_jinja(smollm2_tokenizer, chat_template, messages, bos, eos))
        if with_modelfile_system and not any(m["role"] == "system" for m in messages):
            requests.append({"template": template, "messages": messages, "system": MODELFILE_SYSTEM})
            expected.append(
                _jinja(
                    smollm2_tokenizer,
                    chat_template,
                    [{"role": "system", "content": MODELFILE_SYSTEM}, *messages],
                    bos,
                    eos,
                )
            )
    results = go_render(requests)
    for request, result, want in zip(requests, results, expected):
        assert "error" not in result, result["error"]
        assert result["output"] == want, f"messages={request['messages']} system={request.get('system')!r}"
    return len(requests)


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
            _jinja(smollm2_tokenizer, chat_template, CONVERSATIONS["with_system"], bos, eos)
        conversations = {k: v for k, v in CONVERSATIONS.items() if "system" not in k}
    compared = _compare(
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
    assert _compare(go_render, smollm2_tokenizer, chat_template, bos, eos, CONVERSATIONS, chosen.template, True) == 6


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
            _jinja(smollm2_tokenizer, chat_template, list(conversation), "<s>", "</s>")
        except Exception:  # noqa: BLE001, S112 (the template rejects this conversation, e.g. a system message)
            continue
        accepted[str(index)] = list(conversation)
    assert accepted, "no check conversation renders with this template"
    _compare(go_render, smollm2_tokenizer, chat_template, "<s>", "</s>", accepted, chosen.template, False)
    # And the chosen template and stops survive a trip through a Modelfile.
    modelfile = Modelfile(
        from_="model.gguf", template=chosen.template, parameters={**chosen.parameters, "stop": chosen.stop}
    )
    text = render_modelfile(modelfile)
    assert parse_modelfile(text) == modelfile
    assert lint_modelfile(text) == []


def test_reference_templates_are_present(reference_templates: Path) -> None:
    assert len(REFERENCE) > 20
