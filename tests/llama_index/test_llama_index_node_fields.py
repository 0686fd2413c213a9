"""JV4QdrantVectorStore keeps what LlamaIndex needs beyond text and metadata: every relationship,
the excluded metadata keys, character offsets and templates (the payload's ``extra`` slot)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, ImageNode, MetadataMode, NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery

from jv4_integrations.llama_index import JV4Embedding, JV4QdrantVectorStore
from jv4_integrations.qdrant import MultiVectorCollection

Make = Callable[..., JV4QdrantVectorStore]
FIELDS = (
    "excluded_embed_metadata_keys",
    "excluded_llm_metadata_keys",
    "start_char_idx",
    "end_char_idx",
    "metadata_template",
    "metadata_separator",
    "text_template",
)


def _split() -> list[BaseNode]:
    """Chunks of one document as SentenceSplitter makes them: SOURCE, PREVIOUS and NEXT set, offsets."""
    text = " ".join(f"Sentence number {i} talks about lighthouses and tides." for i in range(40))
    doc = Document(text=text, id_="doc-1", metadata={"file": "a.txt", "internal": "x"})
    doc.excluded_llm_metadata_keys = ["internal"]
    nodes = SentenceSplitter(chunk_size=64, chunk_overlap=0).get_nodes_from_documents([doc])
    assert len(nodes) >= 3
    return nodes


def _same_fields(got: BaseNode, want: BaseNode) -> None:
    assert type(got) is type(want) and got.node_id == want.node_id
    assert got.relationships == want.relationships
    for name in FIELDS:
        assert getattr(got, name) == getattr(want, name), name
    assert got.get_content(MetadataMode.LLM) == want.get_content(MetadataMode.LLM)
    assert got.get_content(MetadataMode.EMBED) == want.get_content(MetadataMode.EMBED)


def test_chunk_relationships_and_settings_round_trip(make_store: Make, embed: JV4Embedding) -> None:
    store = make_store()
    nodes = _split()
    store.add(embed(nodes))
    back = {n.node_id: n for n in store.get_nodes([n.node_id for n in nodes])}
    for node in nodes:
        _same_fields(back[node.node_id], node)
    middle = back[nodes[1].node_id]
    assert middle.prev_node is not None and middle.prev_node.node_id == nodes[0].node_id
    assert middle.next_node is not None and middle.next_node.node_id == nodes[2].node_id
    assert "internal" not in middle.get_content(MetadataMode.LLM)  # the excluded key stays excluded
    result = store.query(VectorStoreQuery(query_str="lighthouses", similarity_top_k=len(nodes)))
    for node in result.nodes or []:  # search results carry them too
        _same_fields(node, next(n for n in nodes if n.node_id == node.node_id))


async def test_parent_child_lists_and_image_nodes_round_trip(
    make_store: Make, embed: JV4Embedding, image_paths: list[Path]
) -> None:
    store = make_store()
    children = [RelatedNodeInfo(node_id=f"child-{i}", metadata={"i": i}) for i in range(3)]
    parent = TextNode(id_="parent", text="a parent node about harbours", start_char_idx=0, end_char_idx=28)
    parent.relationships = {NodeRelationship.CHILD: children, NodeRelationship.SOURCE: RelatedNodeInfo(node_id="d")}
    image = ImageNode(id_="img", image_path=str(image_paths[0]), metadata={"file_name": "chart.png"})
    image.relationships = {NodeRelationship.PARENT: RelatedNodeInfo(node_id="parent")}
    image.excluded_embed_metadata_keys = ["file_name"]
    nodes: list[BaseNode] = [parent, image]
    await store.async_add(embed(nodes))
    back = {n.node_id: n for n in await store.aget_nodes(["parent", "img"])}
    for node in nodes:
        _same_fields(back[node.node_id], node)
    assert isinstance(back["img"], ImageNode) and back["img"].image_path == str(image_paths[0])
    assert [c.node_id for c in back["parent"].child_nodes or []] == ["child-0", "child-1", "child-2"]
    assert back["parent"].ref_doc_id == "d"


def test_points_without_extra_get_the_source_from_doc_id(make_store: Make, embed: JV4Embedding) -> None:
    """Points written by the LangChain store, the command line or MultiVectorCollection have no extra."""
    store = make_store()
    collection: MultiVectorCollection = store.collection
    enc = embed.encoder.encode_documents(["a plain point"], output="both", truncate_dim=collection.schema.dense_size)
    collection.add_embeddings(enc.dense, enc.multivector, texts=["a plain point"], ids=["plain"], doc_ids=["doc-9"])
    (node,) = store.get_nodes(["plain"])
    assert node.relationships == {NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-9")}
    assert node.excluded_llm_metadata_keys == [] and node.start_char_idx is None


def test_unreadable_stored_fields_fall_back_with_a_warning(
    make_store: Make, embed: JV4Embedding, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store()
    collection: MultiVectorCollection = store.collection
    enc = embed.encoder.encode_documents(["x", "y"], output="both", truncate_dim=collection.schema.dense_size)
    collection.add_embeddings(
        enc.dense, enc.multivector, texts=["x", "y"], ids=["bad-rel", "bad-setting"], doc_ids=["doc-1", "doc-2"],
        extras=[
            {"llama_index": {"relationships": {"no-such-relationship": {"node_id": "n"}}}},
            {"llama_index": {"relationships": {}, "start_char_idx": "not a number"}},
        ],
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="jv4_integrations.llama_index.persistence"):
        nodes = {n.node_id: n for n in store.get_nodes(["bad-rel", "bad-setting"])}
    assert nodes["bad-rel"].ref_doc_id == "doc-1" and nodes["bad-setting"].ref_doc_id == "doc-2"
    assert nodes["bad-setting"].start_char_idx is None
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "node bad-rel: stored relationships could not be read" in messages
    assert "node bad-setting: stored settings could not be applied" in messages
