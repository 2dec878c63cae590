"""The Ollama backend: one or more Ollama servers behind the `ollama` AsyncClient, with least-busy routing.

A request goes to the healthy upstream that has the model and the fewest requests in flight (ollama_pool.py keeps
the upstreams, their model lists and health); a connection failure before the first byte fails over to the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

import anyio
import httpx
import ollama

from tunesmith.errors import UpstreamError
from tunesmith.server.backends.base import Delta, Embeddings, GenerateRequest, ModelCard
from tunesmith.server.backends.ollama_pool import UNREACHABLE, Upstream, UpstreamPool, is_malformed
from tunesmith.server.backends.ollama_wire import ChatPart
from tunesmith.server.errors import BadRequestError, ModelNotFoundError, UnfinishedAnswerError, UpstreamTimeoutError
from tunesmith.server.tool_requests import forced_tool_choice

__all__ = ["OllamaBackend"]

_log = logging.getLogger("tunesmith.server")


class _OneCall:
    """parallel_tool_calls false: Ollama's API has no such switch, so the calls after the first are dropped here."""

    def __init__(self, request: GenerateRequest) -> None:
        self._left = None if request.parallel_tool_calls else 1

    def take(self, delta: Delta) -> Delta:
        if self._left is not None and delta.tool_calls:
            kept = delta.tool_calls[: self._left]
            if len(kept) < len(delta.tool_calls):
                _log.info(
                    "parallel_tool_calls is false: dropped %d of the model's tool calls after the first",
                    len(delta.tool_calls) - len(kept),
                )
            delta.tool_calls = kept or None
            self._left -= len(kept)
        return delta


def _unfinished(upstream: Upstream) -> UnfinishedAnswerError:
    # Ollama's last line says `done: true`; a body that ends before it is a cut answer, not a short one.
    return UnfinishedAnswerError(
        f"Ollama at {upstream.url}",
        detail=" (its answer had no final `done: true` line)",
        hint="Try again; if it keeps happening, check Ollama's log and any proxy between.",
    )


