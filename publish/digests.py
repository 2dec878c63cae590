"""The SHA-256 of the files a release sends: the Hub and Ollama both name blobs by it, and comparing it with what
a service already holds is how a re-run skips what an interrupted one sent."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from tunesmith.progress import SILENT, Progress

__all__ = ["sha256_files"]

_CHUNK = 1 << 20


def sha256_files(paths: Iterable[Path], *, progress: Progress = SILENT) -> dict[Path, str]:
    """The hex SHA-256 of each file, read once in 1 MiB chunks, with one progress bar over all their bytes."""
    paths = list(dict.fromkeys(paths))
    total = sum(item.stat().st_size for item in paths)
    digests: dict[Path, str] = {}
    with progress.task(f"hashing {len(paths)} file(s)", total=total) as advance:
        for item in paths:
            digest = hashlib.sha256()
            with item.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                    advance(len(chunk))
            digests[item] = digest.hexdigest()
    return digests
