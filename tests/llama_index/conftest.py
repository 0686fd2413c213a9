"""Fixtures of the LlamaIndex tests: an embedding over the shared tiny encoder, image files, nodes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_helpers import TEXTS, png_base64
from llama_index.core.schema import BaseNode, ImageNode, TextNode

from jv4_integrations.llama_index import JV4Embedding, JV4QdrantVectorStore


@pytest.fixture
def embed(encoder: Any) -> JV4Embedding:
    """A JV4Embedding over the session's shared tiny encoder."""
    return JV4Embedding(encoder=encoder)


@pytest.fixture
def image_paths(tmp_path: Path, image_factory: Any) -> list[Path]:
    """Three distinct 56x56 PNG files."""
    paths = []
    for seed in range(3):
        path = tmp_path / f"image-{seed}.png"
        image_factory(seed).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def mixed_nodes(image_paths: list[Path], image_factory: Any) -> Callable[[], list[BaseNode]]:
    """Builds a fresh interleaved list of text nodes and image nodes (path, base64, data: URL)."""

    def make() -> list[BaseNode]:
        b64 = png_base64(image_factory(10))
        return [
            TextNode(
                id_="text-0",
                text=TEXTS[0],
                metadata={"topic": "pets", "secret": "not embedded"},
                excluded_embed_metadata_keys=["secret"],
            ),
            ImageNode(id_="image-path", image_path=str(image_paths[0]), metadata={"file_path": str(image_paths[0])}),
            TextNode(id_="text-1", text=TEXTS[1]),
            ImageNode(id_="image-b64", image=b64, metadata={"source": "inline"}),
            ImageNode(id_="image-data-url", image_url=f"data:image/png;base64,{png_base64(image_factory(11))}"),
            TextNode(id_="text-2", text=TEXTS[2], metadata={"topic": "food"}),
        ]

    return make


@pytest.fixture
def make_store(tmp_path: Path, embed: JV4Embedding) -> Iterator[Callable[..., JV4QdrantVectorStore]]:
    """Opens JV4QdrantVectorStores in one embedded store directory (default collection 'nodes'); closes them."""
    opened: list[JV4QdrantVectorStore] = []

    def make(location: Any = None, collection_name: str = "nodes", **kwargs: Any) -> JV4QdrantVectorStore:
        kwargs.setdefault("embed_model", embed)
        store = JV4QdrantVectorStore(location or str(tmp_path / "store"), collection_name, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
