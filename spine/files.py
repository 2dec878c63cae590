"""Writing artifacts so that a reader never sees half of one: temporary name in the same folder, then rename.

A temporary name carries the writer's process id (`.NAME.PID.RANDOM.partial`), so that the next write of the same
artifact can remove what a killed writer on this machine (SIGKILL, power loss) left behind: a half GGUF can weigh
gigabytes.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_dir", "atomic_file", "process_alive", "write_text_atomic"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def process_alive(pid: int) -> bool:
    """Whether a process `pid` runs on this machine (another user's too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove_dead_partials(target: Path) -> None:
    """Remove temporary siblings of `target` whose writer no longer runs (killed before it could clean up)."""
    prefix = f".{target.name}."
    for path in target.parent.glob(f"{glob.escape(prefix)}*.partial"):
        pid, _, rest = path.name[len(prefix) : -len(".partial")].partition(".")
        if not (pid.isdigit() and rest) or int(pid) == os.getpid() or process_alive(int(pid)):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _temporary_prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def _as_created(path: Path, mode: int) -> None:
    # mkstemp/mkdtemp make private (0600/0700) entries; the artifact should look like any file the user creates.
    os.chmod(path, mode & ~_umask())


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(target)
    fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(target), suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _as_created(tmp, 0o666)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically and return the path."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, replace: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; on success it becomes `path`, on failure it is removed.

    With `replace=True` an existing `path` is swapped out only after the new folder is complete.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(target)
    tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(target), suffix=".partial", dir=target.parent))
    try:
        yield tmp
        _as_created(tmp, 0o777)
        if target.exists() and replace:
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
