"""JV4QdrantVectorStore with LlamaIndex's VectorStoreIndex, async pipelines, the jv4 command line, and pickles."""

from __future__ import annotations

import asyncio
import gc
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_helpers import ATOL, TEXTS
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import ImageNode, TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters, VectorStoreQuery
from llama_store_helpers import assert_ranking, reference_ranking, search_nodes, stored_vectors

from jv4_integrations import JV4Encoder
from jv4_integrations.llama_index import JV4Embedding, JV4QdrantVectorStore
from jv4_integrations.llama_index.capture import MultivectorCapture
from jv4_integrations.qdrant import MultiVectorCollection

Make = Callable[..., JV4QdrantVectorStore]
EXAMPLE_DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


def test_readme_spelling_with_vector_store_index(
    tmp_path: Path, embed: JV4Embedding, encoder: JV4Encoder, image_paths: list[Path]
) -> None:
    store = JV4QdrantVectorStore(location=str(tmp_path / "jv4-data"), collection_name="nodes", embed_model=embed)
    nodes = [
        TextNode(text=TEXTS[1]),
        ImageNode(image_path=str(image_paths[0]), metadata={"file_name": image_paths[0].name}),
    ]
    before = encoder.forward_calls
    index = VectorStoreIndex(nodes, embed_model=embed, storage_context=StorageContext.from_defaults(vector_store=store))
    # documented: VectorStoreIndex embeds every node as text; the image node is then encoded from its image
    assert encoder.forward_calls - before == 2
    hits = index.as_retriever(similarity_top_k=2).retrieve("revenue chart")
    assert {type(h.node) for h in hits} == {TextNode, ImageNode}  # text nodes are not hidden by node_ids
    stored = stored_vectors(store.client, [n.node_id for n in nodes])
    assert_ranking(
        [h.node.node_id for h in hits],
        [h.score or 0.0 for h in hits],
        reference_ranking(encoder, "revenue chart", stored, mode="hybrid", limit=2),
    )
    image_vec = encoder.encode_documents([image_paths[0]], output="both")
    np.testing.assert_allclose(stored[nodes[1].node_id][0], image_vec.dense[0], atol=ATOL)  # from the image
    np.testing.assert_allclose(stored[nodes[1].node_id][1], image_vec.multivector[0], atol=ATOL)
    store.close()


def test_vector_store_index_costs_one_pass_per_node(
    make_store: Make, embed: JV4Embedding, encoder: JV4Encoder, image_paths: list[Path]
) -> None:
    store = make_store()
    ctx = StorageContext.from_defaults(vector_store=store)
    texts = [TextNode(id_=f"x{k}", text=t) for k, t in enumerate(TEXTS)]
    before = encoder.forward_calls
    VectorStoreIndex(texts, embed_model=embed, storage_context=ctx)  # the index's text pass feeds the store
    assert encoder.forward_calls - before == 1
    expected = encoder.encode_documents(list(TEXTS), output="both")
    stored = stored_vectors(store.client, [n.node_id for n in texts])
    for k, node in enumerate(texts):
        np.testing.assert_allclose(stored[node.node_id][1], expected.multivector[k], atol=ATOL)

    nodes = search_nodes(image_paths)
    before = encoder.forward_calls
    index = VectorStoreIndex(embed(nodes), embed_model=embed, storage_context=ctx)  # nodes embedded first
    assert encoder.forward_calls - before == 1
    retriever = index.as_retriever(similarity_top_k=3, vector_store_kwargs={"mode": "multivector"})
    stored = stored_vectors(store.client, [n.node_id for n in [*texts, *nodes]])
    expected_rank = reference_ranking(encoder, "a chart", stored, mode="multivector", limit=3)
    hits = retriever.retrieve("a chart")
    assert_ranking([h.node.node_id for h in hits], [h.score or 0.0 for h in hits], expected_rank)

    reopened = VectorStoreIndex.from_vector_store(store, embed_model=embed)
    filters = MetadataFilters(filters=[MetadataFilter(key="topic", value="food")])
    assert {h.node.node_id for h in reopened.as_retriever(similarity_top_k=5, filters=filters).retrieve("x")} == {
        "t2",
        "i2",
    }


