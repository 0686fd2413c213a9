"""Helpers of the Qdrant tests (imported by the test modules and conftest)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection

BACKENDS = ("memory", "path", "edge")
#: Small synthetic schema for pure storage tests (dense 16, token width 8).
SMALL = CollectionSchema(dense_size=16, multivector_size=8)


class Store:
    """Opens collections on one backend and can simulate a process restart (close + reopen)."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self.root = root
        self._client: Any = None
        self._open: list[MultiVectorCollection] = []

    def location(self) -> Any:
        from qdrant_client import QdrantClient

        if self.kind == "edge":
            return str(self.root / "edge-store")
        if self._client is None:
            self._client = (
                QdrantClient(":memory:") if self.kind == "memory" else QdrantClient(path=str(self.root / "local"))
            )
        return self._client

    def open(self, name: str = "t", **kwargs: Any) -> MultiVectorCollection:
        col = MultiVectorCollection.open(self.location(), name, **kwargs)
        self._open.append(col)
        return col

    def restart(self) -> None:
        """Close every collection and the client, as a new process would find the store."""
        for col in self._open:
            col.close()
        self._open.clear()
        if self._client is not None and self.kind == "path":
            self._client.close()
            self._client = None

    def close(self) -> None:
        self.restart()
        if self._client is not None:
            self._client.close()
            self._client = None


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class Corpus:
    dense: np.ndarray  # (n, 16)
    multivectors: list[np.ndarray]  # (t_i, 8)
    texts: list[str]
    metadatas: list[dict[str, Any]]


def make_corpus(n: int = 60, seed: int = 0, schema: CollectionSchema = SMALL) -> Corpus:
    """Clustered synthetic unit vectors (so dense and MaxSim rankings differ but correlate)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, schema.multivector_size))
    dense = unit(rng.normal(size=(n, schema.dense_size)))
    mvs = []
    for i in range(n):
        t = int(rng.integers(3, 10))
        mvs.append(unit(centres[i % 4] + 0.8 * rng.normal(size=(t, schema.multivector_size))))
    texts = [f"text {i}" for i in range(n)]
    metas = [{"group": i % 3, "colour": ("red", "green")[i % 2], "score": float(i) / n} for i in range(n)]
    return Corpus(dense, mvs, texts, metas)


def numpy_maxsim(query: np.ndarray, docs: list[np.ndarray]) -> np.ndarray:
    """Reference MaxSim by explicit loops (no shared code with jv4_integrations.scoring)."""
    q = unit(query)
    out = []
    for d in docs:
        d = unit(d)
        out.append(sum(max(float(np.dot(qt, dt)) for dt in d) for qt in q))
    return np.array(out)


def reference_search(
    corpus: Corpus,
    dense: np.ndarray,
    multivector: np.ndarray,
    *,
    mode: str,
    limit: int,
    prefetch_limit: int = 100,
    mask: np.ndarray | None = None,
) -> list[tuple[str, float]]:
    """(text, score) of the expected hits, computed in numpy: dense cosine top-k; exact MaxSim over all
    points; or MaxSim rerank of the dense top-``prefetch_limit`` (hybrid)."""
    idx = np.arange(len(corpus.texts)) if mask is None else np.flatnonzero(mask)
    cosine = unit(corpus.dense[idx]) @ unit(dense)
    if mode == "dense":
        order = np.argsort(-cosine)[:limit]
        return [(corpus.texts[idx[i]], float(cosine[i])) for i in order]
    candidates = idx if mode == "multivector" else idx[np.argsort(-cosine)[:prefetch_limit]]
    scores = numpy_maxsim(multivector, [corpus.multivectors[i] for i in candidates])
    order = np.argsort(-scores)[:limit]
    return [(corpus.texts[candidates[i]], float(scores[i])) for i in order]


def query_vectors(corpus: Corpus, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A query near a corpus item: its vectors plus noise (a few tokens for the multi-vector)."""
    rng = np.random.default_rng(100 + seed)
    i = int(rng.integers(len(corpus.texts)))
    d = unit(corpus.dense[i] + 0.5 * rng.normal(size=corpus.dense.shape[1]))
    m = unit(
        corpus.multivectors[i][:3]
        + 0.5 * rng.normal(size=(min(3, len(corpus.multivectors[i])), corpus.multivectors[i].shape[1]))
    )
    return d, m


def fill(col: MultiVectorCollection, corpus: Corpus) -> MultiVectorCollection:
    """``col`` with the corpus added (texts and metadata)."""
    col.add_embeddings(corpus.dense, corpus.multivectors, texts=corpus.texts, metadatas=corpus.metadatas)
    return col


def assert_same(hits: list[Any], expected: list[tuple[str, float]]) -> None:
    """The hits are the expected (text, score) pairs, in order."""
    assert [h.text for h in hits] == [t for t, _ in expected]
    np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], atol=1e-5)


def exact_over(corpus: Corpus, multivector: np.ndarray, texts: list[str], limit: int) -> list[tuple[str, float]]:
    """Exact MaxSim (numpy) over the given items only, best ``limit`` first."""
    index = {t: i for i, t in enumerate(corpus.texts)}
    scores = numpy_maxsim(multivector, [corpus.multivectors[index[t]] for t in texts])
    order = np.argsort(-scores, kind="stable")[:limit]
    return [(texts[i], float(scores[i])) for i in order]


def middle_ranking(col: MultiVectorCollection, d: np.ndarray, m: np.ndarray, k1: int) -> list[tuple[str, float]]:
    """The middle stage alone, asked of the embedded engine directly: the dense top ``k1`` ranked by
    MaxSim on the collection's pooled tokens, else on its quantized multi-vectors (no rescoring),
    with those scores."""
    import qdrant_edge as edge

    s = col.schema
    pooled = s.pooled_tokens is not None
    request = edge.QueryRequest(
        limit=k1,
        query=edge.Query.Nearest(m.tolist(), using=s.pooled_name if pooled else s.multivector_name),
        prefetches=[edge.Prefetch(limit=k1, query=edge.Query.Nearest(d.tolist(), using=s.dense_name))],
        params=None
        if pooled
        else edge.SearchParams(quantization=edge.QuantizationSearchParams(ignore=False, rescore=False)),
        with_payload=True,
    )
    return [(p.payload["text"], p.score) for p in col._backend.shard.query(request)]


async def assert_exact_over_survivors(
    col: MultiVectorCollection,
    corpus: Corpus,
    d: np.ndarray,
    m: np.ndarray,
    ranking: list[tuple[str, float]],
    k2: int,
    limit: int,
) -> list[Any]:
    """Three-stage hybrid (``prefetch_limit=len(ranking)``, ``rerank_candidates=k2``), sync and async,
    returns the exact MaxSim top ``limit`` of the middle stage's best ``k2`` (``ranking``). Which of
    the items tied at the cut survive is the engine's choice: those among the hits surely did.
    Returns the sync hits."""
    cut = ranking[k2 - 1][1]
    certain = [t for t, score in ranking if score > cut]
    tied = [t for t, score in ranking if score == cut]
    k1 = len(ranking)
    hits = col.search_by_vector(dense=d, multivector=m, limit=limit, prefetch_limit=k1, rerank_candidates=k2)
    again = await col.asearch_by_vector(dense=d, multivector=m, limit=limit, prefetch_limit=k1, rerank_candidates=k2)
    for result in (hits, again):  # (the engine may break the ties differently from call to call)
        texts = [h.text or "" for h in result]
        assert set(texts) <= set(certain) | set(tied)
        assert_same(result, exact_over(corpus, m, certain + [t for t in tied if t in texts], limit))
    return hits
