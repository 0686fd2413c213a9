"""Fixtures of the LangChain tests: constructor arguments for the tiny checkpoint and image files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny_params(tiny_checkpoint: Path) -> dict[str, Any]:
    """``JV4Embeddings`` arguments that resolve to the session's shared tiny CPU encoder."""
    return {"model_name": str(tiny_checkpoint), "device": "cpu"}


@pytest.fixture(scope="session")
def image_paths(tmp_path_factory: pytest.TempPathFactory, image_factory: Any) -> list[str]:
    """Three PNG files of different random images (56x56, 84x56, 56x112), as path strings."""
    folder = tmp_path_factory.mktemp("lc-images")
    paths = []
    for seed, size in ((1, (56, 56)), (2, (84, 56)), (3, (56, 112))):
        path = folder / f"image-{seed}.png"
        image_factory(seed, size).save(path)
        paths.append(str(path))
    return paths
