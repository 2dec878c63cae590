"""tunesmith.publish: release a package folder on the Hugging Face Hub and the Ollama registry.

No web server is needed: `tunesmith publish`, `tunesmith run` and the server's publish jobs all call
`publish_package`.
"""

from tunesmith.publish.digests import sha256_files
from tunesmith.publish.hub import hub_ollama_files, publish_to_hf
from tunesmith.publish.names import OllamaName, check_hf_repo, parse_ollama_name
from tunesmith.publish.ollama_registry import (
    DEFAULT_OLLAMA_HOST,
    create_in_daemon,
    ollama_base_url,
    ollama_create_request,
    publish_to_ollama,
)
from tunesmith.publish.release import check_release, publish_package

__all__ = [
    "DEFAULT_OLLAMA_HOST",
    "OllamaName",
    "check_hf_repo",
    "check_release",
    "create_in_daemon",
    "hub_ollama_files",
    "ollama_base_url",
    "ollama_create_request",
    "parse_ollama_name",
    "publish_package",
    "publish_to_hf",
    "publish_to_ollama",
    "sha256_files",
]
