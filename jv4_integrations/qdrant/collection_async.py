"""The async twins of :class:`MultiVectorCollection`'s methods.

On an ``AsyncQdrantClient`` they await the client natively; on a sync client and on the embedded
engine (which has no async API) each backend call runs in a worker thread. Encoding and image
decoding always run in a worker thread, so the event loop is never blocked. They run the same flows
as the sync methods and return the same results.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import flows
from .backends import is_async_client, make_backend
from .collection_base import DEFAULT_COLLECTION, CollectionBase, check_batch_size, listed, single_step

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..core.encoder import JV4Encoder
    from .flows import RecallReport
    from .schema import CollectionSchema, ShardKey
    from .types import CollectionInfo, Mode, SearchHit, StoredPoint

__all__ = ["AsyncCollectionMethods"]


class AsyncCollectionMethods(CollectionBase):
    """``aopen`` and the ``a*`` twins; mixed into :class:`MultiVectorCollection`."""

    @classmethod
    async def aopen(
        cls,
        location: Any,
        name: str = DEFAULT_COLLECTION,
        *,
        encoder: JV4Encoder | str | os.PathLike[str] | None = None,
        schema: CollectionSchema | None = None,
        create: bool = True,
        task: str | None = None,
        api_key: str | None = None,
        check_filters: bool = True,
        max_request_bytes: int | None = None,
    ) -> Self:
        """Async constructor: required for an ``AsyncQdrantClient``; takes the constructor's arguments.

        Example:
            >>> from qdrant_client import AsyncQdrantClient  # doctest: +SKIP
            >>> col = await MultiVectorCollection.aopen(AsyncQdrantClient(url="http://localhost:6333"), "docs",
            ...                                         encoder=enc)  # doctest: +SKIP
        """
        kwargs: dict[str, Any] = dict(
            encoder=encoder, schema=schema, create=create, task=task, api_key=api_key,
            check_filters=check_filters, max_request_bytes=max_request_bytes,
        )  # fmt: skip
        if not is_async_client(location):
            return await asyncio.to_thread(cls, location, name, **kwargs)
        self = cls.__new__(cls)
        backend = make_backend(location, name, api_key=api_key)
        self._setup(backend, name, encoder, task, check_filters, max_request_bytes)
        await flows.adrive(flows.open_flow(self._ctx, schema, create, backend.location), backend, native=True)
        return self

    async def aadd(
        self,
        items: Iterable[Any],
        *,
        ids: Sequence[str | int] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        doc_ids: Sequence[str | None] | None = None,
        sources: Sequence[str | None] | None = None,
        batch_size: int = 32,
        show_progress: bool = False,
        skip_existing: bool = False,
        store_images: bool = False,
        allow_urls: bool = False,
        shard_key: ShardKey | None = None,
        encode_kwargs: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Async twin of :meth:`MultiVectorCollection.add`."""
        flow = self._add(
            items, ids, metadatas, doc_ids, sources, batch_size, show_progress, skip_existing, store_images,
            allow_urls, shard_key, encode_kwargs,
        )  # fmt: skip
        return await self._arun(flow)

    async def aadd_embeddings(
        self,
        dense: Any,
        multivectors: Sequence[Any],
        *,
        texts: Sequence[str | None] | None = None,
        ids: Sequence[str | int] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        doc_ids: Sequence[str | None] | None = None,
        sources: Sequence[str | None] | None = None,
        modalities: Sequence[str] | None = None,
        shard_key: ShardKey | None = None,
        extras: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Async twin of :meth:`MultiVectorCollection.add_embeddings`."""
        flow = self._add_embeddings(
            dense, multivectors, texts, ids, metadatas, doc_ids, sources, modalities, shard_key, extras
        )
        return await self._arun(flow)

    async def asearch(
        self,
        query: Any,
        *,
        mode: Mode = "hybrid",
        limit: int = 10,
        prefetch_limit: int | None = None,
        filter: Any = None,
        hnsw_ef: int | None = None,
        score_threshold: float | None = None,
        shard_key: ShardKey | None = None,
        rerank_candidates: int | None = None,
    ) -> list[SearchHit]:
        """Async twin of :meth:`MultiVectorCollection.search`."""
        flow = self._search(
            [query], None, mode, limit, prefetch_limit, filter, hnsw_ef, score_threshold, shard_key,
            rerank_candidates=rerank_candidates,
        )  # fmt: skip
        return (await self._arun(flow))[0]

    async def asearch_batch(
        self,
        queries: Iterable[Any],
        *,
        mode: Mode = "hybrid",
        limit: int = 10,
        prefetch_limit: int | None = None,
        filter: Any = None,
        hnsw_ef: int | None = None,
        score_threshold: float | None = None,
        shard_key: ShardKey | None = None,
        rerank_candidates: int | None = None,
    ) -> list[list[SearchHit]]:
        """Async twin of :meth:`MultiVectorCollection.search_batch`."""
        flow = self._search(
            listed(queries, "queries"), None, mode, limit, prefetch_limit, filter, hnsw_ef, score_threshold, shard_key,
            rerank_candidates=rerank_candidates,
        )  # fmt: skip
        return await self._arun(flow)

    async def asearch_by_vector(
        self,
        *,
        dense: Any = None,
        multivector: Any = None,
        mode: Mode = "hybrid",
        limit: int = 10,
        prefetch_limit: int | None = None,
        filter: Any = None,
        hnsw_ef: int | None = None,
        score_threshold: float | None = None,
        shard_key: ShardKey | None = None,
        rerank_candidates: int | None = None,
    ) -> list[SearchHit]:
        """Async twin of :meth:`MultiVectorCollection.search_by_vector`."""
        flow = self._search(
            None, [(dense, multivector)], mode, limit, prefetch_limit, filter, hnsw_ef, score_threshold, shard_key,
            rerank_candidates=rerank_candidates,
        )  # fmt: skip
        return (await self._arun(flow))[0]

    async def ameasure_recall(
        self,
        queries: Iterable[Any] | None = None,
        *,
        vectors: Iterable[tuple[Any, Any]] | None = None,
        limit: int = 10,
        prefetch_limits: Sequence[int] = (50, 100, 200, 500),
        filter: Any = None,
        hnsw_ef: int | None = None,
        shard_key: ShardKey | None = None,
        rerank_candidates: int | None = None,
    ) -> RecallReport:
        """Async twin of :meth:`MultiVectorCollection.measure_recall`."""
        flow = self._measure_recall(
            queries, vectors, limit, prefetch_limits, filter, hnsw_ef, shard_key, rerank_candidates
        )
        return await self._arun(flow)

    async def aget(
        self, ids: Iterable[str | int], *, with_vectors: bool = False, shard_key: ShardKey | None = None
    ) -> list[StoredPoint]:
        """Async twin of :meth:`MultiVectorCollection.get`."""
        points: list[StoredPoint] = await self._arun(self._get(ids, with_vectors, shard_key))
        return points

    def ascroll(
        self,
        filter: Any = None,
        *,
        batch_size: int = 256,
        with_vectors: bool = False,
        shard_key: ShardKey | None = None,
    ) -> AsyncIterator[StoredPoint]:
        """Async twin of :meth:`MultiVectorCollection.scroll`: ``async for point in col.ascroll(...)``."""
        check_batch_size(batch_size)
        return self._ascroll_pages(filter, batch_size, with_vectors, shard_key)

    async def _ascroll_pages(
        self, filter: Any, batch_size: int, with_vectors: bool, shard_key: ShardKey | None
    ) -> AsyncIterator[StoredPoint]:
        offset: Any = None
        while True:
            points, offset = await self._arun(
                flows.scroll_flow(
                    self._ctx, filter, limit=batch_size, offset=offset, with_vectors=with_vectors, shard_key=shard_key
                )
            )
            for point in points:
                yield point
            if offset is None:
                return

    async def adelete(
        self,
        ids: Iterable[str | int] | None = None,
        *,
        doc_ids: Iterable[str] | None = None,
        filter: Any = None,
        shard_key: ShardKey | None = None,
    ) -> None:
        """Async twin of :meth:`MultiVectorCollection.delete`."""
        await self._arun(self._delete(ids, doc_ids, filter, shard_key))

    async def acount(self, filter: Any = None, *, shard_key: ShardKey | None = None) -> int:
        """Async twin of :meth:`MultiVectorCollection.count`."""
        return await self._arun(flows.count_flow(self._ctx, filter, shard_key=shard_key))

    async def ainfo(self) -> CollectionInfo:
        """Async twin of :meth:`MultiVectorCollection.info`."""
        info: CollectionInfo = await self._arun(self._info())
        return info

    async def arecord_model(self, model: str) -> None:
        """Async twin of :meth:`MultiVectorCollection.record_model`."""
        await self._arun(flows.record_model_flow(self._ctx, model))

    async def acreate_payload_index(self, field: str, kind: str = "keyword") -> None:
        """Async twin of :meth:`MultiVectorCollection.create_payload_index`."""
        await self._arun(single_step("create_payload_index", field, kind))

    async def aoptimize(self) -> None:
        """Async twin of :meth:`MultiVectorCollection.optimize`."""
        await self._arun(single_step("optimize"))

    async def aclose(self) -> None:
        """Async twin of :meth:`MultiVectorCollection.close` (the only way to close on an AsyncQdrantClient)."""
        if self._closed:
            return
        self._closed = True
        if self._native:
            await self._backend.close()
        else:
            await asyncio.to_thread(self._backend.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
