"""Checking release names before any upload: a Hub repo id `USER/REPO` and an Ollama name `USER/NAME[:TAG]`.

The rules are those of huggingface_hub's `validate_repo_id` and Ollama's `types/model/name.go`, so a name we accept
is one the services accept, and a bad one fails here with the fix rather than after gigabytes were sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tunesmith.errors import PublishError

__all__ = ["OllamaName", "check_hf_repo", "parse_ollama_name"]

_HF_PART = re.compile(r"[A-Za-z0-9_.-]+")
# Ollama: a part starts with a letter, digit or '_' and goes on with those, '-' and '_' ('.' too, except namespaces).
_OLLAMA_NAMESPACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}")
_OLLAMA_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")


def check_hf_repo(repo_id: str) -> str:
    """Return `repo_id` if it is `USER/REPO` as the Hub accepts it; raise PublishError saying what to change."""
    parts = repo_id.split("/")
    ok = (
        len(parts) == 2
        and all(_HF_PART.fullmatch(part) for part in parts)
        and len(repo_id) <= 96
        and ".." not in repo_id
        and "--" not in repo_id
        and not any(part.startswith(("-", ".")) or part.endswith(("-", ".")) for part in parts)
    )
    if not ok:
        raise PublishError(
            f"{repo_id!r} is not a Hugging Face repo id",
            where="--hf",
            hint="Write USER/REPO (or ORG/REPO): letters, digits, '-', '_' and '.', at most 96 "
            "characters, no '--' or '..', e.g. --hf alice/smollm2-support-GGUF.",
        )
    return repo_id


@dataclass(frozen=True)
class OllamaName:
    """An ollama.com model name: `namespace/model:tag`."""

    namespace: str
    model: str
    tag: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.model}:{self.tag}"

    @property
    def url(self) -> str:
        """The model's page on ollama.com (the tag is part of it unless it is `latest`)."""
        suffix = "" if self.tag == "latest" else f":{self.tag}"
        return f"https://ollama.com/{self.namespace}/{self.model}{suffix}"


def parse_ollama_name(name: str) -> OllamaName:
    """Read `USER/NAME[:TAG]` (tag `latest` by default); raise PublishError when ollama.com would refuse it."""
    hint = (
        "Write USER/NAME or USER/NAME:TAG, where USER is your ollama.com user name, e.g. "
        "--ollama alice/smollm2-support:q4_k_m."
    )
    base, _, tag = name.partition(":")
    parts = base.split("/")
    if len(parts) == 1 and parts[0]:
        raise PublishError(
            f"{name!r} has no namespace: ollama.com only takes models under a user name", where="--ollama", hint=hint
        )
    if len(parts) != 2 or ":" in tag:
        raise PublishError(f"{name!r} is not in the form USER/NAME[:TAG]", where="--ollama", hint=hint)
    namespace, model = parts
    tag = tag if ":" in name else "latest"
    for label, value, pattern in (
        ("user", namespace, _OLLAMA_NAMESPACE),
        ("name", model, _OLLAMA_PART),
        ("tag", tag, _OLLAMA_PART),
    ):
        if not pattern.fullmatch(value):
            raise PublishError(
                f"the {label} {value!r} in {name!r} is not valid for Ollama",
                where="--ollama",
                hint="Each part starts with a letter, digit or '_' and holds only those, '-' and "
                f"'_' ('.' too in the name and tag), at most 80 characters. {hint}",
            )
    return OllamaName(namespace, model, tag)
