"""The one exception tree of tunesmith: every error a user can cause is a `TunesmithError`.

Each error says what was wrong, where (file, line, key, field) and what to do next. The CLI prints it as one red
paragraph and exits 2; the server turns it into an OpenAI error body with the HTTP status server/errors.py gives each
class. This module imports nothing of ours, so every room may raise these.

    TunesmithError
    ├── ConfigError
    ├── DataError
    ├── ModelError
    │   └── ModelNotFoundError
    ├── ModelfileError
    ├── PackageError
    ├── TrainError
    ├── UpstreamError
    │   ├── UpstreamTimeoutError
    │   └── UnfinishedAnswerError
    ├── PublishError
    ├── BadRequestError
    └── AuthenticationError
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConfigError",
    "DataError",
    "ModelError",
    "ModelNotFoundError",
    "ModelfileError",
    "PackageError",
    "PublishError",
    "TrainError",
    "TunesmithError",
    "UnfinishedAnswerError",
    "UpstreamError",
    "UpstreamTimeoutError",
]


class TunesmithError(Exception):
    """Base of every error tunesmith raises on purpose.

    `message` says what was wrong, `where` points at the place (a path, `file:line`, a config key), `hint` says
    what to do. `str()` joins them into one paragraph.
    """

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = f"{text.rstrip('.')}. {self.hint}"
        return text


class ConfigError(TunesmithError):
    """A config file, flag or override is missing, ill-typed or out of range."""


class DataError(TunesmithError):
    """Training data cannot be read or yields nothing usable."""


class ModelError(TunesmithError):
    """A model or adapter folder is missing, incomplete, unreadable or unsupported."""


class ModelfileError(TunesmithError):
    """A Modelfile or chat template is invalid or cannot be produced."""


class PackageError(TunesmithError):
    """Packaging (convert, quantize, write the package folder) cannot proceed, or a package folder is not one that
    serving and publishing can read."""


class TrainError(TunesmithError):
    """Training cannot start or continue."""


class UpstreamError(TunesmithError):
    """A service we talk to (Ollama, the Hugging Face Hub) is unreachable or answered with an error."""


class PublishError(TunesmithError):
    """Publishing a package to the Hugging Face Hub or the Ollama registry failed."""


class ModelNotFoundError(ModelError):
    """No backend serves the requested model."""


class UpstreamTimeoutError(UpstreamError):
    """An upstream took longer than the configured timeout to answer."""


class UnfinishedAnswerError(UpstreamError):
    """A backend ended an answer before its final piece: the answer was cut short, not complete."""

    def __init__(self, source: str = "the backend", *, detail: str = "", hint: str | None = None) -> None:
        super().__init__(
            f"{source} ended the answer before it finished{detail}",
            hint=hint or "Try again; if it keeps happening, check the backend's log.",
        )


class BadRequestError(TunesmithError):
    """A request to the server is well-formed JSON but asks for something invalid; `param` names the field."""

    def __init__(self, message: str, *, param: str | None = None, hint: str | None = None) -> None:
        self.param = param
        super().__init__(message, where=param, hint=hint)


class AuthenticationError(TunesmithError):
    """A request to the server carries no API key, or one the server does not know."""
