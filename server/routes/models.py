"""GET /v1/models and GET /v1/models/{id}: the models every backend serves, merged; one model with how it is served."""

from __future__ import annotations

from litestar import get

from tunesmith.server.backends import Backends
from tunesmith.server.errors import ModelNotFoundError
from tunesmith.server.model_info import ModelDetail, describe_model
from tunesmith.server.routes.generation import ERROR_RESPONSES
from tunesmith.server.schemas import Model, ModelList

__all__ = ["list_models", "retrieve_model"]


@get(
    "/v1/models",
    tags=["models"],
    responses={k: ERROR_RESPONSES[k] for k in (401, 502)},
    summary="List the served models",
)
async def list_models(backends: Backends) -> ModelList:
    """Every model of every reachable backend (Ollama upstreams merged, then embedded packages)."""
    cards = await backends.list_models()
    return ModelList(
        object="list",
        data=[Model(id=card.id, object="model", created=card.created, owned_by=card.owned_by) for card in cards],
    )


@get(
    "/v1/models/{model_id:path}",
    tags=["models"],
    responses={k: ERROR_RESPONSES[k] for k in (401, 404, 502)},
    summary="Describe one served model",
)
async def retrieve_model(model_id: str, backends: Backends) -> ModelDetail:
    """One model by id (ids may hold `/` and `:`, as Ollama's do), with how this server serves it (`tunesmith`:
    the backend, the Modelfile's SYSTEM and parameters, capabilities, the run and GGUF file of a package)."""
    model_id = model_id.lstrip("/")
    for card in await backends.list_models():
        if card.id == model_id or card.id == f"{model_id}:latest":
            served = await describe_model(backends, card.id)
            return ModelDetail(id=card.id, created=card.created, owned_by=card.owned_by, tunesmith=served)
    raise ModelNotFoundError(
        f"model {model_id!r} is not served here", hint="List the served models with GET /v1/models."
    )
