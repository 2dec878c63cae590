"""tunesmith.modelfiles: chat families (Ollama templates, stop tokens, defaults), Modelfile render, parse and lint."""

from tunesmith.modelfiles.chat_format import ChatFormat, choose_chat_format
from tunesmith.modelfiles.families import FAMILIES, ChatFamily, detect_family
from tunesmith.modelfiles.modelfile import LintIssue, Modelfile, lint_modelfile, parse_modelfile
from tunesmith.modelfiles.render import render_modelfile

__all__ = [
    "FAMILIES",
    "ChatFamily",
    "ChatFormat",
    "LintIssue",
    "Modelfile",
    "choose_chat_format",
    "detect_family",
    "lint_modelfile",
    "parse_modelfile",
    "render_modelfile",
]
