"""tunesmith: from a base model and your own data to a model that `ollama run` serves, in one command."""

from tunesmith.errors import (
    ConfigError,
    DataError,
    ModelError,
    ModelfileError,
    PackageError,
    PublishError,
    TrainError,
    TunesmithError,
    UpstreamError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
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
