"""Shared fixtures: one tiny checkpoint in the published layout and one encoder per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at test time
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random `tiny` checkpoint (hidden 64, 2 layers) written by the project's own writer."""
    from jv4_integrations.testing import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "jv4-tiny", preset="tiny", seed=0)


@pytest.fixture(scope="session")
def encoder(tiny_checkpoint: Path):  # type: ignore[no-untyped-def]
    """The shared float32 CPU encoder of the tiny checkpoint (the one every adapter gets)."""
    from jv4_integrations import JV4Encoder

    return JV4Encoder.shared(str(tiny_checkpoint), device="cpu")


@pytest.fixture(scope="session")
def image_factory():  # type: ignore[no-untyped-def]
    """Deterministic test images: ``image_factory(seed, size=(w, h))`` -> PIL RGB image."""
    import numpy as np
    from PIL import Image

    def make(seed: int, size: tuple[int, int] = (56, 56)):  # type: ignore[no-untyped-def]
        rng = np.random.default_rng(seed)
        return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), mode="RGB")

    return make
