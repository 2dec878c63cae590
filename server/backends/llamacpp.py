"""The embedded backend: package folders served in-process by llama-cpp-python, so no Ollama is needed.

Each package is a LoadedModel (llama_model.py): chats are formatted with the GGUF's own chat template, with the
Modelfile's stop tokens, SYSTEM and MESSAGE lines; unset options take its PARAMETERs, then Ollama's defaults, so an
answer matches what `ollama run` gives. The Modelfile's TEMPLATE is a Go template, which nothing in Python runs; the packager derives it from that same chat
template, so both make the same prompt. A TEMPLATE given with `--template` is the exception: loading says so. The
Modelfile's ADAPTER, a GGUF LoRA, is applied over the GGUF as `ollama run` applies it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import anyio

from tunesmith.server.backends.base import Delta, Embeddings, GenerateRequest, ModelCard
from tunesmith.server.backends.llama_load import load_llama
from tunesmith.server.backends.llama_model import OLLAMA_DEFAULTS, LoadedModel
from tunesmith.server.backends.llama_worker import Job
from tunesmith.server.backends.model_slots import DEFAULT_MAX_LOADED, ModelSlots
from tunesmith.server.backends.package_catalog import PackageCatalog
from tunesmith.server.backends.reply import ReplyParser, takes_thinking, takes_tools
from tunesmith.server.backends.thinking import prompt_opens_thinking
from tunesmith.server.errors import BadRequestError, ModelNotFoundError, UpstreamTimeoutError

__all__ = ["OLLAMA_DEFAULTS", "LlamaCppBackend"]


class LlamaCppBackend:
    """Serve package folders in-process (the `--model` folders and the packages of the runs under `runs`); each
    model runs one generation at a time, the rest wait in its queue."""

    name = "embedded"

    def __init__(
        self,
        folders: list[str],
        *,
        runs: str | Path | None = None,
        threads: int | None = None,
        read_timeout: float = 300.0,
        max_loaded: int = DEFAULT_MAX_LOADED,
    ) -> None:
        self.catalog = PackageCatalog(folders, runs)
        self._read_timeout = read_timeout
        self._slots = ModelSlots(threads=threads, max_loaded=max_loaded)

    @property
    def _models(self) -> dict[str, LoadedModel]:
        """The models loaded now, by id."""
        return self._slots.loaded

    async def start(self) -> None:
        # The --model packages load before serving, so their first request is as fast as the rest; the runs'
        # packages load on their first request (model_slots.py).
        for entry in self.catalog.entries().values():
            if entry.pinned:
                await self._slots.get(entry)

    async def close(self) -> None:
        await self._slots.close()

    async def list_models(self) -> list[ModelCard]:
        return [
            ModelCard(id=model_id, owned_by="tunesmith", created=_created(entry.package.gguf))
            for model_id, entry in self.catalog.entries().items()
        ]

    async def has_model(self, model: str) -> bool:
        return self.catalog.entry(model) is not None

    async def _model(self, model: str) -> LoadedModel:
        entry = self.catalog.entry(model)
        if entry is None:
            raise ModelNotFoundError(
                f"model {model!r} is not served here", hint="List the served models with GET /v1/models."
            )
        return await self._slots.get(entry)

    async def stream(self, request: GenerateRequest) -> AsyncGenerator[Delta, None]:
        model = await self._model(request.model)
        if request.tools and not takes_tools(model.chat_format):
            raise BadRequestError(
                f"model {request.model!r} takes no tools: its chat template renders none in a "
                "format tunesmith parses (<tool_call> JSON as Qwen2.5's and Qwen3's, Llama "
                "3.1-3.3's JSON calls, Mistral's [TOOL_CALLS])",
                param="tools",
                hint="Leave out `tools`, or package a model whose chat template carries them.",
            )
        if request.think and not takes_thinking(model.chat_format):
            raise BadRequestError(
                f"model {request.model!r} does not think: its chat template has no reasoning that "
                "can be switched on (<think> tags, as Qwen3)",
                param="reasoning_effort",
                hint='Leave out reasoning_effort (or send "none"), or serve a thinking model.',
            )
        text = model.chat_prompt(request) if request.prompt is None else None
        tokens, extra_stop = model.prompt_tokens(request, text)
        # Reasoning is split out while it is on; a prompt that opens <think> itself starts the reply inside it.
        thinking = takes_thinking(model.chat_format) and request.think is not False
        in_thinking = text is not None and prompt_opens_thinking(text)
        if len(tokens) >= model.llm.n_ctx():
            raise BadRequestError(
                f"the prompt takes {len(tokens)} tokens; the model's context holds {model.llm.n_ctx()}",
                param="messages" if request.messages else "prompt",
                hint="Shorten the conversation, or raise num_ctx in the package's Modelfile.",
            )
        kwargs = model.arguments(request, extra_stop, reasoning="open" if in_thinking else "may" if thinking else None)

        def generate(job: Job) -> None:
            import llama_cpp

            sampled = 0

            def count(input_ids, scores):  # called once per sampled token: the exact completion token count
                nonlocal sampled
                sampled += 1
                return scores

            reason = "stop"
            parser = ReplyParser(
                model.chat_format, tools=bool(request.tools), thinking=thinking, in_thinking=in_thinking
            )

            def emit(delta: Delta) -> None:
                if delta.thinking:
                    job.emit(Delta(thinking=delta.thinking))
                if delta.content:
                    job.emit(Delta(content=delta.content))
                if delta.tool_calls:
                    job.emit(Delta(tool_calls=delta.tool_calls))

            chunks = model.llm.create_completion(
                tokens,
                stream=True,
                logits_processor=llama_cpp.LogitsProcessorList([count]),
                stopping_criteria=llama_cpp.StoppingCriteriaList([lambda ids, logits: job.cancelled]),
                **kwargs,
            )
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    delta = parser.feed(choice["text"]) if choice["text"] else Delta()
                    if delta.tool_calls and not request.parallel_tool_calls:
                        # One call asked for: it is the answer, whatever the model would write after it.
                        emit(Delta(content=delta.content, thinking=delta.thinking, tool_calls=delta.tool_calls[:1]))
                        break
                    emit(delta)
                    reason = choice["finish_reason"] or reason
                    if job.cancelled:
                        return
                else:
                    emit(parser.finish())
            finally:
                chunks.close()
            job.emit(Delta(done=True, done_reason=reason, prompt_tokens=len(tokens), completion_tokens=sampled))

        model.in_flight += 1
        pieces = model.worker.run(generate)
        try:
            # The first piece waits for the requests queued before this one, then for the prompt to be read.
            try:
                with anyio.fail_after(self._read_timeout):
                    first = await anext(pieces)
            except TimeoutError as err:
                raise UpstreamTimeoutError(
                    f"model {request.model!r} did not start answering within {self._read_timeout:g} s",
                    hint="It is busy with other requests; try again, or raise the server's read_timeout.",
                ) from err
            yield first
            async for delta in pieces:
                yield delta
        finally:
            model.in_flight -= 1
            await pieces.aclose()

    async def complete(self, request: GenerateRequest) -> Delta:
        parts, thoughts, calls, last = [], [], [], Delta(done=True)
        async for delta in self.stream(request):
            parts.append(delta.content)
            thoughts.append(delta.thinking)
            calls += delta.tool_calls or []
            last = delta
        return Delta(
            content="".join(parts),
            thinking="".join(thoughts),
            tool_calls=calls or None,
            done=True,
            done_reason=last.done_reason,
            prompt_tokens=last.prompt_tokens,
            completion_tokens=last.completion_tokens,
        )

    async def embed(self, model_id: str, inputs: list[str]) -> Embeddings:
        model = await self._model(model_id)

        def embed(job: Job) -> None:
            import llama_cpp

            if model.embedder is None:
                # A second context in embedding mode; mean pooling, normalised, as Ollama's /api/embed returns.
                model.embedder = load_llama(
                    model.package.gguf,
                    embedding=True,
                    n_ctx=model.llm.n_ctx(),
                    pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                    n_threads=model.threads,
                    lora_path=model.lora_path,
                )
            vectors, count = model.embedder.embed(inputs, normalize=True, return_count=True)
            job.emit(Embeddings(vectors=vectors, prompt_tokens=count))

        model.in_flight += 1
        try:
            [result] = [item async for item in model.worker.run(embed)]
        finally:
            model.in_flight -= 1
        return result

    async def health(self) -> dict[str, Any]:
        models = [
            {
                "model": model_id,
                "gguf": str(model.package.gguf),
                "adapter": model.lora_path,
                "in_flight": model.in_flight,
            }
            for model_id, model in self._slots.loaded.items()
        ]
        # Run packages not yet asked for are servable too, though not loaded.
        return {"ok": bool(self.catalog.entries()), "models": models, "servable": len(self.catalog.entries())}


def _created(gguf: Path) -> int:
    try:
        return int(gguf.stat().st_mtime)
    except OSError:  # removed since the catalog read it: listed until the next look at the runs folder
        return 0
