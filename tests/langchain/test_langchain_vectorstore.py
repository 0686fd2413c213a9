"""``JV4QdrantVectorStore`` beyond the standard suite: construction, ids, searches checked against the core."""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores.utils import maximal_marginal_relevance
from qdrant_client import QdrantClient, models
from vectorstore_helpers import (
    CORPUS,
    IDS,
    METADATAS,
    QUERIES,
    TEXTS,
    assert_same_ranking,
    expected_ranking,
    ranked,
)

import jv4_integrations
from jv4_integrations import InputError, JV4Encoder, SchemaMismatchError, StoreError
from jv4_integrations.errors import CollectionNotFoundError, MissingDependencyError
from jv4_integrations.langchain import JV4Embeddings, JV4QdrantVectorStore
from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection


@pytest.fixture
def store(tiny_params: dict[str, Any]) -> Iterator[JV4QdrantVectorStore]:
    """The corpus in an in-memory store with 32-d dense vectors (hybrid search by default)."""
    s = JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params, dimensions=32), location=":memory:")
    s.add_texts(TEXTS, METADATAS, ids=IDS)
    yield s
    s.close()


def _stored(store: JV4QdrantVectorStore) -> list[Any]:
    return store.collection.get(IDS, with_vectors=True)


# -- construction -------------------------------------------------------------------------------


def test_the_store_follows_the_embedding_and_encodes_each_item_once(
    encoder: JV4Encoder, tiny_params: dict[str, Any]
) -> None:
    emb = JV4Embeddings(**tiny_params, dimensions=32)
    with JV4QdrantVectorStore(embedding=emb, location=":memory:", collection_name="c32") as store:
        assert store.embeddings is emb and store.mode == "hybrid"
        assert store.collection.encoder is encoder and emb.encoder is encoder  # one model in the process
        assert (store.collection.schema.dense_size, store.collection.schema.multivector_size) == (32, 128)
        before = encoder.forward_calls
        assert store.add_texts(TEXTS, METADATAS, ids=IDS) == IDS
        assert encoder.forward_calls - before == 1  # dense + multi-vector of all ten texts: one forward pass
        stored = _stored(store)
        passages = encoder.encode_documents(TEXTS, output="both", truncate_dim=32)
        np.testing.assert_allclose(np.stack([p.dense for p in stored]), passages.dense, atol=1e-5)
        for point, tokens in zip(stored, passages.multivector or [], strict=True):
            np.testing.assert_allclose(point.multivector, tokens, atol=1e-5)
        # the stored dense vectors are what the embedding itself returns
        np.testing.assert_allclose(np.stack([p.dense for p in stored]), emb.embed_documents(TEXTS), atol=1e-5)


def test_a_store_around_an_open_collection_takes_its_settings(encoder: JV4Encoder, tiny_params: dict[str, Any]) -> None:
    client = QdrantClient(":memory:")
    col = MultiVectorCollection.open(client, "mine", encoder=encoder, schema=CollectionSchema(dense_size=16))
    store = JV4QdrantVectorStore(collection=col, mode="dense")
    assert store.collection is col and store.embeddings.encoder is encoder
    assert (store.embeddings.dimensions, store.embeddings.task) == (16, "retrieval")
    store.add_texts(["one text"], ids=["a"])
    store.close()  # the caller's collection stays open
    assert col.count() == 1
    same = JV4QdrantVectorStore(JV4Embeddings(**tiny_params, dimensions=16), collection=col)
    assert same.get_by_ids(["a"]) == [Document(id="a", page_content="one text")]
    with pytest.raises(ValueError, match=r"dimensions 32 != the collection's dense size 16"):
        JV4QdrantVectorStore(JV4Embeddings(**tiny_params, dimensions=32), collection=col)
    with pytest.raises(ValueError, match=r"task 'code' != the collection's 'retrieval'"):
        JV4QdrantVectorStore(JV4Embeddings(**tiny_params, dimensions=16, task="code"), collection=col)
    with pytest.raises(ValueError, match=r"pass collection= or location= \(with \['location'\]\), not both"):
        JV4QdrantVectorStore(collection=col, location=":memory:")
    with pytest.raises(ValueError, match=r"\(with \['collection_name'\]\)"):
        JV4QdrantVectorStore(collection=col, collection_name="other")
    bare = MultiVectorCollection.open(client, "mine")
    with pytest.raises(ValueError, match="opened without an encoder"):
        JV4QdrantVectorStore(collection=bare)
    col.close()
    client.close()


