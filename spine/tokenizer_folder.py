"""A model folder's Hugging Face tokenizer, loaded with an error that says what is missing or broken.

Training, packaging and the quality report each load the tokenizer of a folder a user gave; a damaged tokenizer.json
makes transformers raise KeyError, TypeError or the tokenizers library's own errors from deep inside. This turns
them all into one ModelError naming the folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.errors import ModelError

__all__ = ["TOKENIZER_FILES", "load_folder_tokenizer"]

# A fast tokenizer's file, or a SentencePiece model: a folder with neither has no tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
_HINT = "Save the tokenizer beside the model with `tokenizer.save_pretrained(DIR)`."


def load_folder_tokenizer(path: str | Path) -> Any:
    """The tokenizer saved in the model folder `path`; ModelError when it has none or it cannot be loaded."""
    from transformers import AutoTokenizer

    folder = Path(path)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelError(
            "no tokenizer in the model folder (neither tokenizer.json nor tokenizer.model)",
            where=str(folder),
            hint=_HINT,
        )
    try:
        return AutoTokenizer.from_pretrained(folder)
    except Exception as err:  # damaged tokenizer files raise KeyError, TypeError, tokenizers' own errors...
        raise ModelError(f"cannot load the tokenizer: {err}", where=str(folder), hint=_HINT) from err
