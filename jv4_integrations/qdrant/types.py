"""Values passed between the collection and its backends, and returned to callers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .payload import parse_payload

if TYPE_CHECKING:
    import numpy as np

    from .record import ModelRecord
    from .schema import CollectionSchema, ShardKey

__all__ = [
    "MODES",
    "CollectionInfo",
    "Mode",
    "PointData",
    "QueryPlan",
    "RawPoint",
    "SearchHit",
    "StoredPoint",
    "MiddleStage",
    "middle_stage",
]

Mode = Literal["hybrid", "dense", "multivector"]
#: Search modes: dense prefetch + MaxSim rerank (default), dense HNSW only, exact MaxSim over all points.
MODES: tuple[str, ...] = ("hybrid", "dense", "multivector")


@dataclass(frozen=True)
class PointData:
    """One point to write.

    Attributes:
        id: the point id (a UUID string, see :func:`~.ids.point_id`).
        dense: ``(dense_size,)`` float32.
        multivector: ``(n_tokens, multivector_size)`` float32.
        payload: the payload (see :mod:`~.payload`).
        mean: ``(multivector_size,)`` float32, the normalised mean token, on collections with
            ``prefetch_vector="mean"`` (else ``None``).
        pooled: ``(<= pooled_tokens, multivector_size)`` float32, the pooled tokens, on collections
            with ``pooled_tokens`` (else ``None``).
    """

    id: str
    dense: np.ndarray
    multivector: np.ndarray
    payload: dict[str, Any]
    mean: np.ndarray | None = None
    pooled: np.ndarray | None = None

    def named_vectors(self, schema: CollectionSchema) -> dict[str, list[Any]]:
        """The point's vectors by name, as lists (what both engines take fastest)."""
        out = {schema.dense_name: self.dense.tolist(), schema.multivector_name: self.multivector.tolist()}
        if self.mean is not None:
            out[schema.mean_name] = self.mean.tolist()
        if self.pooled is not None:
            out[schema.pooled_name] = self.pooled.tolist()
        return out


@dataclass(frozen=True)
class QueryPlan:
    """One search, backend-neutral.

    Attributes:
        mode: ``"hybrid"``, ``"dense"`` or ``"multivector"``.
        dense: ``(dense_size,)`` float32 query vector (dense and hybrid).
        multivector: ``(n_tokens, multivector_size)`` float32 query tokens (multivector and hybrid).
        limit: results wanted.
        prefetch_limit: dense candidates reranked in hybrid mode (K).
        filter: a ``qdrant_client.models.Filter`` (or ``None``).
        hnsw_ef: HNSW beam width of the dense search (``None`` = backend default).
        score_threshold: drop results scoring below it.
        shard_key: custom-sharding key (server / cluster only).
        rerank_candidates: hybrid mode only: how many of the ``prefetch_limit`` dense candidates
            the exact MaxSim rerank sees (K2), picked by MaxSim on the pooled tokens or the
            quantized multi-vectors when the collection has them (see :func:`middle_stage`).
            ``None`` = all of them.
        prefetch: hybrid mode on ``prefetch_vector="mean"`` collections: the query's normalised
            mean token, searched in the mean vector instead of ``dense`` (else ``None``).
    """

    mode: str
    dense: np.ndarray | None
    multivector: np.ndarray | None
    limit: int
    prefetch_limit: int
    filter: Any = None
    hnsw_ef: int | None = None
    score_threshold: float | None = None
    shard_key: ShardKey | None = None
    rerank_candidates: int | None = None
    prefetch: np.ndarray | None = None

    @property
    def prefetch_query(self) -> np.ndarray | None:
        """The vector the hybrid prefetch searches with: :attr:`prefetch` when set, else :attr:`dense`."""
        return self.prefetch if self.prefetch is not None else self.dense


class MiddleStage(NamedTuple):
    """The middle stage of a hybrid search: the named vector whose MaxSim keeps
    ``plan.rerank_candidates`` of the prefetched candidates, and whether it reads that vector's
    quantized copy (then without rescoring)."""

    using: str
    quantized: bool


