"""status.json of a run folder: what the command working on the run is doing now, or how it ended, and which process
it is, so that a reader can tell a run still at work from one whose process is gone.

    {"status": "training", "pid": 4242, "host": "box", "started_at": 1700000000, "updated_at": 1700000100,
     "error": null, "max_steps": 56}

Working states: preparing, training, packaging, publishing. Ends: prepared (`tunesmith prepare`), trained
(`tunesmith train`), done (`tunesmith run`), failed (`error` is the message the command printed) and interrupted
(stopped by the user). A working state whose process no longer runs was interrupted too (killed, power lost): readers
judge that from `pid` and `host`. Each write goes to a temporary name and is renamed.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunesmith.config import Config
from tunesmith.errors import TunesmithError
from tunesmith.files import write_text_atomic
from tunesmith.trainer.run_dir import owns_run_dir

__all__ = ["STATUS_FILE", "WORKING", "advance_status", "read_status", "record_max_steps", "recording_status"]

STATUS_FILE = "status.json"
WORKING = frozenset({"preparing", "training", "packaging", "publishing"})
# The run folder whose status this process's command is recording (see `recording_status`).
_RECORDING: contextvars.ContextVar[Path | None] = contextvars.ContextVar("recording", default=None)


def read_status(root: Path) -> dict[str, Any]:
    """The recorded status of the run folder `root` ({} when none is recorded or it cannot be read)."""
    try:
        found = json.loads((root / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _mine(record: dict[str, Any]) -> bool:
    return record.get("pid") == os.getpid() and record.get("host") == socket.gethostname()


def _write(root: Path, status: str, *, error: str | None = None) -> None:
    previous = read_status(root)
    now = int(time.time())
    mine = _mine(previous)
    record = {
        "status": status,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": previous.get("started_at", now) if mine else now,
        "updated_at": now,
        "error": error,
        # The planned steps stay known once training has started, until the next command starts over.
        "max_steps": previous.get("max_steps") if mine else None,
    }
    write_text_atomic(root / STATUS_FILE, json.dumps(record, indent=2) + "\n")


def advance_status(root: Path, status: str) -> None:
    """Record the next working state of the command that is recording this run's status (see `recording_status`),
    once the run folder exists; nothing when no command records it (a library call), so no state is left that
    nobody ends."""
    if (root / "run.json").is_file() and (_RECORDING.get() == root or _mine(read_status(root))):
        _write(root, status)


def record_max_steps(root: Path, max_steps: int) -> None:
    """Add the planned number of training steps to the recorded status (called by the training process, which may
    be a worker of the command that recorded it)."""
    record = read_status(root)
    if record:
        record["max_steps"] = int(max_steps)
        write_text_atomic(root / STATUS_FILE, json.dumps(record, indent=2) + "\n")


@contextlib.contextmanager
def recording_status(config: Config, *, start: str, end: str) -> Iterator[Path]:
    """Record `start` in the run folder of `config`, then `end` when the block finishes, `failed` with the message
    the command prints when it raises, `interrupted` on Ctrl+C. Yields the run folder.

    Only a folder that is already this run's is written to: a first run's status starts when its first step claims
    the folder (`advance_status`), and a command refused before that (a missing base, a folder of another run)
    leaves no folder and no status behind, and its own error is the one the user sees.
    """
    root = Path(config.output_dir or config.run_dir)
    token = _RECORDING.set(root)
    if owns_run_dir(config):
        _write(root, start)
    try:
        yield root
    except TunesmithError as error:
        _end(config, root, "failed", str(error))
        raise
    except KeyboardInterrupt:
        _end(config, root, "interrupted", "stopped by the user")
        raise
    except Exception as error:
        # A bug: the traceback stays the command's, the run says what it was.
        _end(config, root, "failed", f"{type(error).__name__}: {error}")
        raise
    finally:
        _RECORDING.reset(token)
    _end(config, root, end, None)


def _end(config: Config, root: Path, status: str, error: str | None) -> None:
    if owns_run_dir(config):
        _write(root, status, error=error)
