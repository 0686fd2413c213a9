"""The package version (kept in one place; read by pyproject.toml)."""

from __future__ import annotations

__version__ = "0.1.0"
