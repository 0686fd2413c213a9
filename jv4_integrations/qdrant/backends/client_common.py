"""qdrant-client requests and responses shared by the sync and async client backends.

Everything here is pure: it builds ``qdrant_client.models`` objects from backend-neutral values and
reads responses back, so that :mod:`.client` only has to call (or await) the client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..._optional import require
from ...scoring import maxsim
from ..payload import DOC_ID
from ..schema import CollectionSchema, ReportedSchema, VectorSpec
from ..types import PointData, QueryPlan, RawPoint, middle_stage

__all__ = [
    "create_kwargs",
    "hybrid_needs_client_rerank",
    "index_type",
    "point_structs",
    "query_requests",
    "raw_point",
    "reported_schema",
    "rerank",
]


def models() -> Any:
    """``qdrant_client.models`` (imported at first use)."""
    return require("qdrant_client", purpose="MultiVectorCollection on qdrant-client").models


def _quantization(m: Any, kind: str | None) -> Any:
    if kind is None:
        return None
    if kind == "scalar":
        return m.ScalarQuantization(scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, always_ram=True))
    return m.BinaryQuantization(binary=m.BinaryQuantizationConfig(always_ram=True))


def create_kwargs(schema: CollectionSchema, metadata: Mapping[str, Any], *, remote: bool) -> dict[str, Any]:
    """Keyword arguments of ``create_collection`` for a schema."""
    m = models()
    dense = m.VectorParams(
        size=schema.dense_size,
        distance=m.Distance.COSINE,
        hnsw_config=m.HnswConfigDiff(m=schema.dense_hnsw_m) if schema.dense_hnsw_m is not None else None,
        quantization_config=_quantization(m, schema.dense_quantization),
        on_disk=schema.dense_on_disk,
    )
    multi = m.VectorParams(
        size=schema.multivector_size,
        distance=m.Distance.COSINE,
        multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
        hnsw_config=m.HnswConfigDiff(m=schema.multivector_hnsw_m),
        datatype=m.Datatype(schema.multivector_datatype),
        quantization_config=_quantization(m, schema.multivector_quantization),
        on_disk=schema.multivector_on_disk,
    )
    vectors = {schema.dense_name: dense, schema.multivector_name: multi}
    if schema.prefetch_vector == "mean":
        vectors[schema.mean_name] = m.VectorParams(size=schema.multivector_size, distance=m.Distance.COSINE)
    if schema.pooled_tokens is not None:
        vectors[schema.pooled_name] = m.VectorParams(
            size=schema.multivector_size,
            distance=m.Distance.COSINE,
            multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
            hnsw_config=m.HnswConfigDiff(m=0),
            datatype=m.Datatype.FLOAT16,
        )
    kwargs: dict[str, Any] = {
        "vectors_config": vectors,
        "on_disk_payload": schema.on_disk_payload,
        "metadata": dict(metadata),
    }
    if remote:
        kwargs.update(
            shard_number=schema.shard_number,
            replication_factor=schema.replication_factor,
            write_consistency_factor=schema.write_consistency_factor,
            sharding_method=m.ShardingMethod.CUSTOM if schema.shard_keys else None,
        )
    return kwargs


def _quant_kind(config: Any) -> str:
    if config is None:
        return "none"
    name = type(config).__name__.lower()
    for kind in ("scalar", "binary", "product", "turbo"):
        if kind in name:
            return kind
    return name


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value)).lower()


def reported_schema(info: Any, *, remote: bool) -> ReportedSchema:
    """Read ``get_collection`` output into the backend-neutral form.

    Unset vector settings resolve to what the server applies (float32, no quantization unless set
    collection-wide, the collection's HNSW ``m``). Local mode reports vector settings as given at
    creation (it stores but ignores datatype, quantization and HNSW) and no cluster settings.
    """
    params = info.config.params
    vectors = params.vectors
    if vectors is None:
        vectors = {}
    elif not isinstance(vectors, Mapping):
        vectors = {"": vectors}
    collection_m = getattr(info.config.hnsw_config, "m", None)
    collection_q = info.config.quantization_config
    specs: dict[str, VectorSpec] = {}
    for name, vp in vectors.items():
        hnsw_m = vp.hnsw_config.m if vp.hnsw_config is not None and vp.hnsw_config.m is not None else collection_m
        specs[name] = VectorSpec(
            size=vp.size,
            distance=_enum_value(vp.distance),
            comparator=_enum_value(vp.multivector_config.comparator) if vp.multivector_config else "none",
            datatype=_enum_value(vp.datatype) if vp.datatype is not None else "float32",
            hnsw_m=hnsw_m,
            quantization=_quant_kind(vp.quantization_config or collection_q),
            on_disk=bool(vp.on_disk),
        )
    for name in params.sparse_vectors or {}:
        specs[name] = VectorSpec(comparator="sparse")
    if not remote:
        return ReportedSchema(vectors=specs)
    method = params.sharding_method
    return ReportedSchema(
        vectors=specs,
        shard_number=params.shard_number,
        replication_factor=params.replication_factor,
        write_consistency_factor=params.write_consistency_factor,
        sharding_method=_enum_value(method) if method is not None else "auto",
    )


def point_structs(points: Sequence[PointData], schema: CollectionSchema) -> list[Any]:
    """``PointStruct`` objects for an upsert."""
    m = models()
    return [m.PointStruct(id=p.id, vector=p.named_vectors(schema), payload=p.payload) for p in points]


def _params(m: Any, plan: QueryPlan, *, exact: bool = False, local: bool = False) -> Any:
    if local:
        return None  # local mode is always exact and warns about search params
    if exact:
        return m.SearchParams(exact=True)
    return m.SearchParams(hnsw_ef=plan.hnsw_ef) if plan.hnsw_ef is not None else None


def hybrid_needs_client_rerank(plan: QueryPlan, *, local: bool) -> bool:
    """Whether this plan's MaxSim rerank runs here (local mode scans every point for MaxSim)."""
    return local and plan.mode == "hybrid"


def _vec(value: np.ndarray | None) -> list[Any]:
    if value is None:
        raise ValueError("the query plan lacks a vector its mode needs")
    listed: list[Any] = value.tolist()
    return listed


def _first_stage(m: Any, plan: QueryPlan, schema: CollectionSchema, local: bool) -> dict[str, Any]:
    """The hybrid prefetch: the K nearest by the prefetch vector (dense or mean token)."""
    return {
        "query": _vec(plan.prefetch_query),
        "using": schema.prefetch_name,
        "limit": plan.prefetch_limit,
        "params": _params(m, plan, local=local),
    }


def query_requests(plans: Sequence[QueryPlan], schema: CollectionSchema, *, local: bool) -> list[Any]:
    """One ``QueryRequest`` per plan (local hybrid: the dense candidates with their multi-vectors)."""
    m = models()
    out = []
    for plan in plans:
        common: dict[str, Any] = {"filter": plan.filter, "with_payload": True, "shard_key": plan.shard_key}
        if plan.mode == "dense":
            request = m.QueryRequest(
                query=_vec(plan.dense),
                using=schema.dense_name,
                limit=plan.limit,
                params=_params(m, plan, local=local),
                score_threshold=plan.score_threshold,
                **common,
            )
        elif plan.mode == "multivector":
            request = m.QueryRequest(
                query=_vec(plan.multivector),
                using=schema.multivector_name,
                limit=plan.limit,
                params=_params(m, plan, exact=True, local=local),
                score_threshold=plan.score_threshold,
                **common,
            )
        elif hybrid_needs_client_rerank(plan, local=local):
            request = m.QueryRequest(
                **_first_stage(m, plan, schema, local), with_vector=[schema.multivector_name], **common
            )
        else:
            prefetch = m.Prefetch(**_first_stage(m, plan, schema, local), filter=plan.filter)
            middle = middle_stage(plan, schema)  # (local mode reranked on the client above)
            if middle is not None:  # MaxSim on the pooled or quantized copy keeps rerank_candidates
                quantized = m.QuantizationSearchParams(ignore=False, rescore=False)
                prefetch = m.Prefetch(
                    prefetch=prefetch,
                    query=_vec(plan.multivector),
                    using=middle.using,
                    limit=plan.rerank_candidates,
                    filter=plan.filter,
                    params=m.SearchParams(quantization=quantized) if middle.quantized else None,
                )
            request = m.QueryRequest(
                prefetch=prefetch,
                query=_vec(plan.multivector),
                using=schema.multivector_name,
                limit=plan.limit,
                score_threshold=plan.score_threshold,
                # the rerank is exact: on a quantized multi-vector Qdrant would otherwise rank the
                # candidates by their quantized scores and rescore only the top `limit`
                params=m.SearchParams(quantization=m.QuantizationSearchParams(ignore=True)),
                **common,
            )
        out.append(request)
    return out


def raw_point(point: Any, schema: CollectionSchema) -> RawPoint:
    """A qdrant-client ``ScoredPoint`` or ``Record`` as a :class:`RawPoint`."""
    vectors = point.vector if isinstance(getattr(point, "vector", None), Mapping) else {}
    dense = vectors.get(schema.dense_name)
    multi = vectors.get(schema.multivector_name)
    return RawPoint(
        id=str(point.id),
        payload=point.payload or {},
        score=getattr(point, "score", None),
        dense=np.asarray(dense, dtype=np.float32) if dense is not None else None,
        multivector=np.asarray(multi, dtype=np.float32) if multi is not None else None,
    )


def rerank(plan: QueryPlan, candidates: Sequence[RawPoint]) -> list[RawPoint]:
    """Client-side MaxSim rerank of dense candidates, with Qdrant's ``MAX_SIM`` + ``COSINE`` semantics.

    Qdrant stores cosine vectors L2-normalised and normalises query vectors; the score is the sum
    over query tokens of the best dot product with the candidate's tokens.
    """
    if not candidates:
        return []
    query = np.asarray(plan.multivector, dtype=np.float32)
    norms = np.linalg.norm(query, axis=1, keepdims=True)
    query = (query / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    docs = [
        c.multivector if c.multivector is not None else np.zeros((0, query.shape[1]), np.float32) for c in candidates
    ]
    scores = np.asarray(maxsim([query], docs))[0]
    order = np.argsort(-scores, kind="stable")
    out = []
    for i in order[: plan.limit]:
        score = float(scores[i])
        if plan.score_threshold is not None and score < plan.score_threshold:
            break
        c = candidates[int(i)]
        out.append(RawPoint(id=c.id, payload=c.payload, score=score))
    return out


def index_type(kind: str) -> Any:
    """``PayloadSchemaType`` for an index type name."""
    m = models()
    try:
        return m.PayloadSchemaType(kind.lower())
    except ValueError:
        valid = [t.value for t in m.PayloadSchemaType]
        raise ValueError(f"unknown payload index type {kind!r}; expected one of {valid}") from None


#: Payload fields indexed when a collection is created on a server (filters and delete-by-doc).
DEFAULT_INDEXES: tuple[tuple[str, str], ...] = ((DOC_ID, "keyword"),)