def test_reopening_checks_the_dense_size(tiny_params: dict[str, Any], tmp_path: Path) -> None:
    where = tmp_path / "store"
    JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params, dimensions=32), location=where).close()
    with pytest.raises(SchemaMismatchError, match=r"stores 32-d vectors.*JV4Embeddings\(dimensions=32\)"):
        JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params, dimensions=16), location=where)
    reopened = JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params, dimensions=32), location=where, create=False)
    reopened.close()
    with pytest.raises(CollectionNotFoundError):
        JV4QdrantVectorStore(
            embedding=JV4Embeddings(**tiny_params), location=where, collection_name="nope", create=False
        )
    with pytest.raises(ValueError, match=r"schema.dense_size=16 differs from the embedding's dimensions \(64\)"):
        JV4QdrantVectorStore(
            embedding=JV4Embeddings(**tiny_params), location=where, schema=CollectionSchema(dense_size=16)
        )


def test_from_texts_and_from_documents_as_the_readme_spells_them(
    tiny_params: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    emb = JV4Embeddings(**tiny_params)
    store = JV4QdrantVectorStore.from_texts(
        ["Qdrant stores vectors.", "MaxSim compares every query token with every document token."],
        embedding=emb, location="./jv4-data", collection_name="notes",
    )  # fmt: skip
    assert (store.collection.name, store.collection.backend_kind, store.collection.count()) == ("notes", "edge", 2)
    assert (tmp_path / "jv4-data" / "notes").is_dir()
    docs = store.as_retriever(search_kwargs={"k": 3}).invoke("how does late interaction score documents?")
    assert len(docs) == 2 and {d.page_content for d in docs} == {
        "Qdrant stores vectors.",
        "MaxSim compares every query token with every document token.",
    }
    store.close()
    documents = [Document(page_content=t, metadata=m, id=i) for i, t, m in CORPUS[:3]]
    again = JV4QdrantVectorStore.from_documents(documents, emb, location=":memory:", mode="multivector")
    assert again.mode == "multivector" and again.get_by_ids(IDS[:3]) == documents
    again.close()


def test_bad_arguments_are_rejected_naming_the_valid_ones(
    store: JV4QdrantVectorStore, tiny_params: dict[str, Any]
) -> None:
    with pytest.raises(TypeError, match=r"needs a JV4Embeddings, got DeterministicFakeEmbedding.*langchain_qdrant"):
        JV4QdrantVectorStore.from_texts(["a"], DeterministicFakeEmbedding(size=6), location=":memory:")
    with pytest.raises(TypeError, match="needs embedding=JV4Embeddings"):
        JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params))
    with pytest.raises(
        ValueError, match=r"unknown mode 'colbert'; expected one of \['hybrid', 'dense', 'multivector'\]"
    ):
        JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params), location=":memory:", mode="colbert")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown mode 'sparse'"):
        store.similarity_search("q", mode="sparse")
    with pytest.raises(
        TypeError, match=r"similarity_search_with_score\(\) got unexpected keyword argument\(s\) \['fliter'\]"
    ):
        store.similarity_search("q", fliter={"topic": "db"})
    with pytest.raises(TypeError, match=r"add_texts\(\) got unexpected keyword argument\(s\) \['doc_ids'\]"):
        store.add_texts(["x"], doc_ids=["d"])
    with pytest.raises(ValueError, match="k must be a positive int, got 0"):
        store.similarity_search("q", k=0)
    with pytest.raises(ValueError, match=r"prefetch_limit \(2\) must be >= limit \(3\)"):
        store.similarity_search("q", k=3, prefetch_limit=2)
    with pytest.raises(InputError, match="empty query"):
        store.similarity_search("  ")
    with pytest.raises(ValueError, match="delete\\(\\) needs ids, filter= or doc_ids="):
        store.delete()
    with pytest.raises(ValueError, match="has no condition"):
        store.delete(filter={})
    with pytest.raises(InputError, match=r"item 2: None is not a text"):
        store.add_texts(["fine", "also fine", None])  # type: ignore[list-item]
    with pytest.raises(InputError, match=r"item 1: empty text ''"):
        store.add_texts(["fine", ""])
    with pytest.raises(InputError) as info:  # every bad text in one error
        store.add_texts(["ok", "", "   ", None])  # type: ignore[list-item]
    assert [p.index for p in info.value.problems] == [1, 2, 3]
    assert str(info.value).startswith("3 invalid texts: item 1: empty text ''; item 2: empty text '   '; item 3: None")
    with pytest.raises(ValueError, match="ids must be a list with one id per item: got 1 ids for 2 items"):
        store.add_texts(["a", "b"], ids=["only-one"])
    assert store.collection.count() == len(TEXTS)  # nothing above wrote anything


