"""The one small protocol every backend speaks, and the neutral types that cross it.

Routes translate OpenAI bodies into a `GenerateRequest` and `Delta`s back into OpenAI bodies; backends translate the
same types to and from their engine (Ollama's HTTP API, llama.cpp in-process), so neither side knows the other.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Backend", "Delta", "Embeddings", "GenerateRequest", "ModelCard"]


@dataclass(slots=True)
class GenerateRequest:
    """One generation: a chat (`messages`) or a raw prompt (`prompt`), with Ollama-named sampling options.

    `messages` use Ollama's shape (role, content, thinking, tool_calls with dict arguments, tool_name); `options`
    only holds what the client set, so each backend's own defaults (a package's Modelfile) apply to the rest. `think`
    is Ollama's: True/False switch a thinking model's reasoning, a level ("low" ... "max") switches it on; None leaves
    the model's default.
    """

    model: str
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    format: str | dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    think: bool | str | None = None
    # OpenAI's: None or "auto" lets the model choose, "required" makes it call a tool, {"type": "function",
    # "function": {"name": ...}} that one; parallel_tool_calls False allows one call per answer.
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool = True


@dataclass(slots=True)
class Delta:
    """A piece of a generation; the last one has `done=True`, the finish reason and the token counts. `thinking` is
    reasoning, never part of `content`."""

    content: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    done: bool = False
    done_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True)
class ModelCard:
    """A model a backend can serve, as `/v1/models` lists it."""

    id: str
    owned_by: str
    created: int = 0


@dataclass(slots=True)
class Embeddings:
    """One vector per input, and the tokens they took."""

    vectors: list[list[float]]
    prompt_tokens: int = 0


class Backend(Protocol):
    """What the routes need from an engine. Errors are `tunesmith.errors` errors (see `tunesmith.server.errors`)."""

    name: str

    async def list_models(self) -> list[ModelCard]:
        """The models this backend serves now."""
        ...

    async def has_model(self, model: str) -> bool:
        """Whether `model` is served here (cheap: from what the backend last saw)."""
        ...

    def stream(self, request: GenerateRequest) -> AsyncGenerator[Delta, None]:
        """Generate piece by piece; closing the generator (`aclose`) stops the generation."""
        ...

    async def complete(self, request: GenerateRequest) -> Delta:
        """Generate the whole answer at once."""
        ...

    async def embed(self, model: str, inputs: list[str]) -> Embeddings:
        """Embed each input."""
        ...

    async def health(self) -> dict[str, Any]:
        """Per-upstream state for `/health`: `{"ok": bool, ...}`."""
        ...

    async def start(self) -> None:
        """Begin background work (health checks)."""
        ...

    async def close(self) -> None:
        """Release connections, threads and models."""
        ...
