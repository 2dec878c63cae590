"""The embedded backend: package folders served in-process by llama-cpp-python, so no Ollama is needed.

Chats are formatted with the GGUF's own chat template, with the Modelfile's stop tokens, SYSTEM and MESSAGE lines;
unset options take its PARAMETERs, then Ollama's defaults, so an answer matches what `ollama run` gives. The
Modelfile's TEMPLATE is a Go template, which nothing in Python runs; the packager derives it from that same chat
template, so both make the same prompt. A TEMPLATE given with `--template` is the exception: loading says so. The
Modelfile's ADAPTER, a GGUF LoRA, is applied over the GGUF as `ollama run` applies it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio

from tunesmith.errors import ModelError, ModelfileError
from tunesmith.modelfiles import ChatFormat, choose_chat_format
from tunesmith.modelfiles.jinja_chat import ChatTemplateError
from tunesmith.modelfiles.prompt import chat_text, prompt_ids
from tunesmith.server.backends.base import Delta, Embeddings, GenerateRequest, ModelCard
from tunesmith.server.backends.llama_load import load_llama
from tunesmith.server.backends.llama_worker import Job, ModelWorker
from tunesmith.server.backends.package_folder import ServedPackage, read_package, template_differs
from tunesmith.server.backends.reply import ReplyParser, takes_thinking, takes_tools
from tunesmith.server.backends.thinking import prompt_opens_thinking
from tunesmith.server.backends.tool_grammar import tool_call_grammar
from tunesmith.server.errors import BadRequestError, ModelNotFoundError, UpstreamTimeoutError
from tunesmith.server.tool_requests import forced_tool_choice

__all__ = ["OLLAMA_DEFAULTS", "LlamaCppBackend"]

# Ollama's defaults (api/types.go DefaultOptions) for what neither the request nor the Modelfile sets.
OLLAMA_DEFAULTS: dict[str, Any] = {
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_penalty": 1.1,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "num_predict": -1,
    "num_ctx": 4096,
}
# Ollama option name -> llama-cpp-python create_completion argument.
_SAMPLING = {
    "temperature": "temperature",
    "top_k": "top_k",
    "top_p": "top_p",
    "min_p": "min_p",
    "typical_p": "typical_p",
    "repeat_penalty": "repeat_penalty",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "seed": "seed",
}

_log = logging.getLogger("tunesmith.server")


class _Model:
    """A loaded package: the llama.cpp model, its chat template and its worker thread."""

    def __init__(self, package: ServedPackage, threads: int | None) -> None:
        self.package = package
        self.defaults = {**OLLAMA_DEFAULTS, **package.modelfile.parameters}
        self.threads = threads or os.cpu_count() or 1
        # load_llama's ModelError names the GGUF, or the adapter llama.cpp cannot apply.
        self.llm = self._load(int(self.defaults["num_ctx"]))
        metadata = self.llm.metadata
        trained = int(metadata.get(f"{metadata.get('general.architecture')}.context_length", 0))
        if 0 < trained < self.llm.n_ctx():
            # As Ollama does: never a longer context than the model was trained for.
            self.llm = self._load(trained)
        if package.adapter is not None:
            _log.info("%s: serving %s with the adapter %s", package.model_id, package.gguf.name, package.adapter.name)
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(
                "the GGUF has no chat template (tokenizer.chat_template)",
                where=str(package.gguf),
                hint="Package a base model whose tokenizer has a chat template.",
            )
        eos, bos = self.llm.token_eos(), self.llm.token_bos()
        self.template, self.eos_text, self.bos_text = template, self._text(eos), self._text(bos)
        derived = _derived_format(template, self.bos_text, self.eos_text)
        self.chat_format = derived
        self.adds_bos = bool(self.llm._model.add_bos_token())
        if template_differs(package.modelfile, derived):
            _log.warning(
                "%s: its TEMPLATE is not the GGUF's chat template. `ollama run` formats chats with the "
                "TEMPLATE; the embedded backend cannot run Go templates and uses the GGUF's chat template. "
                "Serve the package through Ollama (--ollama) for the TEMPLATE's prompts.",
                package.folder / "Modelfile",
            )
        self.created = int(package.gguf.stat().st_mtime)
        self.worker = ModelWorker(package.model_id)
        self.in_flight = 0
        self.embedder = None

    def _load(self, n_ctx: int):
        return load_llama(
            self.package.gguf,
            n_ctx=n_ctx,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            lora_path=self.lora_path,
        )

    @property
    def lora_path(self) -> str | None:
        return str(self.package.adapter) if self.package.adapter is not None else None

    def _text(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace") if token >= 0 else ""

    def chat_prompt(self, request: GenerateRequest) -> str:
        """The chat's prompt text, as the GGUF's chat template writes it (reasoning switched by `think`)."""
        modelfile = self.package.modelfile
        # Ollama's message shape to transformers': reasoning is `reasoning_content` in chat templates.
        messages = [
            {
                ("reasoning_content" if key == "thinking" else key): value
                for key, value in message.items()
                if key != "tool_name"
            }
            for message in request.messages or []
        ]
        # As Ollama does: the Modelfile's MESSAGE lines come first, SYSTEM applies unless the chat brings its own.
        history = [{"role": role, "content": content} for role, content in modelfile.messages]
        if modelfile.system and not any(message["role"] == "system" for message in messages):
            history.insert(0, {"role": "system", "content": modelfile.system})
        # As Ollama does for a thinking model, think=None leaves the template's default (Qwen3: reasoning on).
        think = None if request.think is None or not takes_thinking(self.chat_format) else bool(request.think)
        try:
            return chat_text(
                self.template,
                history + messages,
                bos_token=self.bos_text,
                eos_token=self.eos_text,
                tools=request.tools,
                enable_thinking=think,
            )
        except ChatTemplateError as err:  # the template's own raise_exception, or a Jinja error, on this chat
            raise BadRequestError(f"the model's chat template rejects these messages: {err}", param="messages") from err

    def prompt_tokens(self, request: GenerateRequest, text: str | None = None) -> tuple[list[int], list[str]]:
        """Token ids of the prompt (`text`, the chat's prompt when given) and the stop strings the chat format adds."""
        if request.prompt is not None:
            return self.llm.tokenize(request.prompt.encode("utf-8"), add_bos=True, special=False), []
        text = self.chat_prompt(request) if text is None else text
        tokens = prompt_ids(
            text,
            lambda part: self.llm.tokenize(part.encode("utf-8"), add_bos=False, special=True),
            add_bos=self.adds_bos,
            bos_id=self.llm.token_bos(),
        )
        return tokens, [self.eos_text] if self.eos_text else []

    def arguments(
        self, request: GenerateRequest, extra_stop: list[str], *, reasoning: Literal["may", "open"] | None = None
    ) -> dict[str, Any]:
        """llama-cpp-python's create_completion arguments; `reasoning`, for a forced tool call's grammar, says whether
        a <think> block may come first or is already open."""
        import llama_cpp

        options = {**self.defaults, **request.options}
        kwargs = {target: options[name] for name, target in _SAMPLING.items() if name in options}
        predict = int(options.get("num_predict", -1))
        kwargs["max_tokens"] = predict if predict > 0 else None
        stop = options.get("stop") or []
        kwargs["stop"] = list(dict.fromkeys([*stop, *extra_stop]))
        if request.format == "json":
            kwargs["grammar"] = llama_cpp.LlamaGrammar.from_string(llama_cpp.llama_grammar.JSON_GBNF, verbose=False)
        elif isinstance(request.format, dict):
            kwargs["grammar"] = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(request.format), verbose=False)
        if request.tools and forced_tool_choice(request.tool_choice):
            # The reply must be calls: a grammar of the format's call syntax, not a hope that the model obeys.
            grammar = tool_call_grammar(
                self.chat_format.tools if self.chat_format else None,
                request.tools,
                request.tool_choice,
                parallel=request.parallel_tool_calls,
                reasoning=reasoning,
            )
            kwargs["grammar"] = llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
        return kwargs