def test_the_embeddings_encode_kwargs_apply_to_stored_items_and_queries(
    tiny_params: dict[str, Any], encoder: JV4Encoder, caplog: pytest.LogCaptureFixture
) -> None:
    emb = JV4Embeddings(
        **tiny_params, dimensions=32, encode_kwargs={"max_length": 12, "show_progress": False},
        query_encode_kwargs={"max_length": 5},
    )  # fmt: skip
    long_texts = [t + " " + t for t in TEXTS[:3]]  # longer than 12 tokens: cut
    with caplog.at_level(logging.WARNING):
        store = JV4QdrantVectorStore(embedding=emb, location=":memory:")
        store.add_texts(long_texts, ids=["a", "b", "c"])
    docs = encoder.encode_documents(long_texts, output="both", truncate_dim=32, max_length=12)
    for k, point in enumerate(store.collection.get(["a", "b", "c"], with_vectors=True)):
        np.testing.assert_allclose(point.dense, docs.dense[k], atol=1e-5)  # as embed_documents gives them
        np.testing.assert_allclose(point.multivector, docs.multivector[k], atol=1e-5)
        np.testing.assert_allclose(point.dense, emb.embed_documents([long_texts[k]])[0], atol=1e-5)
    query = "what does the lighthouse keeper do every night of the year"
    q = encoder.encode_queries([query], output="both", truncate_dim=32, max_length=5)
    assert q.multivector[0].shape[0] <= 5  # the query option, not the document one
    hits = store.similarity_search_with_score(query, k=3, mode="multivector")
    expected = {pid: float((q.multivector[0] @ docs.multivector[k].T).max(axis=1).sum()) for k, pid in enumerate("abc")}
    assert [d.id for d, _ in hits] == sorted(expected, key=lambda pid: -expected[pid])
    np.testing.assert_allclose([s for _, s in hits], sorted(expected.values(), reverse=True), rtol=1e-5)
    dense_hits = store.similarity_search_with_score(query, k=1, mode="dense")
    top = store.collection.get([dense_hits[0][0].id or ""], with_vectors=True)[0]
    np.testing.assert_allclose(dense_hits[0][1], float(np.dot(emb.embed_query(query), top.dense)), rtol=1e-5)
    store.close()
    assert not [r for r in caplog.records if r.name.startswith("jv4_integrations.langchain")]


def test_missing_langchain_core_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jv4_integrations, "langchain", importlib.import_module("jv4_integrations.langchain"))
    for name in list(sys.modules):
        if name == "langchain_core" or name.startswith("langchain_core."):
            monkeypatch.setitem(sys.modules, name, None)
        elif name.startswith("jv4_integrations.langchain"):
            monkeypatch.delitem(sys.modules, name)
    fresh = importlib.import_module("jv4_integrations.langchain")
    expected = r"JV4QdrantVectorStore needs 'langchain-core', which is not installed: pip install 'jv4-integrations\[langchain\]'"  # noqa: E501
    with pytest.raises(MissingDependencyError, match=expected):
        fresh.JV4QdrantVectorStore  # noqa: B018


# -- ids, metadata, deletes -----------------------------------------------------------------------


