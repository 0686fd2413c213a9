"""State and plumbing shared by the sync and async methods of :class:`MultiVectorCollection`.

Holds the backend and the flow context, validates call arguments, builds the operation flows
(:mod:`.flows`) and runs them with the sync or the async driver.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import StoreError
from . import flows
from .ingest import (
    DEFAULT_MAX_REQUEST_BYTES,
    IN_PROCESS_MAX_REQUEST_BYTES,
    check_columns,
    clean_metadatas,
    normalize_ids,
    precheck_items,
)

if TYPE_CHECKING:
    from ..core.encoder import JV4Encoder
    from .record import ModelRecord
    from .schema import CollectionSchema, ShardKey
    from .types import SearchHit

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_PREFETCH_LIMIT",
    "ENCODE_OPTIONS",
    "CollectionBase",
    "check_batch_size",
    "listed",
    "single_step",
]

T = TypeVar("T")
#: Options of the encode call that ``add`` passes on (``encode_kwargs``); the others are its own.
ENCODE_OPTIONS: tuple[str, ...] = ("max_length", "max_pixels", "max_tokens_per_batch", "image_limits")
#: Collection name used when none is given.
DEFAULT_COLLECTION = "jv4"
#: Dense candidates a hybrid search reranks when ``prefetch_limit`` is not given (or ``limit``, if larger).
DEFAULT_PREFETCH_LIMIT = 100


def check_batch_size(batch_size: object) -> None:
    """``ValueError`` unless ``batch_size`` is a positive int."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def listed(items: Iterable[Any] | Sequence[Any], what: str) -> list[Any]:
    """Materialise an iterable argument, rejecting a single item passed where a list is expected."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise TypeError(
            f"{what} must be a list (or other iterable) of items, got {type(items).__name__}; "
            "wrap a single item in a list"
        )
    return list(items)


def _resolve_encoder(encoder: Any) -> JV4Encoder | None:
    """An encoder as given, or the process-wide shared one for a checkpoint name / path."""
    if encoder is None or not isinstance(encoder, (str, os.PathLike)):
        return encoder
    from ..core.encoder import JV4Encoder

    return JV4Encoder.shared(encoder)


def single_step(op: str, *args: Any) -> flows.Flow[None]:
    """A flow of one backend call."""
    yield flows.Step(op, args)


class CollectionBase:
    """Backend, context and drivers of a collection (see :class:`MultiVectorCollection`)."""

    _backend: Any
    _ctx: flows.Context
    _native: bool
    _closed: bool
    _max_request_bytes: int

    def _setup(
        self,
        backend: Any,
        name: str,
        encoder: Any,
        task: str | None,
        check_filters: bool,
        max_request_bytes: int | None,
    ) -> None:
        from .backends import is_async_client

        self._backend = backend
        self._native = is_async_client(getattr(backend, "client", None))
        self._ctx = flows.Context(name=name, encoder=_resolve_encoder(encoder), task=task, check_filters=check_filters)
        if max_request_bytes is None:
            remote = backend.kind == "remote"
            max_request_bytes = DEFAULT_MAX_REQUEST_BYTES if remote else IN_PROCESS_MAX_REQUEST_BYTES
        self._max_request_bytes = max_request_bytes
        self._closed = False

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
        """The model / task / sizes recorded in the collection (what the CLI reloads to search it)."""
        return self._ctx.record

    @property
    def backend_kind(self) -> str:
        """``"edge"`` (embedded engine), ``"local"`` (qdrant-client local mode) or ``"remote"`` (a server)."""
        return str(self._backend.kind)

    @property
    def location(self) -> str | None:
        """The store directory, ``":memory:"``, the local path or the server URL, when known."""
        location = self._backend.location
        return None if location is None else str(location)

    def __repr__(self) -> str:
        return f"MultiVectorCollection({self.name!r}, backend={self.backend_kind!r}, location={self.location!r})"

    # -- drivers --------------------------------------------------------------------------------

    def _run(self, flow: flows.Flow[T]) -> T:
        if self._closed:
            flow.close()
            raise StoreError(f"collection {self.name!r} is closed")
        if self._native:
            flow.close()
            raise StoreError(
                f"collection {self.name!r} was opened on an AsyncQdrantClient: use the async methods, the "
                "twins named with an 'a' in front (here: aadd, asearch, acount, ...; LangChain: aadd_texts, "
                "asimilarity_search, ...; LlamaIndex: async_add, aquery, adelete, ...)"
            )
        return flows.drive(flow, self._backend)

    async def _arun(self, flow: flows.Flow[T]) -> T:
        if self._closed:
            flow.close()
            raise StoreError(f"collection {self.name!r} is closed")
        return await flows.adrive(flow, self._backend, native=self._native)

    # -- flow builders (argument checks happen here, before anything runs) ---------------------

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
        encode_kwargs: Mapping[str, Any] | None = None,
    ) -> flows.Flow[list[str]]:
        items = listed(items, "items")
        check_columns(len(items), metadatas=metadatas, doc_ids=doc_ids, sources=sources)
        precheck_items(items)
        metadatas = clean_metadatas(metadatas)
        check_batch_size(batch_size)
        unknown = sorted(set(encode_kwargs or {}) - set(ENCODE_OPTIONS))
        if unknown:
            raise TypeError(f"unsupported encode_kwargs {unknown}; add() accepts {list(ENCODE_OPTIONS)}")
        return flows.add_flow(
            self._ctx, items, ids=normalize_ids(ids, len(items), unique=True), metadatas=metadatas, doc_ids=doc_ids,
            sources=sources, batch_size=batch_size, show_progress=show_progress, skip_existing=skip_existing,
            store_images=store_images, allow_urls=allow_urls, shard_key=shard_key,
            max_request_bytes=self._max_request_bytes, encode_kwargs=dict(encode_kwargs or {}),
        )  # fmt: skip

    def _add_embeddings(
        self,
        dense: Any,
        multivectors: Sequence[Any],
        texts: Sequence[str | None] | None,
        ids: Sequence[Any] | None,
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        doc_ids: Sequence[str | None] | None,
        sources: Sequence[str | None] | None,
        modalities: Sequence[str] | None,
        shard_key: ShardKey | None,
        extras: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> flows.Flow[list[str]]:
        return flows.add_embeddings_flow(
            self._ctx, dense, list(multivectors), texts=texts, ids=normalize_ids(ids, len(dense), unique=True),
            metadatas=metadatas, doc_ids=doc_ids, sources=sources, modalities=modalities, shard_key=shard_key,
            max_request_bytes=self._max_request_bytes, extras=extras,
        )  # fmt: skip

    def _search(
        self,
        queries: list[Any] | None,
        vectors: list[tuple[Any, Any]] | None,
        mode: str,
        limit: int,
        prefetch_limit: int | None,
        filter: Any,
        hnsw_ef: int | None,
        score_threshold: float | None,
        shard_key: ShardKey | None,
        rerank_candidates: int | None = None,
    ) -> flows.Flow[list[list[SearchHit]]]:
        if prefetch_limit is None:  # the default follows limit; an explicit one is checked against it
            prefetch_limit = DEFAULT_PREFETCH_LIMIT
            if isinstance(limit, int) and not isinstance(limit, bool) and limit > prefetch_limit:
                prefetch_limit = limit
        return flows.search_flow(
            self._ctx, queries, vectors, mode=mode, limit=limit, prefetch_limit=prefetch_limit, flt=filter,
            hnsw_ef=hnsw_ef, score_threshold=score_threshold, shard_key=shard_key,
            rerank_candidates=rerank_candidates,
        )  # fmt: skip

    def _measure_recall(
        self,
        queries: Iterable[Any] | None,
        vectors: Iterable[tuple[Any, Any]] | None,
        limit: int,
        prefetch_limits: Sequence[int],
        filter: Any,
        hnsw_ef: int | None,
        shard_key: ShardKey | None,
        rerank_candidates: int | None,
    ) -> flows.Flow[flows.RecallReport]:
        if (queries is None) == (vectors is None):
            raise TypeError("measure_recall takes queries or vectors=, exactly one of them")
        return flows.measure_recall_flow(
            self._ctx,
            listed(queries, "queries") if queries is not None else None,
            listed(vectors, "vectors") if vectors is not None else None,
            limit=limit, prefetch_limits=prefetch_limits, flt=filter, hnsw_ef=hnsw_ef, shard_key=shard_key,
            rerank_candidates=rerank_candidates,
        )  # fmt: skip

    def _get(self, ids: Iterable[str | int], with_vectors: bool, shard_key: ShardKey | None) -> flows.Flow[Any]:
        items = listed(ids, "ids")
        return flows.get_flow(
            self._ctx, normalize_ids(items, len(items)) or [], with_vectors=with_vectors, shard_key=shard_key
        )

    def _delete(
        self, ids: Iterable[str | int] | None, doc_ids: Iterable[str] | None, filter: Any, shard_key: ShardKey | None
    ) -> flows.Flow[None]:
        items = listed(ids, "ids") if ids is not None else None
        return flows.delete_flow(
            self._ctx,
            ids=normalize_ids(items, len(items)) if items is not None else None,
            doc_ids=listed(doc_ids, "doc_ids") if doc_ids is not None else None,
            flt=filter,
            shard_key=shard_key,
        )

    def _info(self) -> flows.Flow[Any]:
        return flows.info_flow(self._ctx, backend_kind=self.backend_kind, location=self.location)
