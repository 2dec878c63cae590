"""Creating a package's model in the user's Ollama daemon when one answers, as `ollama create NAME -f Modelfile`
would, through the daemon's HTTP API (blobs, then /api/create with the Modelfile's values read back by our parser).

`tunesmith demo` uses it so that `ollama run` works right after the demo; without a daemon nothing is created and the
caller says how to do it by hand. Publishing (tunesmith.server.publish) does the same with a push to ollama.com.
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


def create_in_ollama(package_dir: Path, name: str, *, host: str | None = None,
                     progress: Progress = SILENT) -> str | None:
    """Create the model `name` from the package in the Ollama daemon at `host` (OLLAMA_HOST's spelling; default
    127.0.0.1:11434). Returns the daemon's URL, or None when no daemon answers there. Blobs the daemon holds are
    not sent again."""
    from ollama import Client, ResponseError

    from tunesmith.server.publish.ollama_registry import ollama_base_url, ollama_create_request
    from tunesmith.server.publish.package import read_package, sha256_files

    base_url = ollama_base_url(host)
    if not ollama_answers(base_url):
        return None
    package = read_package(package_dir)
    blobs = [package.model_file] + ([package.adapter_file] if package.adapter_file else [])
    digests = sha256_files(blobs, progress=progress)
    timeout = httpx.Timeout(30.0, read=None, write=None)
    client = Client(host=base_url, timeout=timeout)
    try:
        with httpx.Client(base_url=base_url, timeout=timeout) as http:
            for path in blobs:
                _send_blob(http, path, digests[path], progress)
        with progress.task(f"creating {name} in Ollama"):
            client.create(model=name, stream=False, **ollama_create_request(package, digests))
    except ResponseError as err:
        raise PublishError(f"the Ollama daemon at {base_url} refused to create {name}: {err.error}",
                           where=str(package_dir / "Modelfile"),
                           hint=f"Run `ollama create {name} -f {package_dir / 'Modelfile'}` to see Ollama's own "
                                "message; update Ollama if it is older than 0.5.5.") from err
    except (httpx.TransportError, ConnectionError) as err:
        raise PublishError(f"the connection to the Ollama daemon at {base_url} broke while creating {name} "
                           f"({type(err).__name__}: {err})", where=base_url,
                           hint="Check that `ollama serve` still runs, then re-run.") from err
    finally:
        client.close()
    return base_url


def _send_blob(http: httpx.Client, path: Path, digest: str, progress: Progress) -> None:
    """Upload `path` as the blob sha256:`digest` unless the daemon holds it already."""
    url = f"/api/blobs/sha256:{digest}"
    if http.head(url).status_code == 200:
        return
    with progress.task(f"copying {path.name} to Ollama"), path.open("rb") as handle:
        response = http.post(url, content=iter(lambda: handle.read(1 << 20), b""),
                             headers={"Content-Length": str(path.stat().st_size)})
    if response.status_code not in (200, 201):
        raise PublishError(f"Ollama refused the blob {path.name}: {response.status_code} {response.text.strip()}",
                           where=str(path), hint="The file may have changed while it was sent; re-run.")
