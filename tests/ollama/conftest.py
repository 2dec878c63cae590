"""Packages that the real Ollama tests create in the session's Ollama: one per chat family of the Modelfile registry,
each from a tiny model carrying a real chat template of that family, plus the embedded SmolLM2 packaged for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.real_ollama import RealOllama
from tunesmith.packager.package import PackageSpec, build_package

# Chat family of the registry -> the tiny model (tests/fixtures/tiny_models.py) whose real template it matches.
FAMILY_MODELS = {
    "chatml (SmolLM2)": "llama",
    "qwen2.5": "qwen2",
    "qwen3": "qwen3-chat",
    "llama3.1": "llama3.1",
    "llama3.2": "llama3.2",
    "llama3": "llama3",
    "gemma (Gemma 2)": "gemma2",
    "gemma (Gemma 3)": "gemma3",
    "phi3": "phi3",
    "llama2": "llama2",
    "mistral (Nemo)": "mistral-nemo",
    "mistral-v0.3": "mistral-v0.3",
}


def ollama_name(case: str) -> str:
    """A model name Ollama accepts for a FAMILY_MODELS key."""
    return "fam-" + "".join(c if c.isalnum() or c in ".-" else "-" for c in case.lower()).strip("-").replace("--", "-")


@pytest.fixture(scope="session")
def family_packages(tiny_model, tmp_path_factory) -> dict[str, Path]:
    """{family case: package folder}, each a Q8_0 package of the tiny model (fast to build and to load)."""
    root = tmp_path_factory.mktemp("family-packages")
    return {
        case: build_package(
            PackageSpec(
                base=tiny_model(model), out=root / ollama_name(case), quants=("Q8_0",), parameters={"num_ctx": 512}
            )
        ).path
        for case, model in FAMILY_MODELS.items()
    }


@pytest.fixture(scope="session")
def created_families(real_ollama: RealOllama, family_packages) -> dict[str, str]:
    """{family case: Ollama model name}, each package created in the real Ollama with `ollama create`."""
    names = {}
    for case, package in family_packages.items():
        name = ollama_name(case)
        done = real_ollama.cli("create", name, "-f", str(package / "Modelfile"))
        assert done.returncode == 0, f"ollama create {name}: {done.stderr[-2000:]}"
        names[case] = name
    return names


@pytest.fixture(scope="session")
def embedded_families(family_packages):
    """The embedded backend (`tunesmith serve --model`) over every family's package, started once."""
    import anyio

    from tunesmith.server.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend([str(path) for path in family_packages.values()], threads=1)
    anyio.run(backend.start)
    yield backend
    anyio.run(backend.close)


@pytest.fixture(scope="session")
def smollm2_package(tmp_path_factory) -> Path:
    """The embedded SmolLM2-135M-Instruct packaged to Q4_K_M as `tunesmith package --base embedded` does."""
    from tunesmith.embedded_base import embedded_base_dir

    out = tmp_path_factory.mktemp("smollm2") / "smollm2"
    return build_package(PackageSpec(base=embedded_base_dir(), out=out, name="smollm2")).path
