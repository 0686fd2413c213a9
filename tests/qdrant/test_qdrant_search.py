"""Search: hybrid / multivector / dense equal their numpy definitions on every backend; batch, filters, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from qdrant_helpers import SMALL, Corpus, Store, make_corpus, query_vectors, reference_search

from jv4_integrations.errors import InputError, StoreError
from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection


def _pairs(hits: list[Any]) -> list[tuple[str, float]]:
    return [(h.text, h.score) for h in hits]


def _assert_same(hits: list[Any], expected: list[tuple[str, float]]) -> None:
    assert [t for t, _ in _pairs(hits)] == [t for t, _ in expected]
    np.testing.assert_allclose([s for _, s in _pairs(hits)], [s for _, s in expected], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["hybrid", "multivector", "dense"])
def test_modes_equal_numpy(filled: MultiVectorCollection, corpus: Corpus, mode: str) -> None:
    for seed in range(4):
        d, m = query_vectors(corpus, seed)
        hits = filled.search_by_vector(dense=d, multivector=m, mode=mode, limit=6, prefetch_limit=12)
        _assert_same(hits, reference_search(corpus, d, m, mode=mode, limit=6, prefetch_limit=12))


def test_hybrid_differs_from_exact_when_k_is_small(filled: MultiVectorCollection, corpus: Corpus) -> None:
    """Guard against a 'hybrid' that secretly scans everything: with K=6 it must miss exact hits."""
    differs = 0
    for seed in range(6):
        d, m = query_vectors(corpus, seed)
        hybrid = [h.text for h in filled.search_by_vector(dense=d, multivector=m, limit=6, prefetch_limit=6)]
        exact = [h.text for h in filled.search_by_vector(dense=d, multivector=m, mode="multivector", limit=6)]
        differs += hybrid != exact
    assert differs > 0


def test_filtered_hybrid_equals_numpy_on_the_matching_points(filled: MultiVectorCollection, corpus: Corpus) -> None:
    mask = np.array([meta["group"] == 1 for meta in corpus.metadatas])
    for seed in range(3):
        d, m = query_vectors(corpus, seed)
        hits = filled.search_by_vector(dense=d, multivector=m, limit=5, prefetch_limit=8, filter={"group": 1})
        assert all(h.metadata["group"] == 1 for h in hits)
        _assert_same(hits, reference_search(corpus, d, m, mode="hybrid", limit=5, prefetch_limit=8, mask=mask))


def test_filters_count_and_select(filled: MultiVectorCollection, corpus: Corpus) -> None:
    from qdrant_client import models

    metas = corpus.metadatas
    cases: list[tuple[Any, Any]] = [
        ({"colour": "red"}, lambda x: x["colour"] == "red"),
        ({"group": [0, 2]}, lambda x: x["group"] in (0, 2)),
        ({"score": {"gte": 0.25, "lt": 0.5}}, lambda x: 0.25 <= x["score"] < 0.5),
        ({"colour": "green", "group": 1}, lambda x: x["colour"] == "green" and x["group"] == 1),
        (
            models.Filter(
                must_not=[models.FieldCondition(key="metadata.group", match=models.MatchValue(value=0))],
                should=[
                    models.FieldCondition(key="metadata.colour", match=models.MatchValue(value="red")),
                    models.FieldCondition(key="metadata.score", range=models.Range(gt=0.9)),
                ],
            ),
            lambda x: x["group"] != 0 and (x["colour"] == "red" or x["score"] > 0.9),
        ),
    ]
    for flt, predicate in cases:
        assert filled.count(flt) == sum(map(predicate, metas)), flt
    doc_filter = models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=["doc1", "doc3"]))])
    assert filled.count(doc_filter) == 20
    d, m = query_vectors(corpus, 0)
    hits = filled.search_by_vector(dense=d, multivector=m, limit=60, prefetch_limit=60, filter={"colour": "red"})
    assert len(hits) == 30 and {h.metadata["colour"] for h in hits} == {"red"}


def test_filter_on_a_missing_field_is_an_error(filled: MultiVectorCollection, corpus: Corpus) -> None:
    from qdrant_client import models

    with pytest.raises(StoreError) as info:
        filled.count({"color": "red"})
    message = str(info.value)
    assert "unknown field(s) ['metadata.color']" in message
    assert "metadata.colour" in message and "metadata.group" in message and "doc_id" in message
    d, m = query_vectors(corpus, 0)
    typo = models.Filter(must=[models.FieldCondition(key="colour", match=models.MatchValue(value="red"))])
    with pytest.raises(StoreError, match=r"\['colour'\]"):  # metadata keys need the 'metadata.' prefix
        filled.search_by_vector(dense=d, multivector=m, filter=typo)
    with pytest.raises(StoreError, match="unknown field"):
        filled.delete(filter={"colr": "red"})
    assert filled.count() == 60


def test_keys_added_by_another_handle_are_found(store: Store, corpus: Corpus) -> None:
    first = store.open(schema=SMALL)
    first.add_embeddings(corpus.dense[:2], corpus.multivectors[:2], texts=corpus.texts[:2], metadatas=[{"a": 1}] * 2)
    if store.kind == "path":  # one process per path: a second client cannot open it; use the same client
        second = store.open(schema=SMALL)
    else:
        second = MultiVectorCollection.open(store.location(), "t", schema=SMALL)
        store._open.append(second)
    second.add_embeddings(
        corpus.dense[2:4], corpus.multivectors[2:4], texts=corpus.texts[2:4], metadatas=[{"b": 1}] * 2
    )
    assert first.count({"b": 1}) == 2  # the stale cache is refreshed before failing


def test_bad_search_options(filled: MultiVectorCollection, corpus: Corpus) -> None:
    d, m = query_vectors(corpus, 0)
    with pytest.raises(
        ValueError, match=r"unknown mode 'maxsim'; expected one of \['hybrid', 'dense', 'multivector'\]"
    ):
        filled.search_by_vector(dense=d, multivector=m, mode="maxsim")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"prefetch_limit \(5\) must be >= limit \(10\)"):
        filled.search_by_vector(dense=d, multivector=m, prefetch_limit=5)
    with pytest.raises(ValueError, match="limit must be a positive int"):
        filled.search_by_vector(dense=d, multivector=m, limit=0)
    with pytest.raises(ValueError, match=r"query dense vector has shape \(8,\); collection 't' expects \(16,\)"):
        filled.search_by_vector(dense=d[:8], multivector=m)
    with pytest.raises(ValueError, match=r"query multi-vector has shape \(3, 4\).*\(n_tokens >= 1, 8\)"):
        filled.search_by_vector(dense=d, multivector=m[:, :4])
    with pytest.raises(ValueError, match="mode 'multivector' needs a query multi-vector"):
        filled.search_by_vector(dense=d, mode="multivector")
    with pytest.raises(StoreError, match="needs an encoder"):
        filled.search("a text query")


def test_default_prefetch_follows_a_large_limit(store: Store) -> None:
    """Without prefetch_limit, hybrid reranks max(100, limit) candidates; an explicit one is checked."""
    corpus = make_corpus(n=130, seed=3)
    col = store.open(schema=SMALL)
    col.add_embeddings(corpus.dense, corpus.multivectors, texts=corpus.texts)
    d, m = query_vectors(corpus, 2)
    _assert_same(
        col.search_by_vector(dense=d, multivector=m, limit=120),
        reference_search(corpus, d, m, mode="hybrid", limit=120, prefetch_limit=120),
    )
    _assert_same(
        col.search_by_vector(dense=d, multivector=m, limit=5),
        reference_search(corpus, d, m, mode="hybrid", limit=5, prefetch_limit=100),
    )
    with pytest.raises(ValueError, match=r"prefetch_limit \(100\) must be >= limit \(120\)"):
        col.search_by_vector(dense=d, multivector=m, limit=120, prefetch_limit=100)


def test_score_threshold_and_limit(filled: MultiVectorCollection, corpus: Corpus) -> None:
    d, m = query_vectors(corpus, 1)
    every = filled.search_by_vector(dense=d, multivector=m, limit=20, prefetch_limit=20)
    cut = (every[9].score + every[10].score) / 2  # between two scores: no tie semantics involved
    kept = filled.search_by_vector(dense=d, multivector=m, limit=20, prefetch_limit=20, score_threshold=cut)
    assert [h.id for h in kept] == [h.id for h in every[:10]]


def test_get_delete_count(filled: MultiVectorCollection, corpus: Corpus) -> None:
    from jv4_integrations.qdrant.ids import text_item_id

    ids = [text_item_id(t) for t in corpus.texts]
    got = filled.get([ids[5], "not-stored", ids[2], ids[5]])
    assert [p.text for p in got] == ["text 5", "text 2"]
    filled.delete([ids[0], ids[1]])
    assert filled.count() == 58
    filled.delete(doc_ids=["doc5"])
    assert filled.count() == 48 and filled.count({"group": 0}) == sum(
        1 for i, meta in enumerate(corpus.metadatas) if meta["group"] == 0 and i >= 2 and i < 50
    )
    filled.delete(filter={"colour": "red"})
    assert filled.count() == sum(1 for i, x in enumerate(corpus.metadatas) if 2 <= i < 50 and x["colour"] != "red")
    with pytest.raises(ValueError, match="exactly one of ids=, doc_ids= or filter="):
        filled.delete(ids=[ids[3]], doc_ids=["doc1"])
    with pytest.raises(ValueError, match="exactly one"):
        filled.delete()


def test_closed_and_deleted_collections(store: Store, corpus: Corpus) -> None:
    col = store.open(schema=SMALL)
    col.close()
    col.close()  # idempotent
    with pytest.raises(StoreError, match="is closed"):
        col.count()
    if store.kind != "edge":
        live = store.open("gone", schema=SMALL)
        store.location().delete_collection("gone")
        d, m = query_vectors(corpus, 0)
        with pytest.raises(StoreError, match="searching collection 'gone' failed"):
            live.search_by_vector(dense=d, multivector=m)


# -- with the encoder ---------------------------------------------------------------------------

QUERIES = ["which topic is number one?", "document about topic 3", "Topic zero"]
DOCS = [f"document number {i} about topic {i % 4}" for i in range(12)]


def test_text_search_encodes_the_query_once(store: Store, encoder: Any) -> None:
    col = store.open(encoder=encoder, schema=CollectionSchema(dense_size=32))
    col.add(DOCS)
    for mode in ("hybrid", "dense", "multivector"):
        before = encoder.forward_calls
        hits = col.search(QUERIES[0], mode=mode, limit=5, prefetch_limit=8)  # type: ignore[arg-type]
        assert encoder.forward_calls - before == 1
        q = encoder.encode_queries([QUERIES[0]], output="both", truncate_dim=32)
        same = col.search_by_vector(
            dense=q.dense[0],
            multivector=q.multivector[0],
            mode=mode,
            limit=5,  # type: ignore[arg-type]
            prefetch_limit=8,
        )
        assert [h.id for h in hits] == [h.id for h in same]
        np.testing.assert_allclose([h.score for h in hits], [h.score for h in same], rtol=1e-5, atol=1e-5)


def test_batch_equals_single_searches(store: Store, encoder: Any) -> None:
    col = store.open(encoder=encoder, schema=CollectionSchema(dense_size=32))
    col.add(DOCS, metadatas=[{"even": i % 2 == 0} for i in range(len(DOCS))])
    for mode in ("hybrid", "dense", "multivector"):
        before = encoder.forward_calls
        batch = col.search_batch(QUERIES, mode=mode, limit=4, prefetch_limit=6, filter={"even": True})  # type: ignore[arg-type]
        assert encoder.forward_calls - before == 1  # one encode call for all queries
        singles = [col.search(q, mode=mode, limit=4, prefetch_limit=6, filter={"even": True}) for q in QUERIES]  # type: ignore[arg-type]
        assert [[h.id for h in hits] for hits in batch] == [[h.id for h in hits] for hits in singles]
        for a, b in zip(batch, singles, strict=True):
            np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-5, atol=1e-5)
    assert col.search_batch([]) == []


def test_image_query_finds_its_own_image_first(store: Store, encoder: Any, image_factory: Any) -> None:
    col = store.open(encoder=encoder, schema=CollectionSchema(dense_size=32))
    images = [image_factory(seed) for seed in range(6)]
    ids = col.add(images + DOCS[:4])
    for mode in ("hybrid", "multivector", "dense"):
        for k, image in enumerate(images):
            hits = col.search(image, mode=mode, limit=3)  # type: ignore[arg-type]
            assert hits[0].item_id == ids[k] and hits[0].modality == "image", (mode, k)


def test_empty_and_malformed_queries(store: Store, encoder: Any) -> None:
    col = store.open(encoder=encoder, schema=CollectionSchema(dense_size=32))
    col.add(DOCS[:2])
    with pytest.raises(InputError, match="empty query ''"):
        col.search("")
    with pytest.raises(InputError, match=r"item 1: empty query '  '"):
        col.search_batch(["fine", "  "])
    with pytest.raises(InputError, match="the query is None"):
        col.search(None)
    with pytest.raises(TypeError, match="use search_batch"):
        col.search(["a", "b"])


def test_persistence_across_close_and_reopen(disk_store: Store, encoder: Any) -> None:
    col = disk_store.open(encoder=encoder, schema=CollectionSchema(dense_size=16, multivector_datatype="float16"))
    ids = col.add(DOCS, metadatas=[{"i": i} for i in range(len(DOCS))], doc_ids=["a"] * 6 + ["b"] * 6)
    before = col.search(QUERIES[1], limit=5, prefetch_limit=8)
    disk_store.restart()
    again = disk_store.open(encoder=encoder, create=False)
    assert again.count() == 12 and again.schema.multivector_datatype == "float16" and again.schema.dense_size == 16
    after = again.search(QUERIES[1], limit=5, prefetch_limit=8)
    assert [(h.id, h.text, h.metadata) for h in after] == [(h.id, h.text, h.metadata) for h in before]
    np.testing.assert_allclose([h.score for h in after], [h.score for h in before], rtol=1e-6)
    assert again.count({"i": 3}) == 1 and again.count(filter={"i": {"gte": 6}}) == 6  # known keys persisted
    assert [p.item_id for p in again.get(ids[:2])] == ids[:2]
    record = again.info().model
    assert record is not None and record.model == encoder.name_or_path and record.task == "retrieval"
