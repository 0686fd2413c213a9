"""JV4Embedding inside LlamaIndex indexes and llama-index's own Qdrant store, on the tiny checkpoint.

The tiny checkpoint has random weights, so nothing here asserts semantic relevance. What is asserted:
retrieval scores equal the cosine of the core's vectors (query side for the query, passage / image side
for the stored nodes), rankings follow those scores, and the cases that hold for any weights (an image
is its own nearest image; a text's query embedding is nearest its own passage for these distinct texts,
which is checked against the core's numbers first).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_helpers import TEXTS
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import BaseNode, ImageNode, NodeWithScore, QueryBundle, TextNode

from jv4_integrations import JV4Encoder
from jv4_integrations.llama_index import JV4Embedding

SCORE_ATOL = 1e-4


def core_scores(encoder: JV4Encoder, query: str, docs: list[Any]) -> np.ndarray:
    """Cosine scores (dot products of unit vectors) computed from the core directly."""
    q = encoder.encode_queries([query], output="dense").dense[0]
    return np.asarray(encoder.encode_documents(docs, output="dense").dense @ q)


def text_nodes() -> list[TextNode]:
    return [TextNode(id_=f"00000000-0000-0000-0000-00000000000{i}", text=t) for i, t in enumerate(TEXTS)]


def image_nodes(paths: list[Path]) -> list[ImageNode]:
    return [
        ImageNode(id_=f"00000000-0000-0000-0000-0000000000a{i}", image_path=str(p), metadata={"file_path": str(p)})
        for i, p in enumerate(paths)
    ]


def by_id(nodes: list[Any], scores: np.ndarray) -> dict[str, float]:
    return {n.node_id: float(s) for n, s in zip(nodes, scores, strict=True)}


def assert_scores(results: list[NodeWithScore], expected: dict[str, float]) -> None:
    got = {r.node.node_id: r.score for r in results}
    assert set(got) <= set(expected)
    for node_id, score in got.items():
        assert score == pytest.approx(expected[node_id], abs=SCORE_ATOL), node_id
    scores = [r.score or 0.0 for r in results]
    assert scores == sorted(scores, reverse=True)
    best = sorted(expected.values(), reverse=True)[: len(results)]
    np.testing.assert_allclose(sorted(scores, reverse=True), best, atol=SCORE_ATOL)  # the true top-k


def test_own_text_ranks_first_in_the_core(encoder: JV4Encoder) -> None:
    """The premise of the ranking assertions below, checked on the core's own numbers."""
    for i, text in enumerate(TEXTS):
        assert int(np.argmax(core_scores(encoder, text, list(TEXTS)))) == i


def test_vector_store_index_retrieval(embed: JV4Embedding, encoder: JV4Encoder) -> None:
    nodes = text_nodes()
    index = VectorStoreIndex(nodes, embed_model=embed)
    retriever = index.as_retriever(similarity_top_k=3)
    for i, text in enumerate(TEXTS):
        results = retriever.retrieve(text)
        assert results[0].node.node_id == nodes[i].node_id
        assert_scores(results, by_id(nodes, core_scores(encoder, text, list(TEXTS))))


async def test_vector_store_index_async_retrieval(embed: JV4Embedding) -> None:
    index = VectorStoreIndex(text_nodes(), embed_model=embed, use_async=True)
    results = await index.as_retriever(similarity_top_k=2).aretrieve(TEXTS[2])
    assert results[0].node.get_content() == TEXTS[2]


def test_multimodal_index_with_one_model_for_both(
    embed: JV4Embedding, encoder: JV4Encoder, image_paths: list[Path]
) -> None:
    texts, images = text_nodes(), image_nodes(image_paths)
    index = MultiModalVectorStoreIndex(texts + images, embed_model=embed, image_embed_model=embed)
    assert index.image_embed_model is embed
    retriever = index.as_retriever(similarity_top_k=2, image_similarity_top_k=3)

    query = "a chart of quarterly revenue"
    results = retriever.retrieve(query)  # text store, then image store (text -> image)
    found_texts = [r for r in results if not isinstance(r.node, ImageNode)]
    found_images = [r for r in results if isinstance(r.node, ImageNode)]
    assert len(found_texts) == 2 and len(found_images) == 3
    assert_scores(found_texts, by_id(texts, core_scores(encoder, query, list(TEXTS))))
    # text -> image uses the image model's query embedding: our query-side text encoding
    assert_scores(found_images, by_id(images, core_scores(encoder, query, image_paths)))
    assert found_images[0].node.image_path in {str(p) for p in image_paths}

    # image -> image: an image is its own nearest neighbour (cosine 1) for any weights
    for node, path in zip(images, image_paths, strict=True):
        hits = retriever.image_to_image_retrieve(QueryBundle(query_str="", image_path=str(path)))
        assert hits[0].node.node_id == node.node_id
        assert hits[0].score == pytest.approx(1.0, abs=SCORE_ATOL)


