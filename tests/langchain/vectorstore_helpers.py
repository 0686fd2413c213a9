"""Helpers of the ``JV4QdrantVectorStore`` tests: a small corpus and the expected rankings, computed in numpy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jv4_integrations import JV4Encoder
from jv4_integrations.qdrant import StoredPoint
from jv4_integrations.scoring import maxsim

#: (id, text, metadata) of the test corpus.
CORPUS: list[tuple[str, str, dict[str, Any]]] = [
    ("qdrant", "Qdrant stores dense vectors and multi-vectors for late interaction.", {"topic": "db", "year": 2024}),
    ("maxsim", "MaxSim compares every query token with every document token.", {"topic": "ir", "year": 2023}),
    ("frames", "The Porto workshop welds aluminium bicycle frames by hand.", {"topic": "bikes", "year": 2022}),
    ("sugar", "Photosynthesis turns sunlight, water and carbon dioxide into sugar.", {"topic": "bio", "year": 2021}),
    ("bread", "A sourdough starter needs flour, water and patience.", {"topic": "food", "year": 2024}),
    ("jupiter", "Jupiter is the largest planet of the solar system.", {"topic": "space", "year": 2020}),
    ("battery", "The backup battery keeps 80 percent of its capacity for ten years.", {"topic": "bikes", "year": 2024}),
    ("lens", "The original 1892 Fresnel lens still turns in the lantern room.", {"topic": "history", "year": 2019}),
    ("tickets", "Adult tickets cost 8 euros; children under twelve go free.", {"topic": "museum", "year": 2023}),
    ("hnsw", "HNSW graphs find approximate nearest neighbours quickly.", {"topic": "db", "year": 2022}),
]
IDS = [c[0] for c in CORPUS]
TEXTS = [c[1] for c in CORPUS]
METADATAS = [c[2] for c in CORPUS]
QUERIES = ["how does late interaction score documents?", "bicycle workshop", "water", "what does a ticket cost?"]


def expected_ranking(
    encoder: JV4Encoder,
    query: str,
    points: Sequence[StoredPoint],
    *,
    mode: str,
    k: int,
    prefetch_limit: int = 100,
    dense_size: int | None = None,
) -> list[tuple[str, float]]:
    """(item id, score) of the best ``k`` points: the core's query vectors against the stored vectors.

    ``dense``: cosine top-k; ``multivector``: MaxSim over all points; ``hybrid``: MaxSim rerank of
    the dense top ``prefetch_limit``.
    """
    q = encoder.encode_queries([query], output="both", truncate_dim=dense_size)
    assert q.dense is not None and q.multivector is not None
    cosine = np.stack([p.dense for p in points if p.dense is not None]) @ q.dense[0]
    if mode == "dense":
        order = np.argsort(-cosine, kind="stable")[:k]
        return [(points[i].item_id, float(cosine[i])) for i in order]
    candidates = (
        np.arange(len(points)) if mode == "multivector" else np.argsort(-cosine, kind="stable")[:prefetch_limit]
    )
    scores = np.asarray(maxsim(q.multivector, [points[i].multivector for i in candidates]))[0]
    order = np.argsort(-scores, kind="stable")[:k]
    return [(points[candidates[i]].item_id, float(scores[i])) for i in order]


def ranked(pairs: Sequence[tuple[Any, float]]) -> tuple[list[str], np.ndarray]:
    """Ids and scores of ``(Document, score)`` pairs."""
    return [str(doc.id) for doc, _ in pairs], np.array([score for _, score in pairs])


def assert_same_ranking(got: Sequence[tuple[Any, float]], expected: Sequence[tuple[str, float]]) -> None:
    """Same ids in the same order, scores within float32 rounding."""
    ids, scores = ranked(got)
    assert ids == [i for i, _ in expected]
    np.testing.assert_allclose(scores, [s for _, s in expected], atol=2e-4)