async def test_async_twins_equal_the_sync_methods(
    make_store: Make, tmp_path: Path, embed: JV4Embedding, encoder: JV4Encoder, image_paths: list[Path]
) -> None:
    sync_store = make_store()
    sync_store.add(search_nodes(image_paths))
    async_store = make_store(location=str(tmp_path / "async"))
    one_encode = encoder.forward_calls
    embed.encode_nodes(search_nodes(image_paths), output="both")
    one_encode = encoder.forward_calls - one_encode
    before = encoder.forward_calls
    nodes = await IngestionPipeline(transformations=[embed], vector_store=async_store).arun(
        nodes=search_nodes(image_paths)
    )
    assert encoder.forward_calls - before == one_encode  # acall + async_add: one pass per node too
    ids = [n.node_id for n in nodes]
    a, s = stored_vectors(async_store.client, ids), stored_vectors(sync_store.client, ids)
    for node_id in ids:
        np.testing.assert_allclose(a[node_id][0], s[node_id][0], atol=ATOL)
        np.testing.assert_allclose(a[node_id][1], s[node_id][1], atol=ATOL)

    for mode in ("hybrid", "dense", "multivector"):
        query = VectorStoreQuery(query_str="python event loops", similarity_top_k=4)
        got, want = await async_store.aquery(query, mode=mode), sync_store.query(query, mode=mode)
        assert got.ids == want.ids
        np.testing.assert_allclose(got.similarities or [], want.similarities or [], atol=1e-5)
    assert [n.node_id for n in await async_store.aget_nodes(["t1", "i2"])] == ["t1", "i2"]
    await async_store.adelete("doc-a")
    await async_store.adelete_nodes(["i0"])
    await async_store.adelete_nodes(filters=MetadataFilters(filters=[MetadataFilter(key="topic", value="code")]))
    assert {n.node_id for n in await async_store.aget_nodes(ids)} == {"t2", "i1", "i2"}
    await async_store.aclear()
    assert await async_store.client.acount() == 0


