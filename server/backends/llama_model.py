"""One package loaded for the embedded backend: the llama.cpp model, its chat template and chat format, its worker
thread, and how a request becomes prompt tokens and llama.cpp's sampling arguments.

Chats are formatted with the GGUF's own chat template, with the Modelfile's stop tokens, SYSTEM and MESSAGE lines;
unset options take its PARAMETERs, then Ollama's defaults, so an answer matches what `ollama run` gives.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any, Literal

from tunesmith.errors import ModelError, ModelfileError
from tunesmith.modelfiles import ChatFormat, choose_chat_format
from tunesmith.modelfiles.jinja_chat import ChatTemplateError
from tunesmith.modelfiles.prompt import chat_text, prompt_ids
from tunesmith.server.backends.base import GenerateRequest
from tunesmith.server.backends.llama_load import load_llama
from tunesmith.server.backends.llama_worker import ModelWorker
from tunesmith.server.backends.package_folder import ServedPackage, template_differs
from tunesmith.server.backends.reply import takes_thinking
from tunesmith.server.backends.tool_grammar import tool_call_grammar
from tunesmith.server.errors import BadRequestError
from tunesmith.server.tool_requests import forced_tool_choice

if TYPE_CHECKING:
    import llama_cpp

__all__ = ["OLLAMA_DEFAULTS", "LoadedModel"]

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


class LoadedModel:
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
        self.embedder: llama_cpp.Llama | None = None  # a second context, in embedding mode, made on first use

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
