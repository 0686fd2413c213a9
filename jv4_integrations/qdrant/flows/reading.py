"""Reading: search in three modes, get, delete, count and info; filters checked against known keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import InputError, InputProblem, StoreError
from ...scoring import mean_token
from ..filters import check_filter_keys, resolve_filter
from ..ids import point_id
from ..payload import DOC_ID
from ..record import known_fields, parse_record
from ..schema import ShardKey
from ..types import MODES, CollectionInfo, QueryPlan, RawPoint, SearchHit, StoredPoint
from .driver import Context, Flow, call, cpu

__all__ = [
    "check_mode",
    "check_query",
    "count_flow",
    "delete_flow",
    "filter_flow",
    "get_flow",
    "info_flow",
    "make_plan",
    "scroll_flow",
    "search_flow",
]


def check_mode(
    mode: str, limit: int, prefetch_limit: int, rerank_candidates: int | None = None, hnsw_ef: int | None = None
) -> None:
    """Validate search options (``ValueError`` naming the valid values)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {list(MODES)}")
    values: list[tuple[str, Any]] = [("limit", limit), ("prefetch_limit", prefetch_limit)]
    optional = (("rerank_candidates", rerank_candidates), ("hnsw_ef", hnsw_ef))
    values += [(name, value) for name, value in optional if value is not None]
    for name, value in values:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if mode == "hybrid" and prefetch_limit < limit:
        raise ValueError(
            f"prefetch_limit ({prefetch_limit}) must be >= limit ({limit}) in hybrid mode: the MaxSim "
            "rerank only sees the dense candidates"
        )
    if mode == "hybrid" and rerank_candidates is not None and not limit <= rerank_candidates <= prefetch_limit:
        raise ValueError(
            f"rerank_candidates ({rerank_candidates}) must be between limit ({limit}) and prefetch_limit "
            f"({prefetch_limit}) in hybrid mode: the exact MaxSim rerank sees rerank_candidates of the "
            "prefetch_limit dense candidates"
        )


def check_query(query: Any, index: int = 0) -> None:
    """Reject empty queries and lists given as one query."""
    if query is None:
        raise InputError([InputProblem(index, "the query is None")], what="query")
    if isinstance(query, str) and not query.strip():
        raise InputError([InputProblem(index, f"empty query {query!r}")], what="query")
    if isinstance(query, (list, tuple)):
        raise TypeError("search() takes one query; use search_batch() for a list of queries")


def filter_flow(ctx: Context, flt: Any) -> Flow[Any]:
    """Resolve a filter and check its keys (refreshing the known keys once before failing)."""
    resolved = resolve_filter(flt)
    if resolved is None or not ctx.check_filters:
        return resolved
    try:
        check_filter_keys(resolved, ctx.fields, collection=ctx.name)
    except StoreError:
        metadata = yield call("read_metadata")  # another writer may have added keys since we opened
        ctx.fields = known_fields(metadata)
        try:
            check_filter_keys(resolved, ctx.fields, collection=ctx.name)
        except StoreError:
            if not ctx.fields:
                points = yield call("count", None, shard_key=None)
                if points == 0:  # never written to: no keys to check against, and nothing can match
                    return resolved
            raise
    return resolved


