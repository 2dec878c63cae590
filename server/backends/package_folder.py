"""The embedded backend's models: package folders read by the packager's reader, each served under a model id, and
whether a package's TEMPLATE is one the packager would not have derived from the GGUF's own chat template.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from tunesmith.modelfiles import ChatFormat, Modelfile
from tunesmith.packager.package_folder import PackageFolder, read_package_folder

__all__ = ["ServedPackage", "read_package", "template_differs"]


@dataclass(frozen=True)
class ServedPackage(PackageFolder):
    """One model of the embedded backend: a package folder and the id clients ask for it by."""

    model_id: str


def read_package(folder: str | Path, model_id: str | None = None) -> ServedPackage:
    """Read a package folder to serve it under `model_id` (by default the package's name, as Ollama would)."""
    package = read_package_folder(folder)
    read = {field.name: getattr(package, field.name) for field in fields(package)}
    return ServedPackage(**read, model_id=model_id or package.name)


def template_differs(modelfile: Modelfile, derived: ChatFormat | None) -> bool:
    """Whether `ollama run` formats chats otherwise than the GGUF's own chat template does; `derived` is the chat
    format the packager chooses for that template (None when it can choose none).

    The packager derives the Modelfile's TEMPLATE from that chat template, so the two render the same prompts; a
    TEMPLATE given with `--template`, or edited since, is the exception. No TEMPLATE: Ollama reads the GGUF's too.
    """
    if modelfile.template is None:
        return False
    # No derived format: the packager could not have made one, so the TEMPLATE was written by hand.
    return derived is None or derived.template != modelfile.template
