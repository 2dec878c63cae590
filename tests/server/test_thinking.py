"""Reasoning, apart from the answer: the <think> splitter on replies as Qwen3 and DeepSeek-R1 distills write them,
split at every point a stream may split them; the reply parser that joins it to tool calls; and reasoning_effort and
reasoning_content in OpenAI bodies (no network, no model)."""

from __future__ import annotations

import json

import msgspec
import pytest
from litestar.testing import TestClient

from tests.server.conftest import sse_events
from tests.server.test_streaming import MODEL, ScriptedBackend
from tunesmith.modelfiles import ChatFormat
from tunesmith.server import ServerSettings, create_app
from tunesmith.server.backends import Backends, Delta
from tunesmith.server.backends.reply import ReplyParser, takes_thinking
from tunesmith.server.backends.thinking import ThinkTagSplitter, prompt_opens_thinking
from tunesmith.server.errors import BadRequestError
from tunesmith.server.mapping import chat_completion_body, chat_to_generate
from tunesmith.server.schemas import ChatCompletionRequest

QWEN3_REPLY = "<think>\nThe user greets me. I should greet back.\n</think>\n\nHello! How can I help?"
# (name, reply, starts inside <think>, reasoning, answer): the reasoning as Ollama's thinking parser returns it.
SPLITS = [
    (
        "qwen3 reasoning then answer",
        QWEN3_REPLY,
        False,
        "The user greets me. I should greet back.\n",
        "Hello! How can I help?",
    ),
    (
        "qwen3 with thinking off writes no tags: all answer",
        "Hello! How can I help?",
        False,
        "",
        "Hello! How can I help?",
    ),
    ("an empty thinking block", "<think>\n\n</think>\n\nHi.", False, "", "Hi."),
    ("reasoning keeps its end, as Ollama's", "<think>Hmm. </think>Hi.", False, "Hmm. ", "Hi."),
    (
        "R1 distill: the prompt opened <think>",
        "Okay, 2+2 is 4.\n</think>\n\nThe answer is 4.",
        True,
        "Okay, 2+2 is 4.\n",
        "The answer is 4.",
    ),
    (
        "reasoning with blank lines inside keeps them",
        "<think>\nFirst.\n\nSecond.\n</think>\n\nDone.",
        False,
        "First.\n\nSecond.\n",
        "Done.",
    ),
    (
        "a reply that never closes its reasoning is all reasoning",
        "<think>\nHmm, let me see",
        False,
        "Hmm, let me see",
        "",
    ),
    (
        "text before <think> means no reasoning",
        "Sure. <think>not a thought</think>",
        False,
        "",
        "Sure. <think>not a thought</think>",
    ),
    ("an answer ending in a partial tag keeps it", "  Look: </thi", False, "", "  Look: </thi"),
    ("a later <think> in the answer is answer", "<think>a</think>b <think>c</think>", False, "a", "b <think>c</think>"),
]


def _split(reply: str, cuts: list[int], in_thinking: bool) -> tuple[str, str]:
    splitter = ThinkTagSplitter(in_thinking=in_thinking)
    reasoning, answer = [], []
    for start, end in zip([0, *cuts], [*cuts, len(reply)]):
        thought, text = splitter.feed(reply[start:end])
        reasoning.append(thought)
        answer.append(text)
    thought, text = splitter.finish()
    return "".join(reasoning) + thought, "".join(answer) + text


@pytest.mark.parametrize(("name", "reply", "in_thinking", "reasoning", "answer"), SPLITS, ids=[c[0] for c in SPLITS])
def test_reasoning_and_answer_come_out_the_same_however_the_stream_is_split(
    name, reply, in_thinking, reasoning, answer
):
    assert _split(reply, [], in_thinking) == (reasoning, answer)
    assert _split(reply, list(range(1, len(reply))), in_thinking) == (reasoning, answer)  # one character at a time
    for cut in range(1, len(reply)):
        assert _split(reply, [cut], in_thinking) == (reasoning, answer), cut


def test_reasoning_is_released_as_it_comes_and_only_a_partial_tag_waits():
    splitter = ThinkTagSplitter()
    assert splitter.feed("<thi") == ("", "")
    assert splitter.feed("nk>\nThe user") == ("The user", "")
    assert splitter.feed(" greets me.\n</th") == (" greets me.\n", "")
    assert splitter.feed("ink>\n\nHel") == ("", "Hel")
    assert splitter.feed("lo") == ("", "lo")
    assert splitter.finish() == ("", "")


@pytest.mark.parametrize(
    ("prompt", "opens"),
    [
        ("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", False),
        ("<|im_start|>assistant\n<think>\n\n</think>\n\n", False),
        ("<｜User｜>Hi<｜Assistant｜><think>\n", True),
    ],
)
def test_a_prompt_that_ends_inside_think_starts_the_reply_in_reasoning(prompt, opens):
    assert prompt_opens_thinking(prompt) is opens