def test_ids_metadata_and_upserts(store: JV4QdrantVectorStore) -> None:
    meta = {"nested": {"a": [1, 2, {"b": None}]}, "flag": False, "score": 0.25, "source": "mine", "text": "kept"}
    docs = [Document(page_content="first", metadata=meta, id="doc-1"), Document(page_content="second")]
    ids = store.add_documents(docs)
    assert ids[0] == "doc-1" and len(ids[1]) == 36  # Document.id honoured; a new UUID for the other
    got = store.get_by_ids(["missing", ids[1], "doc-1", ids[1]])  # request order, missing skipped, once each
    assert got == [
        Document(id=ids[1], page_content="second"),
        Document(id="doc-1", page_content="first", metadata=meta),
    ]
    count = store.collection.count()
    store.add_documents([Document(page_content="first, edited", metadata={"v": 2}, id="doc-1")])
    assert store.collection.count() == count  # same id: replaced, not duplicated
    assert store.get_by_ids(["doc-1"]) == [Document(id="doc-1", page_content="first, edited", metadata={"v": 2})]
    # explicit ids win over Document.id (LangChain's rule); texts without ids get fresh UUIDs each time
    assert store.add_documents([Document(page_content="x", id="ignored")], ids=["chosen"]) == ["chosen"]
    a, b = store.add_texts(["same text", "same text"])
    assert a != b and len(store.get_by_ids([a, b])) == 2


def test_deletes_by_ids_filter_and_doc_ids(store: JV4QdrantVectorStore) -> None:
    assert store.delete(["qdrant", "not-there"]) is True
    assert store.get_by_ids(["qdrant", "maxsim"]) == [
        Document(id="maxsim", page_content=TEXTS[1], metadata=METADATAS[1])
    ]
    assert store.delete(filter={"topic": "bikes"}) is True
    assert {d.id for d in store.similarity_search("bikes", k=10)} == set(IDS) - {"qdrant", "frames", "battery"}
    store.collection.add(["child of a parent"], ids=["child"], doc_ids=["parent"])
    store.delete(doc_ids=["parent"])
    assert store.get_by_ids(["child"]) == []
    assert store.delete([]) is True


# -- searching ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "dense", "multivector"])
def test_rankings_and_scores_are_the_cores(encoder: JV4Encoder, store: JV4QdrantVectorStore, mode: str) -> None:
    stored = _stored(store)
    for query in QUERIES:
        # K=4 < 10 points: hybrid reranks only the dense top 4, so it differs from exact MaxSim
        got = store.similarity_search_with_score(query, k=3, mode=mode, prefetch_limit=4)
        assert_same_ranking(
            got, expected_ranking(encoder, query, stored, mode=mode, k=3, prefetch_limit=4, dense_size=32)
        )
        docs = {d.id: d for d, _ in got}
        assert all(docs[i] == Document(id=i, page_content=t, metadata=m) for i, t, m in CORPUS if i in docs)
    assert [d.id for d in store.similarity_search(QUERIES[0], k=3, mode=mode, prefetch_limit=4)] == [
        i for i, _ in expected_ranking(encoder, QUERIES[0], stored, mode=mode, k=3, prefetch_limit=4, dense_size=32)
    ]


def test_hybrid_with_every_point_prefetched_is_exact_maxsim(store: JV4QdrantVectorStore) -> None:
    for query in QUERIES:
        hybrid = store.similarity_search_with_score(query, k=10)  # default K=100 >= 10 points
        exact = store.similarity_search_with_score(query, k=10, mode="multivector")
        assert ranked(hybrid)[0] == ranked(exact)[0]
        np.testing.assert_allclose(ranked(hybrid)[1], ranked(exact)[1], atol=1e-5)


def test_mode_per_store_and_per_call(tiny_params: dict[str, Any], store: JV4QdrantVectorStore) -> None:
    dense_store = JV4QdrantVectorStore(collection=store.collection, mode="dense")
    for query in QUERIES:
        assert dense_store.similarity_search_with_score(query, k=4) == store.similarity_search_with_score(
            query, k=4, mode="dense"
        )
        assert dense_store.similarity_search(query, k=4, mode="hybrid") == store.similarity_search(query, k=4)


def test_search_options_reach_the_collection(tiny_params: dict[str, Any], tmp_path: Path, encoder: JV4Encoder) -> None:
    """hnsw_ef and the quantized middle stage (rerank_candidates) as MultiVectorCollection takes them."""
    schema = CollectionSchema(dense_size=32, multivector_quantization="binary")
    store = JV4QdrantVectorStore(
        embedding=JV4Embeddings(**tiny_params, dimensions=32), location=str(tmp_path), schema=schema
    )
    store.add_texts(TEXTS, ids=IDS)
    for query in QUERIES:
        q = encoder.encode_queries([query], output="both", truncate_dim=32)
        direct = store.collection.search_by_vector(
            dense=q.dense[0], multivector=q.multivector[0], limit=3, prefetch_limit=8, rerank_candidates=4, hnsw_ef=32
        )
        got = store.similarity_search_with_score(query, k=3, prefetch_limit=8, rerank_candidates=4, hnsw_ef=32)
        assert [d.id for d, _ in got] == [h.item_id for h in direct]
        np.testing.assert_allclose([s for _, s in got], [h.score for h in direct], rtol=1e-6)
    with pytest.raises(ValueError, match=r"rerank_candidates \(9\) must be between limit \(3\) and prefetch_limit"):
        store.similarity_search(QUERIES[0], k=3, prefetch_limit=8, rerank_candidates=9)
    store.close()


