"""tunesmith.server: an OpenAI-compatible API over Ollama and in-process llama.cpp, with publish jobs over HTTP."""

from tunesmith.server.app import build_backends, create_app
from tunesmith.server.backends import Backend, Backends, LlamaCppBackend, OllamaBackend
from tunesmith.server.settings import ServerSettings, load_settings

__all__ = [
    "Backend",
    "Backends",
    "LlamaCppBackend",
    "OllamaBackend",
    "ServerSettings",
    "build_backends",
    "create_app",
    "load_settings",
]
