"""State and internals shared by the sync and async methods of :class:`~.vectorstore.JV4QdrantVectorStore`.

Query encoding, search options, the calls into the collection and the conversion of its points to
LangChain documents, written once for both APIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.runnables.config import run_in_executor
from langchain_core.vectorstores import VectorStore

from ..qdrant.collection_base import ENCODE_OPTIONS
from ._store_support import (
    QueryVectors,
    SearchOptions,
    check_kwargs,
    check_positive,
    encode_query,
    fill_ids,
    mmr_select,
    search_options,
    to_document,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from typing_extensions import Self

    from ..qdrant import MultiVectorCollection, SearchHit, StoredPoint
    from .embeddings import JV4Embeddings

__all__ = ["StoreBase", "candidate_ids", "delete_kwargs"]

#: What a query is encoded into for each search mode (MMR always needs the dense vector too).
_OUTPUT = {"dense": "dense", "multivector": "multivector", "hybrid": "both"}
_ADD_OPTIONS = ("batch_size", "show_progress")
_DELETE_OPTIONS = ("filter", "doc_ids")


class StoreBase(VectorStore):
    """The collection, the embedding and the search defaults of a store, and the plumbing of its methods."""

    _collection: MultiVectorCollection
    _embedding: JV4Embeddings
    _mode: str
    _prefetch_limit: int
    _batch_size: int
    _source_key: str | None
    _owns_collection: bool

    # -- facts -----------------------------------------------------------------------------------

    @property
    def embeddings(self) -> JV4Embeddings:
        """The :class:`JV4Embeddings` of this store (its dense vectors are the collection's)."""
        return self._embedding

    @property
    def collection(self) -> MultiVectorCollection:
        """The underlying collection (for ``info()``, ``count()``, payload indexes, image ``source``...)."""
        return self._collection

    @property
    def mode(self) -> str:
        """The default search mode."""
        return self._mode

    def __repr__(self) -> str:
        return f"JV4QdrantVectorStore({self._collection!r}, mode={self._mode!r})"

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the collection if this store opened it (one given with ``collection=`` stays open)."""
        if self._owns_collection:
            self._collection.close()

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        if self._owns_collection:
            await self._collection.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------

    def _add_kwargs(
        self, n: int, metadatas: Sequence[Any] | None, ids: Sequence[Any] | None, kwargs: dict[str, Any], method: str
    ) -> dict[str, Any]:
        check_kwargs(kwargs, _ADD_OPTIONS, method)
        return {
            "ids": fill_ids(ids, n),
            "metadatas": metadatas,
            "batch_size": kwargs.get("batch_size", self._batch_size),
            "show_progress": kwargs.get("show_progress", False),
            "allow_urls": self._embedding.allow_urls,
            "encode_kwargs": self._encode_options(query=False),
        }

    def _document(self, point: SearchHit | StoredPoint) -> Document:
        return to_document(point, self._source_key)

    def _options(self, kwargs: dict[str, Any], limit: int, method: str, limit_name: str = "k") -> SearchOptions:
        return search_options(
            kwargs,
            limit=limit,
            default_mode=self._mode,
            default_prefetch=self._prefetch_limit,
            method=method,
            limit_name=limit_name,
        )

    def _vector_options(self, kwargs: dict[str, Any], limit: int, method: str) -> SearchOptions:
        if kwargs.get("mode", "dense") != "dense":
            raise ValueError(
                f"{method}() searches with one dense vector, so only mode='dense' applies (got {kwargs['mode']!r}); "
                "search with the query text, or use store.collection.search_by_vector(dense=..., multivector=...)"
            )
        return self._options({**kwargs, "mode": "dense"}, limit, method)

    def _encode(self, query: str, output: str) -> QueryVectors:
        col = self._collection
        encoder = col.encoder
        assert encoder is not None  # checked at construction
        return encode_query(
            encoder, query, output=output, dense_size=col.schema.dense_size, task=col.task,
            options=self._encode_options(query=True),
        )  # fmt: skip

    def _encode_options(self, *, query: bool) -> dict[str, Any]:
        """The embedding's ``encode_kwargs`` (plus ``query_encode_kwargs`` for queries) that the
        collection's encode calls take (``show_progress`` is the store's own option)."""
        emb = self._embedding
        given = {**emb.encode_kwargs, **emb.query_encode_kwargs} if query else emb.encode_kwargs
        return {k: v for k, v in given.items() if k in ENCODE_OPTIONS}

    def _query(
        self, query: str, k: int, kwargs: dict[str, Any], method: str, *, mmr: bool = False
    ) -> tuple[SearchOptions, QueryVectors]:
        options = self._options(kwargs, k, method, "fetch_k" if mmr else "k")
        return options, self._encode(query, _output(options.mode, mmr))

    async def _aquery(
        self, query: str, k: int, kwargs: dict[str, Any], method: str, *, mmr: bool = False
    ) -> tuple[SearchOptions, QueryVectors]:
        options = self._options(kwargs, k, method, "fetch_k" if mmr else "k")
        return options, await run_in_executor(None, self._encode, query, _output(options.mode, mmr))

    def _run_search(self, options: SearchOptions, vectors: QueryVectors) -> list[SearchHit]:
        dense, multi = _vectors_for(options.mode, vectors)
        return self._collection.search_by_vector(dense=dense, multivector=multi, **options.collection_kwargs())

    async def _arun_search(self, options: SearchOptions, vectors: QueryVectors) -> list[SearchHit]:
        dense, multi = _vectors_for(options.mode, vectors)
        return await self._collection.asearch_by_vector(dense=dense, multivector=multi, **options.collection_kwargs())

    @staticmethod
    def _mmr_limit(k: int, fetch_k: int, lambda_mult: float) -> int:
        """Check MMR arguments before anything runs; returns the candidates to fetch (at least ``k``)."""
        check_positive(k, "k")
        check_positive(fetch_k, "fetch_k")
        if isinstance(lambda_mult, bool) or not isinstance(lambda_mult, (int, float)) or not 0 <= lambda_mult <= 1:
            raise ValueError(f"lambda_mult must be between 0 and 1, got {lambda_mult!r}")
        return max(fetch_k, k)

    def _mmr(
        self, query: Any, hits: list[SearchHit], points: list[StoredPoint], k: int, lambda_mult: float
    ) -> list[Document]:
        """MMR over the hits, with the dense vectors of ``points`` (the hits read back with vectors)."""
        by_id = {p.id: p.dense for p in points if p.dense is not None}
        kept = [h for h in hits if h.id in by_id]
        if not kept:
            return []
        picked = mmr_select(np.asarray(query), np.stack([by_id[h.id] for h in kept]), k, lambda_mult)
        return [self._document(kept[i]) for i in picked]


def _output(mode: str, mmr: bool) -> str:
    return "both" if mmr and mode != "dense" else _OUTPUT[mode]


def _vectors_for(mode: str, vectors: QueryVectors) -> tuple[Any, Any]:
    """The query vectors a mode searches with (the dense one of an MMR query is not used by multivector)."""
    return (None if mode == "multivector" else vectors.dense), (None if mode == "dense" else vectors.multivector)


def candidate_ids(hits: list[SearchHit]) -> list[str]:
    """Item ids of MMR candidates, to read their vectors back (points not written by jv4 have none)."""
    return [h.item_id for h in hits if h.item_id]


def delete_kwargs(ids: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``MultiVectorCollection.delete`` for ``delete(ids, **kwargs)``."""
    check_kwargs(kwargs, _DELETE_OPTIONS, "delete")
    if ids is None and not kwargs:
        raise ValueError("delete() needs ids, filter= or doc_ids=; nothing is deleted implicitly")
    if isinstance(kwargs.get("filter"), Mapping) and not kwargs["filter"]:
        raise ValueError("delete(filter={}) has no condition; nothing is deleted implicitly")
    return {"ids": ids, **kwargs}