def test_a_k_above_the_default_prefetch_still_searches_hybrid(encoder: JV4Encoder, store: JV4QdrantVectorStore) -> None:
    small = JV4QdrantVectorStore(collection=store.collection, prefetch_limit=2)
    got = small.similarity_search_with_score(QUERIES[1], k=6)  # K is raised to k
    assert_same_ranking(
        got, expected_ranking(encoder, QUERIES[1], _stored(store), mode="hybrid", k=6, prefetch_limit=6, dense_size=32)
    )


def test_relevance_scores_map_raw_scores_into_0_1(encoder: JV4Encoder, store: JV4QdrantVectorStore) -> None:
    for query in QUERIES:
        n_tokens = len((encoder.encode_queries([query], output="multivector").multivector or [])[0])
        for mode in ("hybrid", "multivector", "dense"):
            raw = store.similarity_search_with_score(query, k=10, mode=mode)
            rel = store.similarity_search_with_relevance_scores(query, k=10, mode=mode)
            assert ranked(rel)[0] == ranked(raw)[0]
            mean = ranked(raw)[1] if mode == "dense" else ranked(raw)[1] / n_tokens  # a mean cosine per query token
            np.testing.assert_allclose(ranked(rel)[1], (1 + mean) / 2, atol=1e-6)
            assert all(0.0 <= s <= 1.0 for _, s in rel)
    # the score_threshold retriever keeps exactly the documents at or above the threshold
    rel = store.similarity_search_with_relevance_scores(QUERIES[0], k=10)
    threshold = float(np.median([s for _, s in rel]))
    retriever = store.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"k": 10, "score_threshold": threshold}
    )
    assert [d.id for d in retriever.invoke(QUERIES[0])] == [d.id for d, s in rel if s >= threshold]


def test_similarity_search_by_vector_is_a_dense_search(store: JV4QdrantVectorStore) -> None:
    emb = store.embeddings
    for query in QUERIES:
        by_vector = store.similarity_search_by_vector(emb.embed_query(query), k=4)
        assert by_vector == store.similarity_search(query, k=4, mode="dense")
    own = store.similarity_search_by_vector(emb.embed_documents([TEXTS[4]])[0], k=1)
    assert own == [Document(id=IDS[4], page_content=TEXTS[4], metadata=METADATAS[4])]  # its own vector: cosine 1
    with pytest.raises(ValueError, match="only mode='dense' applies"):
        store.similarity_search_by_vector(emb.embed_query("q"), mode="hybrid")
    with pytest.raises(ValueError, match=r"query dense vector has shape \(64,\); collection 'jv4' expects \(32,\)"):
        store.similarity_search_by_vector([0.1] * 64)


def test_filters_as_dicts_and_qdrant_filters(encoder: JV4Encoder, store: JV4QdrantVectorStore) -> None:
    stored = _stored(store)
    keep = [p for p in stored if p.metadata["year"] >= 2023 and p.metadata["topic"] != "ir"]
    flt = models.Filter(
        must=[models.FieldCondition(key="metadata.year", range=models.Range(gte=2023))],
        must_not=[models.FieldCondition(key="metadata.topic", match=models.MatchValue(value="ir"))],
    )
    for query in QUERIES:
        got = store.similarity_search_with_score(query, k=3, filter=flt)
        assert_same_ranking(got, expected_ranking(encoder, query, keep, mode="hybrid", k=3, dense_size=32))
        as_dict = store.similarity_search(query, k=10, filter={"topic": ["db", "bikes"]})
        assert sorted(d.id or "" for d in as_dict) == ["battery", "frames", "hnsw", "qdrant"]
    retriever = store.as_retriever(search_kwargs={"k": 5, "filter": {"year": 2024}})
    assert {d.id for d in retriever.invoke(QUERIES[0])} == {"qdrant", "bread", "battery"}
    with pytest.raises(StoreError, match=r"unknown field\(s\) \['metadata.colour'\]"):
        store.similarity_search("q", filter={"colour": "red"})


