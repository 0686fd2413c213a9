"""The payload schema every jv4 point carries, shared by the Qdrant layer and every adapter.

One point = one item (a text, an image or a text+image item). Its payload is::

    {
        "text": str | None,        # the text (None for a pure image)
        "metadata": dict,          # the caller's metadata, stored and returned verbatim
        "modality": "text" | "image" | "mixed",
        "source": str | None,      # where an image came from (path / URI); never pixels unless asked
        "doc_id": str | None,      # the parent document, e.g. the PDF a page belongs to
        "item_id": str,            # the caller's id, or the item's content hash
        "jv4_schema": 1,           # version of this layout
        "extra": dict,             # only when an adapter keeps data that is not the caller's
                                   # metadata, under its name: {"llama_index": {...}}
    }

Nothing internal is ever added to ``metadata``. Filters on the caller's metadata use the key path
``metadata.<key>`` (see :func:`metadata_key`). LangChain and LlamaIndex stores, and the command
line, read and write points only through :func:`build_payload` and :func:`parse_payload`.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Literal

__all__ = [
    "DOC_ID",
    "EXTRA",
    "ITEM_ID",
    "METADATA",
    "MODALITIES",
    "MODALITY",
    "PAYLOAD_FIELDS",
    "PAYLOAD_SCHEMA_VERSION",
    "SCHEMA",
    "SOURCE",
    "TEXT",
    "Modality",
    "ParsedPayload",
    "build_payload",
    "clean_metadata",
    "metadata_key",
    "parse_payload",
]

#: Version of the payload layout, stored in every point under :data:`SCHEMA`.
PAYLOAD_SCHEMA_VERSION = 1

TEXT = "text"
METADATA = "metadata"
MODALITY = "modality"
SOURCE = "source"
DOC_ID = "doc_id"
ITEM_ID = "item_id"
SCHEMA = "jv4_schema"
EXTRA = "extra"

#: Every top-level payload key, in the documented order (:data:`EXTRA` is optional and not listed).
PAYLOAD_FIELDS: tuple[str, ...] = (TEXT, METADATA, MODALITY, SOURCE, DOC_ID, ITEM_ID, SCHEMA)

Modality = Literal["text", "image", "mixed"]
MODALITIES: tuple[str, ...] = ("text", "image", "mixed")


def metadata_key(key: str) -> str:
    """The payload path of a caller metadata key, for filters and payload indexes.

    Args:
        key: a key of the caller's metadata dict (nested keys may use dots: ``"author.name"``).

    Returns:
        ``"metadata.<key>"``.

    Example:
        >>> metadata_key("category")
        'metadata.category'
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"metadata keys must be non-empty strings, got {key!r}")
    return f"{METADATA}.{key}"


#: What metadata values may be, for messages.
METADATA_VALUES = (
    "str, int, float, bool, None, lists and dicts of them (tuples, datetimes, dates, pathlib paths and numpy "
    "numbers are converted)"
)


