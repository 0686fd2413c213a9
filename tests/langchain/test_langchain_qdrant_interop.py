"""``JV4Embeddings`` as the embedding of langchain-qdrant's own ``QdrantVectorStore`` (dense, named vector)."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_qdrant import QdrantVectorStore, RetrievalMode
from qdrant_client import QdrantClient, models

from jv4_integrations import ImageRef, JV4Encoder
from jv4_integrations.langchain import JV4Embeddings

DOCS = [
    "Qdrant stores dense vectors and multi-vectors for late interaction search.",
    "The Porto workshop welds aluminium bicycle frames by hand.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
    "A sourdough starter needs flour, water and patience.",
    "Jupiter is the largest planet of the solar system.",
]


def _store(embeddings: JV4Embeddings, size: int) -> QdrantVectorStore:
    client = QdrantClient(":memory:")
    client.create_collection(
        "lc-docs", vectors_config={"dense": models.VectorParams(size=size, distance=models.Distance.COSINE)}
    )
    return QdrantVectorStore(
        client=client,
        collection_name="lc-docs",
        embedding=embeddings,
        retrieval_mode=RetrievalMode.DENSE,
        vector_name="dense",
    )


@pytest.mark.parametrize("dimensions", [None, 32])
def test_qdrant_vector_store_finds_each_document_by_its_own_text(
    encoder: JV4Encoder, tiny_params: dict[str, Any], dimensions: int | None
) -> None:
    embeddings = JV4Embeddings(**tiny_params, dimensions=dimensions)
    store = _store(embeddings, dimensions or encoder.dim)
    ids = store.add_documents([Document(page_content=t, metadata={"n": i}) for i, t in enumerate(DOCS)])
    assert len(ids) == len(DOCS)

    # the stored vectors are the core's passage encodings
    points = store.client.retrieve("lc-docs", ids, with_vectors=True)
    stored = {p.payload["metadata"]["n"]: p.vector["dense"] for p in points}  # type: ignore[index]
    passages = encoder.encode_documents(DOCS, truncate_dim=dimensions).dense
    np.testing.assert_allclose(np.asarray([stored[i] for i in range(len(DOCS))]), passages, atol=1e-5)

    queries = encoder.encode_queries(DOCS, truncate_dim=dimensions).dense
    cosine = queries @ passages.T
    for i, text in enumerate(DOCS):
        hits = store.similarity_search_with_score(text, k=len(DOCS))
        assert hits[0][0].page_content == text and hits[0][0].metadata["n"] == i  # its own text ranks first
        # the whole ranking and its scores are the cosine of the core's query and passage vectors
        assert [doc.metadata["n"] for doc, _ in hits] == list(np.argsort(-cosine[i]))
        np.testing.assert_allclose([score for _, score in hits], np.sort(cosine[i])[::-1], atol=1e-5)


async def test_qdrant_vector_store_async_search_uses_the_query_embedding(tiny_params: dict[str, Any]) -> None:
    embeddings = JV4Embeddings(**tiny_params)
    store = _store(embeddings, 64)
    await store.aadd_texts(DOCS)
    for text in DOCS:
        sync = store.similarity_search_with_score(text, k=3)
        found = await store.asimilarity_search_with_score(text, k=3)
        assert found[0][0].page_content == text
        assert [d.page_content for d, _ in found] == [d.page_content for d, _ in sync]
        np.testing.assert_allclose([s for _, s in found], [s for _, s in sync], atol=1e-6)


def test_images_written_with_the_client_are_found_by_text_and_by_image(
    encoder: JV4Encoder, tiny_params: dict[str, Any], image_paths: list[str]
) -> None:
    # the recipe of docs/langchain.md: QdrantVectorStore has no add_images, so upsert with its payload keys
    embeddings = JV4Embeddings(**tiny_params)
    store = _store(embeddings, 64)
    store.add_texts(DOCS[:2], metadatas=[{"kind": "text"}] * 2)
    vectors = embeddings.embed_image(image_paths)
    store.client.upsert(
        "lc-docs",
        points=[
            models.PointStruct(
                id=str(uuid.uuid4()),
                vector={"dense": vector},
                payload={"page_content": uri, "metadata": {"kind": "image"}},
            )
            for uri, vector in zip(image_paths, vectors, strict=True)
        ],
    )
    for uri, vector in zip(image_paths, vectors, strict=True):
        doc, score = store.similarity_search_with_score_by_vector(vector, k=1)[0]
        assert doc.page_content == uri and doc.metadata["kind"] == "image" and score == pytest.approx(1.0, abs=1e-5)

    hits = store.similarity_search_with_score(
        "a photo",
        k=5,
        filter=models.Filter(must=[models.FieldCondition(key="metadata.kind", match=models.MatchValue(value="image"))]),
    )
    query = encoder.encode_queries(["a photo"]).dense[0]
    expected = encoder.encode_documents([ImageRef(p) for p in image_paths]).dense @ query
    assert [d.page_content for d, _ in hits] == [image_paths[i] for i in np.argsort(-expected)]
    np.testing.assert_allclose([s for _, s in hits], np.sort(expected)[::-1], atol=1e-5)
