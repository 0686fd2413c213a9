"""The ``jv4`` command line: index folders of text, images and PDFs, and search them."""

from __future__ import annotations

from .main import main

__all__ = ["main"]
