"""Publishing a package to the Ollama registry through the user's Ollama daemon: blobs, create, push.

Blobs go over the daemon's HTTP API with httpx (a HEAD first, so a blob the daemon holds is never re-sent, and a
streamed POST that reports progress); create and push use the `ollama` client. Ollama itself skips layers that
ollama.com already has, so re-running an interrupted push resumes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tunesmith.errors import PublishError
from tunesmith.packager.package_folder import PackageFolder, read_package_folder
from tunesmith.progress import SILENT, Progress
from tunesmith.publish.digests import sha256_files
from tunesmith.publish.names import OllamaName, parse_ollama_name

__all__ = ["DEFAULT_OLLAMA_HOST", "create_in_daemon", "ollama_base_url", "ollama_create_request", "publish_to_ollama"]

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
_CHUNK = 1 << 20
_TIMEOUT = httpx.Timeout(30.0, read=None, write=None)  # no limit on reading or writing a multi-GB blob
_NOT_RUNNING_HINT = (
    "Start it with `ollama serve` (or the Ollama app), or point --ollama-host / OLLAMA_HOST at the daemon you use."
)
_SIGN_IN_HINT = (
    "Sign in with `ollama signin`, or add this machine's Ollama public key (~/.ollama/id_ed25519.pub) "
    "at https://ollama.com/settings/keys, and check that the user part of the name is your ollama.com "
    "user name."
)
_RERUN_HINT = "Re-run the same command: layers ollama.com already has are not sent again."
_NETWORK_WORDS = (
    "connection reset",
    "connection refused",
    "broken pipe",
    "eof",
    "timeout",
    "timed out",
    "dial tcp",
    "no such host",
    "max retries",
    "tls",
    "network",
    "temporary failure",
)


def ollama_base_url(host: str | None) -> str:
    """The daemon's URL from `host` as OLLAMA_HOST spells it (`host`, `host:port`, `http://host:port`)."""
    if not host:
        return DEFAULT_OLLAMA_HOST
    url = host if "://" in host else f"http://{host}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PublishError(
            f"{host!r} is not an Ollama address",
            where="--ollama-host",
            hint="Write HOST, HOST:PORT or http://HOST:PORT, e.g. 127.0.0.1:11434.",
        )
    netloc = parts.netloc if parts.port or "://" in host else f"{parts.netloc}:11434"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def ollama_create_request(package: PackageFolder, digests: dict[Path, str]) -> dict:
    """The body of /api/create for `package`, as `ollama create -f Modelfile` would send it."""
    modelfile = package.modelfile
    request: dict = {"files": {package.gguf.name: f"sha256:{digests[package.gguf]}"}}
    if package.adapter is not None:
        request["adapters"] = {package.adapter.name: f"sha256:{digests[package.adapter]}"}
    if modelfile.template is not None:
        request["template"] = modelfile.template
    if modelfile.system is not None:
        request["system"] = modelfile.system
    if modelfile.parameters:
        request["parameters"] = dict(modelfile.parameters)
    if modelfile.license:
        request["license"] = list(modelfile.license)
    if modelfile.messages:
        request["messages"] = [{"role": role, "content": content} for role, content in modelfile.messages]
    return request


@contextlib.contextmanager
def _daemon_errors(base_url: str, where: str) -> Iterator[None]:
    from ollama import ResponseError

    try:
        yield
    except (httpx.ConnectError, ConnectionError) as err:
        raise PublishError(f"no Ollama daemon answers at {base_url}", where=where, hint=_NOT_RUNNING_HINT) from err
    except httpx.TransportError as err:
        raise PublishError(
            f"the connection to the Ollama daemon broke ({type(err).__name__}: {err})", where=where, hint=_RERUN_HINT
        ) from err
    except ResponseError as err:
        said = str(err.error)
        lowered = said.lower()
        if "unauthorized" in lowered or "access denied" in lowered or err.status_code == 401:
            raise PublishError(f"ollama.com refused the push: {said}", where=where, hint=_SIGN_IN_HINT) from err
        if "path or modelfile are required" in lowered:
            raise PublishError(
                f"this Ollama is too old for creating models from blobs: {said}",
                where=where,
                hint="Update Ollama (0.5.5 or later), restart it and re-run.",
            ) from err
        if "account unavailable" in lowered:  # what Ollama says when ollama.com cannot be asked about the key
            raise PublishError(
                f"Ollama could not reach ollama.com to check this machine's account ({said})",
                where=where,
                hint="Check the network; if it works, " + _SIGN_IN_HINT[0].lower() + _SIGN_IN_HINT[1:],
            ) from err
        if any(word in lowered for word in _NETWORK_WORDS):
            raise PublishError(f"the push stopped on a network error: {said}", where=where, hint=_RERUN_HINT) from err
        raise PublishError(
            f"Ollama answered: {said}",
            where=where,
            hint="Fix what Ollama names (see `ollama serve`'s log for details) and re-run.",
        ) from err


