"""What a producer (the model's worker thread, the stream's pump task) puts on the queue its consumer reads, besides
results: `END` when it has no more, or a `Failure` holding the exception that stopped it, raised again on the
consumer's side."""

from __future__ import annotations

__all__ = ["END", "Failure"]

END = object()


class Failure:
    """The exception that stopped a producer, carried across to its consumer."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error
