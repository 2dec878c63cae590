"""Fixtures of the publish tests: a package folder, and test_hub.py's fake Hugging Face Hub offered to the folder."""

from __future__ import annotations

import pytest

from tests.fixtures.package_folder import write_package
from tests.publish.test_hub import hub  # noqa: F401  (the fake Hub fixture)


@pytest.fixture
def package(tmp_path):
    """A package folder as the packager writes it, for a model named demo."""
    return write_package(tmp_path / "demo")