def test_mmr_on_dense_cosine(store: JV4QdrantVectorStore) -> None:
    stored = {p.item_id: p.dense for p in _stored(store)}
    for query in QUERIES:
        dense_order = [d.id for d in store.similarity_search(query, k=10, mode="dense")]
        # lambda 1: pure relevance, i.e. the dense ranking of the candidates
        mmr = store.max_marginal_relevance_search(query, k=4, fetch_k=10, lambda_mult=1.0)
        assert [d.id for d in mmr] == dense_order[:4]
        assert mmr[0] == Document(
            id=dense_order[0],
            page_content=TEXTS[IDS.index(dense_order[0])],
            metadata=METADATAS[IDS.index(dense_order[0])],
        )
        # any lambda: the picks of LangChain's own MMR over the same candidates (hybrid top fetch_k)
        q = np.asarray(store.embeddings.embed_query(query))
        candidates = [d.id or "" for d in store.similarity_search(query, k=6)]
        for lam in (0.0, 0.3, 0.7):
            got = [d.id for d in store.max_marginal_relevance_search(query, k=4, fetch_k=6, lambda_mult=lam)]
            reference = maximal_marginal_relevance(q, [stored[c].tolist() for c in candidates], lambda_mult=lam, k=4)
            assert got == [candidates[i] for i in reference], (query, lam)
            by_vector = store.max_marginal_relevance_search_by_vector(q.tolist(), k=4, fetch_k=10, lambda_mult=lam)
            ref_dense = maximal_marginal_relevance(q, [stored[c].tolist() for c in dense_order], lambda_mult=lam, k=4)
            assert [d.id for d in by_vector] == [dense_order[i] for i in ref_dense]
    with pytest.raises(ValueError, match=r"lambda_mult must be between 0 and 1, got 1\.5"):
        store.max_marginal_relevance_search("q", lambda_mult=1.5)


def test_mmr_with_a_small_lambda_skips_duplicates(store: JV4QdrantVectorStore) -> None:
    store.add_texts([TEXTS[6]] * 3, [{"copy": i} for i in range(3)], ids=["copy-0", "copy-1", "copy-2"])
    query = TEXTS[6]
    # four identical texts (identical vectors) lead the plain search
    assert [d.page_content for d in store.similarity_search(query, k=4)] == [TEXTS[6]] * 4
    relevant = store.max_marginal_relevance_search(query, k=4, fetch_k=13, lambda_mult=1.0)
    assert [d.id for d in relevant] == [d.id for d in store.similarity_search(query, k=4, mode="dense")]
    assert sum(d.page_content == TEXTS[6] for d in relevant) >= 3
    diverse = store.max_marginal_relevance_search(query, k=4, fetch_k=13, lambda_mult=0.1)
    assert len({d.page_content for d in diverse}) == 4  # no text twice: at most one of the copies


def test_retriever_search_types(store: JV4QdrantVectorStore) -> None:
    query = QUERIES[0]
    sim = store.as_retriever(search_kwargs={"k": 3, "mode": "dense"})
    assert sim.invoke(query) == store.similarity_search(query, k=3, mode="dense")
    mmr = store.as_retriever(search_type="mmr", search_kwargs={"k": 3, "fetch_k": 8, "lambda_mult": 0.2})
    assert mmr.invoke(query) == store.max_marginal_relevance_search(query, k=3, fetch_k=8, lambda_mult=0.2)
    assert sim.tags == ["JV4QdrantVectorStore", "JV4Embeddings"]


# -- async ----------------------------------------------------------------------------------------


