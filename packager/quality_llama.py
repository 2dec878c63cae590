"""A small llama.cpp session for the quality report: tokenize, all-position logits, greedy generation, chat prompts.

Hand-written over llama-cpp-python's C API rather than its `Llama` class because `Llama` cannot switch off llama.cpp's
extra (repacking) buffer types, which have crashed batched decode on some CPUs, and because we need every logit row.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.errors import PackageError
from tunesmith.modelfiles.jinja_chat import ChatTemplateError
from tunesmith.modelfiles.prompt import chat_text, prompt_ids
from tunesmith.packager.llama_log import captured_llama_log, last_errors

__all__ = ["GGUFSession", "Generation", "open_gguf"]


@dataclass(frozen=True)
class Generation:
    """A greedy generation: its tokens and text, and what ended it (`eog`, `stop`, or `limit`)."""

    tokens: list[int]
    text: str
    ended_by: str
    stop_text: str


class GGUFSession:
    """One loaded GGUF model with one context; use through `open_gguf` so that both are freed."""

    def __init__(self, llama_cpp, model, ctx, n_ctx: int, path: Path) -> None:
        self._lib = llama_cpp
        self._model = model
        self._ctx = ctx
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_ctx = n_ctx
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self.path = path

    @property
    def adds_bos(self) -> bool:
        return bool(self._lib.llama_vocab_get_add_bos(self._vocab))

    def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = False) -> list[int]:
        data = text.encode("utf-8")
        size = len(data) + 8
        buffer = (self._lib.llama_token * size)()
        count = self._lib.llama_tokenize(self._vocab, data, len(data), buffer, size, add_special, parse_special)
        if count < 0:  # the buffer was too small: llama.cpp returns minus the size it needs
            size = -count
            buffer = (self._lib.llama_token * size)()
            count = self._lib.llama_tokenize(self._vocab, data, len(data), buffer, size, add_special, parse_special)
        return list(buffer[:count])

    def piece(self, token: int) -> str:
        """The text of one token, special tokens rendered (as Ollama shows them to its stop-string check)."""
        buffer = ctypes.create_string_buffer(256)
        length = self._lib.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, True)
        return buffer.raw[: max(length, 0)].decode("utf-8", errors="replace")

    def chat_template(self) -> str | None:
        """The GGUF's own Jinja chat template (`tokenizer.chat_template`), or None when it has none."""
        template = self._lib.llama_model_chat_template(self._model, None)
        return template.decode("utf-8") if template else None

    def chat_prompt(self, user_text: str) -> list[int]:
        """Token ids of one user turn plus the assistant header, as Ollama's llama.cpp runner would feed them.

        The GGUF's template is rendered as Hugging Face renders it, and the ids follow tunesmith's one prompt rule
        (modelfiles.prompt): the text without the BOS the template writes, BOS first when the vocabulary adds one.
        """
        template = self.chat_template()
        if template is None:
            raise PackageError(
                "the GGUF has no chat template (tokenizer.chat_template)",
                where=str(self.path),
                hint="Give the model folder a chat template (tokenizer_config.json or "
                "chat_template.jinja) before converting.",
            )
        bos_id = self._lib.llama_vocab_bos(self._vocab)
        bos = self.piece(bos_id) if bos_id >= 0 else None
        try:
            text = chat_text(
                template,
                [{"role": "user", "content": user_text}],
                bos_token=bos,
                eos_token=self.piece(self._lib.llama_vocab_eos(self._vocab)),
            )
        except ChatTemplateError as err:
            raise PackageError(
                f"the GGUF's chat template cannot be rendered: {err}",
                where=str(self.path),
                hint="Fix the chat template in the model folder and convert again.",
            ) from err
        return prompt_ids(
            text,
            lambda part: self.tokenize(part, add_special=False, parse_special=True),
            add_bos=self.adds_bos,
            bos_id=bos_id,
        )

    def is_end_of_generation(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self._vocab, token))

    def logits(self, tokens: list[int]) -> np.ndarray:
        """Logits (float32, [len(tokens), n_vocab]) at every position, starting from an empty context."""
        if len(tokens) > self.n_ctx:
            raise ValueError(f"{len(tokens)} tokens do not fit a context of {self.n_ctx}")
        self._clear()
        return self._decode(tokens, start=0, all_logits=True)

    def generate(self, prompt: list[int], max_tokens: int, stop: list[str]) -> Generation:
        """Greedy decoding until an end-of-generation token, a stop string or `max_tokens` tokens."""
        self._clear()
        row = self._decode(prompt, start=0, all_logits=False)[-1]
        generated: list[int] = []
        text = ""
        for _ in range(max_tokens):
            token = int(np.argmax(row))
            if self.is_end_of_generation(token):
                return Generation(generated, text, "eog", self.piece(token))
            generated.append(token)
            text += self.piece(token)
            hit = next((s for s in stop if s and s in text), None)
            if hit is not None:
                return Generation(generated, text, "stop", hit)
            if len(prompt) + len(generated) >= self.n_ctx:
                break
            row = self._decode([token], start=len(prompt) + len(generated) - 1, all_logits=False)[-1]
        return Generation(generated, text, "limit", "")

    def _clear(self) -> None:
        self._lib.llama_memory_clear(self._lib.llama_get_memory(self._ctx), True)

    def _decode(self, tokens: list[int], *, start: int, all_logits: bool) -> np.ndarray:
        lib = self._lib
        batch = lib.llama_batch_init(len(tokens), 0, 1)
        try:
            batch.n_tokens = len(tokens)
            for i, token in enumerate(tokens):
                batch.token[i] = token
                batch.pos[i] = start + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = all_logits or i == len(tokens) - 1
            status = lib.llama_decode(self._ctx, batch)
            if status != 0:
                raise PackageError(
                    f"llama.cpp could not evaluate {len(tokens)} tokens (status {status})",
                    where=str(self.path),
                    hint="The GGUF may be damaged; convert it again.",
                )
            rows = len(tokens) if all_logits else 1
            pointer = lib.llama_get_logits(self._ctx)
            return np.ctypeslib.as_array(pointer, shape=(rows, self.n_vocab)).copy()
        finally:
            lib.llama_batch_free(batch)


