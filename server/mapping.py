"""OpenAI request bodies to the neutral `GenerateRequest`, and finished generations back to OpenAI bodies.

The mapping follows Ollama's own OpenAI layer: max_tokens → num_predict, response_format json_object → format
"json", tool-call arguments as JSON strings ↔ objects, finish_reason from done_reason (stop/length/tool_calls),
reasoning_effort → think ("none" → false, a level → that level), reasoning ↔ `reasoning_content`.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from tunesmith.server.backends.base import Delta, GenerateRequest
from tunesmith.server.errors import BadRequestError
from tunesmith.server.schemas import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    Completion,
    CompletionChoice,
    CompletionRequest,
    Usage,
)
from tunesmith.server.tool_requests import check_tool_choice, check_tools

__all__ = [
    "chat_completion_body",
    "chat_to_generate",
    "completion_body",
    "completion_to_generate",
    "finish_reason",
    "new_id",
    "openai_tool_calls",
]

_SAMPLING = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")
# OpenAI's ranges: a client that sends more gets a 400 there, so it gets one here rather than odd sampling.
_RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


def new_id(prefix: str) -> str:
    """A fresh response id in OpenAI's style (`chatcmpl-...`, `cmpl-...`)."""
    return f"{prefix}-{secrets.token_hex(12)}"


def _check_n(n: int | None) -> None:
    if n is not None and n != 1:
        raise BadRequestError(
            f"n={n} is not supported: this server returns exactly one choice",
            param="n",
            hint="Send n=1 (or leave it out) and repeat the request for more choices.",
        )


def _options(body: ChatCompletionRequest | CompletionRequest, max_tokens: int | None) -> dict[str, Any]:
    options = {name: getattr(body, name) for name in _SAMPLING if getattr(body, name) is not None}
    for name, (low, high) in _RANGES.items():
        value = options.get(name)
        if value is not None and not low <= value <= high:
            raise BadRequestError(
                f"{name} must be between {low:g} and {high:g}, got {value:g}",
                param=name,
                hint=f"Send a {name} from {low:g} to {high:g}, or leave it out for the model's default.",
            )
    if max_tokens is not None:
        if max_tokens < 1:
            raise BadRequestError(f"max_tokens must be at least 1, got {max_tokens}", param="max_tokens")
        options["num_predict"] = max_tokens
    if body.stop is not None:
        options["stop"] = [body.stop] if isinstance(body.stop, str) else list(body.stop)
    return options


# Ollama's openai layer takes these efforts; "none" switches reasoning off.
_EFFORTS = ("high", "medium", "low", "max", "none")


def _think(body: ChatCompletionRequest) -> bool | str | None:
    """Ollama's `think` for the request's reasoning effort (`reasoning.effort` first, as Ollama reads them)."""
    nested = body.reasoning.effort if body.reasoning is not None else None
    param = "reasoning.effort" if nested else "reasoning_effort"
    effort = nested or body.reasoning_effort
    if not effort:
        return None
    if effort not in _EFFORTS:
        raise BadRequestError(
            f"{param} {effort!r} is not one of {', '.join(map(repr, _EFFORTS))}",
            param=param,
            hint='Send "none" to answer without reasoning, or a level to reason first.',
        )
    return False if effort == "none" else effort


def _content(message: ChatMessage, index: int) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    texts = []
    for part_index, part in enumerate(message.content):
        if part.type != "text" or part.text is None:
            raise BadRequestError(
                f"content part of type {part.type!r} is not supported; only text parts are",
                param=f"messages[{index}].content[{part_index}].type",
            )
        texts.append(part.text)
    return "".join(texts)


