"""JV4QdrantVectorStore: one forward pass per node, both vectors stored, nodes round-trip, search == numpy.

The tiny checkpoint has random weights: rankings are compared with numpy references computed from the
stored vectors and the core's query vectors, never with what a real model would find relevant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_helpers import ATOL, TEXTS
from llama_index.core.ingestion import IngestionCache, IngestionPipeline
from llama_index.core.schema import BaseNode, ImageNode, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode
from llama_store_helpers import (
    assert_ranking,
    core_items,
    reference_ranking,
    search_nodes,
    source,
    stored_vectors,
)
from qdrant_client import models

from jv4_integrations import JV4Encoder
from jv4_integrations.llama_index import JV4Embedding, JV4QdrantVectorStore

Make = Callable[..., JV4QdrantVectorStore]


def _one_encode_costs(encoder: JV4Encoder, embed: JV4Embedding, nodes: list[BaseNode]) -> int:
    """Forward passes of encoding ``nodes`` once (both vectors), the yardstick of ingestion."""
    before = encoder.forward_calls
    embed.encode_nodes(nodes, output="both")
    return encoder.forward_calls - before


def test_pipeline_encodes_each_node_once_and_stores_the_core_vectors(
    make_store: Make,
    embed: JV4Embedding,
    encoder: JV4Encoder,
    mixed_nodes: Callable[[], list[BaseNode]],
    image_paths: list[Path],
    image_factory: Any,
) -> None:
    store = make_store()
    one_encode = _one_encode_costs(encoder, embed, mixed_nodes())
    before = encoder.forward_calls
    out = IngestionPipeline(transformations=[embed], vector_store=store).run(nodes=mixed_nodes())
    assert encoder.forward_calls - before == one_encode  # the embedding's pass feeds the store too
    assert len(embed._capture) == 0  # the buffer is emptied once stored

    ids = [n.node_id for n in out]
    stored = stored_vectors(store.client, ids)
    contents = ["topic: pets\n\n" + TEXTS[0], image_paths[0], TEXTS[1], image_factory(10), image_factory(11)]
    contents.append("topic: food\n\n" + TEXTS[2])
    expected = encoder.encode_documents(contents, output="both")
    for k, node_id in enumerate(ids):
        dense, multi = stored[node_id]
        np.testing.assert_allclose(dense, expected.dense[k], atol=ATOL, err_msg=node_id)
        np.testing.assert_allclose(multi, expected.multivector[k], atol=ATOL, err_msg=node_id)
        assert out[k].embedding == dense.tolist()  # node.embedding is exactly the stored dense vector


def test_nodes_round_trip_through_the_shared_payload_schema(
    make_store: Make, embed: JV4Embedding, mixed_nodes: Callable[[], list[BaseNode]], image_paths: list[Path]
) -> None:
    store = make_store()
    nodes = mixed_nodes()
    nodes[0].relationships = source("doc-1")
    assert store.add(embed(nodes)) == [n.node_id for n in nodes]

    points = {p.item_id: p for p in store.client.get([n.node_id for n in nodes])}
    text, image = points["text-0"], points["image-path"]
    assert text.payload["metadata"] == {"topic": "pets", "secret": "not embedded"}  # verbatim, nothing added
    assert set(text.payload) == {"text", "metadata", "modality", "source", "doc_id", "item_id", "jv4_schema", "extra"}
    assert set(text.payload["extra"]) == {"llama_index"}  # the adapter's own slot, beside the metadata
    assert text.payload["extra"]["llama_index"]["relationships"]["1"]["node_id"] == "doc-1"  # SOURCE
    assert (text.text, text.modality, text.source, text.doc_id) == (TEXTS[0], "text", None, "doc-1")
    assert (image.text, image.modality, image.source) == (None, "image", str(image_paths[0]))
    assert points["image-b64"].source.startswith("data:image/png;base64,")
    assert points["image-data-url"].source.startswith("data:image/png;base64,")

    back = {n.node_id: n for n in store.get_nodes([n.node_id for n in nodes])}
    assert [type(back[n.node_id]) for n in nodes] == [type(n) for n in nodes]
    assert back["text-0"].text == TEXTS[0] and back["text-0"].ref_doc_id == "doc-1"
    assert back["text-0"].metadata == nodes[0].metadata
    path_node = back["image-path"]
    assert isinstance(path_node, ImageNode) and path_node.image_path == str(image_paths[0])
    b64_node = back["image-b64"]
    assert isinstance(b64_node, ImageNode) and b64_node.image == nodes[3].image  # pixels kept as base64
    assert b64_node.image_mimetype == "image/png"
    # a rebuilt node embeds to the same vector as the original
    np.testing.assert_allclose(
        embed([b64_node, path_node])[0].embedding, embed([nodes[3], nodes[1]])[0].embedding, atol=ATOL
    )


@pytest.mark.parametrize("mode", ["hybrid", "dense", "multivector"])
def test_search_modes_equal_numpy_references(
    make_store: Make, embed: JV4Embedding, encoder: JV4Encoder, image_paths: list[Path], mode: str
) -> None:
    store = make_store(prefetch_limit=3)  # hybrid reranks only the 3 best dense candidates
    nodes = search_nodes(image_paths)
    store.add(nodes)
    stored = stored_vectors(store.client, [n.node_id for n in nodes])
    for query, limit in (("a line chart of the tide height", 3), ("a cat", 5)):  # prefetch >= similarity_top_k
        expected = reference_ranking(encoder, query, stored, mode=mode, limit=limit, prefetch_limit=max(3, limit))
        result = store.query(VectorStoreQuery(query_str=query, similarity_top_k=limit), mode=mode)
        assert_ranking(result.ids or [], result.similarities, expected)
        assert [n.node_id for n in result.nodes or []] == result.ids
    # the first query separates the modes: the dense prefetch drops a node that exact MaxSim ranks in its top 3
    q = "a line chart of the tide height"
    hybrid = reference_ranking(encoder, q, stored, mode="hybrid", limit=3, prefetch_limit=3)
    assert hybrid != reference_ranking(encoder, q, stored, mode="multivector", limit=3)


def test_hybrid_is_the_cores_maxsim_rerank_of_the_dense_candidates(
    make_store: Make, encoder: JV4Encoder, image_paths: list[Path]
) -> None:
    store = make_store()  # prefetch 100 >= 7 points: hybrid = MaxSim over every candidate
    nodes = search_nodes(image_paths)
    store.add(nodes)
    stored = stored_vectors(store.client, [n.node_id for n in nodes])
    for query in ("a cat near the window", "python event loops"):
        expected = reference_ranking(encoder, query, stored, mode="multivector", limit=7)
        result = store.query(VectorStoreQuery(query_str=query, similarity_top_k=7))  # the store's default: hybrid
        assert_ranking(result.ids or [], result.similarities, expected)


def test_a_text_query_retrieves_image_nodes(make_store: Make, encoder: JV4Encoder, image_paths: list[Path]) -> None:
    store = make_store()
    nodes = search_nodes(image_paths)
    store.add(nodes)
    stored = stored_vectors(store.client, [n.node_id for n in nodes])
    query = "a line chart of the tide height"
    expected = reference_ranking(encoder, query, stored, mode="multivector", limit=3)
    result = store.query(VectorStoreQuery(query_str=query, similarity_top_k=3), mode="multivector")
    assert_ranking(result.ids or [], result.similarities, expected)
    images = [n for n in result.nodes or [] if isinstance(n, ImageNode)]
    assert [n.node_id for n in images] == ["i0"]  # among the top 3 of every node, with random weights
    assert images[0].image_path == str(image_paths[0]) and images[0].ref_doc_id == "doc-c"
    expected = reference_ranking(encoder, query, stored, mode="hybrid", limit=7)

    # restricted to images (a Qdrant filter on the payload's modality): the best image by MaxSim comes first
    only_images = models.Filter(must=[models.FieldCondition(key="modality", match=models.MatchValue(value="image"))])
    images = store.query(VectorStoreQuery(query_str=query, similarity_top_k=1), filter=only_images)
    best_image = next(i for i, _ in expected if i.startswith("i"))
    assert images.ids == [best_image]
    node = (images.nodes or [])[0]
    assert isinstance(node, ImageNode)
    assert node.image_path == str(image_paths[int(best_image[1])])
    assert node.metadata["file_name"] == image_paths[int(best_image[1])].name


def test_query_modes_per_query_and_from_llama_index(
    make_store: Make, encoder: JV4Encoder, image_paths: list[Path]
) -> None:
    store = make_store(mode="dense")
    nodes = search_nodes(image_paths)
    store.add(nodes)
    stored = stored_vectors(store.client, [n.node_id for n in nodes])
    q = "sourdough"
    dense = reference_ranking(encoder, q, stored, mode="dense", limit=3)
    hybrid = reference_ranking(encoder, q, stored, mode="hybrid", limit=3)
    multi = reference_ranking(encoder, q, stored, mode="multivector", limit=3)
    res = store.query(VectorStoreQuery(query_str=q, similarity_top_k=3))  # the store's default
    assert_ranking(res.ids or [], res.similarities, dense)
    res = store.query(VectorStoreQuery(query_str=q, similarity_top_k=3, mode=VectorStoreQueryMode.HYBRID))
    assert_ranking(res.ids or [], res.similarities, hybrid)
    res = store.query(VectorStoreQuery(query_str=q, similarity_top_k=3), mode="multivector")
    assert_ranking(res.ids or [], res.similarities, multi)
    # dense mode can use a given query embedding (no forward pass)
    given = encoder.encode_queries([q], output="dense").dense[0].tolist()
    before = encoder.forward_calls
    res = store.query(VectorStoreQuery(query_embedding=given, similarity_top_k=3))
    assert encoder.forward_calls == before
    assert_ranking(res.ids or [], res.similarities, dense)


def test_pipeline_cache_hit_costs_one_pass_in_the_store(
    make_store: Make, embed: JV4Embedding, encoder: JV4Encoder, mixed_nodes: Callable[[], list[BaseNode]]
) -> None:
    cache = IngestionCache()
    store = make_store()
    IngestionPipeline(transformations=[embed], cache=cache).run(nodes=mixed_nodes())  # fills the cache only
    embed._capture.clear()
    one_encode = _one_encode_costs(encoder, embed, mixed_nodes())
    before = encoder.forward_calls
    out = IngestionPipeline(transformations=[embed], vector_store=store, cache=cache).run(nodes=mixed_nodes())
    assert encoder.forward_calls - before == one_encode  # the cache served the embeddings; the store encoded once
    stored = stored_vectors(store.client, [n.node_id for n in out])
    for node in out:
        np.testing.assert_allclose(node.embedding, stored[node.node_id][0], atol=0)


def test_without_a_buffer_the_store_encodes_again_and_stays_consistent(
    make_store: Make, tiny_checkpoint: Path, encoder: JV4Encoder, mixed_nodes: Callable[[], list[BaseNode]]
) -> None:
    embed = JV4Embedding(encoder=encoder)
    store = make_store(embed_model=embed, multivector_buffer_mb=0)
    one_encode = _one_encode_costs(encoder, embed, mixed_nodes())
    before = encoder.forward_calls
    out = IngestionPipeline(transformations=[embed], vector_store=store).run(nodes=mixed_nodes())
    assert encoder.forward_calls - before == 2 * one_encode  # documented: opting out costs a second pass
    stored = stored_vectors(store.client, [n.node_id for n in out])
    assert all(n.embedding == stored[n.node_id][0].tolist() for n in out)


def test_embeddings_from_other_settings_are_replaced_and_reported(
    make_store: Make, encoder: JV4Encoder, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store()
    nodes = [TextNode(id_="a", text=TEXTS[0]), TextNode(id_="b", text=TEXTS[1])]
    JV4Embedding(encoder=encoder, dimensions=16)(nodes)  # embedded with another dense size
    with caplog.at_level(logging.WARNING, logger="jv4_integrations.llama_index.vector_store"):
        store.add(nodes)
    assert "2 text node embedding(s) differed" in caplog.text and "'a'" in caplog.text
    expected = encoder.encode_documents(TEXTS[:2], output="both")
    stored = stored_vectors(store.client, ["a", "b"])
    for k, node in enumerate(nodes):
        np.testing.assert_allclose(stored[node.node_id][0], expected.dense[k], atol=ATOL)
        np.testing.assert_allclose(stored[node.node_id][1], expected.multivector[k], atol=ATOL)
        assert node.embedding == stored[node.node_id][0].tolist()


def test_core_items_helper_matches_the_adapter(embed: JV4Embedding, image_paths: list[Path]) -> None:
    nodes = search_nodes(image_paths)
    got = embed.encode_nodes(nodes, output="dense").dense
    want = embed.encoder.encode_documents(core_items(nodes), output="dense").dense
    np.testing.assert_allclose(got, want, atol=ATOL)


def test_an_overflowing_buffer_is_reported_and_the_rest_is_encoded_again(
    make_store: Make, encoder: JV4Encoder, caplog: pytest.LogCaptureFixture
) -> None:
    embed = JV4Embedding(encoder=encoder)
    store = make_store(embed_model=embed, multivector_buffer_mb=1)  # ~130 tiny-model text nodes
    nodes = [TextNode(id_=f"n{k}", text=f"{TEXTS[k % 4]} number {k}") for k in range(200)]
    with caplog.at_level(logging.WARNING, logger="jv4_integrations.llama_index.vector_store"):
        out = IngestionPipeline(transformations=[embed], vector_store=store).run(nodes=nodes)
    assert "the multi-vector buffer (multivector_buffer_mb=1) overflowed" in caplog.text
    assert embed._capture.evicted > 0 and len(embed._capture) == 0
    stored = stored_vectors(store.client, [n.node_id for n in out])
    assert all(n.embedding == stored[n.node_id][0].tolist() for n in out)  # the pairs stay consistent
