"""Lazy package attributes: names resolved from submodules on first access (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build a package's ``__getattr__`` and ``__dir__`` that import ``names`` on first use.

    Args:
        package: the package's ``__name__``.
        names: public name -> relative module that defines it (e.g. ``{"JV4Encoder": ".core.encoder"}``).

    Returns:
        ``(__getattr__, __dir__)`` for the package module.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:  # the public names only
        return sorted(getattr(importlib.import_module(package), "__all__", names))

    return __getattr__, __dir__