def _tool_calls_in(calls: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    converted = []
    for call_index, call in enumerate(calls):
        function = call.get("function") or {}
        arguments = function.get("arguments", "{}")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except json.JSONDecodeError as err:
                raise BadRequestError(
                    f"tool call arguments are not valid JSON: {err}",
                    param=f"messages[{index}].tool_calls[{call_index}].function.arguments",
                ) from err
        converted.append(
            {
                **({"id": call["id"]} if call.get("id") else {}),
                "function": {"name": function.get("name", ""), "arguments": arguments},
            }
        )
    return converted


def chat_to_generate(body: ChatCompletionRequest) -> GenerateRequest:
    """Translate a chat completion request; raises `BadRequestError` naming the field it cannot honour."""
    _check_n(body.n)
    if not body.messages:
        raise BadRequestError("messages must hold at least one message", param="messages")
    # Tool results name their call by id; Ollama's templates want the tool's name, found on the assistant's call.
    names_by_id: dict[str, str] = {}
    messages = []
    for index, message in enumerate(body.messages):
        role = "system" if message.role == "developer" else message.role
        converted: dict[str, Any] = {"role": role, "content": _content(message, index)}
        if role == "assistant" and message.reasoning_content:
            # Thinking templates write reasoning between newlines they add themselves (Qwen3 strips its own).
            converted["thinking"] = message.reasoning_content.strip("\n")
        if message.tool_calls:
            converted["tool_calls"] = _tool_calls_in(message.tool_calls, index)
            for call in message.tool_calls:
                if call.get("id"):
                    names_by_id[call["id"]] = (call.get("function") or {}).get("name", "")
        if role == "tool" and message.tool_call_id:
            if message.tool_call_id not in names_by_id:
                raise BadRequestError(
                    f"tool_call_id {message.tool_call_id!r} answers no tool call of an earlier assistant message",
                    param=f"messages[{index}].tool_call_id",
                    hint="Send the assistant message with its tool_calls before the tool results, "
                    "each result with the id of the call it answers.",
                )
            converted["tool_call_id"] = message.tool_call_id
            converted["tool_name"] = names_by_id[message.tool_call_id]
        messages.append(converted)
    max_tokens = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    fmt: str | dict[str, Any] | None = None
    if body.response_format is not None:
        if body.response_format.type == "json_object":
            fmt = "json"
        elif body.response_format.type == "json_schema":
            schema = (body.response_format.json_schema or {}).get("schema")
            if not isinstance(schema, dict):
                raise BadRequestError(
                    "response_format json_schema needs a `schema` object", param="response_format.json_schema.schema"
                )
            fmt = schema
    check_tools(body.tools)
    choice = check_tool_choice(body.tool_choice, body.tools)
    tools = body.tools if body.tools and choice != "none" else None
    return GenerateRequest(
        model=body.model,
        messages=messages,
        options=_options(body, max_tokens),
        format=fmt,
        tools=tools,
        think=_think(body),
        tool_choice=choice if tools else None,
        parallel_tool_calls=body.parallel_tool_calls is not False,
    )


def completion_to_generate(body: CompletionRequest) -> GenerateRequest:
    """Translate a (legacy) completion request into a raw-prompt generation."""
    _check_n(body.n)
    prompt = body.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1:
            raise BadRequestError(
                f"prompt holds {len(prompt)} prompts; this server completes one at a time",
                param="prompt",
                hint="Send a single string, or one request per prompt.",
            )
        prompt = prompt[0]
    if body.echo:
        raise BadRequestError("echo is not supported", param="echo")
    return GenerateRequest(model=body.model, prompt=prompt, options=_options(body, body.max_tokens))


def finish_reason(delta: Delta, saw_tool_calls: bool = False) -> str:
    """OpenAI's finish_reason for the last piece of a generation."""
    if saw_tool_calls or delta.tool_calls:
        return "tool_calls"
    return "length" if delta.done_reason == "length" else "stop"


def openai_tool_calls(calls: list[dict[str, Any]], first_index: int = 0, *, streaming: bool = False) -> list[dict]:
    """Ollama tool calls (arguments as objects) as OpenAI ones (arguments as JSON strings, each with an id)."""
    converted = []
    for offset, call in enumerate(calls):
        function = call.get("function") or {}
        arguments = function.get("arguments", {})
        item = {
            "id": call.get("id") or f"call_{secrets.token_hex(6)}",
            "type": "function",
            "function": {
                "name": function.get("name", ""),
                "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
            },
        }
        if streaming:
            item["index"] = first_index + offset
        converted.append(item)
    return converted


def _usage(delta: Delta) -> Usage:
    return Usage(delta.prompt_tokens, delta.completion_tokens, delta.prompt_tokens + delta.completion_tokens)


def chat_completion_body(response_id: str, created: int, model: str, delta: Delta) -> ChatCompletion:
    """The non-streaming chat completion for a finished generation."""
    message = AssistantMessage(role="assistant", content=delta.content)
    if delta.thinking:
        message.reasoning_content = delta.thinking
    if delta.tool_calls:
        message.tool_calls = openai_tool_calls(delta.tool_calls)
    choice = ChatChoice(index=0, message=message, finish_reason=finish_reason(delta))
    return ChatCompletion(
        id=response_id, object="chat.completion", created=created, model=model, choices=[choice], usage=_usage(delta)
    )


def completion_body(response_id: str, created: int, model: str, delta: Delta) -> Completion:
    """The non-streaming text completion for a finished generation."""
    choice = CompletionChoice(index=0, text=delta.content, finish_reason=finish_reason(delta))
    return Completion(
        id=response_id, object="text_completion", created=created, model=model, choices=[choice], usage=_usage(delta)
    )
