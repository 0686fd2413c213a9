"""Shared values of the LlamaIndex tests (a uniquely named module: the test folders are not packages)."""

from __future__ import annotations

import base64
import io
from typing import Any

TEXTS = (
    "the cat sat on the mat near the window",
    "quarterly revenue grew in the EMEA region",
    "a recipe for sourdough bread with rye flour",
    "python asyncio event loops and worker threads",
)

ATOL = 1e-5  # the same items batched with different neighbours (padding) agree to float32 round-off


def png_base64(image: Any) -> str:
    """A PIL image as base64 PNG."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")
