"""One rule for BOS, proven per chat family: the prompt tunesmith trains on is the prompt Ollama and llama.cpp evaluate.

For a conversation that ends with an assistant reply, the tokens before the reply's learned tokens are the prompt the
model was trained to answer. Serving the conversation without that reply must evaluate exactly those tokens:
- the real Ollama: `prompt_eval_count` of /api/chat on the package created from the Modelfile;
- llama.cpp: the Modelfile's TEMPLATE rendered by Go's text/template, tokenized by llama.cpp with BOS as the GGUF says;
- `tunesmith serve --model`: the ids its embedded backend evaluates, and `usage.prompt_tokens` of its OpenAI API.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from litestar.testing import TestClient

from tests.ollama.conftest import FAMILY_MODELS
from tunesmith.modelfiles import parse_modelfile
from tunesmith.server import ServerSettings, create_app
from tunesmith.server.backends.base import GenerateRequest
from tunesmith.server.backends.llamacpp import LlamaCppBackend
from tunesmith.trainer.format import IGNORE, format_record
from tunesmith.trainer.records import Record

PUBLISHED = Path(__file__).resolve().parents[1] / "modelfiles" / "published"
SYSTEM = {"role": "system", "content": "You answer briefly."}
TURNS = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy?"},
    {"role": "assistant", "content": "Rome."},
]


# Llama 2 opens every later turn with a BOS written as text ("</s><s>[INST]"); llama.cpp's SentencePiece tokenizer puts
# a space after that BOS where Hugging Face's does not, one token per earlier turn. Its conversations are single-turn.
SINGLE_TURN = {"llama2"}


def _conversations(case: str, tokenizer) -> list[list[dict]]:
    """With a system prompt where the family's template takes one, and without."""
    turns = TURNS[:2] if case in SINGLE_TURN else TURNS
    try:
        tokenizer.apply_chat_template([SYSTEM, *turns], tokenize=False)
        return [[SYSTEM, *turns], turns]
    except Exception:  # noqa: BLE001 (Gemma's template raises on a system message)
        return [turns]


def _trained_prompt(tokenizer, conversation: list[dict], tools: tuple[dict, ...] = ()) -> list[int]:
    """The ids the trainer feeds before the last reply's first learned token."""
    example = format_record(Record("chat", "test", messages=tuple(conversation), tools=tools), tokenizer, 10**6)
    learned = [i for i, label in enumerate(example.labels) if label != IGNORE]
    last_start = max(i for i in learned if i - 1 not in learned)
    return example.input_ids[:last_start]


@pytest.fixture(scope="module")
def embedded(family_packages):
    """The embedded backend over every family's package: {case: its loaded model}."""
    import anyio

    backend = LlamaCppBackend([str(path) for path in family_packages.values()], threads=1)
    anyio.run(backend.start)
    yield backend
    anyio.run(backend.close)


def _model_id(embedded: LlamaCppBackend, package: Path) -> str:
    return next(model_id for model_id, model in embedded._models.items() if model.package.folder == package)


@pytest.mark.parametrize("case", list(FAMILY_MODELS))
def test_trained_prompt_is_the_prompt_ollama_and_llama_cpp_evaluate(
    case, tiny_model, family_packages, created_families, real_ollama, go_render, embedded
):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model(FAMILY_MODELS[case]))
    package = family_packages[case]
    modelfile = parse_modelfile((package / "Modelfile").read_text(), source="Modelfile")
    model = embedded._models[_model_id(embedded, package)]
    for conversation in _conversations(case, tokenizer):
        trained = _trained_prompt(tokenizer, conversation)
        served = conversation[:-1]

        answer = real_ollama.post(
            "/api/chat",
            {
                "model": created_families[case],
                "messages": served,
                "stream": False,
                "options": {"num_predict": 1, "temperature": 0},
            },
        )
        assert answer["prompt_eval_count"] == len(trained), (
            f"Ollama evaluates {answer['prompt_eval_count']} prompt tokens, training saw {len(trained)}:\n"
            f"{tokenizer.decode(trained)!r}"
        )

        [rendered] = go_render([{"template": modelfile.template, "messages": served}])
        text = rendered["output"]
        llama = model.llm
        go_ids = ([llama.token_bos()] if model.adds_bos else []) + llama.tokenize(
            text.encode(), add_bos=False, special=True
        )
        assert go_ids == trained, f"Go's rendering {text!r}"

        ids, _ = model.prompt_tokens(GenerateRequest(model="m", messages=served))
        assert ids == trained


@pytest.mark.parametrize("case", ["qwen2.5", "llama3.1", "phi3", "mistral (Nemo)"])
def test_serve_model_and_ollama_count_the_same_prompt_tokens(case, family_packages, created_families, real_ollama):
    messages = TURNS[:3]
    answer = real_ollama.post(
        "/api/chat",
        {
            "model": created_families[case],
            "messages": messages,
            "stream": False,
            "options": {"num_predict": 1, "temperature": 0},
        },
    )
    app = create_app(ServerSettings(models=(str(family_packages[case]),)))
    with TestClient(app) as client:
        model = client.get("/v1/models").json()["data"][0]["id"]
        reply = client.post(
            "/v1/chat/completions", json={"model": model, "messages": messages, "max_tokens": 1, "temperature": 0}
        )
        assert reply.status_code == 200, reply.text
    assert reply.json()["usage"]["prompt_tokens"] == answer["prompt_eval_count"]


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
    case, created_families, real_ollama, embedded, family_packages, reference_templates
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
    model = embedded._models[_model_id(embedded, family_packages[case])]
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
        expected = ([model.llm.token_bos()] if model.adds_bos else []) + model.llm.tokenize(
            text.encode(), add_bos=False, special=True
        )
        sent = [{key: value for key, value in m.items() if key != "type"} for m in messages]
        for m in sent:
            if m.get("tool_calls"):
                m["tool_calls"] = [{"id": c["id"], "function": c["function"]} for c in m["tool_calls"]]
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
                "messages": TURNS[:1],
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
    case, tool, arguments, tiny_model, family_packages, created_families, real_ollama, go_render, embedded
):
    """The answer after a tool result is learned after the very prompt Ollama, Go + llama.cpp and `serve --model`
    evaluate for that conversation with its tools, whatever order the tool's keys and the call's arguments come in:
    the same ids, or for the tiny Qwen shapes the same text (they get Qwen's pre-tokenizer in llama.cpp and Ollama,
    which splits the blank lines of a tool round otherwise than SmolLM2's vocabulary does in Hugging Face's class; a
    real Qwen's tokenizer is the same on both sides)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model(FAMILY_MODELS[case]))
    conversation = _tool_round(tool, arguments)
    trained = _trained_prompt(tokenizer, list(conversation), tools=(tool,))
    served = [
        {key: value for key, value in m.items() if key != "name"}
        | (
            {"tool_calls": [{"id": c["id"], "function": c["function"]} for c in m["tool_calls"]]}
            if m.get("tool_calls")
            else {}
        )
        for m in conversation[:-1]
    ]
    package = family_packages[case]
    modelfile = parse_modelfile((package / "Modelfile").read_text(), source="Modelfile")
    model = embedded._models[_model_id(embedded, package)]
    [rendered] = go_render([{"template": modelfile.template, "messages": served, "tools": [tool]}])
    bos = [model.llm.token_bos()] if model.adds_bos else []
    go_ids = bos + model.llm.tokenize(rendered["output"].encode(), add_bos=False, special=True)
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
        assert tokenizer.decode(trained[len(bos) :]) == rendered["output"]
    else:
        assert go_ids == trained