async def test_multimodal_index_async(embed: JV4Embedding, encoder: JV4Encoder, image_paths: list[Path]) -> None:
    images = image_nodes(image_paths)
    index = MultiModalVectorStoreIndex(
        text_nodes() + images, embed_model=embed, image_embed_model=embed, use_async=True
    )
    results = await index.as_retriever(similarity_top_k=1, image_similarity_top_k=3).atext_to_image_retrieve("x")
    assert_scores(results, by_id(images, core_scores(encoder, "x", image_paths)))


def test_pipeline_embedded_image_nodes_keep_their_vectors_in_the_index(
    embed: JV4Embedding, encoder: Any, image_paths: list[Path]
) -> None:
    nodes = IngestionPipeline(transformations=[embed]).run(nodes=text_nodes() + image_nodes(image_paths))
    before = encoder.forward_calls
    index = MultiModalVectorStoreIndex(nodes, embed_model=embed, image_embed_model=embed)
    assert encoder.forward_calls == before  # already embedded: the index reuses node.embedding
    hits = index.as_retriever(image_similarity_top_k=1).image_to_image_retrieve(
        QueryBundle(query_str="", image_path=str(image_paths[1]))
    )
    assert hits[0].node.node_id == nodes[len(TEXTS) + 1].node_id


@pytest.fixture
def qdrant_store() -> Any:
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    client = QdrantClient(":memory:")
    yield QdrantVectorStore(client=client, collection_name="jv4-llama-index")
    client.close()


@pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant")
def test_llama_index_qdrant_store_with_jv4_embedding(
    qdrant_store: Any, embed: JV4Embedding, encoder: JV4Encoder
) -> None:
    nodes = text_nodes()
    index = VectorStoreIndex(
        nodes, storage_context=StorageContext.from_defaults(vector_store=qdrant_store), embed_model=embed
    )
    retriever = index.as_retriever(similarity_top_k=3)
    for i, text in enumerate(TEXTS):
        results = retriever.retrieve(text)
        assert results[0].node.node_id == nodes[i].node_id
        assert_scores(results, by_id(nodes, core_scores(encoder, text, list(TEXTS))))


@pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant")
def test_pipeline_into_llama_index_qdrant_store_then_text_to_image(
    qdrant_store: Any, embed: JV4Embedding, encoder: JV4Encoder, image_paths: list[Path]
) -> None:
    mixed: list[BaseNode] = [*text_nodes(), *image_nodes(image_paths)]
    IngestionPipeline(transformations=[embed], vector_store=qdrant_store).run(nodes=mixed)
    index = VectorStoreIndex.from_vector_store(qdrant_store, embed_model=embed)
    query = "a photo of a cat"
    results = index.as_retriever(similarity_top_k=len(mixed)).retrieve(query)
    docs = [*TEXTS, *image_paths]
    assert_scores(results, by_id(mixed, core_scores(encoder, query, docs)))
    assert {type(r.node) for r in results} == {TextNode, ImageNode}  # image nodes come back as ImageNodes


def test_plain_index_keeps_pipeline_vectors(mixed_nodes: Callable[[], list[BaseNode]], embed: JV4Embedding) -> None:
    """A VectorStoreIndex over pipeline output stores the image vectors as they are (no re-embedding as text).

    LlamaIndex skips nodes whose EMBED-mode content is empty: an image node without text or metadata
    (``image-data-url`` here) is not indexed at all; the documentation says to give image nodes metadata.
    """
    nodes = IngestionPipeline(transformations=[embed]).run(nodes=mixed_nodes())
    index = VectorStoreIndex(nodes, embed_model=embed)
    stored = index.vector_store.to_dict()["embedding_dict"]
    assert set(stored) == {n.node_id for n in nodes} - {"image-data-url"}
    for node in nodes:
        if node.node_id in stored:
            np.testing.assert_allclose(stored[node.node_id], node.embedding or [], atol=1e-7)