QWEN3 = ChatFormat("qwen3", "", ["<|im_end|>"], tools="hermes", thinking="think-tags")


def _parse(parser: ReplyParser, reply: str) -> tuple[str, str, list]:
    thoughts, texts, calls = [], [], []
    for piece in [reply[i : i + 3] for i in range(0, len(reply), 3)]:
        delta = parser.feed(piece)
        thoughts.append(delta.thinking)
        texts.append(delta.content)
        calls += delta.tool_calls or []
    last = parser.finish()
    return "".join(thoughts) + last.thinking, "".join(texts) + last.content, calls


def test_reply_parser_splits_reasoning_before_a_tool_call():
    reply = (
        '<think>\nI need the weather tool.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": '
        '{"city": "Paris"}}\n</tool_call>'
    )
    assert _parse(ReplyParser(QWEN3, tools=True, thinking=True), reply) == (
        "I need the weather tool.\n",
        "",
        [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
    )


def test_reply_parser_of_a_template_without_thinking_splits_a_reply_its_prompt_opened_in_think():
    # DeepSeek-R1 distills: a converted template (no thinking format) whose generation prompt ends in "<think>\n".
    reply = "Okay, 2+2 is 4.\n</think>\n\nThe answer is 4."
    assert _parse(ReplyParser(None, tools=False, in_thinking=True), reply) == (
        "Okay, 2+2 is 4.\n",
        "The answer is 4.",
        [],
    )


def test_reply_parser_leaves_think_tags_in_the_answer_when_thinking_is_off():
    assert _parse(ReplyParser(QWEN3, tools=False, thinking=False), QWEN3_REPLY) == ("", QWEN3_REPLY, [])


def test_only_a_format_with_think_tags_takes_reasoning_effort():
    assert takes_thinking(QWEN3)
    assert not takes_thinking(ChatFormat("chatml", "", ["<|im_end|>"]))
    assert not takes_thinking(None)


def _chat(**body) -> ChatCompletionRequest:
    return msgspec.convert(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}, ChatCompletionRequest
    )


@pytest.mark.parametrize(
    ("body", "think"),
    [
        ({}, None),
        ({"reasoning_effort": "none"}, False),
        ({"reasoning_effort": "high"}, "high"),
        ({"reasoning_effort": "low"}, "low"),
        ({"reasoning_effort": "max"}, "max"),
        ({"reasoning": {"effort": "medium"}}, "medium"),
        ({"reasoning": {"effort": "none"}, "reasoning_effort": "high"}, False),  # as Ollama: `reasoning` first
    ],
)
def test_reasoning_effort_becomes_ollamas_think(body, think):
    assert chat_to_generate(_chat(**body)).think == think


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"reasoning": {"effort": "minimal"}}, "reasoning.effort"),
    ],
)
def test_an_unknown_reasoning_effort_is_refused_naming_the_field(body, param):
    with pytest.raises(BadRequestError) as caught:
        chat_to_generate(_chat(**body))
    assert caught.value.param == param
    assert "'high', 'medium', 'low', 'max', 'none'" in str(caught.value)


def test_reasoning_content_in_history_reaches_the_backend_as_thinking_without_its_blank_lines():
    request = chat_to_generate(
        msgspec.convert(
            {
                "model": "m",
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "Hello!", "reasoning_content": "A greeting.\n"},
                    {"role": "user", "content": "bye"},
                ],
            },
            ChatCompletionRequest,
        )
    )
    assert request.messages[1] == {"role": "assistant", "content": "Hello!", "thinking": "A greeting."}
    assert "thinking" not in request.messages[0] and "thinking" not in request.messages[2]


def test_an_answer_carries_its_reasoning_as_reasoning_content_apart_from_content():
    body = chat_completion_body(
        "chatcmpl-1",
        0,
        "m",
        Delta(
            content="Hello!",
            thinking="A greeting.",
            done=True,
            done_reason="stop",
            prompt_tokens=5,
            completion_tokens=9,
        ),
    )
    message = json.loads(msgspec.json.encode(body))["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Hello!", "reasoning_content": "A greeting."}
    plain = chat_completion_body("chatcmpl-1", 0, "m", Delta(content="Hello!", done=True, done_reason="stop"))
    assert "reasoning_content" not in json.loads(msgspec.json.encode(plain))["choices"][0]["message"]


def test_a_stream_sends_reasoning_as_delta_reasoning_content_before_the_answer():
    pieces = [Delta(thinking="A greeting."), Delta(content="Hello!"), Delta(done=True, done_reason="stop")]
    app = create_app(ServerSettings(ollama=("http://unused:11434",)), backends=Backends([ScriptedBackend(pieces)]))
    with TestClient(app) as client:
        response = client.post(
            "/v1/chat/completions",
            json={"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        )
    deltas = [event["choices"][0]["delta"] for event in sse_events(response.text)[:-1]]
    assert deltas == [{"role": "assistant", "reasoning_content": "A greeting."}, {"content": "Hello!"}, {}]
