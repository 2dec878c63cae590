"""A job that runs a `tunesmith` command (run, package) in a child process of its own, so that cancelling it can
stop everything it started, and a failure reads exactly as the command line prints it.

The child writes its steps and notes as JSON lines (`--progress-json`, tunesmith.progress.JsonLinesProgress) into a
pipe the job reads; its stderr goes to a temporary file whose `error:` paragraph becomes the job's error. Cancelling
sends SIGTERM to the child's process group (the command unwinds as on Ctrl+C), then SIGKILL after a grace period.
Secrets of the server's environment (tokens, keys) are blanked out of everything a job reports or logs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tunesmith.server.jobs import Job, Step

__all__ = ["Secrets", "cli_error", "run_command"]

_log = logging.getLogger("tunesmith.server.jobs")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{16,}\b")
_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD", re.IGNORECASE)


class Secrets:
    """The values a job must never report: the server's API keys, the environment's tokens and keys (by name), and
    anything shaped like a Hugging Face token."""

    def __init__(self, environ: Mapping[str, str], extra: Iterable[str] = ()) -> None:
        found = {value for name, value in environ.items() if _SECRET_NAME.search(name)} | set(extra)
        # Longest first, so a secret that contains another is blanked whole; short values would blank common words.
        self._values = sorted((value for value in found if len(value) >= 8), key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, "***")
        return _HF_TOKEN.sub("hf_***", text)


def cli_error(stderr: str) -> str | None:
    """The error the command printed on `stderr` (its `error:` paragraph, or click's `Error:` line), ANSI codes
    removed; None when it printed none (it crashed with a traceback, or was killed)."""
    lines = _ANSI.sub("", stderr).splitlines()
    for prefix in ("error: ", "Error: "):
        for index in range(len(lines) - 1, -1, -1):
            if lines[index].startswith(prefix):
                return "\n".join([lines[index][len(prefix) :], *lines[index + 1 :]]).strip()
    return None


def run_command(
    job: Job, argv: Sequence[str], *, name: str, environ: Mapping[str, str], secrets: Secrets, grace: float
) -> tuple[int, str | None]:
    """Run `argv` (the command `name`, e.g. `tunesmith run`, which takes --progress-json) for `job`: its steps and
    notes go into the job as they come, and `job.stopper` stops it while it runs. Returns (exit status, the error it
    printed, or a sentence saying how it ended without one); a negative status is the signal that ended it."""
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(
                [*argv, "--progress-json", f"/dev/fd/{write_fd}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(write_fd,),
                start_new_session=True,  # its own process group: a cancel stops its workers too
                env={**environ, "PYTHONUNBUFFERED": "1"},
            )
        finally:
            os.close(write_fd)
        job.stopper = lambda: _stop(process, grace)
        if job.cancel_requested.is_set():  # cancelled while the command was starting: no stopper was there yet
            job.stopper()
        with os.fdopen(read_fd, encoding="utf-8", errors="replace") as lines:
            steps: dict[int, Step] = {}
            for line in lines:
                _follow(job, line, steps, secrets)
        code = process.wait()
        job.stopper = None
        stderr.seek(0)
        text = stderr.read().decode("utf-8", errors="replace")
    if code == 0 or job.cancel_requested.is_set():
        return code, None
    message = cli_error(text)
    if message is None:
        tail = "\n".join(_ANSI.sub("", text).strip().splitlines()[-40:])
        _log.error("job %s: `%s` ended with status %s:\n%s", job.id, name, code, secrets.scrub(tail))
        last = tail.splitlines()[-1] if tail else ""
        ended = f"was killed by signal {-code}" if code < 0 else f"stopped unexpectedly (exit status {code})"
        message = f"`{name}` {ended}{f': {last}' if last else ''}; see the server log"
    return code, secrets.scrub(message)


def _follow(job: Job, line: str, steps: dict[int, Step], secrets: Secrets) -> None:
    """Apply one JSON line of the child's progress to the job."""
    try:
        event: dict[str, Any] = json.loads(line)
    except ValueError:
        return  # not one of ours (a library that wrote to the inherited descriptor): ignored
    with job.lock:
        if "note" in event:
            job.notes.append(secrets.scrub(str(event["note"])))
        elif "name" in event:
            step = Step(secrets.scrub(str(event["name"])), event.get("total"))
            steps[event["step"]] = step
            job.steps.append(step)
        elif event.get("step") in steps:
            step = steps[event["step"]]
            if "advance" in event:
                step.completed += float(event["advance"])
            elif event.get("status") in ("done", "failed"):
                step.status = event["status"]
                if step.status == "done" and step.total is not None:
                    step.completed = step.total


def _stop(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM to the child's process group, SIGKILL after `grace` seconds; returns once the child is gone."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        pass
    # Whatever is left of the group (the command, or workers it started) is stopped now.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
