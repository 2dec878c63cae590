"""Publish jobs for the server: each runs `publish_package` in a background thread and records its steps, notes,
progress and outcome, which GET /v1/publish/{id} reports while it runs and after.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.errors import PublishError, TunesmithError
from tunesmith.progress import Advance
from tunesmith.publish import check_release, publish_package

__all__ = ["JobProgress", "PublishJob", "PublishJobs"]

_log = logging.getLogger("tunesmith.server.publish")
_KEEP_FINISHED = 100  # finished jobs remembered for GET; older ones are forgotten


@dataclass
class _Step:
    name: str
    total: float | None
    completed: float = 0.0
    status: str = "running"


@dataclass
class PublishJob:
    """One publish request and how far it got. `status`: queued, running, succeeded or failed."""

    id: str
    package: str
    targets: dict[str, str]
    status: str = "queued"
    steps: list[_Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    results: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The job as the API reports it (a snapshot, safe to serialise while the job runs)."""
        with self.lock:
            return {
                "id": self.id,
                "object": "publish.job",
                "status": self.status,
                "package": self.package,
                "targets": dict(self.targets),
                "results": dict(self.results),
                "steps": [
                    {"name": step.name, "status": step.status, "completed": step.completed, "total": step.total}
                    for step in self.steps
                ],
                "notes": list(self.notes),
                "error": None if self.error is None else {"message": self.error},
                "created_at": int(self.created_at),
                "finished_at": None if self.finished_at is None else int(self.finished_at),
            }


class JobProgress:
    """A `Progress` that writes each task and note into a job instead of onto a console."""

    def __init__(self, job: PublishJob) -> None:
        self.job = job

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Advance]:
        step = _Step(description, total)
        with self.job.lock:
            self.job.steps.append(step)

        def advance(amount: float = 1.0) -> None:
            with self.job.lock:
                step.completed += amount

        try:
            yield advance
        except BaseException:
            with self.job.lock:
                step.status = "failed"
            raise
        with self.job.lock:
            step.status = "done"
            if total is not None:
                step.completed = total

    def note(self, message: str) -> None:
        with self.job.lock:
            self.job.notes.append(message)


class PublishJobs:
    """The server's publish jobs, kept in memory; `packages` limits which folders may be published."""

    def __init__(
        self,
        packages: tuple[str, ...] = (),
        *,
        ollama_host: str | None = None,
        runner: Callable[..., dict[str, str]] = publish_package,
    ) -> None:
        self.packages = {Path(item).resolve() for item in packages}
        self.ollama_host = ollama_host
        self._runner = runner
        self._jobs: dict[str, PublishJob] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> PublishJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(
        self, package: str, *, hf: str | None, ollama: str | None, private: bool = True, push: bool = True
    ) -> PublishJob:
        """Check the request now (bad input raises before any job exists), then run it in the background."""
        if Path(package).resolve() not in self.packages:
            raise PublishError(
                f"{package!r} is not a package this server serves",
                where="package",
                hint="Start the server with --model PACKAGE_DIR for each package it may publish.",
            )
        check_release(package, hf=hf, ollama=ollama, ollama_host=self.ollama_host)
        targets = {key: value for key, value in (("hf", hf), ("ollama", ollama)) if value}
        job = PublishJob(id=f"pub_{uuid.uuid4().hex}", package=package, targets=targets)
        with self._lock:
            self._jobs[job.id] = job
            finished = [key for key, old in self._jobs.items() if old.finished_at is not None]
            for key in finished[: max(0, len(finished) - _KEEP_FINISHED)]:
                del self._jobs[key]  # oldest first: dicts keep insertion order
        thread = threading.Thread(target=self._run, args=(job, private, push), name=f"publish-{job.id}", daemon=True)
        thread.start()
        return job

    def _run(self, job: PublishJob, private: bool, push: bool) -> None:
        with job.lock:
            job.status = "running"
        try:
            results = self._runner(
                job.package,
                hf=job.targets.get("hf"),
                ollama=job.targets.get("ollama"),
                private=private,
                ollama_host=self.ollama_host,
                push=push,
                progress=JobProgress(job),
            )
        except TunesmithError as err:
            outcome: dict[str, Any] = {"status": "failed", "error": str(err)}
        except Exception as err:  # noqa: BLE001  a bug: keep the traceback in the server log, say little to the client
            _log.exception("publish job %s failed unexpectedly", job.id)
            outcome = {"status": "failed", "error": f"internal error ({type(err).__name__}); see the server log"}
        else:
            outcome = {"status": "succeeded", "results": results}
        with job.lock:
            for key, value in outcome.items():
                setattr(job, key, value)
            job.finished_at = time.time()
