"""Which backend serves a model: embedded packages first, then Ollama; `/v1/models` is the union of all.

When no backend knows the model, the last one is asked anyway, so the error the client sees is that backend's own
precise one (unknown model, or every upstream down).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tunesmith.errors import TunesmithError
from tunesmith.server.backends.base import Backend, ModelCard

__all__ = ["Backends"]

_log = logging.getLogger("tunesmith.server")


class Backends:
    """The backends of one server, in the order they are asked."""

    def __init__(self, backends: list[Backend]) -> None:
        if not backends:
            raise ValueError("a server needs at least one backend")
        self.all = backends

    async def for_model(self, model: str) -> Backend:
        """The backend that serves `model`."""
        for backend in self.all:
            if await backend.has_model(model):
                return backend
        return self.all[-1]

    async def list_models(self) -> list[ModelCard]:
        """Every model of every reachable backend; fails only when no backend answers."""
        results = await asyncio.gather(*(backend.list_models() for backend in self.all), return_exceptions=True)
        merged: dict[str, ModelCard] = {}
        failures = []
        for backend, result in zip(self.all, results, strict=True):
            if isinstance(result, TunesmithError):
                _log.warning("backend %s cannot list its models: %s", backend.name, result)
                failures.append(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                for card in result:
                    merged.setdefault(card.id, card)
        if failures and len(failures) == len(self.all):
            raise failures[0]
        return list(merged.values())

    async def health(self) -> dict[str, Any]:
        """Each backend's state; `ok` when at least one can serve."""
        states = await asyncio.gather(*(backend.health() for backend in self.all))
        return {
            "ok": any(state["ok"] for state in states),
            "backends": {backend.name: state for backend, state in zip(self.all, states, strict=True)},
        }

    async def start(self) -> None:
        for backend in self.all:
            await backend.start()

    async def close(self) -> None:
        for backend in self.all:
            await backend.close()
