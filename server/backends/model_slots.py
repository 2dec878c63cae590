"""The embedded backend's loaded models: each package loaded on its first request (off the event loop, once however
many requests ask at the same time), and at most `max_loaded` run packages kept, the least recently used unloaded.

`--model` packages are pinned: loaded at start and never unloaded, since the server was started to serve them. A
model still answering is never unloaded under its requests; the bound is exceeded until it is idle. A package whose
Modelfile changed (the run was packaged again) is loaded afresh on its next request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

import anyio

from tunesmith.server.backends.llama_model import LoadedModel
from tunesmith.server.backends.package_catalog import CatalogEntry

__all__ = ["DEFAULT_MAX_LOADED", "ModelSlots"]

DEFAULT_MAX_LOADED = 2
_IDLE_POLL_SECONDS = 0.5

_log = logging.getLogger("tunesmith.server")


class ModelSlots:
    """Loaded models by id, in least recently used order."""

    def __init__(self, *, threads: int | None, max_loaded: int = DEFAULT_MAX_LOADED) -> None:
        if max_loaded < 1:
            raise ValueError("max_loaded must be at least 1")
        self._threads = threads
        self._max_loaded = max_loaded
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()
        self._pinned: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._retiring: set[asyncio.Task] = set()

    @property
    def loaded(self) -> dict[str, LoadedModel]:
        return dict(self._loaded)

    async def get(self, entry: CatalogEntry) -> LoadedModel:
        """The loaded model of `entry`, loading it first when needed."""
        model_id = entry.package.model_id
        model = self._current(entry)
        if model is not None:
            return model
        lock = self._locks.setdefault(model_id, asyncio.Lock())
        async with lock:
            model = self._current(entry)
            if model is not None:
                return model
            stale = self._loaded.pop(model_id, None)
            if stale is not None:
                _log.info("%s: its package changed; loading it again", model_id)
                self._retire(stale)
            _log.info("%s: loading %s", model_id, entry.package.gguf)
            model = await anyio.to_thread.run_sync(LoadedModel, entry.package, self._threads)
            self._loaded[model_id] = model
            if entry.pinned:
                self._pinned.add(model_id)
            self._evict(keep=model_id)
        return model

    def _current(self, entry: CatalogEntry) -> LoadedModel | None:
        model = self._loaded.get(entry.package.model_id)
        if model is None or model.package is not entry.package:
            return None
        self._loaded.move_to_end(entry.package.model_id)
        return model

    def _evict(self, *, keep: str) -> None:
        unpinned = [model_id for model_id in self._loaded if model_id not in self._pinned]
        excess = len(unpinned) - self._max_loaded
        for model_id in unpinned:  # least recently used first
            if excess <= 0:
                return
            if model_id != keep and self._loaded[model_id].in_flight == 0:
                _log.info(
                    "%s: unloading, the least recently used of more than %d run models", model_id, self._max_loaded
                )
                self._retire(self._loaded.pop(model_id))
                excess -= 1

    def _retire(self, model: LoadedModel) -> None:
        task = asyncio.get_running_loop().create_task(_unload_when_idle(model))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        models = list(self._loaded.values())
        self._loaded.clear()
        for model in models:
            await anyio.to_thread.run_sync(_unload, model)
        for task in list(self._retiring):
            task.cancel()


async def _unload_when_idle(model: LoadedModel) -> None:
    while model.in_flight:
        await asyncio.sleep(_IDLE_POLL_SECONDS)
    await anyio.to_thread.run_sync(_unload, model)


def _unload(model: LoadedModel) -> None:
    """Stop the model's thread, then free llama.cpp's memory."""
    model.worker.stop()
    for llm in (model.embedder, model.llm):
        if llm is not None:
            llm.close()
