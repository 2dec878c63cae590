"""The engines behind the API: Ollama servers over HTTP and package folders in-process, behind one protocol."""

from tunesmith.server.backends.base import Backend, Delta, Embeddings, GenerateRequest, ModelCard
from tunesmith.server.backends.llamacpp import LlamaCppBackend
from tunesmith.server.backends.ollama import OllamaBackend
from tunesmith.server.backends.package_folder import ServedPackage, read_package
from tunesmith.server.backends.registry import Backends

__all__ = [
    "Backend",
    "Backends",
    "Delta",
    "Embeddings",
    "GenerateRequest",
    "LlamaCppBackend",
    "ModelCard",
    "OllamaBackend",
    "ServedPackage",
    "read_package",
]
