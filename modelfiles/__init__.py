"""tunesmith.modelfiles: chat families (Ollama templates, stop tokens, defaults), Modelfile render, parse and lint."""

from tunesmith.modelfiles.modelfile import LintIssue, Modelfile, lint_modelfile, parse_modelfile
from tunesmith.modelfiles.render import render_modelfile

__all__ = ["LintIssue", "Modelfile", "lint_modelfile", "parse_modelfile", "render_modelfile"]
