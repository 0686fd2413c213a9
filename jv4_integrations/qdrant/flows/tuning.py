"""Choosing K on your own data: recall of hybrid search against exact MaxSim, and its latency, per K."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InputError, InputProblem, StoreError
from ..schema import ShardKey
from .driver import Context, Flow, cpu
from .reading import check_mode, check_query, search_flow

__all__ = ["RecallReport", "RecallRow", "measure_recall_flow"]


@dataclass(frozen=True)
class RecallRow:
    """Hybrid search with one prefetch size.

    Attributes:
        prefetch_limit: K, the dense candidates reranked.
        recall: mean over the queries of |hybrid top-``limit`` ∩ exact top-``limit``| / |exact top-``limit``|.
        p50_ms / p95_ms: latency of one search call (storage and rerank; the query is encoded once, before).
    """

    prefetch_limit: int
    recall: float
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class RecallReport:
    """What :meth:`MultiVectorCollection.measure_recall` found.

    Attributes:
        limit: results per search (the ``@k`` of recall@k).
        queries: queries measured (those with at least one exact result).
        rows: one :class:`RecallRow` per prefetch size, smallest first.
        exact_p50_ms / exact_p95_ms: latency of the exact MaxSim search (the ground truth).
    """

    limit: int
    queries: int
    rows: tuple[RecallRow, ...]
    exact_p50_ms: float
    exact_p95_ms: float

    def smallest_prefetch_limit(self, target: float = 0.95) -> int | None:
        """The smallest measured K whose recall reaches ``target``, or ``None`` when none does."""
        return next((r.prefetch_limit for r in self.rows if r.recall >= target), None)

    def __str__(self) -> str:
        lines = [f"recall@{self.limit} of hybrid search against exact MaxSim, {self.queries} queries"]
        lines.append(f"{'prefetch_limit':>14}  {'recall':>6}  {'p50 ms':>8}  {'p95 ms':>8}")
        for r in self.rows:
            lines.append(f"{r.prefetch_limit:>14}  {r.recall:>6.3f}  {r.p50_ms:>8.2f}  {r.p95_ms:>8.2f}")
        lines.append(f"{'exact MaxSim':>14}  {1.0:>6.3f}  {self.exact_p50_ms:>8.2f}  {self.exact_p95_ms:>8.2f}")
        return "\n".join(lines)


def _prefetch_limits(values: Sequence[Any], limit: int) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"prefetch_limits must be a non-empty sequence of ints >= limit ({limit}), got {values!r}")
    for k in values:
        if not isinstance(k, int) or isinstance(k, bool) or k < limit:
            raise ValueError(f"prefetch_limits holds {k!r}; each must be an int >= limit ({limit})")
    return sorted(set(values))


def _percentiles(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), float(np.percentile(values, 95))


def measure_recall_flow(
    ctx: Context,
    queries: Sequence[Any] | None,
    vectors: Sequence[tuple[Any, Any]] | None,
    *,
    limit: int,
    prefetch_limits: Sequence[int],
    flt: Any,
    hnsw_ef: int | None,
    shard_key: ShardKey | None,
    rerank_candidates: int | None,
) -> Flow[RecallReport]:
    """Exact MaxSim top-``limit`` per query as the truth, then hybrid search at each K, timed."""
    check_mode("multivector", limit, limit, hnsw_ef=hnsw_ef)  # limit and hnsw_ef, before any work
    ks = _prefetch_limits(prefetch_limits, limit)
    if queries is not None:
        if not queries:
            raise InputError([InputProblem(0, "no queries: measure_recall needs at least one")], what="query")
        for i, q in enumerate(queries):
            check_query(q, i)
        enc = ctx.require_encoder("measure_recall with text or images")
        result = yield cpu(
            enc.encode_queries, list(queries), output="both", truncate_dim=ctx.bound.dense_size, task=ctx.task
        )
        vectors = list(zip(result.dense, result.multivector, strict=True))
    pairs = list(vectors or ())
    if not pairs:
        raise InputError([InputProblem(0, "no query vectors: measure_recall needs at least one")], what="query")
    common: dict[str, Any] = dict(flt=flt, hnsw_ef=hnsw_ef, score_threshold=None, shard_key=shard_key)
    truths: list[set[str]] = []
    exact_ms: list[float] = []
    for pair in pairs:
        start = time.perf_counter()
        hits = yield from search_flow(
            ctx, None, [pair], mode="multivector", limit=limit, prefetch_limit=limit, **common
        )
        exact_ms.append((time.perf_counter() - start) * 1000)
        truths.append({h.id for h in hits[0]})
    measured = [i for i, truth in enumerate(truths) if truth]
    if not measured:
        where = "the filter" if flt is not None else "the collection"
        raise StoreError(
            f"measure_recall on collection {ctx.name!r}: exact MaxSim found no point for any of the "
            f"{len(pairs)} queries ({where} holds none), so there is no recall to measure"
        )
    rows = []
    for k in ks:
        recalls, times = [], []
        for i in measured:
            start = time.perf_counter()
            hits = yield from search_flow(
                ctx, None, [pairs[i]], mode="hybrid", limit=limit, prefetch_limit=k,
                rerank_candidates=min(rerank_candidates, k) if rerank_candidates is not None else None, **common,
            )  # fmt: skip
            times.append((time.perf_counter() - start) * 1000)
            recalls.append(len({h.id for h in hits[0]} & truths[i]) / len(truths[i]))
        p50, p95 = _percentiles(times)
        rows.append(RecallRow(k, float(np.mean(recalls)), p50, p95))
    e50, e95 = _percentiles(exact_ms)
    return RecallReport(limit=limit, queries=len(measured), rows=tuple(rows), exact_p50_ms=e50, exact_p95_ms=e95)
