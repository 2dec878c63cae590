"""tunesmith.modelfiles: chat families (Ollama templates, stop tokens, defaults), Modelfile render, parse and lint."""

from tunesmith.modelfiles.chat_format import ChatFormat, choose_chat_format
from tunesmith.modelfiles.families import FAMILIES, ChatFamily, detect_family
from tunesmith.modelfiles.modelfile import LintIssue, Modelfile, lint_modelfile, parse_modelfile
from tunesmith.modelfiles.parameters import PARAMETER_TYPES, coerce_parameters
from tunesmith.modelfiles.render import render_modelfile

__all__ = [
    "FAMILIES",
    "PARAMETER_TYPES",
    "ChatFamily",
    "ChatFormat",
    "LintIssue",
    "Modelfile",
    "choose_chat_format",
    "coerce_parameters",
    "detect_family",
    "lint_modelfile",
    "parse_modelfile",
    "render_modelfile",
]
