"""The parity tests' two renderings of a chat template (test_template_parity.py, test_reference_templates.py): the
model's Jinja template through transformers' `apply_chat_template` (add_generation_prompt=True), and our Ollama
template through Go's own text/template the way Ollama does, compared byte for byte.
"""

from __future__ import annotations

# The Modelfile SYSTEM the comparisons add to conversations that have no system message of their own.
MODELFILE_SYSTEM = "You are a pirate. Speak like one."


def render_jinja(tokenizer, chat_template: str, messages: list[dict], bos: str | None, eos: str | None) -> str:
    """`messages` rendered by the Jinja `chat_template` with a generation prompt, less a BOS llama.cpp adds itself."""
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


def compare_renders(
    go_render,
    smollm2_tokenizer,
    chat_template: str,
    bos: str | None,
    eos: str | None,
    conversations: dict[str, list[dict]],
    template: str,
    with_modelfile_system: bool,
) -> int:
    """Assert Go renders `template` exactly as Jinja renders `chat_template` for each conversation; return how many."""
    requests, expected = [], []
    for messages in conversations.values():
        requests.append({"template": template, "messages": messages})
        expected.append(render_jinja(smollm2_tokenizer, chat_template, messages, bos, eos))
        if with_modelfile_system and not any(m["role"] == "system" for m in messages):
            requests.append({"template": template, "messages": messages, "system": MODELFILE_SYSTEM})
            expected.append(
                render_jinja(
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
