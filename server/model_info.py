"""The "tunesmith" object of GET /v1/models/{id}: which backend serves a model, with which SYSTEM, parameters and
capabilities, from which run and GGUF file. Embedded models are described by their package's Modelfile, Ollama's by
its own /api/show (its Modelfile read by our parser, its capabilities as Ollama gives them).

Capabilities of an embedded model follow Ollama's rule, from the variables its TEMPLATE uses (`.Tools`: tools, the
reasoning ones: thinking), so one package says the same served either way.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from tunesmith.errors import ModelfileError
from tunesmith.modelfiles import Modelfile, parse_modelfile
from tunesmith.server.backends import Backends, LlamaCppBackend, OllamaBackend

__all__ = ["ModelDetail", "ServedHow", "capabilities_of", "describe_model"]

_TEMPLATE_CAPABILITIES = (
    ("tools", re.compile(r"\.Tools\b")),
    ("thinking", re.compile(r"\.(?:Think|Thinking|IsThinkSet)\b")),
    ("insert", re.compile(r"\.Suffix\b")),
)


class ServedHow(msgspec.Struct, kw_only=True):
    """How this server serves the model: `run` is the run folder its package belongs to, `file` its GGUF."""

    backend: Literal["embedded", "ollama"]
    system: str | None
    parameters: dict[str, Any]
    capabilities: list[str]
    run: str | None
    file: str | None


class ModelDetail(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    tunesmith: ServedHow


def capabilities_of(template: str | None) -> list[str]:
    """What a model can do, read from the variables its Ollama TEMPLATE uses, as Ollama reads them."""
    found = ["completion"]
    found += [name for name, pattern in _TEMPLATE_CAPABILITIES if template and pattern.search(template)]
    return found


def _embedded(backend: LlamaCppBackend, model_id: str) -> ServedHow | None:
    entry = backend.catalog.entry(model_id)
    if entry is None:
        return None
    modelfile = entry.package.modelfile
    return ServedHow(
        backend="embedded",
        system=modelfile.system,
        parameters=dict(modelfile.parameters),
        capabilities=capabilities_of(modelfile.template),
        run=entry.run,
        file=entry.package.gguf.name,
    )


async def _ollama(backend: OllamaBackend, model_id: str) -> ServedHow:
    shown = await backend.show(model_id)
    try:
        modelfile: Modelfile | None = parse_modelfile(shown.modelfile or "", source=f"Ollama's {model_id}")
    except ModelfileError:
        modelfile = None  # a Modelfile our parser does not read: what /api/show says in its other fields
    template = shown.template if modelfile is None else modelfile.template or shown.template
    return ServedHow(
        backend="ollama",
        system=modelfile.system if modelfile else None,
        parameters=dict(modelfile.parameters) if modelfile else {},
        capabilities=list(shown.capabilities) if shown.capabilities is not None else capabilities_of(template),
        run=None,
        file=None,
    )


async def describe_model(backends: Backends, model_id: str) -> ServedHow:
    """How the backend that serves `model_id` serves it (the model must be one of `backends.list_models()`)."""
    backend = await backends.for_model(model_id)
    if isinstance(backend, LlamaCppBackend):
        described = _embedded(backend, model_id)
        if described is not None:
            return described
    if isinstance(backend, OllamaBackend):
        return await _ollama(backend, model_id)
    raise LookupError(f"no backend describes {model_id!r}")