def _query_vector(value: Any, size: int, what: str, name: str, collection: str, *, multi: bool) -> np.ndarray:
    arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, dtype=np.float32)
    ok = arr.ndim == 2 and arr.shape[0] >= 1 and arr.shape[1] == size if multi else arr.shape == (size,)
    if not ok:
        expected = f"(n_tokens >= 1, {size})" if multi else f"({size},)"
        raise ValueError(
            f"query {what} has shape {arr.shape}; collection {collection!r} expects {expected} for {name!r}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"query {what} holds NaN or inf")
    return arr


def make_plan(
    ctx: Context,
    *,
    mode: str,
    dense: Any,
    multivector: Any,
    limit: int,
    prefetch_limit: int,
    flt: Any,
    hnsw_ef: int | None,
    score_threshold: float | None,
    shard_key: ShardKey | None,
    rerank_candidates: int | None = None,
) -> QueryPlan:
    """Validate query vectors against the schema and build a plan."""
    s = ctx.bound
    d = m = prefetch = None
    by_mean = mode == "hybrid" and s.prefetch_vector == "mean"
    if mode == "dense" or (mode == "hybrid" and (not by_mean or dense is not None)):
        if dense is None:
            raise ValueError(f"mode {mode!r} needs a dense query vector")
        d = _query_vector(dense, s.dense_size, "dense vector", s.dense_name, ctx.name, multi=False)
    if mode in ("multivector", "hybrid"):
        if multivector is None:
            raise ValueError(f"mode {mode!r} needs a query multi-vector")
        m = _query_vector(multivector, s.multivector_size, "multi-vector", s.multivector_name, ctx.name, multi=True)
    if by_mean:
        prefetch = mean_token(m)
        if prefetch is None:
            raise ValueError(f"the query multi-vector's tokens average to zero: nothing to search {s.mean_name!r} with")
    return QueryPlan(
        mode=mode,
        dense=d,
        multivector=m,
        limit=limit,
        prefetch_limit=prefetch_limit,
        filter=flt,
        hnsw_ef=hnsw_ef,
        score_threshold=score_threshold,
        shard_key=shard_key,
        rerank_candidates=rerank_candidates if mode == "hybrid" else None,
        prefetch=prefetch,
    )


def search_flow(
    ctx: Context,
    queries: Sequence[Any] | None,
    vectors: Sequence[tuple[Any, Any]] | None,
    *,
    mode: str,
    limit: int,
    prefetch_limit: int,
    flt: Any,
    hnsw_ef: int | None,
    score_threshold: float | None,
    shard_key: ShardKey | None,
    rerank_candidates: int | None = None,
) -> Flow[list[list[SearchHit]]]:
    """Encode queries once (both vectors from one forward pass), or take given vectors; run all searches."""
    check_mode(mode, limit, prefetch_limit, rerank_candidates, hnsw_ef)
    resolved = yield from filter_flow(ctx, flt)
    if queries is not None:
        for i, q in enumerate(queries):
            check_query(q, i)
        enc = ctx.require_encoder("searching with text or images")
        output = {"dense": "dense", "multivector": "multivector", "hybrid": "both"}[mode]
        result = yield cpu(
            enc.encode_queries, list(queries), output=output, truncate_dim=ctx.bound.dense_size, task=ctx.task
        )
        n = len(queries)
        dense_rows = result.dense if result.dense is not None else [None] * n
        multi_rows = result.multivector if result.multivector is not None else [None] * n
        vectors = list(zip(dense_rows, multi_rows, strict=False))
    plans = [
        make_plan(
            ctx,
            mode=mode,
            dense=d,
            multivector=m,
            limit=limit,
            prefetch_limit=prefetch_limit,
            flt=resolved,
            hnsw_ef=hnsw_ef,
            score_threshold=score_threshold,
            shard_key=shard_key,
            rerank_candidates=rerank_candidates,
        )
        for d, m in vectors or ()
    ]
    if not plans:
        return []
    results: list[list[RawPoint]] = yield call("query", plans)
    return [[SearchHit.from_raw(r) for r in rows] for rows in results]


# -- reads and deletes --------------------------------------------------------------------------


def get_flow(
    ctx: Context, ids: list[str], *, with_vectors: bool, shard_key: ShardKey | None
) -> Flow[list[StoredPoint]]:
    """Points by item id, in request order (missing ones skipped)."""
    pids = [point_id(i) for i in ids]
    raws: list[RawPoint] = yield call("retrieve", pids, with_vectors=with_vectors, shard_key=shard_key)
    by_id = {r.id: r for r in raws}
    out, seen = [], set()
    for pid in pids:
        if pid in by_id and pid not in seen:
            seen.add(pid)
            out.append(StoredPoint.from_raw(by_id[pid]))
    return out


def scroll_flow(
    ctx: Context, flt: Any, *, limit: int, offset: Any, with_vectors: bool, shard_key: ShardKey | None
) -> Flow[tuple[list[StoredPoint], Any]]:
    """One page of stored points (matching ``flt``) in point-id order, and the next page's offset
    (``None`` after the last page)."""
    resolved = yield from filter_flow(ctx, flt)
    page: tuple[list[RawPoint], Any] = yield call(
        "scroll", filter=resolved, limit=limit, offset=offset, with_vectors=with_vectors, shard_key=shard_key
    )
    raws, next_offset = page
    return [StoredPoint.from_raw(r) for r in raws], next_offset


def delete_flow(
    ctx: Context,
    *,
    ids: list[str] | None,
    doc_ids: Sequence[str] | None,
    flt: Any,
    shard_key: ShardKey | None,
) -> Flow[None]:
    """Delete by item ids, by parent document ids or by filter (exactly one)."""
    given = [n for n, v in (("ids", ids), ("doc_ids", doc_ids), ("filter", flt)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"delete() takes exactly one of ids=, doc_ids= or filter=, got {given or 'none'}")
    if ids is not None:
        if ids:
            yield call("delete", ids=[point_id(i) for i in ids], filter=None, shard_key=shard_key)
        return
    if doc_ids is not None:
        docs = list(doc_ids)
        if not docs:
            return
        from ..filters import _models

        m = _models()
        resolved = m.Filter(must=[m.FieldCondition(key=DOC_ID, match=m.MatchAny(any=[str(d) for d in docs]))])
    else:
        resolved = yield from filter_flow(ctx, flt)
        if resolved is None:  # an empty dict must not mean "delete everything"
            raise ValueError("delete(filter=...) got an empty filter; pass conditions, or ids= / doc_ids=")
    yield call("delete", ids=None, filter=resolved, shard_key=shard_key)


def count_flow(ctx: Context, flt: Any, *, shard_key: ShardKey | None) -> Flow[int]:
    """Exact count (of points matching ``flt``)."""
    resolved = yield from filter_flow(ctx, flt)
    count: int = yield call("count", resolved, shard_key=shard_key)
    return count


def info_flow(ctx: Context, *, backend_kind: str, location: str | None) -> Flow[CollectionInfo]:
    """Counts, schema, model record, metadata keys and payload indexes."""
    points = yield call("count", None, shard_key=None)
    metadata = yield call("read_metadata")
    indexes = yield call("payload_indexes")
    ctx.fields = known_fields(metadata)
    return CollectionInfo(
        name=ctx.name,
        backend=backend_kind,
        location=location,
        points=points,
        schema=ctx.bound,
        model=parse_record(metadata),
        metadata_fields=dict(ctx.fields),
        payload_indexes=indexes,
    )
