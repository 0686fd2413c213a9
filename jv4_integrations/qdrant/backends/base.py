"""The backend protocols: the few storage operations :class:`MultiVectorCollection` needs.

A backend is bound to one collection. Everything model-related (encoding, ids, payloads, filter
checks) stays in the collection; a backend only moves backend-neutral values
(:class:`~..types.PointData`, :class:`~..types.QueryPlan`, :class:`~..types.RawPoint`) to and from
one storage engine. Filters arrive as ``qdrant_client.models.Filter`` objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..schema import CollectionSchema, ReportedSchema, ShardKey
    from ..types import PointData, QueryPlan, RawPoint

__all__ = ["AsyncBackend", "Backend"]


class Backend(Protocol):
    """Synchronous storage for one collection.

    Attributes:
        kind: ``"edge"``, ``"local"`` or ``"remote"``.
        name: the collection name.
        location: where it lives (store directory, ``":memory:"``, a path or a URL), if known.
    """

    kind: str
    name: str
    location: str | None

    def bind(self, schema: CollectionSchema) -> None:
        """Remember the vector names and settings used by later calls."""

    def exists(self) -> bool:
        """Whether the collection exists."""

    def create(self, schema: CollectionSchema, metadata: Mapping[str, Any]) -> None:
        """Create the collection (and its shard keys / default payload indexes)."""

    def describe(self) -> ReportedSchema:
        """The settings the backend reports for the existing collection."""

    def read_metadata(self) -> dict[str, Any]:
        """The collection metadata (jv4 record and known metadata keys)."""

    def merge_metadata(self, patch: Mapping[str, Any]) -> None:
        """Add or replace top-level collection-metadata keys."""

    def upsert(self, points: Sequence[PointData], *, shard_key: ShardKey | None) -> None:
        """Write points (one request; the caller sizes the batch)."""

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool, shard_key: ShardKey | None) -> list[RawPoint]:
        """Points by id (missing ids are skipped)."""

    def scroll(
        self, *, filter: Any, limit: int, offset: Any, with_vectors: bool, shard_key: ShardKey | None
    ) -> tuple[list[RawPoint], Any]:
        """One page of points in point-id order from ``offset`` (``None``: the start), and the next
        page's offset (``None`` after the last page)."""

    def query(self, plans: Sequence[QueryPlan]) -> list[list[RawPoint]]:
        """Run searches; one result list per plan, best first."""

    def delete(self, *, ids: Sequence[str] | None, filter: Any, shard_key: ShardKey | None) -> None:
        """Delete points by id or by filter."""

    def count(self, filter: Any, *, shard_key: ShardKey | None) -> int:
        """Exact number of points (matching ``filter``)."""

    def payload_indexes(self) -> dict[str, str]:
        """Payload indexes: field path -> type name."""

    def create_payload_index(self, key: str, kind: str) -> None:
        """Index a payload field (``keyword``, ``integer``, ``float``, ``bool``, ``datetime``, ...)."""

    def optimize(self) -> None:
        """Build pending indexes now (embedded engine); a no-op elsewhere."""

    def after_write(self, n_points: int) -> None:
        """Hook run after each upsert request of an ingestion call (``n_points`` points written)."""

    def close(self) -> None:
        """Release the collection (closes clients / shards the backend owns)."""


class AsyncBackend(Protocol):
    """The native async twin of :class:`Backend` (``AsyncQdrantClient``); same semantics."""

    kind: str
    name: str
    location: str | None

    def bind(self, schema: CollectionSchema) -> None:
        """Remember the vector names and settings used by later calls."""

    async def exists(self) -> bool:
        """Whether the collection exists."""

    async def create(self, schema: CollectionSchema, metadata: Mapping[str, Any]) -> None:
        """Create the collection."""

    async def describe(self) -> ReportedSchema:
        """The settings the backend reports."""

    async def read_metadata(self) -> dict[str, Any]:
        """The collection metadata."""

    async def merge_metadata(self, patch: Mapping[str, Any]) -> None:
        """Add or replace top-level collection-metadata keys."""

    async def upsert(self, points: Sequence[PointData], *, shard_key: ShardKey | None) -> None:
        """Write points."""

    async def retrieve(self, ids: Sequence[str], *, with_vectors: bool, shard_key: ShardKey | None) -> list[RawPoint]:
        """Points by id."""

    async def scroll(
        self, *, filter: Any, limit: int, offset: Any, with_vectors: bool, shard_key: ShardKey | None
    ) -> tuple[list[RawPoint], Any]:
        """One page of points and the next page's offset."""

    async def query(self, plans: Sequence[QueryPlan]) -> list[list[RawPoint]]:
        """Run searches."""

    async def delete(self, *, ids: Sequence[str] | None, filter: Any, shard_key: ShardKey | None) -> None:
        """Delete points."""

    async def count(self, filter: Any, *, shard_key: ShardKey | None) -> int:
        """Exact number of points."""

    async def payload_indexes(self) -> dict[str, str]:
        """Payload indexes."""

    async def create_payload_index(self, key: str, kind: str) -> None:
        """Index a payload field."""

    async def optimize(self) -> None:
        """No-op for servers."""

    async def after_write(self, n_points: int) -> None:
        """Hook run after each upsert request of an ingestion call."""

    async def close(self) -> None:
        """Release the collection."""