class OllamaBackend:
    """Serve the models of one or more Ollama servers (`urls`)."""

    name = "ollama"

    def __init__(
        self,
        urls: list[str],
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 300.0,
        health_interval: float = 10.0,
    ) -> None:
        if not urls:
            raise ValueError("OllamaBackend needs at least one upstream URL")
        self._pool = UpstreamPool(
            urls, connect_timeout=connect_timeout, read_timeout=read_timeout, health_interval=health_interval
        )
        self._read_timeout = read_timeout

    # ---- models and health: the pool's ------------------------------------------------------------------------

    async def list_models(self) -> list[ModelCard]:
        return await self._pool.list_models()

    async def has_model(self, model: str) -> bool:
        return await self._pool.has_model(model)

    async def health(self) -> dict[str, Any]:
        return await self._pool.health()

    async def start(self) -> None:
        await self._pool.start()

    async def close(self) -> None:
        await self._pool.close()

    async def show(self, model: str) -> ollama.ShowResponse:
        """Ollama's /api/show of `model` (Modelfile, template, parameters, capabilities) from an upstream that has
        it, the next one tried when one cannot be reached."""
        error: BaseException | None = None
        for upstream in await self._pool.candidates(model):
            try:
                return await upstream.client.show(model)
            except (httpx.TransportError, ollama.ResponseError, ValueError) as failed:  # ValueError: not its shape
                error = failed
        raise UpstreamError(
            f"no Ollama upstream described {model!r} ({error})", hint="Check that Ollama runs and has this model."
        ) from error

    # ---- generation ---------------------------------------------------------------------------------------------

    def _failure(self, err: BaseException, upstream: Upstream, model: str) -> Exception:
        if isinstance(err, (httpx.TimeoutException, TimeoutError, asyncio.TimeoutError)):
            return UpstreamTimeoutError(
                f"Ollama at {upstream.url} did not answer within {self._read_timeout:g} s",
                hint="Raise the server's read_timeout, or try again when it is less busy.",
            )
        if isinstance(err, ollama.ResponseError):
            message = f"Ollama at {upstream.url}: {err.error}"
            if err.status_code == 404:
                return ModelNotFoundError(message, hint="`ollama pull` the model, or pick one from GET /v1/models.")
            if err.status_code == 400 and "does not support thinking" in err.error:
                return BadRequestError(
                    message,
                    param="reasoning_effort",
                    hint='Leave out reasoning_effort (or send "none") for a model without thinking.',
                )
            if err.status_code == 400:
                return BadRequestError(message)
            status = f" (status {err.status_code})" if err.status_code > 0 else ""
            return UpstreamError(f"{message}{status}")
        if isinstance(err, UNREACHABLE):
            return UpstreamError(f"Ollama at {upstream.url} is unreachable", hint="Check that `ollama serve` runs.")
        if is_malformed(err):
            return UpstreamError(
                f"Ollama at {upstream.url} sent a malformed answer: {err}",
                hint="Check that the --ollama URL is an Ollama server, and its version.",
            )
        if isinstance(err, (httpx.TransportError, OSError)):  # the connection broke mid-answer
            return UpstreamError(f"Ollama at {upstream.url} broke off the answer: {err or type(err).__name__}")
        raise err  # not the upstream's failure but a bug of ours: a 500, its traceback in the server log

    async def _open(self, request: GenerateRequest, stream: bool) -> tuple[Upstream, Any, Any]:
        """Send to the least busy holder; before any byte came back, a connection failure tries the next one."""
        if forced_tool_choice(request.tool_choice):
            # Ollama's chat API has no tool_choice: passed on as "auto", the model could answer in prose while the
            # client waits for a call.
            raise BadRequestError(
                f"tool_choice {json.dumps(request.tool_choice)} cannot be enforced through Ollama, "
                "whose chat API cannot force a tool call",
                param="tool_choice",
                hint='Send tool_choice "auto" (or leave it out) and let the model decide, send only '
                "the tool you want called, or serve the package with --model, which enforces "
                "it.",
            )
        last_error: BaseException | None = None
        answer: Any
        for upstream in await self._pool.candidates(request.model):
            upstream.in_flight += 1
            try:
                # fail_after, unlike wait_for, stays in this task: the opened stream is read on in this task.
                with anyio.fail_after(self._read_timeout):
                    if stream:
                        answer = upstream.generations.stream(request)
                        first = await anext(answer, None)
                    else:
                        answer = first = await upstream.generations.whole(request)
            except UNREACHABLE as err:
                upstream.in_flight -= 1
                upstream.mark_down(err)
                last_error = err
                continue
            except BaseException as err:
                upstream.in_flight -= 1
                if isinstance(err, Exception):
                    raise self._failure(err, upstream, request.model) from err
                raise
            if first is None:  # a stream that ended before its first line
                upstream.in_flight -= 1
                with contextlib.suppress(Exception):
                    await answer.aclose()
                raise _unfinished(upstream)
            # An answer proves the upstream is back; /health should not wait for the next background check.
            upstream.mark_up()
            return upstream, answer, first
        raise UpstreamError(
            f"every Ollama upstream holding {request.model!r} is unreachable ({self._pool.describe_errors()})",
            hint="Check that `ollama serve` runs.",
        ) from last_error

    @staticmethod
    def _delta(part: Any) -> Delta:
        if isinstance(part, ChatPart):
            message = part.message
            assert message is not None  # ollama_wire refuses a chat answer without one
            content, thinking = message.content or "", message.thinking or ""
            calls = [
                {"function": {"name": call.function.name, "arguments": call.function.arguments}}
                for call in message.tool_calls or ()
            ] or None
        else:
            content, thinking, calls = part.response or "", "", None
        return Delta(
            content=content,
            thinking=thinking,
            tool_calls=calls,
            done=bool(part.done),
            done_reason=part.done_reason,
            prompt_tokens=part.prompt_eval_count or 0,
            completion_tokens=part.eval_count or 0,
        )

    async def stream(self, request: GenerateRequest) -> AsyncGenerator[Delta, None]:
        upstream, answer, first = await self._open(request, stream=True)
        calls = _OneCall(request)
        try:
            part = first
            while True:
                if part.done:
                    # Read the body to its end first: a fully read response returns its connection to the pool.
                    async for _ in answer:
                        pass
                    yield calls.take(self._delta(part))
                    return
                yield calls.take(self._delta(part))
                part = await anext(answer, None)
                if part is None:
                    break
        except Exception as err:
            raise self._failure(err, upstream, request.model) from err
        finally:
            upstream.in_flight -= 1
            # Closing the NDJSON stream closes its connection, which is how Ollama learns to stop generating.
            with contextlib.suppress(Exception):
                await answer.aclose()
        raise _unfinished(upstream)

    async def complete(self, request: GenerateRequest) -> Delta:
        upstream, _, answer = await self._open(request, stream=False)
        upstream.in_flight -= 1
        if not answer.done:
            raise _unfinished(upstream)
        return _OneCall(request).take(self._delta(answer))

    async def embed(self, model: str, inputs: list[str]) -> Embeddings:
        last_error: BaseException | None = None
        for upstream in await self._pool.candidates(model):
            upstream.in_flight += 1
            try:
                with anyio.fail_after(self._read_timeout):
                    answer = await upstream.client.embed(model=model, input=inputs)
                return Embeddings(
                    vectors=[list(vector) for vector in answer.embeddings], prompt_tokens=answer.prompt_eval_count or 0
                )
            except UNREACHABLE as err:
                upstream.mark_down(err)
                last_error = err
            except Exception as err:
                raise self._failure(err, upstream, model) from err
            finally:
                upstream.in_flight -= 1
        raise UpstreamError(
            f"every Ollama upstream holding {model!r} is unreachable ({self._pool.describe_errors()})",
            hint="Check that `ollama serve` runs.",
        ) from last_error
