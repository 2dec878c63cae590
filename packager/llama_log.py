"""Capturing llama.cpp's log for one call: its per-tensor chatter stays off the console, its errors go in ours.

llama-cpp-python's own log hook maps llama.cpp's warning level to Python's ERROR, so quantizing prints a line per
tensor; we swap in a collecting callback for the duration of one call and restore whatever was set before.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator

__all__ = ["captured_llama_log", "last_errors"]


@contextlib.contextmanager
def captured_llama_log() -> Iterator[list[str]]:
    """Collect llama.cpp's log lines (as text) while the block runs."""
    import llama_cpp

    lines: list[str] = []
    previous = llama_cpp.llama_log_callback()
    previous_data = ctypes.c_void_p()
    llama_cpp.llama_log_get(ctypes.byref(previous), ctypes.byref(previous_data))

    @llama_cpp.llama_log_callback
    def collect(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        lines.append(text.decode("utf-8", errors="replace"))

    llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
    try:
        yield lines
    finally:
        llama_cpp.llama_log_set(previous if previous else None, previous_data)


def last_errors(lines: list[str], count: int = 2) -> str:
    """The last few log lines that report a failure, joined into one sentence (empty when there are none)."""
    text = "".join(lines).splitlines()
    failures = [line.strip() for line in text if "error" in line.lower() or "failed" in line.lower()]
    return "; ".join(failures[-count:])
