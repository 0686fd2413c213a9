"""What :class:`~jv4_integrations.langchain.JV4QdrantVectorStore` needs besides the LangChain API.

Opening its collection with the embedding's Matryoshka size, checking per-call search options,
encoding a query once for both vectors, turning stored points into LangChain documents, relevance
scores in ``[0, 1]`` and maximal marginal relevance on dense cosine. No storage logic lives here:
that is :mod:`jv4_integrations.qdrant`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.documents import Document

from ..errors import CollectionNotFoundError, InputError, InputProblem, SchemaMismatchError
from ..qdrant.types import MODES

if TYPE_CHECKING:
    from ..core.encoder import JV4Encoder
    from ..qdrant import CollectionSchema, MultiVectorCollection, SearchHit, StoredPoint

__all__ = [
    "SEARCH_OPTIONS",
    "QueryVectors",
    "SearchOptions",
    "check_kwargs",
    "check_mode",
    "check_positive",
    "encode_query",
    "fill_ids",
    "mmr_select",
    "open_collection",
    "relevance",
    "search_options",
    "to_document",
]

#: Keyword arguments the search methods take besides ``k``.
SEARCH_OPTIONS: tuple[str, ...] = (
    "mode",
    "filter",
    "prefetch_limit",
    "score_threshold",
    "hnsw_ef",
    "rerank_candidates",
)


def check_mode(mode: Any) -> str:
    """A valid search mode, or ``ValueError`` listing them."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {list(MODES)}")
    return str(mode)


def check_positive(value: Any, name: str) -> int:
    """A positive ``int``, or ``ValueError`` quoting the value."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_kwargs(kwargs: Mapping[str, Any], allowed: Sequence[str], method: str) -> None:
    """``TypeError`` naming every keyword argument a method does not take."""
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise TypeError(f"{method}() got unexpected keyword argument(s) {unknown}; it takes {list(allowed)}")


@dataclass(frozen=True)
class SearchOptions:
    """One search, as :meth:`MultiVectorCollection.search_by_vector` takes it."""

    mode: str
    limit: int
    prefetch_limit: int
    filter: Any = None
    score_threshold: float | None = None
    hnsw_ef: int | None = None
    rerank_candidates: int | None = None

    def collection_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``search_by_vector`` (without the vectors)."""
        return {
            "mode": self.mode,
            "limit": self.limit,
            "prefetch_limit": self.prefetch_limit,
            "filter": self.filter,
            "score_threshold": self.score_threshold,
            "hnsw_ef": self.hnsw_ef,
            "rerank_candidates": self.rerank_candidates,
        }


def search_options(
    kwargs: Mapping[str, Any],
    *,
    limit: int,
    default_mode: str,
    default_prefetch: int,
    method: str,
    limit_name: str = "k",
) -> SearchOptions:
    """Check a search call's keyword arguments against :data:`SEARCH_OPTIONS`.

    Without an explicit ``prefetch_limit`` the store's default is raised to ``limit`` when needed,
    so that a large ``k`` works in hybrid mode; an explicit one is passed on as given (and checked
    by the collection).
    """
    check_kwargs(kwargs, SEARCH_OPTIONS, method)
    check_positive(limit, limit_name)
    mode = check_mode(kwargs.get("mode", default_mode))
    prefetch = kwargs.get("prefetch_limit")
    if prefetch is None:
        prefetch = max(default_prefetch, limit)
    return SearchOptions(
        mode=mode,
        limit=limit,
        prefetch_limit=prefetch,
        filter=kwargs.get("filter"),
        score_threshold=kwargs.get("score_threshold"),
        hnsw_ef=kwargs.get("hnsw_ef"),
        rerank_candidates=kwargs.get("rerank_candidates"),
    )


@dataclass(frozen=True)
class QueryVectors:
    """A query encoded once: ``dense`` ``(dense_size,)`` and/or ``multivector`` ``(n_tokens, 128)`` float32."""

    dense: np.ndarray | None
    multivector: np.ndarray | None

    @property
    def n_tokens(self) -> int:
        """Query tokens of the multi-vector (0 without one)."""
        return 0 if self.multivector is None else int(self.multivector.shape[0])


def encode_query(
    encoder: JV4Encoder,
    query: Any,
    *,
    output: str,
    dense_size: int,
    task: str | None,
    options: Mapping[str, Any] | None = None,
) -> QueryVectors:
    """Encode one text query with the query prompt: ``output`` ``"dense"``, ``"multivector"`` or ``"both"``.

    The same call the collection makes for ``search(query)``, so results are identical; ``options``
    are more ``encode`` options (the embedding's ``encode_kwargs`` for queries).
    """
    if not isinstance(query, str):
        raise InputError([InputProblem(0, f"expected a str query, got {type(query).__name__}")], what="query")
    if not query.strip():
        raise InputError([InputProblem(0, f"empty query {query!r}")], what="query")
    result = encoder.encode_queries([query], output=output, truncate_dim=dense_size, task=task, **(options or {}))
    dense = None if result.dense is None else np.asarray(result.dense[0], dtype=np.float32)
    multi = None if result.multivector is None else np.asarray(result.multivector[0], dtype=np.float32)
    return QueryVectors(dense, multi)


