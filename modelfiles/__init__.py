"""tunesmith.modelfiles: chat families (Ollama templates, stop tokens, defaults), Modelfile render, parse and lint."""