def _clean_value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"{where} is {value!r}; metadata numbers must be finite (JSON has no NaN or inf): use None for a "
                "missing value"
            )
        return float(value)
    if isinstance(value, Mapping):
        return {_clean_key(k, where): _clean_value(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return _clean_value(value.item(), where)
    raise ValueError(f"{where} is a {type(value).__name__}, which metadata cannot hold; it can hold {METADATA_VALUES}")


def _clean_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"{where} has the key {key!r}; metadata keys must be non-empty strings")
    return key


def clean_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form in which metadata is stored: a new dict, the caller's is never modified.

    Kept as they are: ``str``, ``int``, ``float``, ``bool``, ``None``, lists and dicts of them.
    Converted: tuples to lists, ``datetime`` / ``date`` / ``time`` to ISO 8601 strings (what Qdrant's
    datetime ranges read), pathlib paths to strings, numpy scalars to Python numbers.

    Args:
        metadata: one item's metadata.

    Returns:
        The stored form.

    Raises:
        ValueError: naming the key path: a key that is not a non-empty string (at any depth), a NaN or
            infinite number, or a value of any other type (sets, bytes, objects, arrays).

    Example:
        >>> import datetime
        >>> clean_metadata({"when": datetime.date(2024, 5, 1), "pages": (1, 2)})
        {'when': '2024-05-01', 'pages': [1, 2]}
    """
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    return {_clean_key(k, "metadata"): _clean_value(v, f"metadata[{k!r}]") for k, v in metadata.items()}


def build_payload(
    *,
    item_id: str,
    modality: str,
    text: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    source: str | None = None,
    doc_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the payload of one point.

    Args:
        item_id: the caller's id, or the content hash.
        modality: ``"text"``, ``"image"`` or ``"mixed"``.
        text: the item's text (``None`` for images).
        metadata: the caller's metadata, stored in the form :func:`clean_metadata` gives; the
            caller's dict is never modified.
        source: image path / URI reference (or a ``data:`` URI when the caller stores pixels).
        doc_id: the parent document id.
        extra: adapter data that is not the caller's metadata (JSON-serialisable), keyed by the
            adapter's name; stored under :data:`EXTRA` only when given.

    Returns:
        A new dict with exactly the keys of :data:`PAYLOAD_FIELDS` (and :data:`EXTRA` when given).

    Raises:
        ValueError: an unknown modality, metadata that :func:`clean_metadata` refuses, or a bad id.
    """
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {list(MODALITIES)}")
    if not isinstance(item_id, str) or not item_id:
        raise ValueError(f"item_id must be a non-empty str, got {item_id!r}")
    if doc_id is not None and not isinstance(doc_id, str):
        raise ValueError(f"doc_id must be a str or None, got {doc_id!r}")
    if extra is not None and not isinstance(extra, Mapping):
        raise ValueError(f"extra must be a dict or None, got {type(extra).__name__}")
    payload = {
        TEXT: text,
        METADATA: clean_metadata(metadata) if metadata is not None else {},
        MODALITY: modality,
        SOURCE: source,
        DOC_ID: doc_id,
        ITEM_ID: item_id,
        SCHEMA: PAYLOAD_SCHEMA_VERSION,
    }
    if extra is not None:
        payload[EXTRA] = dict(extra)
    return payload


@dataclass(frozen=True)
class ParsedPayload:
    """A point's payload, read back.

    Attributes:
        item_id: the caller's id or content hash (``""`` if the point was not written by jv4).
        text: the text, or ``None``.
        metadata: the caller's metadata, verbatim.
        modality: ``"text"``, ``"image"`` or ``"mixed"`` (``"text"`` when absent).
        source: the image reference, or ``None``.
        doc_id: the parent document id, or ``None``.
        schema_version: the payload layout version (``None`` for foreign points).
        extra: adapter data stored beside the metadata (``{}`` when none).
    """

    item_id: str
    text: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    modality: str = "text"
    source: str | None = None
    doc_id: str | None = None
    schema_version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_payload(payload: Mapping[str, Any] | None) -> ParsedPayload:
    """Read a stored payload (tolerant of points written by other tools).

    Args:
        payload: the point's payload as returned by Qdrant (``None`` = empty).

    Returns:
        The typed fields; missing keys get neutral defaults.
    """
    data = payload or {}
    metadata = data.get(METADATA)
    version = data.get(SCHEMA)
    extra = data.get(EXTRA)
    return ParsedPayload(
        item_id=str(data.get(ITEM_ID) or ""),
        text=data.get(TEXT),
        metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
        modality=str(data.get(MODALITY) or "text"),
        source=data.get(SOURCE),
        doc_id=data.get(DOC_ID),
        schema_version=int(version) if isinstance(version, int) else None,
        extra=dict(extra) if isinstance(extra, Mapping) else {},
    )
