"""Fixtures shared by every test folder (tiny models of each family are built once per session)."""

pytest_plugins = [
    "tests.fixtures.tiny_models",
    "tests.fixtures.smollm2_tiny",
    "tests.fixtures.go_render",
    "tests.fixtures.real_ollama",
    "tests.fixtures.scripted_model",
]
