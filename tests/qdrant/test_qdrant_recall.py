"""measure_recall: its recall per K equals the numpy definition, on every backend; errors; async twin."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from qdrant_helpers import Corpus, Store, query_vectors, reference_search

from jv4_integrations.errors import InputError, StoreError
from jv4_integrations.qdrant import MultiVectorCollection, RecallReport

LIMIT = 6
KS = [6, 9, 15, 60]


def _expected(corpus: Corpus, pairs: list[tuple[Any, Any]], k: int, mask: np.ndarray | None = None) -> float:
    found = []
    for d, m in pairs:
        exact = {t for t, _ in reference_search(corpus, d, m, mode="multivector", limit=LIMIT, mask=mask)}
        hybrid = {t for t, _ in reference_search(corpus, d, m, mode="hybrid", limit=LIMIT, prefetch_limit=k, mask=mask)}
        found.append(len(exact & hybrid) / len(exact))
    return float(np.mean(found))


def test_recall_per_k_equals_numpy(filled: MultiVectorCollection, corpus: Corpus) -> None:
    pairs = [query_vectors(corpus, seed) for seed in range(6)]
    report = filled.measure_recall(vectors=pairs, limit=LIMIT, prefetch_limits=[60, 6, 15, 9, 15])
    assert isinstance(report, RecallReport) and report.queries == 6 and report.limit == LIMIT
    assert [r.prefetch_limit for r in report.rows] == KS  # sorted, deduplicated
    for row in report.rows:
        assert row.recall == pytest.approx(_expected(corpus, pairs, row.prefetch_limit))
        assert 0 < row.p50_ms <= row.p95_ms
    assert report.rows[-1].recall == 1.0  # K = every point: hybrid is exact
    assert report.rows[0].recall < 1.0  # K = limit misses some: the measurement can tell them apart
    first_full = next(r.prefetch_limit for r in report.rows if r.recall >= 1.0)
    assert report.smallest_prefetch_limit(1.0) == first_full
    assert report.smallest_prefetch_limit(0.0) == 6
    text = str(report)
    assert "recall@6 of hybrid search against exact MaxSim, 6 queries" in text and "exact MaxSim" in text


def test_filtered_recall_is_measured_on_the_matching_points(filled: MultiVectorCollection, corpus: Corpus) -> None:
    mask = np.array([meta["group"] == 1 for meta in corpus.metadatas])
    pairs = [query_vectors(corpus, seed) for seed in range(4)]
    report = filled.measure_recall(vectors=pairs, limit=LIMIT, prefetch_limits=[6, 8], filter={"group": 1})
    for row in report.rows:
        assert row.recall == pytest.approx(_expected(corpus, pairs, row.prefetch_limit, mask))


def test_text_queries_are_encoded_once(store: Store, encoder: Any) -> None:
    col = store.open(encoder=encoder)
    col.add([f"note {i} about topic {i % 4}" for i in range(30)])
    queries = ["topic one", "note 7", "topic three notes"]
    before = encoder.forward_calls
    report = col.measure_recall(queries, limit=3, prefetch_limits=[3, 30])
    assert encoder.forward_calls == before + 1  # one encode call for every query
    encoded = encoder.encode_queries(queries, output="both", truncate_dim=col.schema.dense_size)
    by_vectors = col.measure_recall(
        vectors=list(zip(encoded.dense, encoded.multivector, strict=True)), limit=3, prefetch_limits=[3, 30]
    )
    assert [r.recall for r in report.rows] == [r.recall for r in by_vectors.rows]
    assert report.rows[-1].recall == 1.0


def test_bad_calls(filled: MultiVectorCollection, corpus: Corpus) -> None:
    pair = query_vectors(corpus, 0)
    with pytest.raises(TypeError, match="exactly one of them"):
        filled.measure_recall()
    with pytest.raises(TypeError, match="exactly one of them"):
        filled.measure_recall(["q"], vectors=[pair])
    with pytest.raises(ValueError, match=r"prefetch_limits holds 4; each must be an int >= limit \(6\)"):
        filled.measure_recall(vectors=[pair], limit=6, prefetch_limits=[10, 4])
    with pytest.raises(ValueError, match="prefetch_limits must be a non-empty sequence"):
        filled.measure_recall(vectors=[pair], prefetch_limits=[])
    with pytest.raises(ValueError, match="limit must be a positive int"):
        filled.measure_recall(vectors=[pair], limit=0)
    with pytest.raises(InputError, match="no query vectors"):
        filled.measure_recall(vectors=[])
    with pytest.raises(ValueError, match=r"query dense vector has shape \(3,\)"):
        filled.measure_recall(vectors=[(pair[0][:3], pair[1])])
    with pytest.raises(StoreError, match="found no point for any of the 1 queries \\(the filter holds none\\)"):
        filled.measure_recall(vectors=[pair], filter={"group": 99})  # not a perfect recall of nothing


async def test_async_twin_equals_sync(filled: MultiVectorCollection, corpus: Corpus) -> None:
    pairs = [query_vectors(corpus, seed) for seed in range(3)]
    sync = filled.measure_recall(vectors=pairs, limit=LIMIT, prefetch_limits=[6, 12])
    got = await filled.ameasure_recall(vectors=pairs, limit=LIMIT, prefetch_limits=[6, 12])
    assert [r.recall for r in got.rows] == [r.recall for r in sync.rows] and got.queries == sync.queries
