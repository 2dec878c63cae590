"""One thread per in-process model: jobs run one after another off the event loop, results stream back to it.

A llama.cpp context is not safe to share between threads, so each model has a single worker thread and a queue of
jobs; a job whose consumer went away is flagged, and the generation checks the flag after every token.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncGenerator, Callable
from typing import Any

from tunesmith.server.handoff import END, Failure

__all__ = ["Job", "ModelWorker"]


class Job:
    """A unit of work for the thread: `emit` sends a result to the waiting coroutine, `cancelled` says stop."""

    __slots__ = ("_cancel", "_loop", "_results", "work")

    def __init__(self, loop: asyncio.AbstractEventLoop, work: Callable[[Job], None]) -> None:
        self._loop = loop
        self._results: asyncio.Queue[Any] = asyncio.Queue()
        self._cancel = threading.Event()
        self.work = work

    def emit(self, item: Any) -> None:
        """Hand one result to the event loop (called on the worker thread)."""
        try:
            self._loop.call_soon_threadsafe(self._results.put_nowait, item)
        except RuntimeError:  # the loop has closed (server shutdown): nobody waits for this result
            self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()


class ModelWorker:
    """A daemon thread that runs submitted jobs in order."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"llama-{name}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if not job.cancelled:
                try:
                    job.work(job)
                except BaseException as err:  # noqa: BLE001  the coroutine raises it in the request's context
                    job.emit(Failure(err))
            job.emit(END)

    async def run(self, work: Callable[[Job], None]) -> AsyncGenerator[Any, None]:
        """Queue `work` and yield what it emits; leaving early (disconnect, error) tells the job to stop."""
        job = Job(asyncio.get_running_loop(), work)
        self._jobs.put(job)
        try:
            while True:
                item = await job._results.get()
                if item is END:
                    return
                if isinstance(item, Failure):
                    raise item.error
                yield item
        finally:
            job.cancel()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the running job's current token, then end the thread."""
        self._jobs.put(None)
        self._thread.join(timeout)