def _send_blob(http: httpx.Client, path: Path, digest: str, progress: Progress) -> bool:
    """Upload `path` unless the daemon has it; return whether bytes were sent."""
    url = f"/api/blobs/sha256:{digest}"
    if http.head(url).status_code == 200:
        progress.note(f"Ollama already has {path.name} (sha256:{digest[:12]}), not sent again")
        return False
    size = path.stat().st_size
    with progress.task(f"copying {path.name} to Ollama", total=size) as advance:

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    yield chunk
                    advance(len(chunk))

        response = http.post(url, content=chunks(), headers={"Content-Length": str(size)})
    if response.status_code not in (200, 201):
        raise PublishError(
            f"Ollama refused the blob {path.name}: {response.status_code} {response.text.strip()}",
            where=url,
            hint="The file may have changed while it was sent; re-run.",
        )
    return True


def _create(client, name: str, request: dict, progress: Progress) -> None:
    with progress.task(f"creating {name} in Ollama"):
        for part in client.create(model=name, stream=True, **request):
            if part.status and part.status.startswith("using autodetected"):
                progress.note(f"Ollama: {part.status}")


def _push(client, target: OllamaName, progress: Progress) -> None:
    """Push with one progress bar per layer, fed by the daemon's status stream."""
    done: dict[str, tuple] = {}
    last = ""
    with contextlib.ExitStack() as bars:
        for part in client.push(str(target), stream=True):
            if part.digest and part.total:
                if part.digest not in done:
                    label = f"pushing {part.digest.removeprefix('sha256:')[:12]}"
                    done[part.digest] = (bars.enter_context(progress.task(label, total=part.total)), [0])
                advance, sent = done[part.digest]
                if (part.completed or 0) > sent[0]:
                    advance(part.completed - sent[0])
                    sent[0] = part.completed
            last = part.status or last
    if last != "success":
        raise PublishError(
            f"the push of {target} ended without success (last status: {last or 'none'})",
            where=target.url,
            hint=_RERUN_HINT,
        )


def create_in_daemon(package: PackageFolder, name: str, base_url: str, *, progress: Progress = SILENT) -> None:
    """Create the model `name` from `package` in the Ollama daemon at `base_url`, as `ollama create NAME -f
    Modelfile` does: blobs first (one the daemon holds is not sent again), then /api/create."""
    from ollama import Client

    blobs = [package.gguf] + ([package.adapter] if package.adapter else [])
    digests = sha256_files(blobs, progress=progress)
    with httpx.Client(base_url=base_url, timeout=_TIMEOUT) as http, _daemon_errors(base_url, base_url):
        http.get("/api/version")  # only whether the daemon answers matters here
        for path in blobs:
            _send_blob(http, path, digests[path], progress)
    client = Client(host=base_url, timeout=_TIMEOUT)
    try:
        with _daemon_errors(base_url, base_url):
            _create(client, name, ollama_create_request(package, digests), progress)
    finally:
        client.close()


def publish_to_ollama(
    package_dir: str | Path, name: str, *, host: str | None = None, push: bool = True, progress: Progress = SILENT
) -> str:
    """Create `name` (USER/NAME[:TAG]) in the Ollama daemon at `host` from the package, then push it to ollama.com.

    Returns the model's ollama.com URL, or the local name when `push=False`. Blobs the daemon holds and layers the
    registry holds are not sent again, so re-running after an interruption resumes.
    """
    from ollama import Client

    target = parse_ollama_name(name)
    package = read_package_folder(package_dir)
    base_url = ollama_base_url(host)
    create_in_daemon(package, str(target), base_url, progress=progress)
    if not push:
        return str(target)
    client = Client(host=base_url, timeout=_TIMEOUT)
    try:
        with _daemon_errors(base_url, target.url):
            _push(client, target, progress)
    except PublishError as err:
        raise PublishError(
            f"{target} is created in the Ollama daemon at {base_url}, but pushing it to "
            f"ollama.com failed: {err.message}",
            where=err.where,
            hint=f"`ollama run {target}` serves it on this machine now. Once it has a network, "
            f"push it with `ollama push {target}` or re-run this command (only the push is "
            f"left to do). {err.hint}",
        ) from err
    finally:
        client.close()
    return target.url
