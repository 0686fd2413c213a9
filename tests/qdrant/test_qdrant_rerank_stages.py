"""Hybrid search on quantized multi-vectors: the rerank stays exact, and the optional middle stage
(``rerank_candidates``: MaxSim on the quantized multi-vectors keeps K2 of the K1 dense candidates)
feeds exactly its survivors to the exact MaxSim rerank."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from qdrant_helpers import (
    SMALL,
    Corpus,
    Store,
    assert_exact_over_survivors,
    assert_same,
    fill,
    make_corpus,
    middle_ranking,
    query_vectors,
    reference_search,
)

from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection
from jv4_integrations.qdrant.types import QueryPlan

#: 32-wide tokens: binary quantization ranks them visibly differently from exact MaxSim.
WIDE = dataclasses.replace(SMALL, multivector_size=32)
BINARY = dataclasses.replace(WIDE, multivector_quantization="binary")
SCALAR = dataclasses.replace(WIDE, multivector_quantization="scalar")


@pytest.mark.parametrize("schema", [BINARY, SCALAR], ids=["binary", "scalar"])
def test_hybrid_rerank_is_exact_on_quantized_multivectors(store: Store, schema: CollectionSchema) -> None:
    """Without ``rerank_candidates`` hybrid is the exact MaxSim rerank of the dense top-K, quantized or not
    (the engine would otherwise rank the candidates by their quantized scores)."""
    corpus = make_corpus(150, schema=schema)
    col = fill(store.open(schema=schema), corpus)
    col.optimize()
    for seed in range(6):
        d, m = query_vectors(corpus, seed)
        hits = col.search_by_vector(dense=d, multivector=m, limit=6, prefetch_limit=40)
        assert_same(hits, reference_search(corpus, d, m, mode="hybrid", limit=6, prefetch_limit=40))


@pytest.mark.parametrize("schema", [BINARY, SCALAR], ids=["binary", "scalar"])
async def test_three_stages_equal_exact_maxsim_over_the_quantized_survivors(
    tmp_path: Path, schema: CollectionSchema
) -> None:
    corpus = make_corpus(200, schema=schema)
    col = fill(MultiVectorCollection.open(tmp_path, "t", schema=schema), corpus)
    col.optimize()
    k1, k2, limit = 80, 15, 5
    changed = 0
    for seed in range(8):
        d, m = query_vectors(corpus, seed)
        ranking = middle_ranking(col, d, m, k1)
        assert {t for t, _ in ranking} == {t for t, _ in reference_search(corpus, d, m, mode="dense", limit=k1)}
        # the survivors are the best k2 by quantized score (binary scores tie often)
        hits = await assert_exact_over_survivors(col, corpus, d, m, ranking, k2, limit)
        two_stage = col.search_by_vector(dense=d, multivector=m, limit=limit, prefetch_limit=k1)
        changed += [h.id for h in two_stage] != [h.id for h in hits]
    if schema is BINARY:  # guard: the quantized stage really decides which candidates get reranked
        assert changed > 0
    col.close()


def test_batched_three_stage_searches_equal_single_ones(tmp_path: Path) -> None:
    from jv4_integrations.qdrant.flows import search_flow

    corpus = make_corpus(120, schema=BINARY)
    col = fill(MultiVectorCollection.open(tmp_path, "t", schema=BINARY), corpus)
    queries = [query_vectors(corpus, seed) for seed in range(4)]
    flow = search_flow(
        col._ctx, None, queries, mode="hybrid", limit=4, prefetch_limit=50, flt=None, hnsw_ef=None,
        score_threshold=None, shard_key=None, rerank_candidates=12,
    )  # fmt: skip
    batched = col._run(flow)  # one query_batch request for all plans
    for (d, m), hits in zip(queries, batched, strict=True):
        single = col.search_by_vector(dense=d, multivector=m, limit=4, prefetch_limit=50, rerank_candidates=12)
        assert [(h.id, h.score) for h in hits] == [(h.id, h.score) for h in single]
    col.close()


@pytest.mark.parametrize("schema", [BINARY, WIDE], ids=["binary", "unquantized"])
def test_keeping_every_point_equals_exact_maxsim(store: Store, schema: CollectionSchema) -> None:
    """K1 and K2 >= the collection size: the three stages return exact MaxSim over every point."""
    corpus = make_corpus(60, schema=schema)
    col = fill(store.open(schema=schema), corpus)
    for seed in range(4):
        d, m = query_vectors(corpus, seed)
        hits = col.search_by_vector(dense=d, multivector=m, limit=6, prefetch_limit=90, rerank_candidates=70)
        assert_same(hits, reference_search(corpus, d, m, mode="multivector", limit=6))
        exact = col.search_by_vector(multivector=m, mode="multivector", limit=6)
        assert [h.id for h in hits] == [h.id for h in exact]


def test_no_quantized_stage_without_quantization_or_on_local_mode(store: Store) -> None:
    """Unquantized multi-vectors (any backend) or local mode (which ignores quantization): the exact
    rerank scores all K1 dense candidates, as without ``rerank_candidates``."""
    for name, schema in (("plain", WIDE), ("quantized", BINARY)):
        if store.kind == "edge" and schema is BINARY:
            continue  # the embedded engine runs the quantized stage (tested above)
        corpus = make_corpus(100, schema=schema)
        col = fill(store.open(name, schema=schema), corpus)
        for seed in range(4):
            d, m = query_vectors(corpus, seed)
            hits = col.search_by_vector(dense=d, multivector=m, limit=5, prefetch_limit=30, rerank_candidates=8)
            assert_same(hits, reference_search(corpus, d, m, mode="hybrid", limit=5, prefetch_limit=30))


def test_rerank_candidates_is_checked(store: Store, corpus: Corpus) -> None:
    col = fill(store.open(schema=SMALL), corpus)
    d, m = query_vectors(corpus, 0)
    for bad in (0, -3, 2.5, True, "10"):
        with pytest.raises(ValueError, match="rerank_candidates must be a positive int"):
            col.search_by_vector(dense=d, multivector=m, rerank_candidates=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"rerank_candidates \(4\) must be between limit \(5\) and prefetch_limit"):
        col.search_by_vector(dense=d, multivector=m, limit=5, prefetch_limit=20, rerank_candidates=4)
    with pytest.raises(ValueError, match=r"rerank_candidates \(21\) must be between limit \(5\) and prefetch_limit"):
        col.search_by_vector(dense=d, multivector=m, limit=5, prefetch_limit=20, rerank_candidates=21)
    for bad in (0, -1, 1.5, False):
        with pytest.raises(ValueError, match="hnsw_ef must be a positive int"):
            col.search_by_vector(dense=d, multivector=m, hnsw_ef=bad)  # type: ignore[arg-type]
    # outside hybrid mode it has no stage to size, like prefetch_limit
    dense = col.search_by_vector(dense=d, mode="dense", limit=5, rerank_candidates=2)
    assert [h.id for h in dense] == [h.id for h in col.search_by_vector(dense=d, mode="dense", limit=5)]


@pytest.mark.filterwarnings("ignore:Local mode performs exact")
def test_server_requests_nest_the_quantized_stage() -> None:
    """What a Qdrant server receives: dense prefetch inside a quantized MaxSim prefetch (no rescoring),
    under an exact MaxSim query (quantization ignored); without ``rerank_candidates`` no middle stage."""
    from qdrant_client import QdrantClient

    from jv4_integrations.qdrant.backends.client_common import query_requests

    corpus = make_corpus(80, schema=BINARY)
    d, m = query_vectors(corpus, 1)
    plan = QueryPlan(
        mode="hybrid", dense=d, multivector=m, limit=5, prefetch_limit=40, hnsw_ef=64, rerank_candidates=12
    )
    (req,) = query_requests([plan], BINARY, local=False)
    assert req.using == "multivector" and req.limit == 5 and req.params.quantization.ignore is True
    mid = req.prefetch
    assert mid.using == "multivector" and mid.limit == 12
    assert mid.params.quantization.ignore is False and mid.params.quantization.rescore is False
    assert mid.prefetch.using == "dense" and mid.prefetch.limit == 40 and mid.prefetch.params.hnsw_ef == 64
    (two_stage,) = query_requests([dataclasses.replace(plan, rerank_candidates=None)], BINARY, local=False)
    assert two_stage.prefetch.using == "dense" and two_stage.params.quantization.ignore is True
    (unquantized,) = query_requests([plan], WIDE, local=False)
    assert unquantized.prefetch.using == "dense"
    # the nested request is valid qdrant-client input: local mode (exact, no quantization) runs it, and
    # with exact middle scores the survivors' exact rerank is the plain hybrid result
    client = QdrantClient(":memory:")
    col = fill(MultiVectorCollection.open(client, "t", schema=BINARY), corpus)
    (points,) = client.query_batch_points("t", requests=[req.model_copy(update={"shard_key": None})])
    expected = reference_search(corpus, d, m, mode="hybrid", limit=5, prefetch_limit=40)
    assert [(p.payload or {})["text"] for p in points.points] == [t for t, _ in expected]
    col.close()
    client.close()
