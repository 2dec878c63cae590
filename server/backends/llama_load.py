"""Loading a GGUF into llama-cpp-python for serving: without llama.cpp's extra weight buffers, and with a GGUF LoRA
adapter whose failure to load is an error rather than a silent fall back to the plain base."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

__all__ = ["load_llama"]

_LOADING = threading.Lock()


def load_llama(gguf: Path, *, lora_path: str | None = None, **kwargs: Any):
    """`llama_cpp.Llama(gguf, **kwargs)` on the CPU without llama.cpp's extra weight buffers (repacking, AMX), with
    the GGUF LoRA adapter `lora_path` applied when given; an adapter llama.cpp cannot load raises RuntimeError."""
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
            with captured_llama_log() if lora_path else contextlib.nullcontext([]) as log:
                llm = llama_cpp.Llama(str(gguf), verbose=False, lora_path=lora_path, **kwargs)
        finally:
            native.llama_model_default_params = defaults
    # llama-cpp-python checks the adapter it loaded against None, but a failed load is a NULL pointer, not None:
    # the model would then run without its adapter, with no word.
    if lora_path and not getattr(llm, "_lora_adapter", None):
        llm.close()
        raise RuntimeError(f"Failed to load the LoRA adapter {lora_path} "
                           f"({last_errors(log) or 'llama.cpp gave no reason'})")
    return llm
