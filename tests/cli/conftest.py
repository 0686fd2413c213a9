"""Fixtures of the ``jv4`` tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_helpers import EXAMPLES


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    """A copy of the example data that a test may change."""
    target = tmp_path / "data"
    shutil.copytree(EXAMPLES, target)
    return target