def relevance(score: float, mode: str, n_tokens: int) -> float:
    """A raw score mapped to ``[0, 1]`` (1 = most similar).

    Dense scores are cosines in ``[-1, 1]``: ``(1 + cos) / 2``. MaxSim scores (hybrid, multivector)
    are sums of one cosine per query token, in ``[-n, n]``: divided by the query's token count they
    become a mean cosine, mapped the same way: ``(1 + maxsim / n_tokens) / 2``.
    """
    mean = score if mode == "dense" else score / max(n_tokens, 1)
    return min(1.0, max(0.0, (1.0 + mean) / 2.0))


def mmr_select(query: np.ndarray, candidates: np.ndarray, k: int, lambda_mult: float) -> list[int]:
    """Maximal marginal relevance on cosine similarity; returns candidate indices in pick order.

    The first pick is the candidate most similar to the query; each next one maximises
    ``lambda_mult * cos(query, c) - (1 - lambda_mult) * max cos(c, picked)``. ``lambda_mult=1`` is
    the plain cosine ranking; smaller values trade relevance for diversity. Ties keep the
    candidates' order.

    Args:
        query: ``(d,)`` query vector.
        candidates: ``(n, d)`` candidate vectors.
        k: how many to pick.
        lambda_mult: in ``[0, 1]``.
    """
    if not 0.0 <= lambda_mult <= 1.0:
        raise ValueError(f"lambda_mult must be between 0 and 1, got {lambda_mult!r}")
    if len(candidates) == 0 or k <= 0:
        return []
    c = np.asarray(candidates, dtype=np.float64)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    q = np.asarray(query, dtype=np.float64)
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    to_query = c @ q
    pairwise = c @ c.T
    left = list(range(len(c)))
    picked = [left.pop(int(np.argmax(to_query)))]  # the most relevant first, whatever lambda_mult
    while left and len(picked) < k:
        redundancy = pairwise[np.ix_(left, picked)].max(axis=1)
        scores = lambda_mult * to_query[left] - (1.0 - lambda_mult) * redundancy
        picked.append(left.pop(int(np.argmax(scores))))
    return picked


def fill_ids(ids: Sequence[Any] | None, n: int) -> list[str]:
    """The caller's ids, with a new UUID for each missing one (``None`` or no list at all)."""
    if ids is None:
        return [str(uuid.uuid4()) for _ in range(n)]
    if isinstance(ids, (str, bytes)) or len(ids) != n:
        got = type(ids).__name__ if isinstance(ids, (str, bytes)) else f"{len(ids)} ids"
        raise ValueError(f"ids must be a list with one id per item: got {got} for {n} items")
    return [str(uuid.uuid4()) if i is None else i for i in ids]


def to_document(point: SearchHit | StoredPoint, source_key: str | None) -> Document:
    """A stored point as a LangChain document: the caller's id, text (``""`` for none) and metadata.

    The metadata is the caller's, verbatim; only with ``source_key`` set does a point's image
    reference (``source``) appear, under that key, when the caller's metadata has no such key.
    """
    metadata = dict(point.metadata)
    if source_key is not None and point.source is not None and source_key not in metadata:
        metadata[source_key] = point.source
    return Document(id=point.item_id or point.id, page_content=point.text or "", metadata=metadata)


def open_collection(
    location: Any,
    name: str,
    *,
    encoder: JV4Encoder,
    dense_size: int,
    task: str,
    schema: CollectionSchema | None,
    create: bool,
    api_key: str | None,
    check_filters: bool,
) -> MultiVectorCollection:
    """Open (or create, with ``dense_size``) the collection of a store, and check it fits the embedding.

    A missing collection is created with ``schema`` or, without one, with the embedding's dense size
    and the default settings; an existing one is used with its own settings (``schema=None``) or
    checked against ``schema``.

    Raises:
        SchemaMismatchError: the collection's dense size is not the embedding's (or any difference
            the collection reports).
        CollectionNotFoundError: it does not exist and ``create`` is false.
    """
    from ..qdrant import CollectionSchema, MultiVectorCollection
    from ..qdrant.backends import is_async_client

    if is_async_client(location):
        raise TypeError(
            "an AsyncQdrantClient is opened asynchronously: col = await MultiVectorCollection.aopen(client, name, "
            f"encoder=embedding.encoder, schema=CollectionSchema(dense_size={dense_size})), then "
            "JV4QdrantVectorStore(collection=col) (its async methods work on it)"
        )
    common: dict[str, Any] = {"encoder": encoder, "task": task, "api_key": api_key, "check_filters": check_filters}
    if schema is not None:
        if schema.dense_size != dense_size:
            raise ValueError(
                f"schema.dense_size={schema.dense_size} differs from the embedding's dimensions ({dense_size}): "
                f"use JV4Embeddings(dimensions={schema.dense_size}) or CollectionSchema(dense_size={dense_size})"
            )
        collection = MultiVectorCollection(location, name, schema=schema, create=create, **common)
    else:
        try:
            collection = MultiVectorCollection(location, name, create=False, **common)
        except CollectionNotFoundError:
            if not create:
                raise
            created = CollectionSchema(dense_size=dense_size, multivector_size=encoder.multivector_dim or 128)
            collection = MultiVectorCollection(location, name, schema=created, create=True, **common)
    stored = collection.schema.dense_size
    if stored != dense_size:
        collection.close()
        raise SchemaMismatchError(
            name,
            [
                f"dense size: the collection stores {stored}-d vectors, the embedding gives {dense_size}-d ones; "
                f"open it with JV4Embeddings(dimensions={stored})"
            ],
        )
    return collection
