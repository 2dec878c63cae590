"""The server's jobs: runs, packages and publishes started over HTTP, each with its steps, notes, progress and
outcome, kept in memory (a page reloaded finds them again; a restarted server starts with none).

`Job` is one of them as GET /v1/jobs/{id} reports it; `JobRegistry` holds them and cancels them. Publish jobs run
`publish_package` in a thread of the server (`PublishJobs`), reporting to a `JobProgress`; run and package jobs run
the command line in a child process (job_runners.py).
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

from litestar.exceptions import ClientException

from tunesmith.errors import PublishError, TunesmithError
from tunesmith.progress import Advance
from tunesmith.publish import check_release, publish_package
from tunesmith.server.run_folders import run_of_package

__all__ = ["FINISHED", "Job", "JobCancelled", "JobProgress", "JobRegistry", "PublishJobs", "Step"]

_log = logging.getLogger("tunesmith.server.jobs")

FINISHED = frozenset({"succeeded", "failed", "cancelled"})
_KEEP_FINISHED = 100  # finished jobs remembered for GET; older ones are forgotten
_PREFIX = {"run": "run", "package": "pkg", "publish": "pub"}


class JobCancelled(BaseException):
    """Raised inside a job that runs in the server when it is cancelled (a BaseException, as KeyboardInterrupt is,
    so that no retry loop of a library takes it for a failure to try again)."""


@dataclass
class Step:
    name: str
    total: float | None
    completed: float = 0.0
    status: str = "running"


@dataclass
class Job:
    """One job and how far it got. `status`: queued, running, succeeded, failed or cancelled."""

    kind: str
    targets: dict[str, Any]
    run: str | None = None
    package: str | None = None
    run_dir: str | None = field(default=None, repr=False)  # the run folder a run or package job works in
    id: str = ""
    status: str = "queued"
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)
    done: threading.Event = field(default_factory=threading.Event, repr=False)
    # How to stop the job's work while it runs (set by its runner); None: the work notices `cancel_requested`.
    stopper: Callable[[], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.id = self.id or f"{_PREFIX[self.kind]}_{uuid.uuid4().hex}"

    def start(self) -> bool:
        """Mark the job running; False when it was cancelled while queued (then it must not run)."""
        with self.lock:
            if self.status != "queued":
                return False
            self.status = "running"
            return True

    def finish(self, status: str, *, error: str | None = None, results: dict[str, Any] | None = None) -> None:
        """Record the outcome once; steps still open end with it (failed unless the job succeeded)."""
        with self.lock:
            if self.status in FINISHED:
                return
            self.status = status
            self.error = error
            self.results.update(results or {})
            for step in self.steps:
                if step.status == "running":
                    step.status = "done" if status == "succeeded" else "failed"
            self.finished_at = time.time()
        self.done.set()

    def as_dict(self) -> dict[str, Any]:
        """The job as the API reports it (a snapshot, safe to serialise while the job runs)."""
        with self.lock:
            return {
                "id": self.id,
                "object": "job",
                "kind": self.kind,
                "status": self.status,
                "run": self.run,
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
    """A `Progress` that writes each task and note into a job; raises `JobCancelled` once the job is cancelled."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def _check(self) -> None:
        if self.job.cancel_requested.is_set():
            raise JobCancelled

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Advance]:
        self._check()
        step = Step(description, total)
        with self.job.lock:
            self.job.steps.append(step)

        def advance(amount: float = 1.0) -> None:
            self._check()
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


class JobRegistry:
    """Every job of the server, newest last; cancelling one stops its work (`grace` seconds to stop on its own)."""

    def __init__(self, *, grace: float = 10.0) -> None:
        self.grace = grace
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> Job:
        with self._lock:
            self._jobs[job.id] = job
            finished = [key for key, old in self._jobs.items() if old.finished_at is not None]
            for key in finished[: max(0, len(finished) - _KEEP_FINISHED)]:
                del self._jobs[key]  # oldest first: dicts keep insertion order
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def newest_first(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def busy_with(self, run: str) -> Job | None:
        """The unfinished run or package job working on the run folder `run` (a path), if any."""
        for job in self.newest_first():
            if job.kind != "publish" and job.run_dir == run and job.status not in FINISHED:
                return job
        return None

    def cancel(self, job: Job) -> Job:
        """Stop `job` and wait until it has stopped; 409 when it had already finished."""
        with job.lock:
            status = job.status
        if status in FINISHED:
            raise ClientException(
                f"job {job.id} already {status}; only a queued or running job can be cancelled", status_code=409
            )
        job.cancel_requested.set()
        if status == "queued":
            job.finish("cancelled")
        elif job.stopper is not None:
            job.stopper()
        # A command gets `grace` seconds to stop, then is killed: give it that and a little more before giving up.
        if not job.done.wait(2 * self.grace + 1):
            # Work inside the server that did not reach its next step: it stops there, and nothing after it runs.
            with job.lock:
                job.notes.append("cancelled while a step was under way; that step may still finish on its own")
            job.finish("cancelled")
        return job

    def cancel_unfinished(self) -> None:
        """Cancel every queued or running job (the server is stopping)."""
        for job in self.newest_first():
            if job.status not in FINISHED:
                with contextlib.suppress(ClientException):  # it finished meanwhile
                    self.cancel(job)


class PublishJobs:
    """Publish jobs; `packages` (and the packages of runs under `runs`) are the folders that may be published."""

    def __init__(
        self,
        packages: tuple[str, ...] = (),
        *,
        ollama_host: str | None = None,
        runner: Callable[..., dict[str, str]] = publish_package,
        runs: str | None = None,
        registry: JobRegistry | None = None,
    ) -> None:
        self.packages = {Path(item).resolve() for item in packages}
        self.runs = Path(runs).resolve() if runs is not None else None
        self.ollama_host = ollama_host
        self.registry = registry or JobRegistry()
        self._runner = runner

    def get(self, job_id: str) -> Job | None:
        return self.registry.get(job_id)

    def _run_of(self, package: Path) -> str | None:
        """The run whose package `package` is, when it is one under `runs`."""
        run = run_of_package(self.runs, package)
        return run if run is not None and (package / "Modelfile").is_file() else None

    def start(
        self, package: str, *, hf: str | None, ollama: str | None, private: bool = True, push: bool = True
    ) -> Job:
        """Check the request now (bad input raises before any job exists), then run it in the background."""
        folder = Path(package).resolve()
        run = self._run_of(folder)
        if folder not in self.packages and run is None:
            raise PublishError(
                f"{package!r} is not a package this server serves",
                where="package",
                hint="Start the server with --model PACKAGE_DIR for each package it may publish, or publish the "
                "package of a run under --runs (runs/NAME/package).",
            )
        check_release(package, hf=hf, ollama=ollama, ollama_host=self.ollama_host)
        targets = {key: value for key, value in (("hf", hf), ("ollama", ollama)) if value}
        job = self.registry.add(Job("publish", targets, run=run, package=package))
        thread = threading.Thread(target=self._run, args=(job, private, push), name=f"job-{job.id}", daemon=True)
        thread.start()
        return job

    def _run(self, job: Job, private: bool, push: bool) -> None:
        if not job.start():
            return
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
        except JobCancelled:
            job.finish("cancelled")
        except TunesmithError as err:
            job.finish("failed", error=str(err))
        except Exception as err:  # noqa: BLE001  a bug: keep the traceback in the server log, say little to the client
            _log.exception("publish job %s failed unexpectedly", job.id)
            job.finish("failed", error=f"internal error ({type(err).__name__}); see the server log")
        else:
            job.finish("succeeded", results=results)
