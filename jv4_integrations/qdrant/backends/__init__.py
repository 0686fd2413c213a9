"""Storage backends, chosen by what the caller passes as ``location``.

=============================================  =========================================
``location``                                   backend
=============================================  =========================================
a directory path (``str`` / ``PathLike``)      embedded qdrant-edge store (the default)
``QdrantClient`` (any mode)                    :class:`.client.ClientBackend`
``AsyncQdrantClient`` (any mode)               :class:`.client.AsyncClientBackend`
``":memory:"``                                 a new in-memory ``QdrantClient``
``"http://…"`` / ``"https://…"``               a new ``QdrantClient(url=…, api_key=…)``
=============================================  =========================================
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ..._optional import require
from ...errors import StoreError
from .base import AsyncBackend, Backend

logger = logging.getLogger(__name__)

__all__ = ["AsyncBackend", "Backend", "is_async_client", "make_backend", "server_client", "version_problem"]


def _is_client(location: Any, class_name: str) -> bool:
    return any(
        cls.__name__ == class_name and cls.__module__.startswith("qdrant_client") for cls in type(location).__mro__
    )


def is_async_client(location: Any) -> bool:
    """Whether ``location`` is an ``AsyncQdrantClient``."""
    return _is_client(location, "AsyncQdrantClient")


def make_backend(location: Any, name: str, *, api_key: str | None = None) -> Backend | AsyncBackend:
    """Build the backend for ``location`` (see the module table).

    Args:
        location: a store directory, a qdrant-client client, ``":memory:"`` or a server URL.
        name: the collection name.
        api_key: API key for a server URL given as ``location``.

    Returns:
        A :class:`Backend`, or an :class:`AsyncBackend` for an ``AsyncQdrantClient``.

    Raises:
        TypeError: an unsupported ``location``.
    """
    from .client import AsyncClientBackend, ClientBackend
    from .edge import EdgeBackend

    if _is_client(location, "QdrantClient"):
        return ClientBackend(location, name)
    if is_async_client(location):
        return AsyncClientBackend(location, name, owns_client=False)
    if isinstance(location, str) and (location == ":memory:" or location.startswith(("http://", "https://"))):
        where = "in memory" if location == ":memory:" else "on a Qdrant server"
        purpose = f"MultiVectorCollection {where}"
        qdrant_client = require("qdrant_client", purpose=purpose)
        client = (
            qdrant_client.QdrantClient(location=":memory:")
            if location == ":memory:"
            else server_client(location, api_key)
        )
        return ClientBackend(client, name, owns_client=True)
    if isinstance(location, (str, os.PathLike)):
        return EdgeBackend(location, name)
    raise TypeError(
        f"unsupported location {type(location).__name__} ({location!r}); expected a store directory (str or "
        "pathlib.Path), a QdrantClient, an AsyncQdrantClient, ':memory:' or an http(s):// server URL"
    )


def version_problem(client_version: str, server_version: str) -> str | None:
    """Why a qdrant-client and a Qdrant server may not work together (``None`` when they should).

    Qdrant's rule: the same major version, and minor versions at most one apart.
    """
    try:
        c_major, c_minor = (int(x) for x in client_version.split(".")[:2])
        s_major, s_minor = (int(x) for x in server_version.split(".")[:2])
    except ValueError:
        return None  # a development build: nothing to compare
    if c_major != s_major or abs(c_minor - s_minor) > 1:
        return (
            f"qdrant-client {client_version} and the Qdrant server {server_version} may be incompatible (major "
            "versions should match and minor versions differ by at most 1)"
        )
    return None


def server_client(url: str, api_key: str | None = None) -> Any:
    """A ``QdrantClient`` for a server URL, checked at once: an unreachable server raises a clear
    :class:`StoreError` (instead of a warning from a background thread, then a failure later), and
    an incompatible server version is logged as a WARNING."""
    from importlib.metadata import version

    qdrant_client = require("qdrant_client", purpose="a Qdrant server")
    client = qdrant_client.QdrantClient(url=url, api_key=api_key, check_compatibility=False)
    try:
        server = str(client.info().version)
    except Exception as exc:
        client.close()
        raise StoreError(f"cannot reach the Qdrant server at {url}: {exc}") from exc
    problem = version_problem(version("qdrant-client"), server)
    if problem:
        logger.warning("%s", problem)
    return client
