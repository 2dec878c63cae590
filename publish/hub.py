"""Publishing a package to the Hugging Face Hub: one commit of the GGUF files, Modelfile, card and report, plus the
`template`, `system` and `params` files that `ollama run hf.co/USER/REPO` reads (hub-docs `ollama.md`).

huggingface_hub does the transfer (Xet or LFS, retries, progress bars). We call `create_commit` rather than
`upload_folder` because the three Ollama files are made in memory, never written into the user's package; and we
first compare each file's SHA-256 with what the repo holds (`paths-info`), so a re-run sends only what is missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import PublishError
from tunesmith.packager.package_folder import PackageFolder, read_package_folder
from tunesmith.progress import SILENT, Progress
from tunesmith.publish.digests import sha256_files
from tunesmith.publish.names import check_hf_repo

__all__ = ["hub_ollama_files", "publish_to_hf"]

# The Hub stores files above this size (and every *.gguf) through LFS/Xet; smaller ones are plain git blobs.
_REGULAR_LIMIT = 10 * 2**20
_LOGIN_HINT = (
    "Set HF_TOKEN to a token with write access (https://huggingface.co/settings/tokens) or run `hf auth login`."
)
_RERUN_HINT = "Re-run the same command: files already on the Hub are not sent again."


@dataclass(frozen=True)
class _Entry:
    """One file of the release: its path in the repo, where its bytes come from, and its SHA-256."""

    path_in_repo: str
    source: Path | bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size

    def read(self) -> bytes:
        return self.source if isinstance(self.source, bytes) else self.source.read_bytes()


def hub_ollama_files(package: PackageFolder) -> dict[str, bytes]:
    """The repo-root files through which `ollama run hf.co/...` uses our template, system prompt and parameters."""
    modelfile = package.modelfile
    files: dict[str, bytes] = {}
    if modelfile.template is not None:
        files["template"] = modelfile.template.encode("utf-8")
    if modelfile.system is not None:
        files["system"] = modelfile.system.encode("utf-8")
    if modelfile.parameters:
        # Typed JSON values (numbers, booleans, a list for stop), as Ollama's params layer holds them.
        files["params"] = (json.dumps(modelfile.parameters, indent=2, sort_keys=True) + "\n").encode("utf-8")
    return files


def _entries(package: PackageFolder, progress: Progress) -> list[_Entry]:
    digests = sha256_files(package.files, progress=progress)
    entries = [_Entry(path.name, path, digests[path]) for path in package.files]
    taken = {entry.path_in_repo for entry in entries}
    for name, data in hub_ollama_files(package).items():
        if name in taken:
            progress.note(f"the package's own `{name}` file is published instead of one made from its Modelfile")
            continue
        entries.append(_Entry(name, data, hashlib.sha256(data).hexdigest()))
    return entries


def _unchanged(entry: _Entry, remote) -> bool:
    from huggingface_hub.utils.sha import git_hash

    if remote is None:
        return False
    if remote.lfs is not None:
        return remote.lfs.sha256 == entry.sha256
    return entry.size <= _REGULAR_LIMIT and remote.blob_id == git_hash(entry.read())


def _remote_files(api, repo_id: str, paths: list[str]) -> dict:
    from huggingface_hub.errors import RevisionNotFoundError

    try:
        return {item.path: item for item in api.get_paths_info(repo_id, paths)}
    except RevisionNotFoundError:
        return {}  # a repo without a single commit yet holds nothing


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


@contextlib.contextmanager
def _hub_errors(repo_id: str, where: str, token: str) -> Iterator[None]:
    """Turn huggingface_hub and network failures into PublishError with what to do; the token never shows."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        said = _scrub(err.server_message or str(err).splitlines()[0], token)
        if status == 401:
            raise PublishError(f"the Hub did not accept the token ({said})", where=where, hint=_LOGIN_HINT) from None
        if status == 403:
            raise PublishError(
                f"the token may not write to {repo_id} ({said})",
                where=where,
                hint="Use a token with write access to that user or organization, or publish under your own user name.",
            ) from None
        raise PublishError(f"the Hub answered {status}: {said}", where=where, hint=_RERUN_HINT) from None
    except httpx2.TransportError as err:
        raise PublishError(
            f"the connection to the Hub broke ({type(err).__name__}: {_scrub(str(err), token)})",
            where=where,
            hint=_RERUN_HINT,
        ) from None
    except (RuntimeError, OSError) as err:
        # huggingface_hub wraps a failed upload in RuntimeError("Error while uploading ..."); keep the cause's words.
        cause = err.__cause__ or err
        raise PublishError(
            f"the upload stopped: {_scrub(f'{err} ({type(cause).__name__}: {cause})', token)}",
            where=where,
            hint=_RERUN_HINT,
        ) from None
    except ValueError as err:
        raise PublishError(
            f"the Hub refused the files: {_scrub(str(err), token)}",
            where=where,
            hint="Fix what the message names (often the card's YAML front matter in README.md) and re-run.",
        ) from None


def publish_to_hf(
    package_dir: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    progress: Progress = SILENT,
    endpoint: str | None = None,
) -> str:
    """Create `repo_id` if needed and commit the package to it; return the repo's URL.

    `token=None` uses HF_TOKEN or the token saved by `hf auth login`. Files the repo already holds with the same
    SHA-256 are skipped, so re-running after an interruption finishes the upload without re-sending them.
    """
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    repo_id = check_hf_repo(repo_id)
    package = read_package_folder(package_dir)
    token = token or get_token()
    if not token:
        raise PublishError("not signed in to the Hugging Face Hub", where="--hf", hint=_LOGIN_HINT)
    api = HfApi(endpoint=endpoint, token=token)
    entries = _entries(package, progress)
    with _hub_errors(repo_id, f"{api.endpoint}/{repo_id}", token):
        with progress.task(f"creating {repo_id} on the Hub (exists is fine)"):
            url = str(api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model"))
        with progress.task(f"checking what {repo_id} already holds"):
            remote = _remote_files(api, repo_id, [entry.path_in_repo for entry in entries])
        changed = [entry for entry in entries if not _unchanged(entry, remote.get(entry.path_in_repo))]
        if len(changed) < len(entries):
            progress.note(f"{len(entries) - len(changed)} of {len(entries)} file(s) already on the Hub, unchanged")
        if not changed:
            progress.note(f"{repo_id} is already up to date")
            return url
        operations = []
        for entry in changed:
            source = entry.source if isinstance(entry.source, bytes) else str(entry.source)
            operation = CommitOperationAdd(path_in_repo=entry.path_in_repo, path_or_fileobj=source)
            operation.upload_info.sha256 = bytes.fromhex(entry.sha256)  # hashed once above, not again
            operations.append(operation)
        size = sum(entry.size for entry in changed) / 2**20
        with progress.task(f"uploading {len(changed)} file(s), {size:.1f} MiB, to {repo_id}"):
            api.create_commit(
                repo_id,
                operations,
                repo_type="model",
                commit_message=f"Publish {package.name} with tunesmith",
                commit_description="Files: " + ", ".join(entry.path_in_repo for entry in changed),
            )
    return url
