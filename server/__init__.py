"""tunesmith.server: an OpenAI-compatible API over Ollama and in-process llama.cpp, and publishing of packages."""