async def test_aquery_does_not_block_the_event_loop(
    make_store: Make, embed: JV4Embedding, image_paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    store.add(search_nodes(image_paths))
    slow = embed.encode_queries

    def slow_encode(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)  # a long forward pass
        return slow(*args, **kwargs)

    monkeypatch.setattr(type(embed), "encode_queries", lambda self, *a, **k: slow_encode(*a, **k))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    await store.aquery(VectorStoreQuery(query_str="cat", similarity_top_k=2))
    task.cancel()
    assert ticks >= 5  # the loop kept running while the query was encoded


def test_a_collection_written_by_the_command_line_is_queryable(
    tmp_path: Path, tiny_checkpoint: Path, encoder: JV4Encoder
) -> None:
    from jv4_integrations.cli.main import main

    store_dir = str(tmp_path / "cli-store")
    assert (
        main(["index", str(EXAMPLE_DATA), "--store", store_dir, "--model", str(tiny_checkpoint), "--no-progress"]) == 0
    )
    store = JV4QdrantVectorStore(store_dir)  # no embed_model: the model, task and size recorded by the CLI
    assert store.embed_model.encoder is encoder and store.collection_name == "jv4"
    query = "how do I look after the battery?"
    result = store.query(VectorStoreQuery(query_str=query, similarity_top_k=20))
    # the snippet of docs/llama_index.md: the index takes the store's embed_model (not Settings')
    retrieved = VectorStoreIndex.from_vector_store(store, embed_model=store.embed_model).as_retriever(
        similarity_top_k=20
    )
    assert [n.node.node_id for n in retrieved.retrieve(query)] == result.ids
    store.close()
    with MultiVectorCollection(store_dir, encoder=encoder) as col:
        hits = col.search(query, limit=20)  # the Qdrant layer's own hybrid search, same vectors
    assert result.ids == [h.item_id for h in hits] and len(hits) == col_count(store_dir)
    np.testing.assert_allclose(result.similarities or [], [h.score for h in hits], atol=1e-5)
    for node, hit in zip(result.nodes or [], hits, strict=True):
        assert node.metadata == hit.metadata and node.ref_doc_id == hit.doc_id
        if hit.modality == "text":
            assert isinstance(node, TextNode) and not isinstance(node, ImageNode) and node.text == hit.text
        else:
            assert isinstance(node, ImageNode) and node.image_path == hit.source
    assert any(isinstance(n, ImageNode) for n in result.nodes or [])


def col_count(store_dir: str) -> int:
    with MultiVectorCollection(store_dir, create=False) as col:
        return col.count()


def test_serialisation_reopens_the_same_collection(make_store: Make, embed: JV4Embedding) -> None:
    store = make_store()
    store.add([TextNode(id_="a", text=TEXTS[0])])
    data = store.to_dict()
    assert data["class_name"] == "JV4QdrantVectorStore" and data["embed_model"]["dimensions"] is None
    assert "api_key" not in data
    store.close()
    again = JV4QdrantVectorStore.from_dict(data)
    assert again.client.count() == 1 and again.embed_model.vector_settings() == embed.vector_settings()
    again.close()


def test_the_buffer_is_bounded_shared_by_copies_and_not_pickled(embed: JV4Embedding, tmp_path: Path) -> None:
    capture = embed._capture
    assert not capture.active
    embed([TextNode(text=TEXTS[0])])
    assert len(capture) == 0  # nothing is kept while no store is attached
    store = JV4QdrantVectorStore(str(tmp_path / "store"), embed_model=embed)
    other = JV4QdrantVectorStore(":memory:", embed_model=embed)
    assert capture.active and embed.model_copy()._capture is capture
    embed([TextNode(text=t) for t in TEXTS])
    assert len(capture) == len(TEXTS)
    restored = pickle.loads(pickle.dumps(embed))
    assert not restored._capture.active and len(restored._capture) == 0
    store.close()  # a closed store captures nothing more
    assert capture.active and len(capture) == len(TEXTS)
    del other
    gc.collect()
    assert not capture.active and len(capture) == 0  # no store left (closed or collected)
    embed([TextNode(text=TEXTS[0])])
    assert len(capture) == 0

    small = MultivectorCapture()
    owner = MultivectorCapture()  # any weak-referenceable object
    entry = (np.zeros(4, np.float32), np.zeros((2, 4), np.float32))  # 48 bytes each
    small.attach(owner, max_bytes=100)
    small.put("s", ["a", "b", "c"], [entry[0]] * 3, [entry[1]] * 3)
    assert len(small) == 2 and small.evicted == 1 and small.nbytes == 96
    assert small.get("s", "a") is None and small.get("s", "c") is not None  # oldest dropped first
    assert small.get("other settings", "c") is None


async def test_a_store_over_an_async_qdrant_client(embed: JV4Embedding, encoder: JV4Encoder) -> None:
    from qdrant_client import AsyncQdrantClient

    from jv4_integrations import StoreError

    client = AsyncQdrantClient(":memory:")
    collection = await MultiVectorCollection.aopen(client, "nodes", encoder=encoder)
    store = JV4QdrantVectorStore.from_collection(collection, embed_model=embed)
    nodes = [TextNode(id_=f"n{k}", text=t) for k, t in enumerate(TEXTS)]
    assert await store.async_add(nodes) == ["n0", "n1", "n2", "n3"]
    result = await store.aquery(VectorStoreQuery(query_str="sourdough bread", similarity_top_k=4))
    stored = {p.item_id: (p.dense, p.multivector) for p in await collection.aget(result.ids or [], with_vectors=True)}
    expected = reference_ranking(encoder, "sourdough bread", stored, mode="hybrid", limit=4)
    assert_ranking(result.ids or [], result.similarities, expected)
    with pytest.raises(StoreError, match="use the async methods"):
        store.query(VectorStoreQuery(query_str="x"))
    await store.aclose()  # the collection was passed in: it stays open
    assert await collection.acount() == 4
    await collection.aclose()
    await client.close()
