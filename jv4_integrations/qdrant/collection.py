"""``MultiVectorCollection``: jina-embeddings-v4 dense + MaxSim multi-vectors in one Qdrant collection.

One interface over two storage engines, picked by what ``location`` is: a directory for Qdrant's
embedded engine (qdrant-edge, the default for single-machine use), or a qdrant-client client
(``":memory:"``, ``path=``, a server or cluster URL; sync or async).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from . import flows
from .backends import make_backend
from .collection_async import AsyncCollectionMethods
from .collection_base import DEFAULT_COLLECTION, check_batch_size, listed, single_step

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..core.encoder import JV4Encoder
    from .flows import RecallReport
    from .schema import CollectionSchema, ShardKey
    from .types import CollectionInfo, Mode, SearchHit, StoredPoint

__all__ = ["DEFAULT_COLLECTION", "MultiVectorCollection"]


class MultiVectorCollection(AsyncCollectionMethods):
    """A Qdrant collection holding a dense and a MaxSim multi-vector per item, with search over both.

    Args:
        location: where the collection lives: a store directory (``str`` / ``pathlib.Path``) for
            the embedded engine; a ``QdrantClient`` in any mode; ``":memory:"``; or an
            ``http(s)://`` server URL. For an ``AsyncQdrantClient`` use :meth:`aopen`.
        name: the collection name (a subfolder of an embedded store).
        encoder: the :class:`~jv4_integrations.JV4Encoder` for items and queries, or a checkpoint
            name / path (loaded once per process with ``JV4Encoder.shared``). Not needed for
            :meth:`add_embeddings` / :meth:`search_by_vector`.
        schema: the vector and cluster settings. ``None``: an existing collection's own settings,
            or for a new one the encoder's full dense size and defaults.
        create: create the collection when it does not exist; with ``False`` a missing collection
            raises :class:`~jv4_integrations.StoreError` (searching never creates anything).
        task: encoder task (default: the one recorded in the collection, else the encoder's).
        api_key: API key when ``location`` is a server URL.
        check_filters: reject filters on fields no point was written with (see :mod:`.filters`).
        max_request_bytes: estimated size limit of one upsert request. Default: 4 MB for a
            server (Qdrant advises < ~5 MB per request), 64 MB in process (embedded engine, local mode).

    Raises:
        SchemaMismatchError: the existing collection differs from ``schema`` or does not fit the
            encoder (every difference is listed; the collection is left untouched).
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
        encoder: JV4Encoder | str | os.PathLike[str] | None = None,
        schema: CollectionSchema | None = None,
        create: bool = True,
        task: str | None = None,
        api_key: str | None = None,
        check_filters: bool = True,
        max_request_bytes: int | None = None,
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

    @classmethod
    def open(cls, location: Any, name: str = DEFAULT_COLLECTION, **kwargs: Any) -> Self:
        """Open (and by default create) a collection; same arguments as the constructor."""
        return cls(location, name, **kwargs)

    # -- ingestion ------------------------------------------------------------------------------

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
        encode_kwargs: Mapping[str, Any] | None = None,
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
            encode_kwargs: more options of the encode call: ``max_length``, ``max_pixels``,
                ``max_tokens_per_batch``, ``image_limits`` (see :meth:`JV4Encoder.encode`).

        Returns:
            The item ids, in input order (the caller's ids, or ``"sha256:…"`` content hashes).

        Raises:
            InputError: bad items, each named by index: empty texts, ``None``, unsupported types and
                missing files are found before anything is written; an undecodable image stops the
                call at its chunk (earlier chunks are written; fix it and run the call again).
            StoreError: no encoder, a uint8 collection, or a storage failure.
            TypeError: an ``encode_kwargs`` key that is not one of the options above.

        Example:
            >>> col.add(["a text", ImageRef("scan.png")], metadatas=[{"lang": "en"}, {}])  # doctest: +SKIP
            ['sha256:…', 'sha256:…']
        """
        flow = self._add(
            items, ids, metadatas, doc_ids, sources, batch_size, show_progress, skip_existing, store_images,
            allow_urls, shard_key, encode_kwargs,
        )  # fmt: skip
        return self._run(flow)

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
        extras: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Upsert precomputed vectors (e.g. from ``encoder.encode_documents(..., output="both")``).

        Args:
            dense: ``(n, dense_size)`` array (or ``n`` vectors).
            multivectors: ``n`` arrays of shape ``(n_tokens_i, multivector_size)``.
            texts: the items' texts (``None`` for images).
            ids: item ids; default: the text's content hash (the id :meth:`add` gives that text),
                or a hash of the vectors when there is no text.
            metadatas: one metadata dict per item.
            doc_ids: the parent document of each item.
            sources: the image reference (path / URI) of each item, or ``None``.
            modalities: ``"text"`` / ``"image"`` / ``"mixed"`` per item (default: text when a
                text is given, else image).
            shard_key: custom-sharding key (server / cluster).
            extras: per item, adapter data that is not the caller's metadata, stored in the
                payload's ``extra`` field (e.g. ``{"llama_index": {...}}``), or ``None``.

        Returns:
            The item ids, in input order.

        Raises:
            InputError: a vector of the wrong size or rank, NaN / inf, an unknown modality; every
                bad item is named and nothing is written.
        """
        flow = self._add_embeddings(
            dense, multivectors, texts, ids, metadatas, doc_ids, sources, modalities, shard_key, extras
        )
        return self._run(flow)

    # -- search ---------------------------------------------------------------------------------

    def search(
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
        """Search with a text, an image or a ``Mixed`` item, encoded once with the query prompt.

        Args:
            query: one item (``str``, an image, ``Mixed``).
            mode: ``"hybrid"`` (dense HNSW prefetch of ``prefetch_limit`` candidates, then exact
                MaxSim rerank; the default), ``"dense"`` (HNSW on the dense vector) or
                ``"multivector"`` (exact MaxSim over every point: slow on large collections).
            limit: results wanted.
            prefetch_limit: dense candidates reranked in hybrid mode (K, >= ``limit``); ``None`` =
                :data:`DEFAULT_PREFETCH_LIMIT` (100), raised to ``limit`` when that is larger.
            filter: a dict on the caller's metadata (see :func:`~.filters.metadata_filter`) or a
                ``qdrant_client.models.Filter``.
            hnsw_ef: HNSW beam width of the dense search (higher = better recall, slower).
            score_threshold: drop results scoring below it.
            shard_key: custom-sharding key to search (server / cluster).
            rerank_candidates: hybrid mode, collections with ``pooled_tokens`` or
                ``multivector_quantization``: a middle stage keeps the best ``rerank_candidates``
                (K2, between ``limit`` and ``prefetch_limit``) of the prefetched candidates by MaxSim
                on the *pooled* tokens (or, without a pooled copy, the *quantized* multi-vectors),
                and the exact MaxSim rerank scores only those. Cheaper per candidate than the exact
                rerank, so a larger ``prefetch_limit`` costs less. ``None`` (the default): the exact
                rerank scores every candidate. It has no effect without such a copy or on
                qdrant-client local mode (which reranks every candidate exactly, on the client).

        Returns:
            Hits, best first: MaxSim scores (hybrid, multivector) or cosine similarities (dense).

        Raises:
            InputError: an empty query. ValueError: an unknown mode or bad limits.
            StoreError: a filter on an unknown field, no encoder, or a storage failure.

        Example:
            >>> [(h.text, round(h.score, 2)) for h in col.search("late interaction", limit=2)]  # doctest: +SKIP
            [('MaxSim scores token by token.', 7.93), ('Qdrant stores vectors.', 5.1)]
        """
        flow = self._search(
            [query], None, mode, limit, prefetch_limit, filter, hnsw_ef, score_threshold, shard_key,
            rerank_candidates=rerank_candidates,
        )  # fmt: skip
        return self._run(flow)[0]

    def search_batch(
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
        """Several searches: one encode call for all queries, one batched query request.

        Takes the options of :meth:`search` (applied to every query). Returns one hit list per
        query, in order, equal to calling :meth:`search` for each.
        """
        flow = self._search(
            listed(queries, "queries"), None, mode, limit, prefetch_limit, filter, hnsw_ef, score_threshold, shard_key,
            rerank_candidates=rerank_candidates,
        )  # fmt: skip
        return self._run(flow)

    def search_by_vector(
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
        """Search with precomputed query vectors (no encoder needed).

        Args:
            dense: ``(dense_size,)`` query vector (modes ``dense`` and ``hybrid``).
            multivector: ``(n_tokens, multivector_size)`` query tokens (``multivector`` and ``hybrid``).
            mode: ``"hybrid"``, ``"dense"`` or ``"multivector"`` (see :meth:`search`).
            limit: results wanted.
            prefetch_limit: dense candidates reranked in hybrid mode; ``None`` = 100 or ``limit``,
                whichever is larger.
            filter: a metadata dict or a ``qdrant_client.models.Filter``.
            hnsw_ef: HNSW beam width of the dense search.
            score_threshold: drop results scoring below it.
            shard_key: custom-sharding key (server / cluster).
            rerank_candidates: hybrid mode: candidates kept for the exact rerank by MaxSim on the pooled
                or quantized copy (see :meth:`search`).

        Returns:
            Hits, best first.

        Raises:
            ValueError: a missing vector for the mode, or one of the wrong shape (the message gives
                the expected one).
        """
        flow = self._search(
            None, [(dense, multivector)], mode, limit, prefetch_limit, filter, hnsw_ef, score_threshold, shard_key,
            rerank_candidates=rerank_candidates,
        )  # fmt: skip
        return self._run(flow)[0]

    def measure_recall(
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
        """Measure, on your own queries, how much of the exact MaxSim top-``limit`` hybrid search finds
        at each prefetch size K, and how long it takes: the way to choose ``prefetch_limit``.

        Each query is encoded once; its exact MaxSim search (``mode="multivector"``, a scan of every
        matching point: slow on large collections, so a few dozen queries are plenty) is the ground
        truth; then a hybrid search per K is timed and compared with it. Score ties at the cut of the
        exact top-``limit`` can count as misses.

        Args:
            queries: items to search with (text, images, ``Mixed``), encoded with the query prompt.
            vectors: instead of ``queries``: precomputed ``(dense, multivector)`` query pairs.
            limit: results per search (recall@``limit``).
            prefetch_limits: the K values to try (each >= ``limit``).
            filter: a filter applied to every search (the truth is then the exact top of the
                matching points).
            hnsw_ef: as in :meth:`search`.
            shard_key: as in :meth:`search`.
            rerank_candidates: as in :meth:`search`, capped at each K.

        Returns:
            A :class:`~.flows.tuning.RecallReport`: one row per K (recall, p50 and p95 latency), the
            exact search's latency, ``smallest_prefetch_limit(target)``; ``print`` it for a table.

        Raises:
            TypeError: both or neither of ``queries`` and ``vectors``. ValueError: bad limits.
            InputError: no queries, or an empty one.

        Example:
            >>> report = col.measure_recall(["battery life", "warranty terms"])  # doctest: +SKIP
            >>> report.smallest_prefetch_limit(0.95)  # doctest: +SKIP
            200
        """
        flow = self._measure_recall(
            queries, vectors, limit, prefetch_limits, filter, hnsw_ef, shard_key, rerank_candidates
        )
        return self._run(flow)

    # -- reads, deletes, housekeeping -----------------------------------------------------------

    def get(
        self, ids: Iterable[str | int], *, with_vectors: bool = False, shard_key: ShardKey | None = None
    ) -> list[StoredPoint]:
        """Stored points by item id, in request order (ids not stored are skipped).

        Args:
            ids: item ids as returned by :meth:`add`.
            with_vectors: include the stored dense ``(dense_size,)`` and multi-vector
                ``(n_tokens, multivector_size)`` float32 arrays (as stored: L2-normalised).
            shard_key: custom-sharding key (server / cluster).
        """
        points: list[StoredPoint] = self._run(self._get(ids, with_vectors, shard_key))
        return points

    def scroll(
        self,
        filter: Any = None,
        *,
        batch_size: int = 256,
        with_vectors: bool = False,
        shard_key: ShardKey | None = None,
    ) -> Iterator[StoredPoint]:
        """Every stored point (matching ``filter``), fetched ``batch_size`` at a time.

        Points come in point-id order (not insertion order); points written or deleted while the
        iteration runs may or may not be seen. For exports, migrations to another collection
        (see "Moving to a cluster" in the docs) and listing by metadata.

        Args:
            filter: a metadata dict or a ``qdrant_client.models.Filter`` (``None``: every point).
            batch_size: points per request.
            with_vectors: include the stored dense and multi-vector arrays, as :meth:`get` does.
            shard_key: custom-sharding key (server / cluster).

        Yields:
            :class:`~jv4_integrations.qdrant.StoredPoint` objects.

        Raises:
            ValueError: ``batch_size`` is not a positive int (raised at once); a bad filter raises
                at the first iteration.

        Example:
            >>> texts = [p.text for p in col.scroll({"year": 2025})]  # doctest: +SKIP
        """
        check_batch_size(batch_size)
        return self._scroll_pages(filter, batch_size, with_vectors, shard_key)

    def _scroll_pages(
        self, filter: Any, batch_size: int, with_vectors: bool, shard_key: ShardKey | None
    ) -> Iterator[StoredPoint]:
        offset: Any = None
        while True:
            points, offset = self._run(
                flows.scroll_flow(
                    self._ctx, filter, limit=batch_size, offset=offset, with_vectors=with_vectors, shard_key=shard_key
                )
            )
            yield from points
            if offset is None:
                return

    def delete(
        self,
        ids: Iterable[str | int] | None = None,
        *,
        doc_ids: Iterable[str] | None = None,
        filter: Any = None,
        shard_key: ShardKey | None = None,
    ) -> None:
        """Delete points by item ids, by parent document ids, or by filter (exactly one of them)."""
        self._run(self._delete(ids, doc_ids, filter, shard_key))

    def count(self, filter: Any = None, *, shard_key: ShardKey | None = None) -> int:
        """Exact number of points (matching ``filter``: a metadata dict or a ``models.Filter``)."""
        return self._run(flows.count_flow(self._ctx, filter, shard_key=shard_key))

    def info(self) -> CollectionInfo:
        """Point count, schema, the recorded model / task, metadata keys and payload indexes.

        Example:
            >>> col.info().model.model  # doctest: +SKIP
            'jinaai/jina-embeddings-v4'
        """
        info: CollectionInfo = self._run(self._info())
        return info

    def record_model(self, model: str) -> None:
        """Record ``model`` as the model that wrote this collection, e.g. after its checkpoint folder
        moved. Only the model name changes (task, sizes and vector names stay); it must be the same
        model, since the stored vectors are not re-encoded.

        Args:
            model: the Hub id or (preferably absolute) folder path later runs load.

        Raises:
            StoreError: the collection has no jv4 record (not created by this package).
        """
        self._run(flows.record_model_flow(self._ctx, model))

    def create_payload_index(self, field: str, kind: str = "keyword") -> None:
        """Index a payload field for fast filtering (server and embedded engine; local mode ignores it).

        Args:
            field: the payload path, e.g. ``metadata_key("category")`` = ``"metadata.category"``.
            kind: ``keyword``, ``integer``, ``float``, ``bool``, ``datetime``, ``text``, ``uuid`` or ``geo``.
        """
        self._run(single_step("create_payload_index", field, kind))

    def optimize(self) -> None:
        """Build pending indexes now and lay the storage out for search (embedded engine; a no-op
        on qdrant-client, whose server does this by itself).

        The embedded engine also builds indexes by itself during ingestion, every 10,000 points
        written, which leaves many segments; ``optimize()`` then merges them into about one per core
        (the engine searches segments in parallel and each pays the first stage of a hybrid query).
        It reloads the shard for that: do not call it while other threads use this collection. Call
        it after a bulk load.
        """
        self._run(single_step("optimize"))

    def close(self) -> None:
        """Flush and release the collection (closes clients and shards this object opened). Idempotent.

        A client passed in by the caller stays open: the caller owns it.
        """
        if self._closed:
            return
        if self._native:
            raise StoreError("a collection on an AsyncQdrantClient is closed with 'await col.aclose()'")
        self._closed = True
        self._backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