@contextlib.contextmanager
def open_gguf(path: Path, *, n_ctx: int = 512, threads: int | None = None, adapter: Path | None = None):
    """Load a GGUF on the CPU with one context of `n_ctx` tokens, and the GGUF LoRA `adapter` over it when given;
    free them on exit."""
    import os

    import llama_cpp

    path = Path(path)
    if not path.is_file():
        raise PackageError("GGUF file does not exist", where=str(path), hint="Convert or quantize the model first.")
    llama_cpp.llama_backend_init()
    model_params = llama_cpp.llama_model_default_params()
    model_params.n_gpu_layers = 0
    if hasattr(model_params, "use_extra_bufts"):
        model_params.use_extra_bufts = False
    model = _made(
        lambda: llama_cpp.llama_model_load_from_file(str(path).encode(), model_params),
        "load the GGUF",
        path,
        "The file is damaged or of an architecture this llama.cpp does not know; convert it again.",
    )
    try:
        ctx_params = llama_cpp.llama_context_default_params()
        ctx_params.n_ctx = n_ctx
        ctx_params.n_batch = n_ctx
        ctx_params.n_ubatch = n_ctx
        ctx_params.n_threads = ctx_params.n_threads_batch = threads or os.cpu_count() or 1
        ctx = _made(
            lambda: llama_cpp.llama_init_from_model(model, ctx_params),
            "create a context for the GGUF",
            path,
            f"Free some memory; the context holds {n_ctx} tokens.",
        )
        try:
            session = GGUFSession(llama_cpp, model, ctx, n_ctx, path)
            if adapter is not None:
                _apply_adapter(llama_cpp, model, ctx, Path(adapter))
                with captured_llama_log():  # the first decode with an adapter re-plans the graph, logging at length
                    session.logits([0])
            yield session
        finally:
            with captured_llama_log():
                llama_cpp.llama_free(ctx)
    finally:
        with captured_llama_log():
            llama_cpp.llama_model_free(model)


def _made(make: Callable[[], Any], what: str, where: Path, hint: str) -> Any:
    """What `make()` returns, with llama.cpp's log caught; PackageError saying what llama.cpp logged when it returns
    NULL (it could not `what`)."""
    with captured_llama_log() as log:
        made = make()
    if not made:
        detail = last_errors(log)
        raise PackageError(
            f"llama.cpp could not {what}" + (f": {detail}" if detail else ""), where=str(where), hint=hint
        )
    return made


def _apply_adapter(llama_cpp, model, ctx, adapter: Path) -> None:
    # The model frees its adapters with itself.
    lora = _made(
        lambda: llama_cpp.llama_adapter_lora_init(model, str(adapter).encode()),
        "load the GGUF adapter",
        adapter,
        "Convert the adapter again, against this same base model.",
    )
    adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(lora)
    if llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, (ctypes.c_float * 1)(1.0)) != 0:
        raise PackageError(
            "llama.cpp could not apply the GGUF adapter",
            where=str(adapter),
            hint="Convert the adapter again, against this same base model.",
        )
