"""tunesmith: from a base model and your own data to a model that `ollama run` serves, in one command."""

from tunesmith import errors
from tunesmith.errors import *

__version__ = "0.1.0"

# The exception tree is part of the package's API.
__all__ = ["__version__"]
__all__ += errors.__all__
