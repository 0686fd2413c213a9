"""Numpy references for the JV4QdrantVectorStore tests (a uniquely named module: test folders are not packages)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from llama_helpers import TEXTS
from llama_index.core.schema import BaseNode, ImageNode, NodeRelationship, RelatedNodeInfo, TextNode

from jv4_integrations import JV4Encoder
from jv4_integrations.qdrant import MultiVectorCollection
from jv4_integrations.scoring import maxsim

SCORE_ATOL = 1e-4


def source(doc_id: str) -> dict[NodeRelationship, RelatedNodeInfo]:
    return {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc_id)}


def search_nodes(image_paths: Sequence[Path]) -> list[BaseNode]:
    """Four text nodes and three image nodes with metadata for filters and ref docs for deletes."""
    return [
        TextNode(
            id_="t0",
            text=TEXTS[0],
            metadata={"topic": "pets", "year": 2019, "score": 0.5, "tags": ["a", "b"], "title": "Cat on a mat"},
            relationships=source("doc-a"),
        ),
        TextNode(
            id_="t1",
            text=TEXTS[1],
            metadata={"topic": "finance", "year": 2021, "score": 1.5, "tags": ["b"], "title": "Revenue report"},
            relationships=source("doc-a"),
        ),
        TextNode(
            id_="t2",
            text=TEXTS[2],
            metadata={"topic": "food", "year": 2023, "score": 2.5, "tags": [], "title": "Bread recipe"},
            relationships=source("doc-b"),
        ),
        TextNode(
            id_="t3",
            text=TEXTS[3],
            metadata={"topic": "code", "year": 2024, "tags": ["c"], "title": "Asyncio loops"},
            relationships=source("doc-b"),
        ),
        *[
            ImageNode(
                id_=f"i{k}",
                image_path=str(path),
                metadata={"topic": topic, "year": year, "file_name": path.name},
                relationships=source("doc-c"),
            )
            for k, (path, topic, year) in enumerate(
                zip(image_paths, ("pets", "finance", "food"), (2020, 2022, 2025), strict=True)
            )
        ],
    ]


def stored_vectors(collection: MultiVectorCollection, ids: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Dense and multi-vector of each point, as stored."""
    points = collection.get(list(ids), with_vectors=True)
    assert [p.item_id for p in points] == list(ids)
    return {p.item_id: (np.asarray(p.dense), np.asarray(p.multivector)) for p in points}


def reference_ranking(
    encoder: JV4Encoder,
    query: str,
    stored: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    mode: str,
    limit: int,
    prefetch_limit: int = 100,
    dimensions: int | None = None,
) -> list[tuple[str, float]]:
    """What each mode must return, computed in numpy from the stored vectors and the core's query vectors.

    dense: cosine (stored vectors are unit length); multivector: MaxSim over every point; hybrid: the
    ``prefetch_limit`` best by cosine, reranked by MaxSim.
    """
    q = encoder.encode_queries([query], output="both", truncate_dim=dimensions)
    ids = list(stored)
    cosine = np.array([stored[i][0] @ q.dense[0] for i in ids])
    multi = np.asarray(maxsim([q.multivector[0]], [stored[i][1] for i in ids]))[0]
    if mode == "dense":
        order, scores = np.argsort(-cosine), cosine
    elif mode == "multivector":
        order, scores = np.argsort(-multi), multi
    else:
        candidates = np.argsort(-cosine)[:prefetch_limit]
        order, scores = candidates[np.argsort(-multi[candidates])], multi
    return [(ids[k], float(scores[k])) for k in order[:limit]]


def assert_ranking(ids: Sequence[str], scores: Sequence[float] | None, expected: list[tuple[str, float]]) -> None:
    assert scores is not None
    assert list(ids) == [i for i, _ in expected]
    np.testing.assert_allclose(list(scores), [s for _, s in expected], atol=SCORE_ATOL)


def core_items(nodes: Sequence[BaseNode]) -> list[Any]:
    """What the core must encode for each node, built without the adapter: EMBED text or the image path."""
    from llama_index.core.schema import MetadataMode

    return [
        Path(n.image_path) if isinstance(n, ImageNode) and n.image_path else n.get_content(MetadataMode.EMBED)
        for n in nodes
    ]
