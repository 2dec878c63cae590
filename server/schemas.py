"""The OpenAI request and response bodies the server speaks, as msgspec structs.

Litestar decodes requests into these (naming the bad field on failure) and builds the OpenAPI schema from them; the
fields are those the official `openai` client sends, and unknown fields are ignored as OpenAI itself does.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import Struct

__all__ = [
    "AssistantMessage",
    "ChatChoice",
    "ChatCompletion",
    "ChatCompletionRequest",
    "ChatMessage",
    "Completion",
    "CompletionChoice",
    "CompletionRequest",
    "ContentPart",
    "Embedding",
    "EmbeddingList",
    "EmbeddingRequest",
    "ErrorBody",
    "ErrorDetail",
    "Model",
    "ModelList",
    "Reasoning",
    "ResponseFormat",
    "StreamOptions",
    "Usage",
]


class ContentPart(Struct, omit_defaults=True):
    type: str
    text: str | None = None


class ChatMessage(Struct, omit_defaults=True):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    # An earlier answer's reasoning, as this server returns it (DeepSeek's and vLLM's name).
    reasoning_content: str | None = None


class ResponseFormat(Struct, omit_defaults=True):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class Reasoning(Struct, omit_defaults=True):
    effort: str | None = None


class StreamOptions(Struct, omit_defaults=True):
    include_usage: bool = False


class ChatCompletionRequest(Struct, omit_defaults=True):
    model: str
    messages: list[ChatMessage]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = None
    user: str | None = None
    # How hard a thinking model reasons: "none" switches reasoning off (Ollama's think false), a level switches it on.
    reasoning_effort: str | None = None
    reasoning: Reasoning | None = None


class CompletionRequest(Struct, omit_defaults=True):
    model: str
    prompt: str | list[str]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = None
    echo: bool = False
    user: str | None = None


class EmbeddingRequest(Struct, omit_defaults=True):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


class Usage(Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(Struct):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[dict[str, Any]] | msgspec.UnsetType = msgspec.UNSET
    reasoning_content: str | msgspec.UnsetType = msgspec.UNSET


class ChatChoice(Struct):
    index: int
    message: AssistantMessage
    finish_reason: str | None


class ChatCompletion(Struct):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: str = "fp_tunesmith"


class CompletionChoice(Struct):
    index: int
    text: str
    finish_reason: str | None
    logprobs: None = None


class Completion(Struct):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage


class Model(Struct):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(Struct):
    object: Literal["list"]
    data: list[Model]


class Embedding(Struct):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str


class EmbeddingList(Struct):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: Usage


class ErrorDetail(Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(Struct):
    error: ErrorDetail
