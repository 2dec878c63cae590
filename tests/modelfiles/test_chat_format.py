"""Choosing a chat format: registry families, templates derived from linear Jinja templates (checked with Go), the
user's own template, and clear errors when none is safe."""

from __future__ import annotations

import pytest

from tunesmith.errors import ModelfileError
from tunesmith.modelfiles import FAMILIES, choose_chat_format, detect_family

# Real chat templates of models outside the registry (as published in their tokenizer_config.json).
ZEPHYR = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}"
    "\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
    "{% endfor %}"
)
OPENCHAT = (
    "{{ bos_token }}{% for message in messages %}{{ 'GPT4 Correct ' + message['role'].title() + ': ' + "
    "message['content'] + '<|end_of_turn|>'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ 'GPT4 Correct Assistant:' }}{% endif %}"
)
MISTRAL_V01 = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) "
    "%}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}"
    "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
# Not linear: the system prompt goes into the last user turn (as Mistral Nemo does).
NON_LINEAR = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<u>{% if loop.last and messages[0]['role'] == "
    "'system' %}{{ messages[0]['content'] }}\n{% endif %}{{ m['content'] }}</u>{% elif m['role'] == "
    "'assistant' %}<a>{{ m['content'] }}</a>{% endif %}{% endfor %}<a>"
)

CONVERSATIONS = [
    [{"role": "user", "content": "Hello"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
    [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "Bye\nnow"},
    ],
]


def _jinja(tokenizer, template: str, messages: list[dict], bos: str, eos: str) -> str:
    text = tokenizer.apply_chat_template(
        messages, chat_template=template, bos_token=bos, eos_token=eos, tokenize=False, add_generation_prompt=True
    )
    return text.removeprefix(bos)


@pytest.mark.parametrize(
    "template, bos, eos, stops, takes_system",
    [
        (ZEPHYR, "<s>", "</s>", ["<|user|>", "</s>"], True),
        (OPENCHAT, "<s>", "<|end_of_turn|>", ["<|end_of_turn|>"], True),
        (MISTRAL_V01, "<s>", "</s>", ["[INST]", "[/INST]", "</s>"], False),
    ],
    ids=["zephyr", "openchat", "mistral_v0.1"],
)
def test_derived_template_renders_in_go_exactly_like_the_linear_jinja_template(
    template, bos, eos, stops, takes_system, go_render, smollm2_tokenizer
) -> None:
    assert detect_family(template) is None or template == MISTRAL_V01
    chosen = choose_chat_format(template, bos_token=bos, eos_token=eos)
    assert chosen.source == "derived" and chosen.family == "derived"
    assert sorted(chosen.stop) == sorted(stops)
    assert ("SYSTEM prompt is ignored" in chosen.note) is not takes_system
    conversations = [c for c in CONVERSATIONS if takes_system or c[0]["role"] != "system"]
    results = go_render([{"template": chosen.template, "messages": c} for c in conversations])
    for conversation, result in zip(conversations, results):
        assert result["output"] == _jinja(smollm2_tokenizer, template, conversation, bos, eos)


def test_derived_template_writes_literal_braces_so_go_prints_them(go_render, smollm2_tokenizer) -> None:
    template = (
        "{% for m in messages %}{{ '{{' + m['role'] + '}} ' + m['content'] + '\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '{{assistant}} ' }}{% endif %}"
    )
    chosen = choose_chat_format(template, bos_token=None, eos_token=None)
    [result] = go_render([{"template": chosen.template, "messages": CONVERSATIONS[2]}])
    assert result["output"] == "{{user}} Hello\n{{assistant}} Hi.\n{{user}} Bye\nnow\n{{assistant}} "


def test_non_linear_template_outside_the_registry_asks_for_a_go_template() -> None:
    with pytest.raises(ModelfileError, match="--template FILE") as caught:
        choose_chat_format(NON_LINEAR, bos_token=None, eos_token=None)
    assert "not a simple prefix/suffix layout" in str(caught.value)


def test_template_that_does_not_compile_asks_for_a_go_template() -> None:
    with pytest.raises(ModelfileError, match="--template FILE"):
        choose_chat_format("{% for m in messages %}", bos_token=None, eos_token=None)


def test_no_chat_template_and_no_override_is_an_error_not_a_guess() -> None:
    with pytest.raises(ModelfileError, match="no chat template"):
        choose_chat_format(None, bos_token="<s>", eos_token="</s>")


def test_override_wins_and_keeps_the_detected_familys_stop_tokens() -> None:
    chatml = "{% for m in messages %}{{ '<|im_start|>' + m['role'] }}{% endfor %}"
    chosen = choose_chat_format(
        chatml,
        bos_token=None,
        eos_token="<|endoftext|>",
        template_override="{{ range .Messages }}{{ .Content }}{{ end }}",
    )
    assert (chosen.source, chosen.family, chosen.template) == (
        "override",
        "chatml",
        "{{ range .Messages }}{{ .Content }}{{ end }}",
    )
    assert chosen.stop == ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]


def test_override_without_chat_template_is_used_as_is() -> None:
    chosen = choose_chat_format(None, bos_token=None, eos_token="</s>", template_override="{{ .Prompt }}")
    assert (chosen.family, chosen.source, chosen.stop) == ("custom", "override", ["</s>"])


def test_override_that_go_would_reject_is_refused_with_its_line(go_render) -> None:
    bad = "{{ range .Messages }}\n{{ .Content }\n"
    assert "error" in go_render([{"template": bad, "parse_only": True}])[0]
    with pytest.raises(ModelfileError, match="template line 2"):
        choose_chat_format(None, bos_token=None, eos_token=None, template_override=bad)


DETECT = {
    "llama3.1": ("{{ '<|start_header_id|>' }}Cutting Knowledge Date{{ '<|eot_id|>' }}", "llama3.1"),
    "llama3": ("{{ '<|start_header_id|>' + m + '<|end_header_id|>' + c + '<|eot_id|>' }}", "llama3"),
    "chatml": ("{{ '<|im_start|>' + role }}", "chatml"),
    "gemma": ("{{ '<start_of_turn>' + role }}", "gemma"),
    "phi3": ("{{ '<|user|>' + c + '<|end|>' + '<|assistant|>' }}", "phi3"),
    "mistral": ("{{ '[INST]' + c + '[/INST]' }}", "mistral"),
    "llama2": ("{{ '[INST] <<SYS>>' + s + '<</SYS>>' + c + ' [/INST]' }}", "llama2"),
    "unknown": ("{{ '### Instruction:' + c }}", None),
}


@pytest.mark.parametrize("template, family", DETECT.values(), ids=DETECT.keys())
def test_detect_family_reads_the_markers_of_the_jinja_template(template: str, family: str | None) -> None:
    found = detect_family(template)
    assert (found.name if found else None) == family


def test_every_registry_family_ships_a_go_template_that_go_parses(go_render) -> None:
    results = go_render([{"template": f.template, "parse_only": True} for f in FAMILIES])
    assert [r.get("error") for r in results] == [None] * len(FAMILIES)
    assert all(f.stop and f.parameters.get("num_ctx") for f in FAMILIES)
