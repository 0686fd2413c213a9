"""The async twins of :class:`~.vectorstore.JV4QdrantVectorStore`'s methods.

Encoding runs in a worker thread and storage calls go through the collection's async methods (native
on an ``AsyncQdrantClient``, a worker thread otherwise), so the event loop is never blocked. They
make the same calls as the sync methods and return the same results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document

from ._store_base import StoreBase, candidate_ids, delete_kwargs
from ._store_support import relevance
from .embeddings import _images, _texts

__all__ = ["AsyncStoreMethods"]


class AsyncStoreMethods(StoreBase):
    """The ``a*`` methods; mixed into :class:`~.vectorstore.JV4QdrantVectorStore`."""

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async :meth:`add_texts`: encoding and storage run off the event loop."""
        items = _texts(texts, allow_empty=False)
        return await self._collection.aadd(items, **self._add_kwargs(len(items), metadatas, ids, kwargs, "aadd_texts"))

    async def aadd_images(
        self,
        uris_or_images: Sequence[Any],
        metadatas: list[dict[str, Any]] | None = None,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async :meth:`add_images`."""
        items = _images(uris_or_images)
        return await self._collection.aadd(items, **self._add_kwargs(len(items), metadatas, ids, kwargs, "aadd_images"))

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Async :meth:`get_by_ids`."""
        return [self._document(p) for p in await self._collection.aget(list(ids))]

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Async :meth:`delete`."""
        await self._collection.adelete(**delete_kwargs(ids, kwargs))
        return True

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """Async :meth:`similarity_search`."""
        return [doc for doc, _ in await self.asimilarity_search_with_score(query, k, **kwargs)]

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_with_score`."""
        options, vectors = await self._aquery(query, k, kwargs, "asimilarity_search_with_score")
        return [(self._document(h), h.score) for h in await self._arun_search(options, vectors)]

    async def _asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        options, vectors = await self._aquery(query, k, kwargs, "asimilarity_search_with_relevance_scores")
        hits = await self._arun_search(options, vectors)
        return [(self._document(h), relevance(h.score, options.mode, vectors.n_tokens)) for h in hits]

    async def asimilarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        """Async :meth:`similarity_search_by_vector`."""
        options = self._vector_options(kwargs, k, "asimilarity_search_by_vector")
        hits = await self._collection.asearch_by_vector(
            dense=np.asarray(embedding, np.float32), **options.collection_kwargs()
        )
        return [self._document(h) for h in hits]

    async def amax_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`max_marginal_relevance_search`."""
        options, vectors = await self._aquery(
            query, self._mmr_limit(k, fetch_k, lambda_mult), kwargs, "amax_marginal_relevance_search", mmr=True
        )
        hits = await self._arun_search(options, vectors)
        points = await self._collection.aget(candidate_ids(hits), with_vectors=True) if hits else []
        return self._mmr(vectors.dense, hits, points, k, lambda_mult)

    async def amax_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`max_marginal_relevance_search_by_vector`."""
        dense = np.asarray(embedding, np.float32)
        options = self._vector_options(
            kwargs, self._mmr_limit(k, fetch_k, lambda_mult), "amax_marginal_relevance_search_by_vector"
        )
        hits = await self._collection.asearch_by_vector(dense=dense, **options.collection_kwargs())
        points = await self._collection.aget(candidate_ids(hits), with_vectors=True) if hits else []
        return self._mmr(dense, hits, points, k, lambda_mult)
