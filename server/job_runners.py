"""Run and package jobs: `tunesmith` commands in child processes (job_process.py). Each start checks its input
first, so a bad request fails at once with the message the command line gives for the same input, and no job exists.

- run: `tunesmith run CONFIG --set ...`, into a run folder under `--runs` unless the project names one;
- package: `tunesmith package --run DIR`: a finished run's adapter packaged as its recorded project says.

They take the CPU or GPU whole, so they run one at a time in the order they came (the others wait, `queued`);
publish jobs (jobs.py) only upload, and run beside them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from litestar.exceptions import ClientException

from tunesmith.config import load_config
from tunesmith.run_project import finished_run
from tunesmith.server.job_process import Secrets, run_command
from tunesmith.server.jobs import Job, JobRegistry
from tunesmith.server.run_folders import run_folder

__all__ = ["RunJobs"]

_log = logging.getLogger("tunesmith.server.jobs")


class RunJobs:
    """Run and package jobs: `tunesmith` commands in child processes, one at a time, in run folders under `runs`.

    `command` is how to start `tunesmith` (this Python's `-m tunesmith` by default); the children get `environ`
    (the server's own environment by default), whose secrets never appear in a job.
    """

    def __init__(
        self,
        runs: str,
        registry: JobRegistry,
        *,
        environ: Mapping[str, str] | None = None,
        command: Sequence[str] = (sys.executable, "-m", "tunesmith"),
        api_keys: tuple[str, ...] = (),
    ) -> None:
        self.runs = Path(runs).resolve()
        self.registry = registry
        self.environ = dict(os.environ if environ is None else environ)
        self.command = tuple(command)
        self.secrets = Secrets(self.environ, api_keys)
        self._one_at_a_time = threading.Lock()

    def start_run(self, config: str, overrides: Sequence[str] = ()) -> Job:
        """`tunesmith run CONFIG --set ...`; a config `tunesmith run` refuses is refused here with its words."""
        loaded = load_config(config, overrides=overrides)  # as given, so that its errors name it as given
        path = Path(config).resolve()
        run_dir = Path(str(loaded.output_dir))
        if not _names_output_dir(path, overrides):
            run_dir = self.runs / str(loaded.name)  # where the server lists runs, not the server's own ./runs
        args = ["run", str(path), "--output-dir", str(run_dir)]
        for item in overrides:
            args += ["--set", item]
        targets = {"config": str(path), "overrides": [self.secrets.scrub(item) for item in overrides]}
        publishing = bool(loaded.publish.hf or loaded.publish.ollama)
        return self._start(Job("run", targets, run=run_dir.name), run_dir, args, publishing)

    def start_package(self, run: str) -> Job:
        """`tunesmith package --run runs/RUN`; a run it would refuse is refused here with its words."""
        run_dir = run_folder(self.runs, run)
        finished_run(run_dir)
        return self._start(Job("package", {}, run=run), run_dir, ["package", "--run", str(run_dir)], False)

    def _start(self, job: Job, run_dir: Path, args: list[str], publishing: bool) -> Job:
        busy = self.registry.busy_with(str(run_dir))
        if busy is not None:
            raise ClientException(
                f"run {run_dir.name!r} already has a {busy.kind} job {busy.status} ({busy.id}); wait for it to "
                f"finish or cancel it (POST /v1/jobs/{busy.id}/cancel)",
                status_code=409,
            )
        job.run_dir = str(run_dir)
        self.registry.add(job)
        thread = threading.Thread(
            target=self._run, args=(job, run_dir, args, publishing), name=f"job-{job.id}", daemon=True
        )
        thread.start()
        return job

    def _run(self, job: Job, run_dir: Path, args: list[str], publishing: bool) -> None:
        with self._one_at_a_time:
            if not job.start():
                return  # cancelled while it waited
            name = f"tunesmith {args[0]}"
            try:
                code, error = run_command(
                    job,
                    [*self.command, *args],
                    name=name,
                    environ=self.environ,
                    secrets=self.secrets,
                    grace=self.registry.grace,
                )
            except OSError as err:  # the command could not start at all
                _log.exception("job %s could not start `%s`", job.id, name)
                job.finish("failed", error=f"cannot start `{name}`: {err}")
                return
        if job.cancel_requested.is_set():
            job.finish("cancelled")
        elif code != 0:
            job.finish("failed", error=error)
        else:
            package = str(run_dir / "package")
            with job.lock:
                job.package = package
            job.finish("succeeded", results={"package": package, **_published(run_dir, publishing)})


def _names_output_dir(config: Path, overrides: Sequence[str]) -> bool:
    """Whether the project file or an override says where the run folder is (else it is runs/<name>)."""
    if any(item.partition("=")[0].strip() == "output_dir" for item in overrides):
        return True
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))  # load_config has read it without fault
    return isinstance(raw, dict) and raw.get("output_dir") is not None


def _published(run_dir: Path, publishing: bool) -> dict[str, Any]:
    """The release's URLs as the run recorded them (`hf`, `ollama`), when its project publishes."""
    if not publishing:
        return {}
    try:
        recorded = json.loads((run_dir / ".publish.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    results = recorded.get("results") if isinstance(recorded, dict) else None
    return dict(results) if isinstance(results, dict) else {}
