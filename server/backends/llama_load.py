"""Loading a GGUF into llama-cpp-python for serving: without llama.cpp's extra weight buffers, and with a GGUF LoRA
adapter whose failure to load is an error rather than a silent fall back to the plain base. llama-cpp-python's
failures become ModelErrors here, naming the GGUF or the adapter, so callers need not read its messages. Tokens whose
text is longer than 32 bytes are turned back into their whole text (llama-cpp-python drops them)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesmith.errors import ModelError

if TYPE_CHECKING:
    import llama_cpp

__all__ = ["load_llama"]

_LOADING = threading.Lock()


def load_llama(gguf: Path, *, lora_path: str | None = None, **kwargs: Any) -> llama_cpp.Llama:
    """`llama_cpp.Llama(gguf, **kwargs)` on the CPU without llama.cpp's extra weight buffers (repacking, AMX), with
    the GGUF LoRA adapter `lora_path` applied when given. ModelError names the adapter when llama.cpp cannot apply
    it, else the GGUF it cannot load."""
    import llama_cpp
    from llama_cpp import llama_cpp as native

    from tunesmith.packager.llama_log import captured_llama_log, last_errors

    # llama.cpp's AMX path crashes on batched decode on some CPUs. `Llama()` has no keyword for use_extra_bufts (it
    # drops unknown keywords silently), so the model parameters it starts from are adjusted while it loads.
    defaults = native.llama_model_default_params

    def without_extra_buffers():
        params = defaults()
        params.use_extra_bufts = False
        return params

    with _LOADING:
        native.llama_model_default_params = without_extra_buffers
        try:
            capture: contextlib.AbstractContextManager[list[str]] = (
                captured_llama_log() if lora_path else contextlib.nullcontext([])
            )
            with capture as log:
                llm = llama_cpp.Llama(str(gguf), verbose=False, lora_path=lora_path, **kwargs)
        # llama-cpp-python raises ValueError when the model or its context fails, RuntimeError once they are loaded:
        # for the LoRA adapter.
        except RuntimeError as err:
            if lora_path:
                raise _adapter_error(gguf, lora_path, err) from err
            raise _gguf_error(gguf, err) from err
        except ValueError as err:
            raise _gguf_error(gguf, err) from err
        finally:
            native.llama_model_default_params = defaults
    # llama-cpp-python checks the adapter it loaded against None, but a failed load is a NULL pointer, not None:
    # the model would then run without its adapter, with no word.
    if lora_path and not getattr(llm, "_lora_adapter", None):
        llm.close()
        raise _adapter_error(
            gguf,
            lora_path,
            f"Failed to load the LoRA adapter {lora_path} ({last_errors(log) or 'llama.cpp gave no reason'})",
        )
    _detokenize_whole_pieces(llm)
    return llm


def _detokenize_whole_pieces(llm: Any) -> None:
    """Give the model a detokenize that keeps every token's whole text.

    llama-cpp-python's copies each token's text through a 32-byte buffer and keeps nothing of a longer one, so
    generated text lost such tokens without a word: SmolLM2 has 47 (newlines with deep indentation, rules of dashes).
    Its completions, streamed or not, detokenize through the model object, which is where the replacement goes.
    """
    import ctypes

    from llama_cpp import llama_cpp as native

    model = llm._model
    vocab, bos = model.vocab, model.token_bos()

    def detokenize(tokens: list[int], special: bool = False) -> bytes:
        output = bytearray()
        buffer = ctypes.create_string_buffer(64)
        for token in tokens:
            size = native.llama_token_to_piece(vocab, native.llama_token(token), buffer, len(buffer), 0, special)
            if size < 0:  # llama.cpp says how much room the piece needs
                buffer = ctypes.create_string_buffer(-size)
                size = native.llama_token_to_piece(vocab, native.llama_token(token), buffer, len(buffer), 0, special)
            output += buffer.raw[:size]
        # As llama-cpp-python's own: the space SentencePiece puts after BOS is no text.
        return bytes(output[1:] if tokens and tokens[0] == bos and output[:1] == b" " else output)

    model.detokenize = detokenize


def _adapter_error(gguf: Path, lora_path: str, reason: object) -> ModelError:
    return ModelError(
        f"llama.cpp cannot apply the ADAPTER over {gguf.name}: {reason}",
        where=lora_path,
        hint="The adapter must be a GGUF LoRA of this very base model; re-run `tunesmith package "
        "--as-adapter` with the base the adapter was trained on.",
    )


def _gguf_error(gguf: Path, reason: object) -> ModelError:
    return ModelError(
        f"llama.cpp cannot load the GGUF: {reason}",
        where=str(gguf),
        hint="Re-run `tunesmith package`; the file may be truncated or from a newer llama.cpp.",
    )
