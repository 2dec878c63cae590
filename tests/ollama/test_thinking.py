"""Thinking end to end with the real Ollama 0.24.0 and llama-cpp-python: a tiny Qwen3 package (its real chat template,
its tokenizer's <think> and <tool_call> tokens) is created in Ollama, which infers the "thinking" capability from the
TEMPLATE; think true, false and unset, with tools and with reasoning in the history, evaluate exactly the tokens of
`apply_chat_template(..., enable_thinking=...)`; the `openai` client's reasoning_effort switches it through
`serve --ollama` and `serve --model`; and a scripted model's `<think>...</think>answer` comes back as
reasoning_content and content through both."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ollama.prompt_ids import gguf_ids, ollama_messages
from tests.server.live import running
from tunesmith.modelfiles.check_conversations import THINKING_CHECK_CONVERSATIONS, TOOL_CHECK_CONVERSATIONS
from tunesmith.server import ServerSettings, create_app
from tunesmith.server.backends.base import GenerateRequest
from tunesmith.server.backends.llamacpp import LlamaCppBackend

ASK = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def packages(tiny_model, tmp_path_factory) -> dict[str, Path]:
    """The tiny Qwen3 (thinking) and Qwen2.5 (no thinking) packages, Q8_0."""
    from tunesmith.packager.package import PackageSpec, build_package

    root = tmp_path_factory.mktemp("thinking-packages")
    return {
        name: build_package(
            PackageSpec(base=tiny_model(model), out=root / name, quants=("Q8_0",), parameters={"num_ctx": 512})
        ).path
        for name, model in (("think-qwen3", "qwen3-chat"), ("think-qwen25", "qwen2"))
    }


@pytest.fixture(scope="module")
def created(real_ollama, packages) -> dict[str, str]:
    for name, package in packages.items():
        done = real_ollama.cli("create", name, "-f", str(package / "Modelfile"))
        assert done.returncode == 0, f"ollama create {name}: {done.stderr[-2000:]}"
    return {name: f"{name}:latest" for name in packages}


@pytest.fixture(scope="module")
def qwen3(packages):
    """The Qwen3 package loaded by the embedded backend (its tokenizer counts the expected tokens)."""
    import anyio

    backend = LlamaCppBackend([str(packages["think-qwen3"])], threads=1)
    anyio.run(backend.start)
    yield next(iter(backend._models.values()))
    anyio.run(backend.close)


def _expected_ids(model, messages: list[dict], tools: list[dict] | None, think: bool | None) -> list[int]:
    """The ids of the Jinja chat template's text, as transformers renders it, in the GGUF's own tokenizer."""
    from transformers import AutoTokenizer

    from tunesmith.embedded_base import embedded_base_dir

    host = AutoTokenizer.from_pretrained(embedded_base_dir())  # only renders the Jinja template
    extra = {} if think is None else {"enable_thinking": think}
    text = host.apply_chat_template(
        messages, tools=tools, chat_template=model.template, tokenize=False, add_generation_prompt=True, **extra
    )
    assert text.endswith("<|im_start|>assistant\n" + ("<think>\n\n</think>\n\n" if think is False else ""))
    return gguf_ids(model, text)


def test_the_packages_report_and_card_say_thinking_is_carried(packages):
    import json

    chat = json.loads((packages["think-qwen3"] / "quality.json").read_text())["chat"]
    assert (chat["family"], chat["tools"], chat["thinking"]) == ("qwen3", "hermes", "think-tags")
    assert "thinking carried (think-tags format" in chat["note"]
    card = (packages["think-qwen3"] / "README.md").read_text()
    assert "Thinking: carried (reasoning between <think> and </think>" in card
    assert json.loads((packages["think-qwen25"] / "quality.json").read_text())["chat"]["thinking"] is None


def test_ollama_infers_thinking_and_tools_from_the_qwen3_template(real_ollama, created):
    capabilities = real_ollama.post("/api/show", {"model": created["think-qwen3"]})["capabilities"]
    assert {"completion", "tools", "thinking"} <= set(capabilities)
    assert "thinking" not in real_ollama.post("/api/show", {"model": created["think-qwen25"]})["capabilities"]


CASES = [
    (f"{'tools' if tools else 'chat'}-{index}", list(messages), list(tools) or None)
    for index, (messages, tools) in enumerate(THINKING_CHECK_CONVERSATIONS)
]
CASES += [("tools-round", list(TOOL_CHECK_CONVERSATIONS[1][0]), list(TOOL_CHECK_CONVERSATIONS[1][1]))]


@pytest.mark.parametrize("think", [True, False, None], ids=["think-true", "think-false", "think-unset"])
@pytest.mark.parametrize(("name", "messages", "tools"), CASES, ids=[case[0] for case in CASES])
def test_ollama_and_serve_model_evaluate_the_chat_templates_tokens_with_think(
    name, messages, tools, think, real_ollama, created, qwen3
):
    expected = _expected_ids(qwen3, messages, tools, think)
    body = {
        "model": created["think-qwen3"],
        "messages": ollama_messages(messages),
        "stream": False,
        "options": {"num_predict": 1, "temperature": 0},
    }
    body.update({key: value for key, value in (("tools", tools), ("think", think)) if value is not None})
    assert real_ollama.post("/api/chat", body)["prompt_eval_count"] == len(expected)
    ids, _ = qwen3.prompt_tokens(
        GenerateRequest(model="m", messages=ollama_messages(messages), tools=tools, think=think)
    )
    assert ids == expected


@pytest.fixture(scope="module", params=["ollama", "embedded"])
def served(request, packages):
    """An OpenAI client on a live `tunesmith serve` of both packages, and {package name: model id}."""
    from openai import OpenAI

    if request.param == "ollama":
        names = request.getfixturevalue("created")
        settings = ServerSettings(ollama=(request.getfixturevalue("real_ollama").url,), health_interval=3600)
    else:
        names = {name: name for name in packages}
        settings = ServerSettings(models=tuple(str(package) for package in packages.values()), threads=1)
    with running(create_app(settings)) as url:
        yield OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120), names


@pytest.mark.parametrize(("effort", "think"), [("none", False), ("high", True), (None, None)])
def test_reasoning_effort_switches_thinking_in_the_prompt_through_both_servers(effort, think, served, qwen3):
    client, names = served
    extra = {"reasoning_effort": effort} if effort else {}
    answer = client.chat.completions.create(
        model=names["think-qwen3"], messages=ASK, max_tokens=1, temperature=0, **extra
    )
    assert answer.usage.prompt_tokens == len(_expected_ids(qwen3, ASK, None, think))


def test_reasoning_effort_for_a_model_without_thinking_is_refused_naming_the_field(served):
    import openai

    client, names = served
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=names["think-qwen25"], messages=ASK, max_tokens=1, reasoning_effort="high")
    assert caught.value.body["param"] == "reasoning_effort"
    assert "thinking" in caught.value.body["message"] or "does not think" in caught.value.body["message"]
    # "none" asks for no reasoning, which any model can give.
    answer = client.chat.completions.create(
        model=names["think-qwen25"], messages=ASK, max_tokens=1, reasoning_effort="none"
    )
    assert answer.usage.prompt_tokens > 0


# The scripted Qwen3's greedy reply, one token a piece (tests/fixtures/scripted_model.py).
THOUGHT_REPLY = ["<think>", "\nThe user greets me.\n", "</think>", "\n\nHello there!"]


@pytest.fixture(scope="module", params=["ollama", "embedded"])
def scripted(request, scripted_package):
    """An OpenAI client on a live `tunesmith serve` of the scripted Qwen3, and its model id."""
    from openai import OpenAI

    package = scripted_package("qwen3-chat", THOUGHT_REPLY)
    if request.param == "ollama":
        real_ollama = request.getfixturevalue("real_ollama")
        done = real_ollama.cli("create", package.name, "-f", str(package / "Modelfile"))
        assert done.returncode == 0, done.stderr[-2000:]
        model, settings = f"{package.name}:latest", ServerSettings(ollama=(real_ollama.url,), health_interval=3600)
    else:
        model, settings = package.name, ServerSettings(models=(str(package),), threads=1)
    with running(create_app(settings)) as url:
        yield OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120), model


def _reasoned(client, model: str, stream: bool, **extra) -> tuple[str | None, str]:
    """(reasoning_content, content) of the answer; a streamed one put together from its deltas."""
    messages = [{"role": "user", "content": "Hi"}]
    if not stream:
        message = (
            client.chat.completions.create(model=model, messages=messages, temperature=0, **extra).choices[0].message
        )
        return getattr(message, "reasoning_content", None), message.content
    reasoning, content = None, ""
    for chunk in client.chat.completions.create(model=model, messages=messages, temperature=0, stream=True, **extra):
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta is not None and getattr(delta, "reasoning_content", None):
            reasoning = (reasoning or "") + delta.reasoning_content
        content += (delta.content or "") if delta is not None else ""
    return reasoning, content


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_reply_that_reasons_comes_back_as_reasoning_content_and_content(scripted, stream):
    # Ollama's thinking parser drops the blank space after each tag and keeps the rest; the embedded backend's
    # splitter does the same, so both servers give the same two fields.
    client, model = scripted
    assert _reasoned(client, model, stream) == ("The user greets me.\n", "Hello there!")
    assert _reasoned(client, model, stream, reasoning_effort="high") == ("The user greets me.\n", "Hello there!")
