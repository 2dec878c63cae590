"""POST /v1/embeddings: vectors as floats or, as the `openai` client asks by default, base64 of float32."""

from __future__ import annotations

import base64

import numpy as np
from litestar import Request, post

from tunesmith.server.backends import Backends
from tunesmith.server.errors import BadRequestError
from tunesmith.server.observe import record_of
from tunesmith.server.routes.generation import ERROR_RESPONSES
from tunesmith.server.schemas import Embedding, EmbeddingList, EmbeddingRequest, Usage

__all__ = ["create_embeddings"]


@post(
    "/v1/embeddings",
    status_code=200,
    tags=["embeddings"],
    responses=ERROR_RESPONSES,
    summary="Embed one text or a list of texts",
)
async def create_embeddings(data: EmbeddingRequest, request: Request, backends: Backends) -> EmbeddingList:
    """One vector per input, in input order."""
    inputs = [data.input] if isinstance(data.input, str) else list(data.input)
    if not inputs:
        raise BadRequestError("input must hold at least one text", param="input")
    if data.dimensions is not None:
        raise BadRequestError("dimensions is not supported: vectors have the model's own size", param="dimensions")
    record = record_of(request)
    record.model = data.model
    backend = await backends.for_model(data.model)
    result = await backend.embed(data.model, inputs)
    record.prompt_tokens = result.prompt_tokens
    items = []
    for index, vector in enumerate(result.vectors):
        value: list[float] | str = vector
        if data.encoding_format == "base64":
            value = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
        items.append(Embedding(object="embedding", index=index, embedding=value))
    return EmbeddingList(
        object="list", data=items, model=data.model, usage=Usage(result.prompt_tokens, 0, result.prompt_tokens)
    )
