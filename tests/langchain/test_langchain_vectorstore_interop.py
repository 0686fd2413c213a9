"""``JV4QdrantVectorStore`` with images, and on collections shared with ``MultiVectorCollection`` and ``jv4 index``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document
from vectorstore_helpers import IDS, METADATAS, QUERIES, TEXTS, assert_same_ranking, expected_ranking, ranked

from jv4_integrations import ImageRef, JV4Encoder
from jv4_integrations.cli.main import main
from jv4_integrations.langchain import JV4Embeddings, JV4QdrantVectorStore
from jv4_integrations.qdrant import MultiVectorCollection
from jv4_integrations.qdrant.payload import PAYLOAD_FIELDS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"
IMAGE_META = [{"kind": "image", "n": i} for i in range(3)]


def test_images_are_encoded_once_stored_by_reference_and_found(
    encoder: JV4Encoder, tiny_params: dict[str, Any], image_paths: list[str]
) -> None:
    emb = JV4Embeddings(**tiny_params)
    store = JV4QdrantVectorStore(embedding=emb, location=":memory:")
    store.add_texts(TEXTS, METADATAS, ids=IDS)
    before = encoder.forward_calls
    ids = store.add_images(image_paths, IMAGE_META)
    assert encoder.forward_calls - before == 1
    # documents: no text, the caller's metadata exactly; the reference is the point's source
    assert store.get_by_ids(ids) == [
        Document(id=i, page_content="", metadata=m) for i, m in zip(ids, IMAGE_META, strict=True)
    ]
    points = store.collection.get(ids, with_vectors=True)
    assert [(p.modality, p.source, p.text) for p in points] == [("image", path, None) for path in image_paths]
    expected = encoder.encode_documents([ImageRef(p) for p in image_paths], output="both")
    np.testing.assert_allclose(np.stack([p.dense for p in points]), expected.dense, atol=1e-5)
    for point, tokens in zip(points, expected.multivector or [], strict=True):
        np.testing.assert_allclose(point.multivector, tokens, atol=1e-5)
    # each image is found by its own vector (what embed_image returns), at cosine 1
    for i, vector in enumerate(emb.embed_image(image_paths)):
        hit = store.similarity_search_by_vector(vector, k=1)
        assert hit == [Document(id=ids[i], page_content="", metadata=IMAGE_META[i])]
    # text queries rank images and texts together, as the core does
    everything = store.collection.get([*IDS, *ids], with_vectors=True)
    for query in QUERIES:
        got = store.similarity_search_with_score(query, k=13)
        assert_same_ranking(got, expected_ranking(encoder, query, everything, mode="hybrid", k=13))
        assert {d.id for d, _ in got} >= set(ids)
    # opt-in: the image reference in the metadata, under a key of your choice
    with_source = JV4QdrantVectorStore(collection=store.collection, source_key="source")
    docs = with_source.get_by_ids([ids[0], IDS[0]])
    assert docs[0].metadata == {**IMAGE_META[0], "source": image_paths[0]} and docs[1].metadata == METADATAS[0]
    store.close()


def test_a_collection_written_by_the_store_is_read_by_multivectorcollection(
    encoder: JV4Encoder, tiny_params: dict[str, Any], image_paths: list[str], tmp_path: Path
) -> None:
    where = tmp_path / "store"
    store = JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params, dimensions=16), location=where)
    store.add_texts(TEXTS, METADATAS, ids=IDS)
    image_ids = store.add_images(image_paths[:2], IMAGE_META[:2], ids=["img-0", "img-1"])
    results = {q: store.similarity_search_with_score(q, k=5) for q in QUERIES}
    store.close()

    with MultiVectorCollection.open(where, "jv4", encoder=encoder, create=False) as col:
        assert col.schema.dense_size == 16 and col.info().model is not None and col.info().points == 12
        points = col.get([*IDS, *image_ids], with_vectors=True)
        assert [(p.item_id, p.text, p.metadata) for p in points[:10]] == list(zip(IDS, TEXTS, METADATAS, strict=True))
        assert [(p.text, p.metadata, p.source, p.modality) for p in points[10:]] == [
            (None, m, path, "image") for m, path in zip(IMAGE_META[:2], image_paths[:2], strict=True)
        ]
        assert all(list(p.payload) == list(PAYLOAD_FIELDS) for p in points)  # the shared payload schema, nothing more
        passages = encoder.encode_documents(TEXTS, output="both", truncate_dim=16)
        np.testing.assert_allclose(np.stack([p.dense for p in points[:10]]), passages.dense, atol=1e-5)
        for query, got in results.items():
            hits = col.search(query, limit=5)
            assert [h.item_id for h in hits] == ranked(got)[0]
            np.testing.assert_allclose([h.score for h in hits], ranked(got)[1], atol=1e-6)


def test_a_collection_written_by_multivectorcollection_is_read_by_the_store(
    encoder: JV4Encoder, tiny_params: dict[str, Any], image_paths: list[str], tmp_path: Path
) -> None:
    where = tmp_path / "store"
    with MultiVectorCollection.open(where, "shared", encoder=encoder) as col:
        col.add([*TEXTS, ImageRef(image_paths[0])], ids=[*IDS, "img"], metadatas=[*METADATAS, {"kind": "scan"}])
        hits = {q: col.search(q, limit=6) for q in QUERIES}
        dense_hits = {q: col.search(q, limit=6, mode="dense") for q in QUERIES}

    store = JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params), location=where, collection_name="shared")
    assert store.get_by_ids(["img", IDS[0]]) == [
        Document(id="img", page_content="", metadata={"kind": "scan"}),
        Document(id=IDS[0], page_content=TEXTS[0], metadata=METADATAS[0]),
    ]
    for query in QUERIES:
        for mode, expected in (("hybrid", hits[query]), ("dense", dense_hits[query])):
            got = store.similarity_search_with_score(query, k=6, mode=mode)
            assert ranked(got)[0] == [h.item_id for h in expected]
            np.testing.assert_allclose(ranked(got)[1], [h.score for h in expected], atol=1e-6)
    store.close()


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Path:
    """``jv4 index examples/data`` on the tiny checkpoint, into an embedded store."""
    where = tmp_path_factory.mktemp("cli") / "store"
    code = main(["index", str(EXAMPLES), "--store", str(where), "--model", str(tiny_checkpoint), "--no-progress"])
    assert code == 0
    return where


def test_a_collection_indexed_by_the_cli_is_read_by_the_store(
    cli_store: Path, encoder: JV4Encoder, tiny_params: dict[str, Any]
) -> None:
    store = JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params), location=cli_store, create=False)
    col = store.collection
    assert col.count() == 9 and col.info().model is not None
    everything = store.similarity_search("battery capacity", k=9, mode="multivector")
    points = {p.item_id: p for p in col.get([d.id or "" for d in everything], with_vectors=True)}
    assert len(points) == 9
    for doc in everything:  # each document is its point: text (or "" for an image), the CLI's metadata verbatim
        point = points[doc.id or ""]
        assert doc.page_content == (point.text or "") and doc.metadata == point.metadata
    kinds = sorted(d.metadata["kind"] for d in everything)
    assert kinds == ["image"] * 3 + ["pdf-page"] * 2 + ["text"] * 4
    image = next(d for d in everything if d.metadata["kind"] == "image")
    assert image.page_content == "" and points[image.id or ""].source == image.metadata["path"]
    stored = list(points.values())
    for query in QUERIES:
        for mode in ("hybrid", "multivector", "dense"):
            got = store.similarity_search_with_score(query, k=5, mode=mode)
            assert_same_ranking(got, expected_ranking(encoder, query, stored, mode=mode, k=5))
    images_only = store.similarity_search("a chart", k=9, filter={"kind": "image"})
    assert sorted(Path(d.metadata["path"]).name for d in images_only) == [
        "bike-diagram.png",
        "logo.jpg",
        "sales-chart.png",
    ]
    store.close()


def test_a_collection_written_by_the_store_is_read_by_the_llama_index_store(
    encoder: JV4Encoder, tiny_params: dict[str, Any], image_paths: list[str], tmp_path: Path
) -> None:
    from llama_index.core.vector_stores.types import VectorStoreQuery

    from jv4_integrations.llama_index import JV4Embedding
    from jv4_integrations.llama_index import JV4QdrantVectorStore as LlamaIndexStore

    where = tmp_path / "store"
    store = JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params), location=where, collection_name="shared")
    store.add_texts(TEXTS, METADATAS, ids=IDS)
    store.add_images(image_paths[:1], [{"kind": "scan"}], ids=["img"])
    results = {q: store.similarity_search_with_score(q, k=5) for q in QUERIES}
    store.close()

    other = LlamaIndexStore(location=where, collection_name="shared", embed_model=JV4Embedding(encoder=encoder))
    nodes = other.get_nodes(["img", *IDS])
    assert [(n.node_id, n.metadata) for n in nodes] == [("img", {"kind": "scan"}), *zip(IDS, METADATAS, strict=True)]
    assert [n.get_content() for n in nodes[1:]] == TEXTS
    for query, got in results.items():
        found = other.query(VectorStoreQuery(query_str=query, similarity_top_k=5))
        assert [n.node_id for n in found.nodes or []] == ranked(got)[0]
        np.testing.assert_allclose(found.similarities or [], ranked(got)[1], atol=1e-6)


def test_a_collection_written_by_the_llama_index_store_is_read_by_the_store(
    encoder: JV4Encoder, tiny_params: dict[str, Any], image_paths: list[str], tmp_path: Path
) -> None:
    from llama_index.core.schema import ImageNode, TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery

    from jv4_integrations.llama_index import JV4Embedding
    from jv4_integrations.llama_index import JV4QdrantVectorStore as LlamaIndexStore

    where = tmp_path / "store"
    embed = JV4Embedding(encoder=encoder)
    writer = LlamaIndexStore(location=where, collection_name="shared", embed_model=embed)
    nodes = [TextNode(id_=i, text=t, metadata=m) for i, t, m in zip(IDS, TEXTS, METADATAS, strict=True)]
    nodes.append(ImageNode(id_="img", image_path=image_paths[0], metadata={"kind": "scan"}))
    writer.add(embed(nodes))
    found = {q: writer.query(VectorStoreQuery(query_str=q, similarity_top_k=5)) for q in QUERIES}
    writer.close()

    store = JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params), location=where, collection_name="shared")
    docs = store.get_by_ids(["img", *IDS])
    assert [(d.id, d.metadata) for d in docs] == [("img", {"kind": "scan"}), *zip(IDS, METADATAS, strict=True)]
    assert [d.page_content for d in docs] == ["", *TEXTS]
    for query, result in found.items():
        ids, scores = ranked(store.similarity_search_with_score(query, k=5))
        assert ids == [n.node_id for n in result.nodes or []]
        np.testing.assert_allclose(scores, result.similarities or [], atol=1e-6)
    store.close()
