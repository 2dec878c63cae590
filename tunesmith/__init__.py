"""tunesmith: from a base model and your own data to a model that `ollama run` serves, in one command."""

from tunesmith.errors import *  # noqa: F403  (the exception tree is part of the package's API)
from tunesmith.errors import __all__ as _ERRORS

__version__ = "0.1.0"

__all__ = ["__version__", *_ERRORS]
