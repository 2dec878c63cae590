"""The one exception tree of tunesmith: every error a user can cause is a `TunesmithError`.

Each error says what was wrong, where (file, line, key, field) and what to do next. The CLI prints it as one red
paragraph and exits 2; the server turns it into an OpenAI error body. This module imports nothing of ours, so every
room may raise these.
"""

from __future__ import annotations

__all__ = [
    "TunesmithError",
    "ConfigError",
    "DataError",
    "ModelError",
    "ModelfileError",
    "PackageError",
    "TrainError",
    "UpstreamError",
    "PublishError",
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
    """Packaging (convert, quantize, write the package folder) cannot proceed."""


class TrainError(TunesmithError):
    """Training cannot start or continue."""


class UpstreamError(TunesmithError):
    """A service we talk to (Ollama, the Hugging Face Hub) is unreachable or answered with an error."""


class PublishError(TunesmithError):
    """Publishing a package to the Hugging Face Hub or the Ollama registry failed."""
