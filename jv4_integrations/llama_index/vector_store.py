"""``JV4QdrantVectorStore``: a LlamaIndex vector store with late-interaction (MaxSim) search, over Qdrant.

A thin adapter over :class:`~jv4_integrations.qdrant.MultiVectorCollection`: nodes become points of
the shared payload schema (see :mod:`.persistence`), LlamaIndex filters become Qdrant filters (see
:mod:`.filters`), and every vector comes from the store's :class:`JV4Embedding`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)

from .._optional import require
from ..qdrant.collection import DEFAULT_COLLECTION, MultiVectorCollection
from ..qdrant.filters import resolve_filter
from ..qdrant.schema import CollectionSchema
from ..qdrant.types import MODES, Mode, SearchHit, StoredPoint
from .embedding import NODES_PER_CALL, JV4Embedding
from .filters import query_filter
from .node_vectors import both_vectors
from .nodes import node_items
from .opening import check_sizes, embedding_of, open_collection
from .persistence import node_columns, node_from_point

__all__ = ["DEFAULT_LOCATION", "QUERY_OPTIONS", "JV4QdrantVectorStore"]

logger = logging.getLogger(__name__)

#: Where the store lives when no location is given (the command line's default store too).
DEFAULT_LOCATION = "./jv4-data"
#: Per-query options (``vector_store_kwargs`` of a retriever, or keyword arguments of ``query``).
QUERY_OPTIONS: tuple[str, ...] = ("mode", "prefetch_limit", "filter", "node_ids", "hnsw_ef", "rerank_candidates")


def _check_mode(mode: Any) -> Mode:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {list(MODES)}")
    return mode  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Rows:
    """One window of nodes, ready for ``add_embeddings``."""

    dense: np.ndarray
    multivectors: list[np.ndarray]
    columns: dict[str, Any]


class JV4QdrantVectorStore(BasePydanticVectorStore):
    """Stores each node's dense vector and multi-vector in Qdrant; searches dense, MaxSim or hybrid.

    Nodes are embedded by ``embed_model`` (text nodes as passages, image nodes from their image,
    like the :class:`JV4Embedding` transformation), queries with its query prompt. Both vectors of a
    node come from one forward pass: multi-vectors that the same ``embed_model`` computed as a
    transformation (``IngestionPipeline``) or for ``VectorStoreIndex`` are taken from its buffer,
    and nodes without one are encoded once for both. The stored dense vector is always the one from
    the multi-vector's pass; ``node.embedding`` is set to it.

    Args:
        location: a store directory (Qdrant's embedded engine), ``":memory:"``, an ``http(s)://``
            server URL, or a ``qdrant_client.QdrantClient``.
        collection_name: the collection (created when missing).
        embed_model: the :class:`JV4Embedding` for nodes and queries. ``None``: the model, task and
            dense size recorded in an existing collection (e.g. one written by ``jv4 index``), else
            ``JV4Embedding()``.
        mode: default search mode: ``"hybrid"`` (dense prefetch of ``prefetch_limit`` candidates,
            MaxSim rerank), ``"dense"`` or ``"multivector"`` (exact MaxSim over every point).
        prefetch_limit: dense candidates reranked in hybrid mode (at least ``similarity_top_k``).
        api_key: API key of a Qdrant server (not kept in the store's fields).
        collection: an open :class:`~jv4_integrations.qdrant.MultiVectorCollection` to use instead of
            ``location`` / ``collection_name`` (e.g. one opened with ``aopen`` on an ``AsyncQdrantClient``).
        schema: vector settings for a new collection (default: the embedding's dense size, float32).
        multivector_buffer_mb: memory for multi-vectors waiting between ``embed_model`` and
            :meth:`add` (0: no buffer; every node is then encoded by the store).
        **fields: the LlamaIndex fields ``stores_text`` and ``is_embedding_query`` (leave them).

    Example:
        >>> from llama_index.core import StorageContext, VectorStoreIndex  # doctest: +SKIP
        >>> embed = JV4Embedding()  # doctest: +SKIP
        >>> store = JV4QdrantVectorStore("./jv4-data", collection_name="nodes", embed_model=embed)  # doctest: +SKIP
        >>> index = VectorStoreIndex(embed(nodes), embed_model=embed,  # doctest: +SKIP
        ...                          storage_context=StorageContext.from_defaults(vector_store=store))
        >>> index.as_retriever(similarity_top_k=2).retrieve("revenue chart")[0].score  # doctest: +SKIP
        7.93
    """

    model_config = ConfigDict(
        extra="forbid", protected_namespaces=(), populate_by_name=True, arbitrary_types_allowed=True
    )

    stores_text: bool = True
    is_embedding_query: bool = Field(
        default=False, description="False: the store encodes query_str itself (one pass for both vectors)."
    )
    location: str | None = Field(default=DEFAULT_LOCATION, description="Store directory, ':memory:' or URL.")
    collection_name: str = Field(default=DEFAULT_COLLECTION, description="The Qdrant collection.")
    embed_model: JV4Embedding = Field(description="Embeds nodes and queries.")
    mode: Mode = Field(default="hybrid", description="Default search mode: hybrid, dense or multivector.")
    prefetch_limit: int = Field(default=100, ge=1, description="Dense candidates reranked in hybrid mode.")
    multivector_buffer_mb: int = Field(default=1024, ge=0, description="Buffer for multi-vectors (MiB).")

    _collection: MultiVectorCollection = PrivateAttr()
    _owns_collection: bool = PrivateAttr(default=True)
    _evicted_seen: int = PrivateAttr(default=0)

    def __init__(
        self,
        location: Any = DEFAULT_LOCATION,
        collection_name: str = DEFAULT_COLLECTION,
        *,
        embed_model: JV4Embedding | dict[str, Any] | None = None,
        mode: Mode = "hybrid",
        prefetch_limit: int = 100,
        api_key: str | None = None,
        collection: MultiVectorCollection | None = None,
        schema: CollectionSchema | None = None,
        multivector_buffer_mb: int = 1024,
        **fields: Any,
    ) -> None:
        _check_mode(mode)  # cheap checks first: nothing is opened or created for a bad argument
        for name, value, least in (
            ("prefetch_limit", prefetch_limit, 1),
            ("multivector_buffer_mb", multivector_buffer_mb, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
        require("qdrant_client", purpose="JV4QdrantVectorStore")
        if isinstance(embed_model, dict):  # from_dict / from_json
            embed_model = JV4Embedding.from_dict(embed_model)
        if embed_model is not None and not isinstance(embed_model, JV4Embedding):
            raise TypeError(f"embed_model must be a JV4Embedding, got {type(embed_model).__name__}")
        owns = collection is None
        if collection is None:
            collection, embed_model = open_collection(location, collection_name, embed_model, api_key, schema)
        elif not isinstance(collection, MultiVectorCollection):
            raise TypeError(f"collection must be a MultiVectorCollection, got {type(collection).__name__}")
        else:
            location, collection_name = collection.location, collection.name
        if embed_model is None:
            embed_model = embedding_of(collection)
        check_sizes(collection, embed_model)
        kept = str(os.fspath(location)) if isinstance(location, (str, os.PathLike)) else None
        values: dict[str, Any] = {
            "location": kept,
            "collection_name": collection_name,
            "embed_model": embed_model,
            "mode": mode,
            "prefetch_limit": prefetch_limit,
            "multivector_buffer_mb": multivector_buffer_mb,
        }
        super().__init__(**values, **fields)
        self._collection = collection
        self._owns_collection = owns
        if self.multivector_buffer_mb > 0:
            self.embed_model._capture.attach(self, self.multivector_buffer_mb << 20)
        self._evicted_seen = self.embed_model._capture.evicted

    @classmethod
    def from_collection(
        cls, collection: MultiVectorCollection, *, embed_model: JV4Embedding | None = None, **fields: Any
    ) -> JV4QdrantVectorStore:
        """A store over a collection you opened (any backend, ``aopen`` on an ``AsyncQdrantClient`` included).

        Example:
            >>> client = AsyncQdrantClient(url="http://localhost:6333")  # doctest: +SKIP
            >>> col = await MultiVectorCollection.aopen(client, "docs", encoder=enc)  # doctest: +SKIP
            >>> store = JV4QdrantVectorStore.from_collection(col)  # doctest: +SKIP
        """
        return cls(collection=collection, embed_model=embed_model, **fields)

    @classmethod
    def class_name(cls) -> str:
        return "JV4QdrantVectorStore"

    @property
    def client(self) -> MultiVectorCollection:
        """The underlying :class:`~jv4_integrations.qdrant.MultiVectorCollection`."""
        return self._collection

    @property
    def collection(self) -> MultiVectorCollection:
        """The underlying :class:`~jv4_integrations.qdrant.MultiVectorCollection` (same as :attr:`client`)."""
        return self._collection

    # -- writing --------------------------------------------------------------------------------

    def _items(self, nodes: Sequence[BaseNode]) -> list[Any]:
        embed = self.embed_model
        return node_items(nodes, image_node_text=embed.image_node_text, allow_urls=embed.allow_urls)

    def _rows(self, nodes: Sequence[BaseNode], items: list[Any], offset: int) -> _Rows:
        """Both vectors of every node (see :func:`.node_vectors.both_vectors`) and the payload columns."""
        capture = self.embed_model._capture
        dense, multi, encoded = both_vectors(self.embed_model, nodes, items, offset=offset)
        if encoded and capture.evicted > self._evicted_seen:  # entries dropped since the last add
            logger.warning(
                "the multi-vector buffer (multivector_buffer_mb=%d) overflowed; %d node(s) were encoded again: "
                "add nodes in smaller batches or raise multivector_buffer_mb",
                self.multivector_buffer_mb,
                encoded,
            )
        self._evicted_seen = capture.evicted
        columns = node_columns(nodes, items)
        return _Rows(
            dense=np.stack(dense).astype(np.float32, copy=False),
            multivectors=multi,
            columns={
                "texts": columns.texts,
                "ids": columns.ids,
                "metadatas": columns.metadatas,
                "doc_ids": columns.doc_ids,
                "sources": columns.sources,
                "extras": columns.extras,
                "modalities": columns.modalities,
            },
        )

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Store nodes with both vectors (see the class docs: one forward pass per node); returns the node ids.

        Adding a node id again replaces its point. Nodes are written in windows of 256.

        Args:
            nodes: text and image nodes, in any mix, with or without ``embedding``.
            **add_kwargs: accepted for LlamaIndex's signature; unused.

        Returns:
            The node ids, in order.

        Raises:
            InputError: nodes without an image (or with a URL ``embed_model`` may not fetch), each
                named by position and node id, before anything is written; an unreadable image file
                stops the call at its window (earlier windows are written; fix it and add again).

        Example:
            >>> store.add([TextNode(text="Qdrant stores vectors."), ImageNode(image_path="q3.png")])  # doctest: +SKIP
            ['5c9d…', '0b1e…']
        """
        nodes = list(nodes)
        items = self._items(nodes)
        ids: list[str] = []
        for start in range(0, len(nodes), NODES_PER_CALL):
            end = start + NODES_PER_CALL
            rows = self._rows(nodes[start:end], items[start:end], start)
            ids += self._collection.add_embeddings(rows.dense, rows.multivectors, **rows.columns)
        return ids

    async def async_add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Async :meth:`add`: encoding runs in a worker thread, writes use the collection's async methods."""
        nodes = list(nodes)
        items = await asyncio.to_thread(self._items, nodes)
        ids: list[str] = []
        for start in range(0, len(nodes), NODES_PER_CALL):
            end = start + NODES_PER_CALL
            rows = await asyncio.to_thread(self._rows, nodes[start:end], items[start:end], start)
            ids += await self._collection.aadd_embeddings(rows.dense, rows.multivectors, **rows.columns)
        return ids

    # -- searching ------------------------------------------------------------------------------

    def _options(self, query: VectorStoreQuery, kwargs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(kwargs) - set(QUERY_OPTIONS))
        if unknown:
            raise TypeError(f"unknown query option(s) {unknown}; expected some of {list(QUERY_OPTIONS)}")
        asked = _check_mode(kwargs["mode"]) if kwargs.get("mode") is not None else None
        by_query: Mode | None = None
        if query.mode == VectorStoreQueryMode.HYBRID:
            by_query = "hybrid"
        elif query.mode != VectorStoreQueryMode.DEFAULT:
            raise ValueError(
                f"query mode {getattr(query.mode, 'value', query.mode)!r} is not supported; use "
                f"VectorStoreQueryMode.DEFAULT (the store's mode) or HYBRID, and pick one of {list(MODES)} "
                "with vector_store_kwargs={'mode': ...}"
            )
        if asked is not None and by_query is not None and asked != by_query:
            raise ValueError(f"mode={asked!r} conflicts with the query's mode {by_query!r}")
        limit = query.similarity_top_k
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"similarity_top_k must be a positive int, got {limit!r}")
        prefetch = kwargs.get("prefetch_limit", self.prefetch_limit)
        # query.node_ids is not used: VectorStoreIndex.as_retriever fills it with the index's image and index
        # nodes only (the docstore's share of a store that keeps text), which would hide every text node
        node_ids = kwargs.get("node_ids")
        flt = query_filter(query.filters, node_ids=node_ids, doc_ids=query.doc_ids or None)
        extra = resolve_filter(kwargs.get("filter"))
        if extra is not None:
            flt = extra if flt is None else _both(flt, extra)
        return {
            "mode": asked or by_query or self.mode,
            "limit": limit,
            "prefetch_limit": max(prefetch, limit) if isinstance(prefetch, int) else prefetch,
            "filter": flt,
            "hnsw_ef": kwargs.get("hnsw_ef"),
            "rerank_candidates": kwargs.get("rerank_candidates"),
        }

    def _query_vectors(self, query: VectorStoreQuery, mode: str) -> dict[str, Any]:
        if mode == "dense" and query.query_embedding is not None:
            return {"dense": np.asarray(query.query_embedding, dtype=np.float32), "multivector": None}
        text = query.query_str
        if not isinstance(text, str) or not text.strip():
            raise ValueError(
                f"mode {mode!r} needs query.query_str (a non-empty str; got {text!r})"
                + ("" if mode == "dense" else ": a multi-vector cannot be made from query_embedding")
            )
        output = {"dense": "dense", "multivector": "multivector", "hybrid": "both"}[mode]
        result = self.embed_model.encode_queries([text], output=output)  # type: ignore[arg-type]
        return {
            "dense": result.dense[0] if result.dense is not None else None,
            "multivector": result.multivector[0] if result.multivector is not None else None,
        }

    @staticmethod
    def _result(hits: list[SearchHit]) -> VectorStoreQueryResult:
        nodes = [node_from_point(h) for h in hits]
        return VectorStoreQueryResult(nodes=nodes, similarities=[h.score for h in hits], ids=[n.node_id for n in nodes])

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Search with ``query.query_str`` (encoded once: both vectors) or, in dense mode, ``query_embedding``.

        Args:
            query: ``query_str``, ``query_embedding`` (dense mode only), ``similarity_top_k``,
                ``filters``, ``doc_ids`` and ``mode`` (``DEFAULT`` = the store's mode, ``HYBRID`` =
                hybrid) are used. ``node_ids`` is not: ``VectorStoreIndex.as_retriever`` fills it with
                the index's image nodes only, which would hide every text node.
            **kwargs: ``mode`` (``"hybrid"``, ``"dense"``, ``"multivector"``), ``prefetch_limit``,
                ``filter`` (a ``qdrant_client.models.Filter`` or a metadata dict, ANDed with
                ``query.filters``), ``node_ids`` (restrict to these nodes); a retriever passes them
                from ``vector_store_kwargs``.

        Raises:
            ValueError: an unknown mode, an unsupported query mode or filter operator (the message
                lists the supported ones), or no ``query_str`` where one is needed.

        Example:
            >>> q = VectorStoreQuery(query_str="revenue chart", similarity_top_k=3)  # doctest: +SKIP
            >>> res = store.query(q, mode="multivector")  # doctest: +SKIP
            >>> list(zip(res.ids, res.similarities))  # doctest: +SKIP

        Returns:
            Nodes (``TextNode`` / ``ImageNode``), their scores (MaxSim in hybrid and multivector mode,
            cosine in dense mode) and ids, best first.
        """
        options = self._options(query, kwargs)
        vectors = self._query_vectors(query, options["mode"])
        return self._result(self._collection.search_by_vector(**vectors, **options))

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Async :meth:`query`: the query is encoded in a worker thread."""
        options = self._options(query, kwargs)
        vectors = await asyncio.to_thread(self._query_vectors, query, options["mode"])
        return self._result(await self._collection.asearch_by_vector(**vectors, **options))

    # -- reading and deleting -------------------------------------------------------------------

    def _node_filter(self, node_ids: list[str] | None, filters: MetadataFilters | None) -> Any:
        if node_ids is None and filters is None:
            raise ValueError("give node_ids and / or filters (clear() deletes every node)")
        return query_filter(filters, node_ids=node_ids)

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """Stored nodes: by id (in that order; ids not stored are skipped), by metadata filters, or both
        (the nodes with these ids that match); with neither, every node (read page by page).
        """
        if filters is None and node_ids is not None:
            points = self._collection.get(node_ids)
        else:
            points = list(self._collection.scroll(query_filter(filters, node_ids=node_ids)))
            points = _in_request_order(points, node_ids)
        return [node_from_point(p) for p in points]

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Async :meth:`get_nodes`."""
        if filters is None and node_ids is not None:
            points = await self._collection.aget(node_ids)
        else:
            points = [p async for p in self._collection.ascroll(query_filter(filters, node_ids=node_ids))]
            points = _in_request_order(points, node_ids)
        return [node_from_point(p) for p in points]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of a document (``node.ref_doc_id``, stored as ``doc_id``)."""
        self._collection.delete(doc_ids=[ref_doc_id])

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Async :meth:`delete`."""
        await self._collection.adelete(doc_ids=[ref_doc_id])

    def delete_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **delete_kwargs: Any
    ) -> None:
        """Delete nodes by id, by metadata filters, or those of the ids that match the filters."""
        flt = self._node_filter(node_ids, filters)
        if flt is not None:
            self._collection.delete(filter=flt)

    async def adelete_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **delete_kwargs: Any
    ) -> None:
        """Async :meth:`delete_nodes`."""
        flt = self._node_filter(node_ids, filters)
        if flt is not None:
            await self._collection.adelete(filter=flt)

    def clear(self) -> None:
        """Delete every node (the collection and its recorded model stay)."""
        self._collection.delete(filter=_match_all())

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await self._collection.adelete(filter=_match_all())

    def close(self) -> None:
        """Close the collection if this store opened it (a collection or client passed in stays open)."""
        self.embed_model._capture.detach(self)
        if self._owns_collection:
            self._collection.close()

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        self.embed_model._capture.detach(self)
        if self._owns_collection:
            await self._collection.aclose()


def _match_all() -> Any:
    from qdrant_client import models

    return models.Filter()


def _both(a: Any, b: Any) -> Any:
    from qdrant_client import models

    return models.Filter(must=[a, b])


def _in_request_order(points: list[StoredPoint], node_ids: list[str] | None) -> list[StoredPoint]:
    """``points`` in the order of ``node_ids`` (scroll order when no ids were asked for)."""
    if node_ids is None:
        return points
    by_id = {p.item_id: p for p in points}
    return [by_id[i] for i in dict.fromkeys(node_ids) if i in by_id]
