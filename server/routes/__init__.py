"""The HTTP routes of the server, one module per group; `ROUTES` is what the app registers."""

from tunesmith.server.routes.embeddings import create_embeddings
from tunesmith.server.routes.generation import create_chat_completion, create_completion
from tunesmith.server.routes.models import list_models, retrieve_model
from tunesmith.server.routes.operations import health, metrics

ROUTES = [create_chat_completion, create_completion, list_models, retrieve_model, create_embeddings, health, metrics]

__all__ = ["ROUTES"]
