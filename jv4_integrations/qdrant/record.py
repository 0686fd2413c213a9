"""What jv4 records about a collection: the model that wrote it, and the metadata keys it holds.

The record lives in Qdrant's collection metadata (qdrant-client, every mode) or in a sidecar
``jv4.json`` next to an embedded (qdrant-edge) shard. It is a flat dict so that Qdrant's shallow
merge of collection metadata keeps concurrent writers' additions::

    {"jv4": {"model": ..., "task": ..., "dense_size": ..., ...},
     "jv4_field:category": "str", "jv4_field:year": "int", ...}

Each ``jv4_field:<key>`` names a key of the caller's metadata that some point carries (with the
JSON type first seen); filters are checked against these keys so that a typo fails loudly instead
of silently matching nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .._version import __version__

__all__ = [
    "FIELD_PREFIX",
    "RECORD_KEY",
    "ModelRecord",
    "field_entries",
    "known_fields",
    "parse_record",
    "value_type",
]

RECORD_KEY = "jv4"
FIELD_PREFIX = "jv4_field:"


@dataclass(frozen=True)
class ModelRecord:
    """The model and settings that wrote a collection.

    Attributes:
        model: the encoder's ``name_or_path`` (``None`` when only precomputed vectors were added).
        task: the encoder task (``"retrieval"``, ``"text-matching"``, ``"code"``) or ``None``.
        dense_size: the Matryoshka size of the dense vectors.
        multivector_size: token width of the multi-vectors.
        dense_name / multivector_name: the vector names.
        payload_schema: version of the payload layout (:data:`~.payload.PAYLOAD_SCHEMA_VERSION`).
        library_version: the jv4-integrations version that created the collection.
        pooled_tokens / pooled_name: the pooled multi-vector of the hybrid middle stage
            (``CollectionSchema.pooled_tokens``; ``None``: none).
    """

    model: str | None
    task: str | None
    dense_size: int
    multivector_size: int
    dense_name: str
    multivector_name: str
    payload_schema: int
    library_version: str = __version__
    pooled_tokens: int | None = None
    pooled_name: str | None = None

    def to_metadata(self) -> dict[str, Any]:
        """The collection-metadata entry holding this record."""
        return {RECORD_KEY: asdict(self)}


def parse_record(metadata: Mapping[str, Any] | None) -> ModelRecord | None:
    """Read the jv4 record from collection metadata (``None`` if absent or unreadable)."""
    if not metadata:
        return None
    raw = metadata.get(RECORD_KEY)
    if not isinstance(raw, Mapping):
        return None
    try:
        return ModelRecord(
            model=raw.get("model"),
            task=raw.get("task"),
            dense_size=int(raw["dense_size"]),
            multivector_size=int(raw["multivector_size"]),
            dense_name=str(raw["dense_name"]),
            multivector_name=str(raw["multivector_name"]),
            payload_schema=int(raw.get("payload_schema", 1)),
            library_version=str(raw.get("library_version", "")),
            pooled_tokens=_optional_int(raw.get("pooled_tokens")),
            pooled_name=str(raw["pooled_name"]) if raw.get("pooled_name") else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def value_type(value: Any) -> str:
    """The JSON type name of a metadata value: str, int, float, bool, list, dict or null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "dict"
    return type(value).__name__


def field_entries(fields: Mapping[str, str]) -> dict[str, str]:
    """Collection-metadata entries for metadata keys (``{"jv4_field:<key>": type}``)."""
    return {FIELD_PREFIX + key: kind for key, kind in fields.items()}


def known_fields(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """The caller-metadata keys recorded in collection metadata, with their types."""
    if not metadata:
        return {}
    return {
        k[len(FIELD_PREFIX) :]: str(v) for k, v in metadata.items() if isinstance(k, str) and k.startswith(FIELD_PREFIX)
    }