async def test_async_twins_return_the_sync_results(
    tiny_params: dict[str, Any], store: JV4QdrantVectorStore, image_paths: list[str]
) -> None:
    other = JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params, dimensions=32), location=":memory:")
    assert await other.aadd_texts(TEXTS, METADATAS, ids=IDS) == IDS
    assert await other.aadd_documents([Document(page_content="extra", id="extra")]) == ["extra"]
    store.add_documents([Document(page_content="extra", id="extra")])
    assert await other.aget_by_ids(["extra", *IDS]) == store.get_by_ids(["extra", *IDS])
    assert await other.aadd_images(image_paths[:1], [{"kind": "image"}], ids=["img"]) == ["img"]
    store.add_images(image_paths[:1], [{"kind": "image"}], ids=["img"])
    q = store.embeddings.embed_query(QUERIES[0])
    for query in QUERIES:
        for mode in ("hybrid", "dense", "multivector"):
            sync = store.similarity_search_with_score(query, k=5, mode=mode)
            assert await other.asimilarity_search_with_score(query, k=5, mode=mode) == sync
        assert await other.asimilarity_search(query, k=3) == store.similarity_search(query, k=3)
        assert await other.asimilarity_search_with_relevance_scores(
            query, k=3
        ) == store.similarity_search_with_relevance_scores(query, k=3)
        assert await other.amax_marginal_relevance_search(query, k=3, fetch_k=6) == store.max_marginal_relevance_search(
            query, k=3, fetch_k=6
        )
        retriever = other.as_retriever(search_type="mmr", search_kwargs={"k": 2})
        assert await retriever.ainvoke(query) == store.as_retriever(search_type="mmr", search_kwargs={"k": 2}).invoke(
            query
        )
    assert await other.asimilarity_search_by_vector(q, k=4) == store.similarity_search_by_vector(q, k=4)
    assert await other.amax_marginal_relevance_search_by_vector(
        q, k=3
    ) == store.max_marginal_relevance_search_by_vector(q, k=3)
    assert await other.adelete(["qdrant", "img"]) is True
    store.delete(["qdrant", "img"])
    assert await other.asimilarity_search(QUERIES[0], k=20) == store.similarity_search(QUERIES[0], k=20)
    await other.aclose()


async def test_async_search_and_add_do_not_block_the_event_loop(
    encoder: JV4Encoder, store: JV4QdrantVectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Encoding waits on a gate only a coroutine on the event loop opens: if the store encoded on the
    # loop's thread, the loop could never open it and the wait would time out.
    for method in ("encode_queries", "encode_documents"):
        gate, entered = threading.Event(), threading.Event()
        original = getattr(encoder, method)

        def gated(
            *args: Any,
            _gate: threading.Event = gate,
            _entered: threading.Event = entered,
            _orig: Any = original,
            **kwargs: Any,
        ) -> Any:
            _entered.set()
            if not _gate.wait(timeout=20):
                raise AssertionError("the event loop never ran while encoding: it was blocked")
            return _orig(*args, **kwargs)

        monkeypatch.setattr(encoder, method, gated)
        call = (
            store.asimilarity_search(QUERIES[0], k=2)
            if method == "encode_queries"
            else store.aadd_texts(["new"], ids=["new"])
        )
        task = asyncio.ensure_future(call)
        while not entered.is_set():
            assert not task.done(), f"the call ended before reaching the encoder: {task.exception()!r}"
            await asyncio.sleep(0.001)
        await asyncio.sleep(0)
        assert not task.done()
        gate.set()
        await task
        monkeypatch.setattr(encoder, method, original)
    assert store.get_by_ids(["new"]) == [Document(id="new", page_content="new")]


async def test_a_store_on_an_async_qdrant_client(
    encoder: JV4Encoder, tiny_params: dict[str, Any], store: JV4QdrantVectorStore
) -> None:
    from qdrant_client import AsyncQdrantClient

    client = AsyncQdrantClient(location=":memory:")
    with pytest.raises(TypeError, match=r"await MultiVectorCollection.aopen\(client"):
        JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params), location=client)
    col = await MultiVectorCollection.aopen(client, "native", encoder=encoder, schema=CollectionSchema(dense_size=32))
    native = JV4QdrantVectorStore(collection=col)
    assert await native.aadd_texts(TEXTS, METADATAS, ids=IDS) == IDS
    for query in QUERIES:
        assert await native.asimilarity_search_with_score(query, k=4) == store.similarity_search_with_score(query, k=4)
        assert await native.amax_marginal_relevance_search(query, k=3) == store.max_marginal_relevance_search(
            query, k=3
        )
    with pytest.raises(StoreError, match="use the async methods"):
        native.similarity_search(QUERIES[0])
    await native.aclose()  # the caller's collection: left open
    assert await col.acount() == len(TEXTS)
    await col.aclose()
    await client.close()
