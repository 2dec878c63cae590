"""Whole tool rounds with the `openai` client, through `serve --ollama` (the real Ollama) and `serve --model`
(llama-cpp-python in-process), whole and streamed: the request carries tools, the scripted model
(tests/fixtures/scripted_model.py) answers with a call in its family's format, the client reads `tool_calls`, sends
the result back under the call's id, and the model answers in text once it sees the result."""

from __future__ import annotations

import json

import pytest

from tests.server.live import running
from tunesmith.server import ServerSettings, create_app

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris and in Rome?"}]
# The tool's result is the marker that switches the scripted model to its answer; no quotes, as Llama 3.1's template
# writes a result as a JSON string.
RESULT = "21 C and sunny"
ANSWER = ["It is", " 21 degrees", " in Paris."]

# Chat family -> (tiny model, a reply with one call, a reply with two calls or None where the template takes one call
# per message). Each piece is one token of the scripted model; a family joins here once the server parses its format.
SCRIPTS = {
    "qwen2.5": (
        "qwen2",
        ['<tool_call>\n{"name": ', '"get_weather", ', '"arguments": ', '{"city": "Paris"}', "}\n</tool_call>"],
        [
            '<tool_call>\n{"name": ',
            '"get_weather", ',
            '"arguments": ',
            '{"city": "Paris"}',
            "}\n</tool_call>\n<tool_call>",
            '\n{"name": "get_weather", ',
            '"arguments": {"city": "Rome"}',
            "}\n</tool_call>",
        ],
    ),
    # Qwen3 thinks first. Its tags are tokens of its own; the second call's opening tag rides in a longer piece.
    "qwen3": (
        "qwen3-chat",
        [
            "<think>",
            "\nA tool knows.\n",
            "</think>",
            "\n\n",
            "<tool_call>",
            '\n{"name": ',
            '"get_weather", ',
            '"arguments": ',
            '{"city": "Paris"}',
            "}\n",
            "</tool_call>",
        ],
        [
            "<think>",
            "\nA tool knows.\n",
            "</think>",
            "\n\n",
            "<tool_call>",
            '\n{"name": ',
            '"get_weather", ',
            '"arguments": ',
            '{"city": "Paris"}',
            "}\n",
            "</tool_call>",
            '\n<tool_call>\n{"name": ',
            '"get_weather",',
            ' "arguments": {"city": "Rome"}',
            "}\n</tool_call>",
        ],
    ),
    "llama3.1": ("llama3.1", ['{"name": ', '"get_weather", ', '"parameters": ', '{"city": "Paris"}', "}"], None),
    "mistral (Nemo)": (
        "mistral-nemo",
        [
            "[TOOL_CALLS]",
            '[{"name": ',
            '"get_weather", ',
            '"arguments": ',
            '{"city": "Paris"}',
            ', "id": "a1B2c3D4e"}',
            "]",
        ],
        [
            "[TOOL_CALLS]",
            '[{"name": ',
            '"get_weather", ',
            '"arguments": ',
            '{"city": "Paris"}',
            ', "id": "a1B2c3D4e"}',
            ', {"name": "get_weather", ',
            '"arguments": {"city": "Rome"}',
            ', "id": "f5G6h7J8k"}',
            "]",
        ],
    ),
}
# Where a template ends the prompt after tool results otherwise than after a user turn, the scripted model answers
# that ending too.
TRIGGERS = {"mistral (Nemo)": ("[/TOOL_RESULTS]",)}
CITIES = {"one": [{"city": "Paris"}], "two": [{"city": "Paris"}, {"city": "Rome"}]}


@pytest.fixture(scope="module")
def packages(scripted_package):
    """{(family, "one" | "two"): package folder} of the scripted models."""
    return {
        (case, calls): scripted_package(model, script, (RESULT, ANSWER), triggers=TRIGGERS.get(case, ()))
        for case, (model, one, two) in SCRIPTS.items()
        for calls, script in (("one", one), ("two", two))
        if script is not None
    }


@pytest.fixture(scope="module", params=["ollama", "embedded"])
def served(request, packages):
    """An OpenAI client on a live `tunesmith serve` of the packages, {package key: model id}, and the backend."""
    from openai import OpenAI

    if request.param == "ollama":
        real_ollama = request.getfixturevalue("real_ollama")
        names = {}
        for key, package in packages.items():
            done = real_ollama.cli("create", package.name, "-f", str(package / "Modelfile"))
            assert done.returncode == 0, done.stderr[-2000:]
            names[key] = f"{package.name}:latest"
        settings = ServerSettings(ollama=(real_ollama.url,), health_interval=3600)
    else:
        names = {key: package.name for key, package in packages.items()}
        settings = ServerSettings(models=tuple(str(package) for package in packages.values()), threads=1)
    with running(create_app(settings)) as url:
        yield OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120), names, request.param


