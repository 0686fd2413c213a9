"""The pooled middle stage (``CollectionSchema(pooled_tokens=k)``): each item's multi-vector is also
stored pooled to at most ``k`` tokens, and hybrid search with ``rerank_candidates=K2`` keeps the K2
best of the K1 prefetched candidates by MaxSim on the pooled tokens before the exact rerank."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_helpers import (
    SMALL,
    Store,
    assert_exact_over_survivors,
    fill,
    make_corpus,
    middle_ranking,
    query_vectors,
    reference_search,
)

from jv4_integrations.errors import SchemaMismatchError
from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection
from jv4_integrations.qdrant.types import QueryPlan
from jv4_integrations.scoring import maxsim, pool_tokens

POOLED = dataclasses.replace(SMALL, multivector_size=32, pooled_tokens=3)


def test_pool_tokens() -> None:
    rng = np.random.default_rng(0)
    few = rng.normal(size=(3, 8)).astype(np.float32)
    np.testing.assert_allclose(pool_tokens(few, 5), few / np.linalg.norm(few, axis=1, keepdims=True), atol=1e-6)
    directions = np.eye(8, dtype=np.float32)[:3]
    tokens = directions[[0, 0, 1, 2, 2, 2, 1, 0, 1]]  # three directions, repeated: k-means finds them
    pooled = pool_tokens(tokens, 3)
    assert pooled.shape == (3, 8)
    assert sorted(map(tuple, pooled.round(6))) == sorted(map(tuple, directions))
    query = rng.normal(size=(4, 8)).astype(np.float32)
    np.testing.assert_allclose(maxsim([query], [pooled]), maxsim([query], [tokens]), atol=1e-5)
    big = rng.normal(size=(50, 8)).astype(np.float32)
    np.testing.assert_array_equal(pool_tokens(big, 7), pool_tokens(big, 7))  # deterministic
    assert pool_tokens(big, 7).shape == (7, 8)
    np.testing.assert_allclose(np.linalg.norm(pool_tokens(big, 7), axis=1), 1.0, atol=1e-5)
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="k must be an int >= 1"):
            pool_tokens(big, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pooled_tokens must be an int >= 1"):
        CollectionSchema(dense_size=16, pooled_tokens=0)
    with pytest.raises(ValueError, match="pooled_name 'dense' must differ"):
        CollectionSchema(dense_size=16, pooled_tokens=4, pooled_name="dense")


def test_pooled_tokens_are_stored_and_recorded(tmp_path: Path) -> None:
    corpus = make_corpus(40, schema=POOLED)
    col = fill(MultiVectorCollection.open(tmp_path, "t", schema=POOLED), corpus)
    points = {p.text: p.id for p in col.scroll()}
    stored = col._backend.shard.retrieve([points[t] for t in corpus.texts], with_payload=False, with_vector=["pooled"])
    by_id = {str(r.id): r for r in stored}
    for text, tokens in zip(corpus.texts, corpus.multivectors, strict=True):
        got = np.asarray(by_id[points[text]].vector["pooled"], dtype=np.float32)
        np.testing.assert_allclose(got, pool_tokens(tokens, 3), atol=2e-3)  # float16 storage
    col.close()
    again = MultiVectorCollection.open(tmp_path, "t", create=False)  # no schema: read back, count from the record
    assert dataclasses.replace(again.schema, dense_hnsw_m=None) == POOLED  # (16: the engine reports its default)
    again.close()
    with pytest.raises(SchemaMismatchError, match="pooled_tokens: the collection pools to 3 tokens, requested 4"):
        MultiVectorCollection.open(tmp_path, "t", schema=dataclasses.replace(POOLED, pooled_tokens=4))
    with pytest.raises(SchemaMismatchError, match="vector 'pooled' exists in the collection but not in the requested"):
        MultiVectorCollection.open(tmp_path, "t", schema=dataclasses.replace(POOLED, pooled_tokens=None))


def test_the_first_encoded_write_keeps_the_pooled_record(store: Store, encoder: Any) -> None:
    schema = CollectionSchema(dense_size=32, multivector_size=128, pooled_tokens=2)
    store.open(schema=schema)  # created without an encoder: no model recorded yet
    store.restart()
    col = store.open(encoder=encoder, create=False)
    col.add(["a first text to encode", "and a second one"])  # records the model now
    assert col.model_record is not None and col.model_record.model is not None
    assert (col.model_record.pooled_tokens, col.model_record.pooled_name) == (2, "pooled")
    store.restart()
    again = store.open(create=False)  # no schema: the pooled copy is still recognised
    assert again.schema.pooled_tokens == 2 and again.count() == 2


def test_request_size_counts_the_pooled_and_mean_vectors() -> None:
    from jv4_integrations.qdrant.ingest import estimate_request_bytes
    from jv4_integrations.qdrant.types import PointData

    tokens = np.ones((10, 32), dtype=np.float32)
    bare = PointData("id", np.ones(16, dtype=np.float32), tokens, {"text": "x"})
    full = dataclasses.replace(bare, mean=np.ones(32, dtype=np.float32), pooled=np.ones((3, 32), dtype=np.float32))
    per_float = (estimate_request_bytes(bare) - len('{"text": "x"}') - 64) / (16 + 320)
    assert estimate_request_bytes(full) - estimate_request_bytes(bare) == per_float * (32 + 96)


async def test_three_stages_equal_exact_maxsim_over_the_pooled_survivors(tmp_path: Path) -> None:
    corpus = make_corpus(200, schema=POOLED)
    col = fill(MultiVectorCollection.open(tmp_path, "t", schema=POOLED), corpus)
    col.optimize()
    k1, k2, limit = 80, 15, 5
    changed = 0
    for seed in range(8):
        d, m = query_vectors(corpus, seed)
        ranking = middle_ranking(col, d, m, k1)
        assert {t for t, _ in ranking} == {t for t, _ in reference_search(corpus, d, m, mode="dense", limit=k1)}
        index = {t: i for i, t in enumerate(corpus.texts)}  # the pooled scores are MaxSim on pool_tokens
        want = maxsim([m], [pool_tokens(corpus.multivectors[index[t]], 3) for t, _ in ranking])[0]
        np.testing.assert_allclose([s for _, s in ranking], want, atol=5e-3)
        hits = await assert_exact_over_survivors(col, corpus, d, m, ranking, k2, limit)
        two_stage = col.search_by_vector(dense=d, multivector=m, limit=limit, prefetch_limit=k1)
        changed += [h.id for h in two_stage] != [h.id for h in hits]
    assert changed > 0  # guard: the pooled stage really decides which candidates get reranked
    col.close()


@pytest.mark.parametrize("kind", ["memory", "path"])
def test_local_mode_reranks_every_candidate(kind: str, tmp_path: Path) -> None:
    """qdrant-client local mode reranks on the client: all K1 candidates get the exact MaxSim (the
    embedded engine runs the pooled stage: tested above)."""
    store = Store(kind, tmp_path)
    corpus = make_corpus(100, schema=POOLED)
    col = fill(store.open(schema=POOLED), corpus)
    for seed in range(4):
        d, m = query_vectors(corpus, seed)
        hits = col.search_by_vector(dense=d, multivector=m, limit=5, prefetch_limit=40, rerank_candidates=8)
        expected = reference_search(corpus, d, m, mode="hybrid", limit=5, prefetch_limit=40)
        assert [h.text for h in hits] == [t for t, _ in expected]
    store.restart()
    for schema in (None, POOLED):  # reopened as it is, and with its own schema: no false mismatch
        reopened = store.open(schema=schema, create=False)
        assert reopened.schema.pooled_tokens == 3 and reopened.count() == 100
    store.close()


def test_server_requests_chain_the_pooled_stage() -> None:
    from jv4_integrations.qdrant.backends.client_common import query_requests

    plan = QueryPlan(
        mode="hybrid",
        dense=np.ones(16, dtype=np.float32),
        multivector=np.ones((2, 32), dtype=np.float32),
        limit=5,
        prefetch_limit=300,
        rerank_candidates=120,
    )
    (request,) = query_requests([plan], POOLED, local=False)
    middle: Any = request.prefetch
    assert (request.using, request.limit) == ("multivector", 5)
    assert (middle.using, middle.limit) == ("pooled", 120)
    assert (middle.prefetch.using, middle.prefetch.limit) == ("dense", 300)
    (plain,) = query_requests([dataclasses.replace(plan, rerank_candidates=None)], POOLED, local=False)
    assert (plain.prefetch.using, plain.prefetch.limit) == ("dense", 300)  # no K2: two stages
