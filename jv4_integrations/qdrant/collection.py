"""``MultiVectorCollection``: jina-embeddings-v4 dense + MaxSim multi-vectors in one Qdrant collection.

One interface over two storage engines, picked by what ``location`` is: a directory for Qdrant's
embedded engine (qdrant-edge, the default for single-machine use), or a qdrant-client client
(``":memory:"``, ``path=``, a server or cluster URL; sync or async).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import StoreError
from . import flows
from .backends import make_backend
from .ingest import DEFAULT_MAX_REQUEST_BYTES, normalize_ids
from .types import CollectionInfo, Mode, SearchHit, StoredPoint

if TYPE_CHECKING:
    from ..core.encoder import JV4Encoder
    from .record import ModelRecord
    from .schema import CollectionSchema, ShardKey

__all__ = ["DEFAULT_COLLECTION", "MultiVectorCollection"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: Collection name used when none is given.
DEFAULT_COLLECTION = "jv4"


def _listed(items: Iterable[Any] | Sequence[Any], what: str) -> list[Any]:
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise TypeError(
            f"{what} must be a list (or other iterable) of items, got {type(items).__name__}; "
            "wrap a single item in a list"
        )
    return list(items)


class MultiVectorCollection:
    """A Qdrant collection holding a dense and a MaxSim multi-vector per item, with search over both.

    Args:
        location: where the collection lives: a store directory (``str`` / ``pathlib.Path``) for
            the embedded engine; a ``QdrantClient`` in any mode; ``":memory:"``; or an
            ``http(s)://`` server URL. For an ``AsyncQdrantClient`` use :meth:`aopen`.
        name: the collection name (a subfolder of an embedded store).
        encoder: the :class:`~jv4_integrations.JV4Encoder` that encodes items and queries (not needed
            for :meth:`add_embeddings` / :meth:`search_by_vector`).
        schema: the vector and cluster settings. ``None``: an existing collection's own settings,
            or for a new one the encoder's full dense size and defaults.
        create: create the collection when it does not exist; with ``False`` a missing collection
            raises :class:`~jv4_integrations.StoreError` (nothing is created by searching).
        task: encoder task (default: the one recorded in the collection, else the encoder's).
        api_key: API key when ``location`` is a server URL.
        check_filters: reject filters on fields no point was written with (see :mod:`.filters`).
        max_request_bytes: estimated size limit of one upsert request.

    Raises:
        SchemaMismatchError: the existing collection differs from ``schema`` (every difference is
            listed; the collection is left untouched).
        StoreError: a missing collection with ``create=False``, or a storage failure.

    Example:
        >>> from jv4_integrations import JV4Encoder  # doctest: +SKIP
        >>> enc = JV4Encoder.shared("jinaai/jina-embeddings-v4")  # doctest: +SKIP
        >>> with MultiVectorCollection.open("./jv4-data", "docs", encoder=enc) as col:  # doctest: +SKIP
        ...     col.add(["Qdrant stores vectors.", "MaxSim scores token by token."])
        ...     hits = col.search("what scores tokens?", limit=1)
    """

    def __init__(
        self,
        location: Any,
        name: str = DEFAULT_COLLECTION,
        *,
        encoder: JV4Encoder | None = None,
        schema: CollectionSchema | None = None,
        create: bool = True,
        task: str | None = None,
        api_key: str | None = None,
        check_filters: bool = True,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        backend = make_backend(location, name, api_key=api_key)
        self._setup(backend, name, encoder, task, check_filters, max_request_bytes)
        if self._native:
            raise TypeError(
                "an AsyncQdrantClient needs the async constructor: "
                "col = await MultiVectorCollection.aopen(client, name, ...)"
            )
        try:
            flows.drive(flows.open_flow(self._ctx, schema, create, backend.location), backend)
        except BaseException:
            backend.close()
            raise

    def _setup(
        self,
        backend: Any,
        name: str,
        encoder: JV4Encoder | None,
        task: str | None,
        check_filters: bool,
        max_request_bytes: int,
    ) -> None:
        from .backends import is_async_client

        self._backend = backend
        self._native = is_async_client(getattr(backend, "client", None))
        self._ctx = flows.Context(name=name, encoder=encoder, task=task, check_filters=check_filters)
        self._max_request_bytes = max_request_bytes
        self._closed = False

    @classmethod
    def open(cls, location: Any, name: str = DEFAULT_COLLECTION, **kwargs: Any) -> MultiVectorCollection:
        """Open (and by default create) a collection; same arguments as the constructor."""
        return cls(location, name, **kwargs)

    @classmethod
    async def aopen(
        cls,
        location: Any,
        name: str = DEFAULT_COLLECTION,
        *,
        encoder: JV4Encoder | None = None,
        schema: CollectionSchema | None = None,
        create: bool = True,
        task: str | None = None,
        api_key: str | None = None,
        check_filters: bool = True,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> MultiVectorCollection:
        """Async constructor: required for an ``AsyncQdrantClient``; runs in a thread otherwise."""
        import asyncio

        from .backends import is_async_client

        if not is_async_client(location):
            return await asyncio.to_thread(
                cls,
                location,
                name,
                encoder=encoder,
                schema=schema,
                create=create,
                task=task,
                api_key=api_key,
                check_filters=check_filters,
                max_request_bytes=max_request_bytes,
            )
        self = cls.__new__(cls)
        backend = make_backend(location, name, api_key=api_key)
        self._setup(backend, name, encoder, task, check_filters, max_request_bytes)
        await flows.adrive(flows.open_flow(self._ctx, schema, create, backend.location), backend, native=True)
        return self

    # -- facts ----------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The collection name."""
        return self._ctx.name

    @property
    def schema(self) -> CollectionSchema:
        """The collection's schema (validated against the backend at open)."""
        return self._ctx.bound

    @property
    def encoder(self) -> JV4Encoder | None:
        """The encoder used for items and queries."""
        return self._ctx.encoder

    @property
    def task(self) -> str | None:
        """The encoder task of this collection."""
        return self._ctx.task

    @property
    def model_record(self) -> ModelRecord | None:
        """The model / task / sizes recorded when the collection was created."""
        return self._ctx.record

    @property
    def backend_kind(self) -> str:
        """``"edge"``, ``"local"`` or ``"remote"``."""
        return str(self._backend.kind)

    def __repr__(self) -> str:
        where = self._backend.location
        return f"MultiVectorCollection({self.name!r}, backend={self.backend_kind!r}, location={where!r})"

    # -- drivers --------------------------------------------------------------------------------

    def _run(self, flow: flows.Flow[T]) -> T:
        if self._closed:
            flow.close()
            raise StoreError(f"collection {self.name!r} is closed")
        if self._native:
            flow.close()
            raise StoreError(
                f"collection {self.name!r} was opened on an AsyncQdrantClient: use the async methods "
                "(aadd, asearch, asearch_batch, aget, adelete, acount, ainfo, ...)"
            )
        return flows.drive(flow, self._backend)

    async def _arun(self, flow: flows.Flow[T]) -> T:
        if self._closed:
            flow.close()
            raise StoreError(f"collection {self.name!r} is closed")
        return await flows.adrive(flow, self._backend, native=self._native)

    # -- ingestion ------------------------------------------------------------------------------

    def _add(
        self,
        items: Iterable[Any],
        ids: Sequence[Any] | None,
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        doc_ids: Sequence[str | None] | None,
        sources: Sequence[str | None] | None,
        batch_size: int,
        show_progress: bool,
        skip_existing: bool,
        store_images: bool,
        allow_urls: bool,
        shard_key: ShardKey | None,
    ) -> flows.Flow[list[str]]:
        listed = _listed(items, "items")
        from .ingest import check_columns, precheck_items

        check_columns(len(listed), metadatas=metadatas, doc_ids=doc_ids, sources=sources)
        precheck_items(listed)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        return flows.add_flow(
            self._ctx,
            listed,
            ids=normalize_ids(ids, len(listed)),
            metadatas=metadatas,
            doc_ids=doc_ids,
            sources=sources,
            batch_size=batch_size,
            show_progress=show_progress,
            skip_existing=skip_existing,
            store_images=store_images,
            allow_urls=allow_urls,
            shard_key=shard_key,
            max_request_bytes=self._max_request_bytes,
        )

    def add(
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
    ) -> list[str]:
        """Encode items as documents and upsert them; both vectors come from one forward pass per chunk.

        Point ids are deterministic (``uuid5`` of the caller's id, else of the content), so adding the
        same items again updates them, and an interrupted call can simply be run again.

        Args:
            items: texts (``str``), images (PIL, ``pathlib.Path``, ``bytes``, binary file objects,
                ``ImageRef``) and ``Mixed`` text+image items.
            ids: one id per item (``str`` / ``int``); default: content hashes.
            metadatas: one metadata dict per item (stored verbatim under ``metadata``).
            doc_ids: the parent document of each item.
            sources: per-item image references overriding the derived ones (path / URI).
            batch_size: items encoded per forward-pass chunk (upserts are split further by size).
            show_progress: show a tqdm bar.
            skip_existing: do not re-encode items whose id is already stored (fast resume; an item
                whose content changed under the same caller id is then not updated).
            store_images: keep image pixels in ``source`` as a PNG ``data:`` URI.
            allow_urls: fetch ``ImageRef("http(s)://…")`` items.
            shard_key: custom-sharding key of the points (server / cluster).

        Returns:
            The item ids, in input order (the caller's ids, or ``"sha256:…"`` content hashes).

        Raises:
            InputError: bad items (each named by index); nothing of their chunk is written.
            StoreError: no encoder, a uint8 collection, or a storage failure.
        """
        return self._run(
            self._add(
                items,
                ids,
                metadatas,
                doc_ids,
                sources,
                batch_size,
                show_progress,
                skip_existing,
                store_images,
                allow_urls,
                shard_key,
            )
        )

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
    ) -> list[str]:
        """Async twin of :meth:`add` (encoding runs in a worker thread)."""
        return await self._arun(
            self._add(
                items,
                ids,
                metadatas,
                doc_ids,
                sources,
                batch_size,
                show_progress,
                skip_existing,
                store_images,
                allow_urls,
                shard_key,
            )
        )

    def _add_embeddings(
        self,
        dense: Any,
        multivectors: Sequence[Any],
        texts: Any,
        ids: Any,
        metadatas: Any,
        doc_ids: Any,
        sources: Any,
        modalities: Any,
        shard_key: ShardKey | None,
    ) -> flows.Flow[list[str]]:
        return flows.add_embeddings_flow(
            self._ctx,
            dense,
            list(multivectors),
            texts=texts,
            ids=normalize_ids(ids, len(dense)),
            metadatas=metadatas,
            doc_ids=doc_ids,
            sources=sources,
            modalities=modalities,
            shard_key=shard_key,
            max_request_bytes=self._max_request_bytes,
        )

    def add_embeddings(
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
    ) -> list[str]:
        """Upsert precomputed vectors (e.g. from ``encoder.encode_documents(..., output="both")``).

        Args:
            dense: ``(n, dense_size)`` array (or ``n`` vectors).
            multivectors: ``n`` arrays of shape ``(n_tokens_i, multivector_size)``.
            texts: the items' texts (``None`` for images).
            ids: item ids; default: the text's content hash (same id as :meth:`add` gives that text),
                or a hash of the vectors when there is no text.
            metadatas / doc_ids / sources: payload pieces, one per item.
            modalities: ``"text"`` / ``"image"`` / ``"mixed"`` per item (default: text when a
                text is given, else image).
            shard_key: custom-sharding key (server / cluster).

        Returns:
            The item ids, in input order.

        Raises:
            InputError: a vector of the wrong size or rank, NaN / inf, an unknown modality; every
                bad item is named and nothing is written.
        """
        return self._run(
            self._add_embeddings(
                dense, multivectors, texts, ids, metadatas, doc_ids, sources, modalities, shard_key
            )
        )

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
    ) -> list[str]:
        """Async twin of :meth:`add_embeddings`."""
        return await self._arun(
            self._add_embeddings(
                dense, multivectors, texts, ids, metadatas, doc_ids, sources, modalities, shard_key
            )
        )

    # -- search ---------------------------------------------------------------------------------

    def _search(
        self,
        queries: list[Any] | None,
        vectors: list[tuple[Any, Any]] | None,
        mode: str,
        limit: int,
        prefetch_limit: int,
        filter: Any,
        hnsw_ef: int | None,
        score_threshold: float | None,
        shard_key: ShardKey | None,
    ) -> flows.Flow[list[list[SearchHit]]]:
        return flows.search_flow(
            self._ctx,
            queries,
            vectors,
            mode=mode,
            limit=limit,
            prefetch_limit=prefetch_limit,
            flt=filter,
            hnsw_ef=hnsw_ef,
            score_threshold=score_threshold,
            shard_key=shard_key,
        )

    def search(
        self,
        query: Any,
        *,
        mode: Mode = "hybrid",
        limit: int = 10,
        prefetch_limit: int = 100,
        filter: Any = None,
        hnsw_ef: int | None = None,
        score_threshold: float | None = None,
        shard_key: ShardKey | None = None,
    ) -> list[SearchHit]:
        """Search with a text, an image or a ``Mixed`` item, encoded with the query prompt.

        Args:
            query: one item (``str``, an image, ``Mixed``).
            mode: ``"hybrid"`` (dense HNSW prefetch of ``prefetch_limit`` candidates, then exact
                MaxSim rerank; the default), ``"dense"`` (HNSW on the dense vector) or
                ``"multivector"`` (exact MaxSim over every point: slow on large collections).
            limit: results wanted.
            prefetch_limit: dense candidates reranked in hybrid mode (K, >= ``limit``).
            filter: a dict on the caller's metadata (see :func:`~.filters.metadata_filter`) or a
                ``qdrant_client.models.Filter``.
            hnsw_ef: HNSW beam width of the dense search (higher = better recall, slower).
            score_threshold: drop results scoring below it.
            shard_key: custom-sharding key to search (server / cluster).

        Returns:
            Hits, best first: MaxSim scores (hybrid, multivector) or cosine similarities (dense).

        Raises:
            InputError: an empty query. ValueError: an unknown mode or bad limits.
            StoreError: a filter on an unknown field, no encoder, or a storage failure.
        """
        return self._run(
            self._search(
                [query], None, mode, limit, prefetch_limit, filter, hnsw_ef, score_threshold, shard_key
            )
        )[0]

    async def asearch(
        self,
        query: Any,
        *,
        mode: Mode = "hybrid",
        limit: int = 10,
        prefetch_limit: int = 100,
        filter: Any = None,
        hnsw_ef: int | None = None,
        score_threshold: float | None = None,
        shard_key: ShardKey | None = None,
    ) -> list[SearchHit]:
        """Async twin of :meth:`search`."""
        return (
            await self._arun(
                self._search(
                    [query], None, mode, limit, prefetch_limit, filter, hnsw_ef, score_threshold, shard_key
                )
            )
        )[0]

    def search_batch(
        self,
        queries: Iterable[Any],
        *,
        mode: Mode = "hybrid",
        limit: int = 10,
        prefetch_limit: int = 100,
        filter: Any = None,
        hnsw_ef: int | None = None,
        score_threshold: float | None = None,
        shard_key: ShardKey | None = None,
    ) -> list[list[SearchHit]]:
        """Several searches: one encode call for all queries, one batched query request.

        Takes the options of :meth:`search` (applied to every query). Returns one hit list per
        query, in order; equal to calling :meth:`search` for each.
        """
        return self._run(
            self._search(
                _listed(queries, "queries"),
                None,
                mode,
                limit,
                prefetch_limit,
                filter,
                hnsw_ef,
                score_threshold,
                shard_key,
            )
        )

    async def asearch_batch(
        self,
        queries: Iterable[Any],
        *,
        mode: Mode = "hybrid",
        limit: int = 10,
        prefetch_limit: int = 100,
        filter: Any = None,
        hnsw_ef: int | None = None,
        score_threshold: float | None = None,
        shard_key: ShardKey | None = None,
    ) -> list[list[SearchHit]]:
        """Async twin of :meth:`search_batch`."""
        return await self._arun(
            self._search(
                _listed(queries, "queries"),
                None,
                mode,
                limit,
                prefetch_limit,
                filter,
                hnsw_ef,
                score_threshold,
                shard_key,
            )
        )

    def search_by_vector(
        self,
        *,
        dense: Any = None,
        multivector: Any = None,
        mode: Mode = "hybrid",
        limit: int = 10,
        prefetch_limit: int = 100,
        filter: Any = None,
        hnsw_ef: int | None = None,
        score_threshold: float | None = None,
        shard_key: ShardKey | None = None,
    ) -> list[SearchHit]:
        """Search with precomputed query vectors (no encoder needed).

        Args:
            dense: ``(dense_size,)`` query vector (modes ``dense`` and ``hybrid``).
            multivector: ``(n_tokens, multivector_size)`` query tokens (``multivector`` and ``hybrid``).
            mode / limit / prefetch_limit / filter / hnsw_ef / score_threshold / shard_key: as in
                :meth:`search`.

        Returns:
            Hits, best first.

        Raises:
            ValueError: a missing vector for the mode, or one of the wrong shape (the message gives
                the expected one).
        """
        return self._run(
            self._search(
                None,
                [(dense, multivector)],
                mode,
                limit,
                prefetch_limit,
                filter,
                hnsw_ef,
                score_threshold,
                shard_key,
            )
        )[0]

    async def asearch_by_vector(
        self,
        *,
        dense: Any = None,
        multivector: Any = None,
        mode: Mode = "hybrid",
        limit: int = 10,
        prefetch_limit: int = 100,
        filter: Any = None,
        hnsw_ef: int | None = None,
        score_threshold: float | None = None,
        shard_key: ShardKey | None = None,
    ) -> list[SearchHit]:
        """Async twin of :meth:`search_by_vector`."""
        return (
            await self._arun(
                self._search(
                    None,
                    [(dense, multivector)],
                    mode,
                    limit,
                    prefetch_limit,
                    filter,
                    hnsw_ef,
                    score_threshold,
                    shard_key,
                )
            )
        )[0]

    # -- reads, deletes, housekeeping -----------------------------------------------------------

    def get(
        self, ids: Iterable[str | int], *, with_vectors: bool = False, shard_key: ShardKey | None = None
    ) -> list[StoredPoint]:
        """Stored points by item id, in request order (ids not stored are skipped).

        Args:
            ids: item ids as returned by :meth:`add`.
            with_vectors: include the stored dense and multi-vectors.
            shard_key: custom-sharding key (server / cluster).
        """
        listed = _listed(ids, "ids")
        return self._run(
            flows.get_flow(
                self._ctx,
                normalize_ids(listed, len(listed)) or [],
                with_vectors=with_vectors,
                shard_key=shard_key,
            )
        )

    async def aget(
        self, ids: Iterable[str | int], *, with_vectors: bool = False, shard_key: ShardKey | None = None
    ) -> list[StoredPoint]:
        """Async twin of :meth:`get`."""
        listed = _listed(ids, "ids")
        return await self._arun(
            flows.get_flow(
                self._ctx,
                normalize_ids(listed, len(listed)) or [],
                with_vectors=with_vectors,
                shard_key=shard_key,
            )
        )

    def _delete(
        self,
        ids: Iterable[str | int] | None,
        doc_ids: Iterable[str] | None,
        filter: Any,
        shard_key: ShardKey | None,
    ) -> flows.Flow[None]:
        listed = _listed(ids, "ids") if ids is not None else None
        return flows.delete_flow(
            self._ctx,
            ids=normalize_ids(listed, len(listed)) if listed is not None else None,
            doc_ids=_listed(doc_ids, "doc_ids") if doc_ids is not None else None,
            flt=filter,
            shard_key=shard_key,
        )

    def delete(
        self,
        ids: Iterable[str | int] | None = None,
        *,
        doc_ids: Iterable[str] | None = None,
        filter: Any = None,
        shard_key: ShardKey | None = None,
    ) -> None:
        """Delete points by item ids, by parent document ids, or by filter (exactly one)."""
        self._run(self._delete(ids, doc_ids, filter, shard_key))

    async def adelete(
        self,
        ids: Iterable[str | int] | None = None,
        *,
        doc_ids: Iterable[str] | None = None,
        filter: Any = None,
        shard_key: ShardKey | None = None,
    ) -> None:
        """Async twin of :meth:`delete`."""
        await self._arun(self._delete(ids, doc_ids, filter, shard_key))

    def count(self, filter: Any = None, *, shard_key: ShardKey | None = None) -> int:
        """Exact number of points (matching ``filter``)."""
        return self._run(flows.count_flow(self._ctx, filter, shard_key=shard_key))

    async def acount(self, filter: Any = None, *, shard_key: ShardKey | None = None) -> int:
        """Async twin of :meth:`count`."""
        return await self._arun(flows.count_flow(self._ctx, filter, shard_key=shard_key))

    def info(self) -> CollectionInfo:
        """Point count, schema, the recorded model / task, metadata keys and payload indexes."""
        return self._run(
            flows.info_flow(self._ctx, backend_kind=self.backend_kind, location=self._backend.location)
        )

    async def ainfo(self) -> CollectionInfo:
        """Async twin of :meth:`info`."""
        return await self._arun(
            flows.info_flow(self._ctx, backend_kind=self.backend_kind, location=self._backend.location)
        )

    def create_payload_index(self, field: str, kind: str = "keyword") -> None:
        """Index a payload field for fast filtering (server and embedded engine; local mode ignores it).

        Args:
            field: the payload path, e.g. ``metadata_key("category")`` = ``"metadata.category"``.
            kind: ``keyword``, ``integer``, ``float``, ``bool``, ``datetime``, ``text``, ``uuid`` or ``geo``.
        """
        self._run(_single("create_payload_index", field, kind))

    async def acreate_payload_index(self, field: str, kind: str = "keyword") -> None:
        """Async twin of :meth:`create_payload_index`."""
        await self._arun(_single("create_payload_index", field, kind))

    def optimize(self) -> None:
        """Build pending indexes now (embedded engine: HNSW of new points; a no-op on qdrant-client).

        The embedded engine also does this by itself at the end of an ingestion call once 10,000
        points were written since the last build.
        """
        self._run(_single("optimize"))

    async def aoptimize(self) -> None:
        """Async twin of :meth:`optimize`."""
        await self._arun(_single("optimize"))

    def close(self) -> None:
        """Flush and release the collection (closes clients and shards this object opened). Idempotent."""
        if self._closed:
            return
        if self._native:
            raise StoreError("a collection on an AsyncQdrantClient is closed with 'await col.aclose()'")
        self._closed = True
        self._backend.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        if self._closed:
            return
        self._closed = True
        if self._native:
            await self._backend.close()
        else:
            import asyncio

            await asyncio.to_thread(self._backend.close)

    def __enter__(self) -> MultiVectorCollection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> MultiVectorCollection:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _single(op: str, *args: Any) -> flows.Flow[None]:
    yield flows.Step(op, args)
