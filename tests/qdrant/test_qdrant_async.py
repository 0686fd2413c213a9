"""Async twins: same results as the sync methods; native on AsyncQdrantClient, worker threads elsewhere."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest
from qdrant_helpers import SMALL, Corpus, Store, query_vectors

from jv4_integrations.errors import InputError, StoreError
from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection

DOCS = [f"async document {i} on subject {i % 3}" for i in range(9)]
QUERIES = ["subject one", "document 4", "subject two please"]


def _ids_scores(hits: list[Any]) -> tuple[list[str], list[float]]:
    return [h.id for h in hits], [h.score for h in hits]


def _same(a: list[Any], b: list[Any]) -> None:
    assert _ids_scores(a)[0] == _ids_scores(b)[0]
    np.testing.assert_allclose(_ids_scores(a)[1], _ids_scores(b)[1], rtol=1e-6, atol=1e-6)


async def test_async_twins_equal_sync(store: Store, corpus: Corpus) -> None:
    col = store.open(schema=SMALL)
    ids = await col.aadd_embeddings(corpus.dense, corpus.multivectors, texts=corpus.texts, metadatas=corpus.metadatas)
    assert ids == col.add_embeddings(corpus.dense, corpus.multivectors, texts=corpus.texts, metadatas=corpus.metadatas)
    assert await col.acount() == col.count() == 60
    assert await col.acount({"group": 2}) == col.count({"group": 2}) == 20
    d, m = query_vectors(corpus, 2)
    for mode in ("hybrid", "dense", "multivector"):
        _same(
            await col.asearch_by_vector(dense=d, multivector=m, mode=mode, limit=7, prefetch_limit=9),  # type: ignore[arg-type]
            col.search_by_vector(dense=d, multivector=m, mode=mode, limit=7, prefetch_limit=9),
        )  # type: ignore[arg-type]
    got = await col.aget(ids[:3], with_vectors=True)
    assert [p.item_id for p in got] == ids[:3]
    np.testing.assert_allclose(got[0].dense, col.get(ids[:1], with_vectors=True)[0].dense)  # type: ignore[arg-type]
    assert (await col.ainfo()).points == col.info().points
    await col.adelete(ids[:5])
    assert col.count() == 55
    await col.aclose()
    with pytest.raises(StoreError, match="closed"):
        await col.acount()


async def test_encoding_runs_off_the_event_loop(store: Store, encoder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    col = await MultiVectorCollection.aopen(
        store.location(), "t", encoder=encoder, schema=CollectionSchema(dense_size=16)
    )
    store._open.append(col)
    loop_thread = threading.get_ident()
    threads: list[int] = []
    real = encoder.encode_queries

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(encoder, "encode_queries", spy)
    await col.aadd(DOCS)
    results = await asyncio.gather(*(col.asearch(q, limit=3) for q in QUERIES))
    assert len(threads) == 3 and loop_thread not in threads
    monkeypatch.setattr(encoder, "encode_queries", real)
    for q, hits in zip(QUERIES, results, strict=True):
        _same(hits, col.search(q, limit=3))
    batch = await col.asearch_batch(QUERIES, limit=3)
    for hits, single in zip(batch, results, strict=True):
        _same(hits, single)


async def test_native_async_client_equals_sync_client(encoder: Any) -> None:
    from qdrant_client import AsyncQdrantClient, QdrantClient

    schema = CollectionSchema(dense_size=16)
    async_col = await MultiVectorCollection.aopen(AsyncQdrantClient(":memory:"), "a", encoder=encoder, schema=schema)
    sync_col = MultiVectorCollection.open(QdrantClient(":memory:"), "a", encoder=encoder, schema=schema)
    assert await async_col.aadd(DOCS, metadatas=[{"i": i} for i in range(9)]) == sync_col.add(
        DOCS, metadatas=[{"i": i} for i in range(9)]
    )
    assert await async_col.acount({"i": {"lt": 4}}) == 4
    for mode in ("hybrid", "dense", "multivector"):
        for q in QUERIES:
            _same(
                await async_col.asearch(q, mode=mode, limit=4, prefetch_limit=5),  # type: ignore[arg-type]
                sync_col.search(q, mode=mode, limit=4, prefetch_limit=5),
            )  # type: ignore[arg-type]
    with pytest.raises(InputError, match="empty query"):
        await async_col.asearch(" ")
    with pytest.raises(StoreError, match="use the async methods"):
        async_col.count()
    with pytest.raises(StoreError, match="aclose"):
        async_col.close()
    info = await async_col.ainfo()
    assert info.backend == "local" and info.points == 9 and info.metadata_fields == {"i": "int"}
    await async_col.aclose()
    # reopening the same async client validates the schema natively
    client = AsyncQdrantClient(":memory:")
    await MultiVectorCollection.aopen(client, "b", schema=SMALL)
    with pytest.raises(StoreError, match="does not exist"):
        await MultiVectorCollection.aopen(client, "missing", create=False)
    with pytest.raises(TypeError, match="aopen"):
        MultiVectorCollection(client, "b")
    await client.close()
    sync_col.close()
