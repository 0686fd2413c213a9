"""JV4Embedding as a transformation: mixed text and image nodes, one forward round, the pipeline cache."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_helpers import ATOL, TEXTS
from llama_index.core.ingestion import IngestionCache, IngestionPipeline
from llama_index.core.schema import BaseNode, ImageDocument, ImageNode, MediaResource, MetadataMode, Node, TextNode

from jv4_integrations import Mixed
from jv4_integrations.llama_index import JV4Embedding


def expected_vectors(encoder: Any, image_paths: list[Path], image_factory: Any) -> dict[str, np.ndarray]:
    """What the core gives for each node of ``mixed_nodes``, computed independently of the adapter."""
    texts = ["topic: pets\n\n" + TEXTS[0], TEXTS[1], "topic: food\n\n" + TEXTS[2]]
    text_dense = encoder.encode_documents(texts, output="dense").dense
    images = [image_paths[0], image_factory(10), image_factory(11)]
    image_dense = encoder.encode_documents(images, output="dense").dense
    return {
        "text-0": text_dense[0],
        "text-1": text_dense[1],
        "text-2": text_dense[2],
        "image-path": image_dense[0],
        "image-b64": image_dense[1],
        "image-data-url": image_dense[2],
    }


def test_pipeline_embeds_images_as_images_and_texts_as_passages(
    embed: JV4Embedding,
    encoder: Any,
    mixed_nodes: Callable[[], list[BaseNode]],
    image_paths: list[Path],
    image_factory: Any,
) -> None:
    nodes = mixed_nodes()
    assert nodes[0].get_content(metadata_mode=MetadataMode.EMBED) == "topic: pets\n\n" + TEXTS[0]  # secret excluded
    expected = expected_vectors(encoder, image_paths, image_factory)
    before = encoder.forward_calls
    out = IngestionPipeline(transformations=[embed]).run(nodes=nodes)
    assert encoder.forward_calls - before == 1  # the whole mixed list in one forward pass
    assert [n.node_id for n in out] == [n.node_id for n in nodes]  # order kept
    assert [type(n) for n in out] == [type(n) for n in nodes]
    for node in out:
        assert node.embedding is not None and all(type(x) is float for x in node.embedding)
        np.testing.assert_allclose(node.embedding, expected[node.node_id], atol=ATOL, err_msg=node.node_id)
    # the image nodes really went the image path: their text would give another vector
    as_text = encoder.encode_documents([nodes[1].get_content(metadata_mode=MetadataMode.EMBED)], output="dense")
    assert not np.allclose(out[1].embedding, as_text.dense[0], atol=1e-3)


def test_pipeline_rerun_hits_the_cache(
    encoder: Any, mixed_nodes: Callable[[], list[BaseNode]], tiny_checkpoint: Path
) -> None:
    cache = IngestionCache()
    settings = {"model_name": str(tiny_checkpoint), "device": "cpu"}
    first = IngestionPipeline(transformations=[JV4Embedding(**settings)], cache=cache).run(nodes=mixed_nodes())
    before = encoder.forward_calls
    # the same script run again: a new pipeline, a new embedding with the same settings, fresh nodes
    second = IngestionPipeline(transformations=[JV4Embedding(**settings)], cache=cache).run(nodes=mixed_nodes())
    assert encoder.forward_calls == before  # served from the cache: no forward pass
    assert [n.embedding for n in second] == [n.embedding for n in first]
    assert [type(n).__name__ for n in second] == [type(n).__name__ for n in first]
    # other settings are another cache key
    smaller = JV4Embedding(encoder=encoder, dimensions=16)
    third = IngestionPipeline(transformations=[smaller], cache=cache).run(nodes=mixed_nodes())
    assert encoder.forward_calls == before + 1
    assert {len(n.embedding or []) for n in third} == {16}


def test_cache_key_is_the_settings_not_the_model(embed: JV4Embedding, tiny_checkpoint: Path) -> None:
    dump = embed.to_dict()
    # an embedding made from an encoder records the encoder's actual placement
    spelled = {"model_name": str(tiny_checkpoint), "device": "cpu", "dtype": "float32", "precision": "auto"}
    assert dump == JV4Embedding(**spelled).to_dict()
    assert dump["class_name"] == "JV4Embedding"
    assert not any("encoder" in key or "slot" in key for key in dump)
    embed.to_json()  # serialisable
    assert JV4Embedding.from_dict(dump).to_dict() == dump


async def test_async_pipeline_equals_sync(embed: JV4Embedding, mixed_nodes: Callable[[], list[BaseNode]]) -> None:
    sync = IngestionPipeline(transformations=[embed]).run(nodes=mixed_nodes())
    asyn = await IngestionPipeline(transformations=[embed]).arun(nodes=mixed_nodes())
    for a, b in zip(sync, asyn, strict=True):
        np.testing.assert_allclose(a.embedding, b.embedding, atol=ATOL)


def test_call_sets_embeddings_in_place(embed: JV4Embedding, mixed_nodes: Callable[[], list[BaseNode]]) -> None:
    nodes = mixed_nodes()
    assert embed(nodes) is nodes
    assert all(n.embedding is not None for n in nodes)
    assert embed([]) == []


def test_windows_of_nodes_agree_with_one_call(
    embed: JV4Embedding, mixed_nodes: Callable[[], list[BaseNode]], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = embed(mixed_nodes())
    monkeypatch.setattr("jv4_integrations.llama_index.embedding.NODES_PER_CALL", 4)
    windows = embed(mixed_nodes())
    for a, b in zip(whole, windows, strict=True):
        np.testing.assert_allclose(a.embedding, b.embedding, atol=ATOL)


def test_image_node_text_mixed(encoder: Any, image_paths: list[Path]) -> None:
    captioned = ImageNode(id_="cap", image_path=str(image_paths[0]), text="a bar chart of revenue")
    bare = ImageNode(id_="bare", image_path=str(image_paths[1]))
    image_only = JV4Embedding(encoder=encoder)([captioned.model_copy(), bare.model_copy()])
    mixed = JV4Embedding(encoder=encoder, image_node_text="mixed")([captioned.model_copy(), bare.model_copy()])
    core = encoder.encode_documents(
        [image_paths[0], Mixed("a bar chart of revenue", [image_paths[0]]), image_paths[1]], output="dense"
    ).dense
    np.testing.assert_allclose(image_only[0].embedding, core[0], atol=ATOL)  # default: the caption is ignored
    np.testing.assert_allclose(mixed[0].embedding, core[1], atol=ATOL)  # text + image as one sequence
    np.testing.assert_allclose(mixed[1].embedding, core[2], atol=ATOL)  # no text: the image alone
    np.testing.assert_allclose(image_only[1].embedding, core[2], atol=ATOL)


def test_image_documents_and_image_resources_are_images_too(
    embed: JV4Embedding, encoder: Any, image_paths: list[Path]
) -> None:
    raw = image_paths[1].read_bytes()
    nodes = [
        ImageDocument(image_path=str(image_paths[2])),
        ImageDocument(image=base64.b64encode(raw).decode("ascii")),
        Node(image_resource=MediaResource(data=raw)),  # MediaResource keeps it base64-encoded
        Node(image_resource=MediaResource(path=image_paths[0]), text_resource=MediaResource(text="caption")),
    ]
    embed(nodes)
    core = encoder.encode_documents([image_paths[2], image_paths[1], image_paths[1], image_paths[0]], output="dense")
    np.testing.assert_allclose(np.array([n.embedding for n in nodes]), core.dense, atol=ATOL)


def test_encode_nodes_gives_both_outputs_from_one_forward(
    embed: JV4Embedding, encoder: Any, mixed_nodes: Callable[[], list[BaseNode]]
) -> None:
    nodes = mixed_nodes()
    before = encoder.forward_calls
    result = embed.encode_nodes(nodes, output="both")
    assert encoder.forward_calls - before == 1
    assert result.dense is not None and result.multivector is not None
    assert result.dense.shape == (len(nodes), 64) and len(result.multivector) == len(nodes)
    embed(nodes)
    np.testing.assert_allclose(np.array([n.embedding for n in nodes]), result.dense, atol=ATOL)


def test_text_nodes_only(embed: JV4Embedding, encoder: Any) -> None:
    nodes = [TextNode(text=t) for t in TEXTS]
    embed(nodes)
    core = encoder.encode_documents(list(TEXTS), output="dense").dense
    np.testing.assert_allclose(np.array([n.embedding for n in nodes]), core, atol=ATOL)