def middle_stage(plan: QueryPlan, schema: CollectionSchema) -> MiddleStage | None:
    """The middle stage a hybrid search runs, or ``None``.

    It runs only where it changes something: hybrid mode, ``rerank_candidates`` below
    ``prefetch_limit``, and a cheaper copy to score: the pooled tokens (``pooled_tokens``; they take
    precedence), else the quantized multi-vector (scalar or binary quantization). Without either,
    exact MaxSim over the best ``rerank_candidates`` by exact MaxSim would return what reranking all
    of them returns, so there is no stage. Backends ask it only where the engine runs prefetch
    chains (the embedded engine, a server); qdrant-client local mode reranks every candidate exactly
    on the client.
    """
    if plan.mode != "hybrid" or plan.rerank_candidates is None or plan.rerank_candidates >= plan.prefetch_limit:
        return None
    if schema.pooled_tokens is not None:
        return MiddleStage(schema.pooled_name, quantized=False)
    if schema.multivector_quantization is not None:
        return MiddleStage(schema.multivector_name, quantized=True)
    return None


@dataclass(frozen=True)
class RawPoint:
    """A point as a backend returns it (score ``None`` for retrieval)."""

    id: str
    payload: Mapping[str, Any]
    score: float | None = None
    dense: np.ndarray | None = None
    multivector: np.ndarray | None = None


@dataclass(frozen=True)
class SearchHit:
    """One search result.

    Attributes:
        id: the Qdrant point id (UUID string).
        item_id: the caller's id, or the content hash.
        score: MaxSim score (hybrid, multivector) or cosine similarity (dense).
        text: the item's text (``None`` for images).
        metadata: the caller's metadata, verbatim.
        modality: ``"text"``, ``"image"`` or ``"mixed"``.
        source: the image reference, or ``None``.
        doc_id: the parent document id, or ``None``.
        payload: the full stored payload.
    """

    id: str
    item_id: str
    score: float
    text: str | None
    metadata: dict[str, Any]
    modality: str
    source: str | None
    doc_id: str | None
    payload: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_raw(cls, raw: RawPoint) -> SearchHit:
        """Build a hit from a backend result."""
        p = parse_payload(raw.payload)
        return cls(
            id=raw.id,
            item_id=p.item_id,
            score=float(raw.score or 0.0),
            text=p.text,
            metadata=p.metadata,
            modality=p.modality,
            source=p.source,
            doc_id=p.doc_id,
            payload=dict(raw.payload),
        )


@dataclass(frozen=True)
class StoredPoint:
    """A stored point, as :meth:`MultiVectorCollection.get` returns it.

    Attributes:
        id / item_id / text / metadata / modality / source / doc_id / payload: as in :class:`SearchHit`.
        dense: ``(dense_size,)`` float32 as stored (cosine vectors are stored L2-normalised), when
            asked for with ``with_vectors=True``.
        multivector: ``(n_tokens, multivector_size)`` float32 as stored, when asked for.
    """

    id: str
    item_id: str
    text: str | None
    metadata: dict[str, Any]
    modality: str
    source: str | None
    doc_id: str | None
    payload: Mapping[str, Any] = field(repr=False)
    dense: np.ndarray | None = field(default=None, repr=False)
    multivector: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_raw(cls, raw: RawPoint) -> StoredPoint:
        """Build a stored point from a backend record."""
        p = parse_payload(raw.payload)
        return cls(
            id=raw.id,
            item_id=p.item_id,
            text=p.text,
            metadata=p.metadata,
            modality=p.modality,
            source=p.source,
            doc_id=p.doc_id,
            payload=dict(raw.payload),
            dense=raw.dense,
            multivector=raw.multivector,
        )


@dataclass(frozen=True)
class CollectionInfo:
    """What :meth:`MultiVectorCollection.info` reports.

    Attributes:
        name: the collection name.
        backend: ``"edge"`` (embedded engine), ``"local"`` (qdrant-client local mode) or
            ``"remote"`` (a Qdrant server / cluster).
        location: the store directory, ``":memory:"``, or the server URL when known.
        points: number of points.
        schema: the collection's vector and cluster settings.
        model: the model / task / sizes that wrote it (``None`` for collections jv4 did not create).
        metadata_fields: caller metadata keys written so far, with their JSON types.
        payload_indexes: payload indexes (field path -> type).
    """

    name: str
    backend: str
    location: str | None
    points: int
    schema: CollectionSchema
    model: ModelRecord | None
    metadata_fields: Mapping[str, str]
    payload_indexes: Mapping[str, str]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable view (what ``jv4 info`` prints)."""
        from dataclasses import asdict

        return {
            "name": self.name,
            "backend": self.backend,
            "location": self.location,
            "points": self.points,
            "schema": asdict(self.schema),
            "model": asdict(self.model) if self.model is not None else None,
            "metadata_fields": dict(self.metadata_fields),
            "payload_indexes": dict(self.payload_indexes),
        }
