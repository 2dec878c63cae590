"""tunesmith.server.publish: release a package folder on the Hugging Face Hub and the Ollama registry, from the
command line or as the server's publish jobs."""

from tunesmith.server.publish.hub import hub_ollama_files, publish_to_hf
from tunesmith.server.publish.jobs import JobProgress, PublishJob, PublishJobs
from tunesmith.server.publish.names import OllamaName, check_hf_repo, parse_ollama_name
from tunesmith.server.publish.ollama_registry import (
    DEFAULT_OLLAMA_HOST,
    ollama_base_url,
    ollama_create_request,
    publish_to_ollama,
)
from tunesmith.server.publish.package import PublishPackage, read_package
from tunesmith.server.publish.release import check_release, publish_package
from tunesmith.server.publish.routes import PublishRequest, publish_router

__all__ = [
    "DEFAULT_OLLAMA_HOST",
    "JobProgress",
    "OllamaName",
    "PublishJob",
    "PublishJobs",
    "PublishPackage",
    "PublishRequest",
    "check_hf_repo",
    "check_release",
    "hub_ollama_files",
    "ollama_base_url",
    "ollama_create_request",
    "parse_ollama_name",
    "publish_package",
    "publish_router",
    "publish_to_hf",
    "publish_to_ollama",
    "read_package",
]
