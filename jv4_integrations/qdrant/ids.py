"""Deterministic point ids: the same item always lands on the same point.

Every point id is ``uuid5(POINT_ID_NAMESPACE, item_id)``. The ``item_id`` is the caller's id (any
``str``, ``int`` or ``UUID``, as text) or, when the caller gives none, a content hash:
``"sha256:<hex>"`` of the text, of the decoded RGB pixels of an image (so the same picture given as a
path, bytes, a file object or a PIL image gets one id), or of both for a text+image item. Adding an
item again therefore overwrites its point instead of duplicating it, and an interrupted ingestion
can simply be run again.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image as PILImage

__all__ = [
    "POINT_ID_NAMESPACE",
    "content_item_id",
    "image_digest",
    "normalize_item_id",
    "point_id",
    "text_item_id",
    "vectors_item_id",
]

#: The UUIDv5 namespace of jv4 point ids. Never change it: stored collections depend on it.
POINT_ID_NAMESPACE = uuid.UUID("8f6b1f3e-5c2a-5d0e-9a47-6b3f1c0d2e71")
_PREFIX = "sha256:"


def normalize_item_id(value: Any, *, index: int | None = None) -> str:
    """The caller's id as the text stored in ``item_id``.

    Args:
        value: a non-empty ``str``, an ``int`` (not ``bool``) or a ``uuid.UUID``.
        index: the item's position, for the error message.

    Returns:
        ``str(value)``.

    Raises:
        ValueError: any other value (the message quotes it and names the item).
    """
    where = f"id of item {index}" if index is not None else "id"
    if isinstance(value, bool) or not isinstance(value, (str, int, uuid.UUID)):
        raise ValueError(f"{where} must be a str, int or uuid.UUID, got {value!r}")
    text = str(value)
    if not text:
        raise ValueError(f"{where} must not be empty")
    return text


def point_id(item_id: str | int | uuid.UUID) -> str:
    """The Qdrant point id (a UUID string) of an item id.

    Args:
        item_id: an id as ``ids=`` takes it (``str``, ``int`` or ``uuid.UUID``; stored as its text,
            so ``7`` and ``"7"`` are one id).

    Raises:
        ValueError: any other value.

    Example:
        >>> point_id("doc-1") == point_id("doc-1")
        True
        >>> point_id(7) == point_id("7")
        True
    """
    return str(uuid.uuid5(POINT_ID_NAMESPACE, normalize_item_id(item_id)))


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return _PREFIX + h.hexdigest()


def image_digest(image: PILImage.Image) -> bytes:
    """SHA-256 of an image's size, mode and pixels (the decoded image, not its file bytes)."""
    h = hashlib.sha256()
    h.update(f"{image.mode}:{image.width}x{image.height}".encode())
    h.update(image.tobytes())
    return h.digest()


def text_item_id(text: str) -> str:
    """Content id of a text item."""
    return _digest(b"text", text.encode("utf-8"))


def content_item_id(kind: str, text: str | None, images: Iterable[PILImage.Image]) -> str:
    """Content id of a prepared item.

    Args:
        kind: ``"text"``, ``"image"`` or ``"mixed"``.
        text: its text (``None`` for an image).
        images: its decoded RGB images (none for a text).

    Returns:
        ``"sha256:<64 hex digits>"``.
    """
    if kind == "text":
        return text_item_id(text or "")
    parts = [kind.encode()]
    if text is not None:
        parts.append(text.encode("utf-8"))
    parts.extend(image_digest(image) for image in images)
    return _digest(*parts)


def vectors_item_id(dense: np.ndarray, multivector: np.ndarray) -> str:
    """Content id of precomputed vectors given without a text or an id."""
    import numpy as np

    return _digest(
        b"vectors",
        np.ascontiguousarray(dense, dtype=np.float32).tobytes(),
        np.ascontiguousarray(multivector, dtype=np.float32).tobytes(),
    )