def _derived_format(template: str, bos: str, eos: str) -> ChatFormat | None:
    """The chat format the packager chooses for the GGUF's chat template, or None when it can choose none."""
    try:
        return choose_chat_format(template, bos_token=bos, eos_token=eos)
    except ModelfileError:
        return None


class LlamaCppBackend:
    """Serve package folders in-process; each model runs one generation at a time, the rest wait in its queue."""

    name = "embedded"

    def __init__(self, folders: list[str], *, threads: int | None = None, read_timeout: float = 300.0) -> None:
        packages = [read_package(folder) for folder in folders]
        seen: dict[str, ServedPackage] = {}
        for package in packages:
            if package.model_id in seen:
                raise ModelError(
                    f"two packages serve the model id {package.model_id!r}",
                    where=f"{seen[package.model_id].folder} and {package.folder}",
                    hint="Serve one of them, or rename one package's GGUF files.",
                )
            seen[package.model_id] = package
        self._threads = threads
        self._read_timeout = read_timeout
        self._packages = seen
        self._models: dict[str, _Model] = {}

    async def start(self) -> None:
        # Loading takes seconds per model; doing it before serving keeps the first request as fast as the rest.
        for model_id, package in self._packages.items():
            self._models[model_id] = _Model(package, self._threads)

    async def close(self) -> None:
        for model in self._models.values():
            model.worker.stop()
        self._models.clear()

    async def list_models(self) -> list[ModelCard]:
        return [
            ModelCard(id=model_id, owned_by="tunesmith", created=model.created)
            for model_id, model in self._models.items()
        ]

    async def has_model(self, model: str) -> bool:
        return model in self._models

    def _model(self, model: str) -> _Model:
        try:
            return self._models[model]
        except KeyError:
            raise ModelNotFoundError(
                f"model {model!r} is not served here", hint="List the served models with GET /v1/models."
            ) from None

    async def stream(self, request: GenerateRequest) -> AsyncIterator[Delta]:
        model = self._model(request.model)
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
        model = self._model(model_id)

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
            for model_id, model in self._models.items()
        ]
        return {"ok": bool(self._models), "models": models}
