"""One release of a package to the Hub and/or the Ollama registry: what `tunesmith publish` and the server's publish
jobs both run. Every name and the package are checked before the first byte is sent to either service.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.errors import PublishError
from tunesmith.packager.package_folder import read_package_folder
from tunesmith.progress import SILENT, Progress
from tunesmith.publish.hub import publish_to_hf
from tunesmith.publish.names import check_hf_repo, parse_ollama_name
from tunesmith.publish.ollama_registry import ollama_base_url, publish_to_ollama

__all__ = ["check_release", "publish_package"]


def check_release(
    package_dir: str | Path, *, hf: str | None, ollama: str | None, ollama_host: str | None = None
) -> None:
    """Raise PublishError (PackageError, ModelfileError) now for anything that would make the release fail half-way."""
    if not hf and not ollama:
        raise PublishError(
            "nothing to publish to",
            where="publish",
            hint="Name a target: --hf USER/REPO and/or --ollama USER/NAME[:TAG].",
        )
    if hf:
        check_hf_repo(hf)
    if ollama:
        parse_ollama_name(ollama)
        ollama_base_url(ollama_host)
    read_package_folder(package_dir)


def publish_package(
    package_dir: str | Path,
    *,
    hf: str | None = None,
    ollama: str | None = None,
    private: bool = True,
    ollama_host: str | None = None,
    push: bool = True,
    progress: Progress = SILENT,
) -> dict[str, str]:
    """Publish to each named target, the Hub first; return `{"hf": url, "ollama": url or local name}`."""
    check_release(package_dir, hf=hf, ollama=ollama, ollama_host=ollama_host)
    results: dict[str, str] = {}
    if hf:
        results["hf"] = publish_to_hf(package_dir, hf, private=private, progress=progress)
    if ollama:
        results["ollama"] = publish_to_ollama(package_dir, ollama, host=ollama_host, push=push, progress=progress)
    return results
