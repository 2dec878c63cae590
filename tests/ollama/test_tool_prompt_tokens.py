"""Tools between training and serving, per chat family whose TEMPLATE carries them: the real Ollama, Go + llama.cpp
and `tunesmith serve --model` evaluate a tools conversation as its real chat template renders it, and the answer after
a tool result is learned after the very prompt they evaluate (the BOS rule of test_prompt_tokens.py, with tools).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from litestar.testing import TestClient

from tests.ollama.conftest import FAMILY_MODELS
from tests.ollama.prompt_ids import gguf_ids, loaded_model, ollama_messages, trained_prompt
from tunesmith.modelfiles import parse_modelfile
from tunesmith.server import ServerSettings, create_app
from tunesmith.server.backends.base import GenerateRequest

PUBLISHED = Path(__file__).resolve().parents[1] / "modelfiles" / "published"

# Packages whose TEMPLATE carries tools -> the real chat template they came from (llama.cpp's reference set, or
# tests/modelfiles/published/), and the EOS it writes.
TOOL_PACKAGES = {
    "qwen2.5": ("Qwen-Qwen2.5-7B-Instruct.jinja", "<|im_end|>"),
    "llama3.1": ("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|eot_id|>"),
    "llama3.2": ("meta-llama-Llama-3.2-3B-Instruct.jinja", "<|eot_id|>"),
    "mistral (Nemo)": ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "</s>"),
    "mistral-v0.3": ("published/Mistral-7B-Instruct-v0.3.jinja", "</s>"),
}


@pytest.mark.parametrize("case", list(TOOL_PACKAGES))
def test_a_tools_conversation_is_evaluated_as_its_chat_template_renders_it(
    case, created_families, real_ollama, embedded_families, family_packages, reference_templates
):
    """The TEMPLATE carries tools: Ollama lists the capability, takes the tools, and evaluates exactly the text of
    `apply_chat_template(messages, tools=...)` for a call, its result and the next question (counted with the GGUF's
    own tokenizer: the tiny model's Hugging Face tokenizer class splits blank lines its own way). Conversations the
    chat template refuses (Llama 3.1's two calls at once) are left out; at least two are compared."""
    from transformers import AutoTokenizer

    from tunesmith.embedded_base import embedded_base_dir
    from tunesmith.modelfiles.check_conversations import TOOL_CHECK_CONVERSATIONS

    host = AutoTokenizer.from_pretrained(embedded_base_dir())  # only renders the Jinja template
    name = created_families[case]
    assert "tools" in real_ollama.post("/api/show", {"model": name})["capabilities"]
    template_file, eos = TOOL_PACKAGES[case]
    folder = PUBLISHED if template_file.startswith("published/") else reference_templates
    chat_template = (folder / template_file.removeprefix("published/")).read_text()
    model = loaded_model(embedded_families, family_packages[case])
    compared = 0
    for messages, tools in TOOL_CHECK_CONVERSATIONS:
        try:
            text = host.apply_chat_template(
                list(messages),
                tools=list(tools),
                chat_template=chat_template,
                tokenize=False,
                add_generation_prompt=True,
                bos_token="",
                eos_token=eos,
            )
        except jinja2.TemplateError as err:  # the chat template refuses this conversation
            assert "single tool-calls" in str(err)
            continue
        expected = gguf_ids(model, text)
        sent = ollama_messages(messages)
        answer = real_ollama.post(
            "/api/chat",
            {
                "model": name,
                "messages": sent,
                "tools": list(tools),
                "stream": False,
                "options": {"num_predict": 1, "temperature": 0, "num_ctx": 2048},
            },
        )
        assert answer["prompt_eval_count"] == len(expected), text
        # `tunesmith serve --model` renders the same tools conversation to the same ids.
        ids, _ = model.prompt_tokens(GenerateRequest(model="m", messages=sent, tools=list(tools)))
        assert ids == expected
        compared += 1
    assert compared >= 2


def test_serve_model_refuses_tools_for_a_template_without_them_naming_the_field(family_packages):
    app = create_app(ServerSettings(models=(str(family_packages["phi3"]),)))
    with TestClient(app) as client:
        model = client.get("/v1/models").json()["data"][0]["id"]
        reply = client.post(
            "/v1/chat/completions",
            json={
                "model": model,
                "messages": [{"role": "user", "content": "What is the capital of France?"}],
                "tools": [
                    {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
                ],
            },
        )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == "tools" and "takes no tools" in error["message"]


# A tool round as training data holds it (tunesmith.trainer.chat_messages' shape): a call, its result, the answer.
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
# Keys in no sorted order, as people write them: Ollama's templates get Go maps and write them sorted.
TIMER = {
    "function": {
        "parameters": {
            "required": ["minutes"],
            "properties": {"minutes": {"type": "integer"}, "label": {"description": "what for", "type": "string"}},
            "type": "object",
        },
        "description": "Start a countdown timer.",
        "name": "set_timer",
    },
    "type": "function",
}


def _tool_round(tool: dict, arguments: dict) -> tuple[dict, ...]:
    name = tool["function"]["name"]
    return (
        {"role": "user", "content": "Please do it."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call00001", "type": "function", "function": {"name": name, "arguments": arguments}}],
        },
        {"role": "tool", "content": '{"ok": true}', "tool_call_id": "call00001", "name": name},
        {"role": "assistant", "content": "Done."},
    )


@pytest.mark.parametrize("case", ["qwen2.5", "qwen3", "llama3.1", "mistral (Nemo)"])
@pytest.mark.parametrize(
    ("tool", "arguments"),
    [(WEATHER, {"city": "Paris"}), (TIMER, {"minutes": 5, "label": "tea"})],
    ids=["weather", "timer"],
)
def test_a_tool_round_is_trained_on_the_tokens_it_is_served_with(
    case, tool, arguments, tiny_model, family_packages, created_families, real_ollama, go_render, embedded_families
):
    """The answer after a tool result is learned after the very prompt Ollama, Go + llama.cpp and `serve --model`
    evaluate for that conversation with its tools, whatever order the tool's keys and the call's arguments come in:
    the same ids, or for the tiny Qwen shapes the same text (they get Qwen's pre-tokenizer in llama.cpp and Ollama,
    which splits the blank lines of a tool round otherwise than SmolLM2's vocabulary does in Hugging Face's class; a
    real Qwen's tokenizer is the same on both sides)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model(FAMILY_MODELS[case]))
    conversation = _tool_round(tool, arguments)
    trained = trained_prompt(tokenizer, list(conversation), tools=(tool,))
    served = ollama_messages({key: value for key, value in m.items() if key != "name"} for m in conversation[:-1])
    package = family_packages[case]
    modelfile = parse_modelfile((package / "Modelfile").read_text(), source="Modelfile")
    model = loaded_model(embedded_families, package)
    [rendered] = go_render([{"template": modelfile.template, "messages": served, "tools": [tool]}])
    go_ids = gguf_ids(model, rendered["output"])
    answer = real_ollama.post(
        "/api/chat",
        {
            "model": created_families[case],
            "messages": served,
            "tools": [tool],
            "stream": False,
            "options": {"num_predict": 1, "temperature": 0, "num_ctx": 2048},
        },
    )
    assert answer["prompt_eval_count"] == len(go_ids)
    ids, _ = model.prompt_tokens(GenerateRequest(model="m", messages=served, tools=[tool]))
    assert ids == go_ids
    if case.startswith("qwen"):
        assert tokenizer.decode(trained[1 if model.adds_bos else 0 :]) == rendered["output"]
    else:
        assert go_ids == trained
