"""Creating a package's model in the user's Ollama daemon when one answers, as `ollama create NAME -f Modelfile`
would, through the daemon's HTTP API (blobs, then /api/create with the Modelfile's values read back by our parser).

`tunesmith demo` uses it so that `ollama run` works right after the demo; without a daemon nothing is created and the
caller says how to do it by hand. The daemon calls are publishing's own (`create_in_daemon`), without the push.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tunesmith.errors import PublishError
from tunesmith.progress import SILENT, Progress

__all__ = ["create_in_ollama", "ollama_answers"]

_PROBE_TIMEOUT = 2.0


def ollama_answers(base_url: str) -> bool:
    """Whether an Ollama daemon answers at `base_url` (its /api/version, within two seconds)."""
    try:
        response = httpx.get(f"{base_url}/api/version", timeout=_PROBE_TIMEOUT)
    except httpx.TransportError:
        return False
    return response.status_code == 200 and "version" in response.text


def create_in_ollama(
    package_dir: Path, name: str, *, host: str | None = None, progress: Progress = SILENT
) -> str | None:
    """Create the model `name` from the package in the Ollama daemon at `host` (OLLAMA_HOST's spelling; default
    127.0.0.1:11434). Returns the daemon's URL, or None when no daemon answers there. Blobs the daemon holds are
    not sent again."""
    from ollama import ResponseError

    from tunesmith.packager.package_folder import read_package_folder
    from tunesmith.publish import create_in_daemon, ollama_base_url

    base_url = ollama_base_url(host)
    if not ollama_answers(base_url):
        return None
    try:
        create_in_daemon(read_package_folder(package_dir), name, base_url, progress=progress)
    except PublishError as err:
        if not isinstance(err.__cause__, ResponseError):
            raise
        raise PublishError(
            f"the Ollama daemon at {base_url} refused to create {name}: {err.__cause__.error}",
            where=str(package_dir / "Modelfile"),
            hint=f"Run `ollama create {name} -f {package_dir / 'Modelfile'}` to see Ollama's own "
            "message; update Ollama if it is older than 0.5.5.",
        ) from err
    return base_url
