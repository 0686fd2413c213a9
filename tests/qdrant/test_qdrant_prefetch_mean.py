"""prefetch_vector="mean": hybrid = numpy MaxSim rerank of the mean-token top-K, on every backend;
schema checks and inference; what a server receives; the CLI and the adapters keep it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_helpers import SMALL, Corpus, Store, make_corpus, query_vectors, reference_search, unit

from jv4_integrations.errors import InputError, SchemaMismatchError
from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection
from jv4_integrations.qdrant.types import QueryPlan
from jv4_integrations.scoring import maxsim, mean_token

MEAN = dataclasses.replace(SMALL, prefetch_vector="mean")


def _mean_reference(corpus: Corpus, m: np.ndarray, limit: int, k: int, mask: Any = None) -> list[tuple[str, float]]:
    """(text, score): MaxSim over the exact top-k by cosine of normalised mean tokens."""
    idx = np.arange(len(corpus.texts)) if mask is None else np.flatnonzero(mask)
    means = unit(np.stack([unit(corpus.multivectors[i]).mean(0) for i in idx]))
    q = unit(unit(m).mean(0))
    cand = idx[np.argsort(-(means @ q))[:k]]
    scores = maxsim([unit(m)], [unit(corpus.multivectors[i]) for i in cand])[0]
    order = np.argsort(-scores)[:limit]
    return [(corpus.texts[cand[i]], float(scores[i])) for i in order]


def _filled(store: Store, corpus: Corpus, schema: CollectionSchema = MEAN) -> MultiVectorCollection:
    col = store.open(schema=schema)
    col.add_embeddings(corpus.dense, corpus.multivectors, texts=corpus.texts, metadatas=corpus.metadatas)
    return col


def test_mean_token() -> None:
    rows = np.array([[3.0, 0.0], [0.0, 1.0]], np.float32)
    np.testing.assert_allclose(mean_token(rows), unit(np.array([0.5, 0.5])), rtol=1e-6)  # rows normalised first
    assert mean_token(np.array([[1.0, 0.0], [-1.0, 0.0]])) is None  # averages to zero
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(mean_token(torch.tensor(rows)), mean_token(rows))


def test_hybrid_reranks_the_mean_token_candidates(store: Store, corpus: Corpus) -> None:
    col = _filled(store, corpus)
    differs_from_dense = 0
    for seed in range(5):
        d, m = query_vectors(corpus, seed)
        hits = col.search_by_vector(dense=d, multivector=m, limit=5, prefetch_limit=10)
        expected = _mean_reference(corpus, m, 5, 10)
        assert [h.text for h in hits] == [t for t, _ in expected]
        np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], rtol=1e-5, atol=1e-5)
        # no dense query vector needed for hybrid on a mean collection
        assert [h.text for h in col.search_by_vector(multivector=m, limit=5, prefetch_limit=10)] == [
            t for t, _ in expected
        ]
        dense_way = reference_search(corpus, d, m, mode="hybrid", limit=5, prefetch_limit=10)
        differs_from_dense += [t for t, _ in dense_way] != [t for t, _ in expected]
    assert differs_from_dense > 0  # the prefetch really is another vector
    d, m = query_vectors(corpus, 1)
    mask = np.array([meta["group"] == 2 for meta in corpus.metadatas])
    filtered = col.search_by_vector(multivector=m, limit=4, prefetch_limit=8, filter={"group": 2})
    assert [h.text for h in filtered] == [t for t, _ in _mean_reference(corpus, m, 4, 8, mask)]
    dense_hits = col.search_by_vector(dense=d, multivector=m, mode="dense", limit=5)  # dense mode: dense vector
    assert [h.text for h in dense_hits] == [t for t, _ in reference_search(corpus, d, m, mode="dense", limit=5)]
    with pytest.raises(ValueError, match="mode 'dense' needs a dense query vector"):
        col.search_by_vector(multivector=m, mode="dense")


def test_encoder_writes_the_mean_of_its_multivectors(store: Store, encoder: Any) -> None:
    schema = CollectionSchema(dense_size=32, prefetch_vector="mean")
    col = store.open(encoder=encoder, schema=schema)
    texts = [f"passage {i} on theme {i % 5}" for i in range(24)]
    col.add(texts)
    docs = encoder.encode_documents(texts, output="multivector")
    query = encoder.encode_queries(["theme three"], output="multivector").multivector[0]
    means = np.stack([mean_token(mv) for mv in docs.multivector])
    cand = np.argsort(-(means @ mean_token(query)))[:6]
    scores = maxsim([query], [docs.multivector[i] for i in cand])[0]
    expected = [texts[cand[i]] for i in np.argsort(-scores)[:3]]
    assert [h.text for h in col.search("theme three", limit=3, prefetch_limit=6)] == expected


def test_schema_checks_and_inference(store: Store, corpus: Corpus) -> None:
    _filled(store, corpus)
    store.restart()
    reopened = store.open()  # no schema: inferred from the collection
    assert reopened.schema.prefetch_vector == "mean" and reopened.schema.mean_name == "mean"
    store.restart()
    with pytest.raises(SchemaMismatchError, match="vector 'mean' exists in the collection but not in the requested"):
        store.open(schema=SMALL)
    plain = store.open("plain", schema=SMALL)
    plain.close()
    with pytest.raises(SchemaMismatchError, match="vector 'mean' is missing"):
        store.open("plain", schema=MEAN)
    assert store.open("plain").schema.prefetch_vector == "dense"  # nothing was changed or recreated
    with pytest.raises(ValueError, match=r"unknown prefetch_vector 'max'; expected one of \['dense', 'mean'\]"):
        dataclasses.replace(SMALL, prefetch_vector="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mean_name 'dense' must differ"):
        dataclasses.replace(MEAN, mean_name="dense")


def test_a_multivector_averaging_to_zero_is_refused(store: Store, corpus: Corpus) -> None:
    col = store.open(schema=MEAN)
    flat = np.zeros((2, 8), np.float32)
    flat[0, 0], flat[1, 0] = 1.0, -1.0
    with pytest.raises(InputError, match="item 1: multi-vector tokens average to zero: no 'mean' prefetch vector"):
        col.add_embeddings(corpus.dense[:2], [corpus.multivectors[0], flat])
    assert col.count() == 0


@pytest.mark.filterwarnings("ignore:Local mode performs exact")
def test_server_requests_prefetch_with_the_mean_vector(corpus: Corpus) -> None:
    from qdrant_client import QdrantClient

    from jv4_integrations.qdrant.backends.client_common import create_kwargs, query_requests

    d, m = query_vectors(corpus, 3)
    plan = QueryPlan(
        mode="hybrid", dense=d, multivector=m, limit=5, prefetch_limit=12, hnsw_ef=64, prefetch=mean_token(m)
    )
    (req,) = query_requests([plan], MEAN, local=False)
    assert req.using == "multivector" and req.prefetch.using == "mean" and req.prefetch.params.hnsw_ef == 64
    np.testing.assert_allclose(req.prefetch.query, mean_token(m), rtol=1e-6)
    (local,) = query_requests([plan], MEAN, local=True)
    assert local.using == "mean" and local.with_vector == ["multivector"]
    config = create_kwargs(MEAN, {}, remote=True)["vectors_config"]
    assert set(config) == {"dense", "multivector", "mean"} and config["mean"].size == 8
    assert config["mean"].multivector_config is None
    client = QdrantClient(":memory:")  # the request runs as written (qdrant-client local mode)
    col = MultiVectorCollection.open(client, "t", schema=MEAN)
    col.add_embeddings(corpus.dense, corpus.multivectors, texts=corpus.texts)
    (points,) = client.query_batch_points("t", requests=[req.model_copy(update={"shard_key": None})])
    assert [(p.payload or {})["text"] for p in points.points] == [t for t, _ in _mean_reference(corpus, m, 5, 12)]
    col.close()
    client.close()


def test_cli_creates_and_keeps_the_prefetch_vector(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path
) -> None:
    from jv4_integrations.cli.main import main

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"note{i}.txt").write_text(f"note {i} about batteries and frames number {i}")
    store = tmp_path / "store"
    base = ["--store", str(store), "--model", str(tiny_checkpoint), "--no-progress"]
    assert main(["index", str(docs), *base, "--prefetch", "mean"]) == 0
    (docs / "note3.txt").write_text("a fourth note")
    assert main(["index", str(docs), *base]) == 0  # no --prefetch: the collection keeps "mean"
    with MultiVectorCollection.open(str(store), "jv4") as col:
        assert col.schema.prefetch_vector == "mean" and col.count() == 4
    capsys.readouterr()
    assert main(["index", str(docs), *base, "--prefetch", "dense"]) == 2  # a contradiction is a usage error
    assert "was created with --prefetch mean; it keeps it" in capsys.readouterr().err
    assert main(["search", "batteries", "--store", str(store), "--json"]) == 0
    assert "note" in capsys.readouterr().out


def test_adapters_create_mean_collections(encoder: Any) -> None:
    from qdrant_client import QdrantClient

    from jv4_integrations.langchain import JV4Embeddings, JV4QdrantVectorStore

    client = QdrantClient(":memory:")
    schema = CollectionSchema(dense_size=encoder.dim, prefetch_vector="mean")
    store = JV4QdrantVectorStore(JV4Embeddings(model_name=str(encoder.path)), location=client, schema=schema)
    store.add_texts(["alpha beta", "gamma delta", "beta gamma"])
    assert store.collection.schema.prefetch_vector == "mean"
    assert len(store.similarity_search("beta", k=2)) == 2
    client.close()

    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery

    from jv4_integrations.llama_index import JV4Embedding
    from jv4_integrations.llama_index import JV4QdrantVectorStore as LlamaStore

    embed = JV4Embedding(model_name=str(encoder.path))
    client = QdrantClient(":memory:")
    li_store = LlamaStore(location=client, embed_model=embed, schema=schema)
    nodes = [TextNode(text=t, id_=f"n{i}") for i, t in enumerate(["alpha beta", "gamma delta", "beta gamma"])]
    for node in nodes:
        node.embedding = embed.get_text_embedding(node.text)
    li_store.add(nodes)
    assert li_store.collection.schema.prefetch_vector == "mean"
    result = li_store.query(VectorStoreQuery(query_str="beta", similarity_top_k=2))
    assert len(result.ids or []) == 2
    client.close()


def test_bigger_corpus_recall_is_measured(store: Store) -> None:
    corpus = make_corpus(n=90, seed=5)
    col = _filled(store, corpus)
    pairs = [(None, query_vectors(corpus, s)[1]) for s in range(4)]
    report = col.measure_recall(vectors=pairs, limit=5, prefetch_limits=[5, 90])
    assert report.rows[-1].recall == 1.0