def _ask(client, model: str, messages: list, stream: bool, **extra):
    """The answer as (content, tool calls as the client read them, finish_reason); a streamed one is put together
    from its deltas as a client must: calls by `index`, arguments concatenated."""
    if not stream:
        choice = client.chat.completions.create(model=model, messages=messages, temperature=0, **extra).choices[0]
        calls = [
            {
                "id": call.id,
                "type": call.type,
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in choice.message.tool_calls or []
        ]
        return choice.message.content, calls, choice.finish_reason
    content, calls, reason = "", {}, None
    for chunk in client.chat.completions.create(model=model, messages=messages, temperature=0, stream=True, **extra):
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for piece in delta.tool_calls or []:
            call = calls.setdefault(piece.index, {"id": None, "type": None, "function": {"name": "", "arguments": ""}})
            call["id"] = call["id"] or piece.id
            call["type"] = call["type"] or piece.type
            call["function"]["name"] += piece.function.name or ""
            call["function"]["arguments"] += piece.function.arguments or ""
        reason = chunk.choices[0].finish_reason or reason
    return content, [calls[index] for index in sorted(calls)], reason


PARALLEL = [case for case, (_, _, two) in SCRIPTS.items() if two is not None]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(("case", "calls"), [(case, "one") for case in SCRIPTS] + [(case, "two") for case in PARALLEL])
def test_a_tool_round_trip(served, case, calls, stream):
    client, names, _ = served
    model = names[(case, calls)]
    content, tool_calls, reason = _ask(client, model, ASK, stream, tools=[WEATHER])
    assert reason == "tool_calls" and not content
    assert [call["function"]["name"] for call in tool_calls] == ["get_weather"] * len(CITIES[calls])
    assert [json.loads(call["function"]["arguments"]) for call in tool_calls] == CITIES[calls]
    assert all(call["type"] == "function" and call["id"] for call in tool_calls)
    assert len({call["id"] for call in tool_calls}) == len(tool_calls)

    results = [
        {"role": "tool", "tool_call_id": call["id"], "content": RESULT if index == 0 else '{"sky": "clear"}'}
        for index, call in enumerate(tool_calls)
    ]
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": tool_calls}, *results]
    content, tool_calls, reason = _ask(client, model, history, stream, tools=[WEATHER])
    assert (content, tool_calls, reason) == ("".join(ANSWER), [], "stop")


FORCED = {"required": "required", "named": {"type": "function", "function": {"name": "get_weather"}}}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("choice", list(FORCED))
@pytest.mark.parametrize("case", PARALLEL)
def test_a_forced_tool_choice_is_enforced_in_process_and_refused_through_ollama(served, case, choice, stream):
    from openai import BadRequestError

    client, names, backend = served
    tools = [WEATHER, {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
    if backend == "ollama":
        with pytest.raises(BadRequestError) as caught:
            _ask(client, names[(case, "two")], ASK, stream, tools=tools, tool_choice=FORCED[choice])
        assert caught.value.body["param"] == "tool_choice" and "--model" in caught.value.body["message"]
        return
    # The calls the script writes fit the grammar, so the grammar lets them through unchanged.
    content, tool_calls, reason = _ask(
        client, names[(case, "two")], ASK, stream, tools=tools, tool_choice=FORCED[choice]
    )
    assert reason == "tool_calls" and not content
    assert [json.loads(call["function"]["arguments"]) for call in tool_calls] == CITIES["two"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("case", PARALLEL)
def test_no_parallel_tool_calls_gives_the_first_call_alone(served, case, stream):
    """The embedded backend stops generating after the first call; Ollama cannot be told, so the server drops the
    calls after the first."""
    client, names, _ = served
    content, tool_calls, reason = _ask(
        client, names[(case, "two")], ASK, stream, tools=[WEATHER], parallel_tool_calls=False
    )
    assert reason == "tool_calls" and not content
    assert [json.loads(call["function"]["arguments"]) for call in tool_calls] == CITIES["one"]


@pytest.mark.parametrize("case", list(SCRIPTS))
def test_tool_choice_none_sends_no_tools_so_a_call_is_only_text(served, case):
    client, names, _ = served
    content, tool_calls, reason = _ask(client, names[(case, "one")], ASK, False, tools=[WEATHER], tool_choice="none")
    # The call comes back as the text it was, less what the backends split off anyway: reasoning (Qwen3's <think>),
    # and control tokens llama.cpp leaves out of its text (Mistral's [TOOL_CALLS]; Ollama keeps them).
    assert (tool_calls, reason) == ([], "stop")
    assert '"get_weather", ' in content and '{"city": "Paris"}' in content


@pytest.mark.parametrize("case", list(SCRIPTS))
def test_the_readmes_round_sends_back_the_assistant_message_as_the_client_dumps_it(served, case):
    """README's example: the assistant's message goes back as `message.model_dump(exclude_none=True)`."""
    client, names, _ = served
    messages = list(ASK)
    message = (
        client.chat.completions.create(model=names[(case, "one")], messages=messages, tools=[WEATHER], temperature=0)
        .choices[0]
        .message
    )
    messages.append(message.model_dump(exclude_none=True))
    for call in message.tool_calls:
        messages.append({"role": "tool", "tool_call_id": call.id, "content": RESULT})
    answer = client.chat.completions.create(
        model=names[(case, "one")], messages=messages, tools=[WEATHER], temperature=0
    )
    assert answer.choices[0].message.content == "".join(ANSWER)
