"""A model folder seen with another chat template (`chat_template:` in the project, `--chat-template`): its files
linked, tokenizer_config.json rewritten with the template, so that merging, converting to GGUF and choosing the
Modelfile TEMPLATE all read the template the model was trained with, and the user's folder is never touched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

__all__ = ["with_chat_template"]

# Files that would carry the folder's own template; transformers and gguf-py read them before tokenizer_config.json.
_OWN_TEMPLATE = ("chat_template.jinja", "chat_template.json", "tokenizer_config.json")


def with_chat_template(model_dir: Path, chat_template: str, view: Path) -> Path:
    """Make `view` a copy of `model_dir` by links whose tokenizer carries `chat_template`; return `view`."""
    shutil.rmtree(view, ignore_errors=True)
    view.mkdir(parents=True)
    for path in sorted(model_dir.iterdir()):
        if path.name not in _OWN_TEMPLATE:
            (view / path.name).symlink_to(path.resolve())
    own = model_dir / "tokenizer_config.json"
    settings = json.loads(own.read_text(encoding="utf-8")) if own.is_file() else {}
    settings["chat_template"] = chat_template
    (view / "tokenizer_config.json").write_text(
        json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return view
