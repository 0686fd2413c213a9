"""qdrant-client backends: ``QdrantClient`` (sync) and ``AsyncQdrantClient`` (native async).

Both work in every client mode: local (``":memory:"`` / ``path=``) and remote (``url=`` a server or
cluster). In local mode the hybrid MaxSim rerank runs here, on the dense candidates' multi-vectors
(local mode would otherwise scan every point in Python); a server reranks itself.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ...errors import JV4Error, StoreError
from ..schema import CollectionSchema, ReportedSchema, ShardKey
from ..types import PointData, QueryPlan, RawPoint
from . import client_common as common

__all__ = ["AsyncClientBackend", "ClientBackend", "client_kind", "client_location"]

logger = logging.getLogger(__name__)


def client_kind(client: Any) -> str:
    """``"local"`` for qdrant-client local mode, else ``"remote"``."""
    inner = type(getattr(client, "_client", None)).__name__
    return "local" if inner in ("QdrantLocal", "AsyncQdrantLocal") else "remote"


def client_location(client: Any) -> str | None:
    """The client's location / path / URL / host, for :meth:`info`."""
    options = getattr(client, "init_options", None) or {}
    for key in ("path", "location", "url", "host"):
        if options.get(key):
            return str(options[key])
    return None


@contextlib.contextmanager
def _errors(op: str, name: str) -> Iterator[None]:
    """Re-raise client failures as :class:`StoreError` naming the operation and the collection."""
    try:
        yield
    except JV4Error:
        raise
    except Exception as exc:
        raise StoreError(f"{op} collection {name!r} failed: {exc}") from exc


class _Base:
    def __init__(self, client: Any, name: str, *, owns_client: bool) -> None:
        self.client = client
        self.name = name
        self.kind = client_kind(client)
        self.location = client_location(client)
        self.owns_client = owns_client
        self._schema: CollectionSchema | None = None

    def bind(self, schema: CollectionSchema) -> None:
        self._schema = schema

    @property
    def schema(self) -> CollectionSchema:
        if self._schema is None:
            raise StoreError(f"collection {self.name!r} is not open")
        return self._schema

    @property
    def local(self) -> bool:
        return self.kind == "local"

    def _selector(self, shard_key: ShardKey | None) -> dict[str, Any]:
        return {} if shard_key is None or self.local else {"shard_key_selector": shard_key}

    def _finish(self, plans: Sequence[QueryPlan], responses: Sequence[Any]) -> list[list[RawPoint]]:
        out = []
        for plan, response in zip(plans, responses, strict=False):
            raws = [common.raw_point(p, self.schema) for p in response.points]
            if common.hybrid_needs_client_rerank(plan, local=self.local):
                raws = common.rerank(plan, raws)
            out.append(raws)
        return out

    def _plans(self, plans: Sequence[QueryPlan]) -> Sequence[QueryPlan]:
        if self.local and any(p.shard_key is not None for p in plans):
            logger.debug("local mode has no shards; shard_key ignored")
        return plans


class ClientBackend(_Base):
    """A collection on a ``QdrantClient`` (local or remote)."""

    def __init__(self, client: Any, name: str, *, owns_client: bool = False) -> None:
        super().__init__(client, name, owns_client=owns_client)
        # local mode is plain Python: serialise calls that async twins may run from worker threads
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.local else contextlib.nullcontext()
        )

    def exists(self) -> bool:
        with self._lock, _errors("checking", self.name):
            return bool(self.client.collection_exists(self.name))

    def create(self, schema: CollectionSchema, metadata: Mapping[str, Any]) -> None:
        with self._lock, _errors("creating", self.name):
            if self.local and schema.has_cluster_settings:
                logger.info("qdrant-client local mode ignores the cluster settings of collection %r", self.name)
            self.client.create_collection(self.name, **common.create_kwargs(schema, metadata, remote=not self.local))
            if not self.local:
                for key in schema.shard_keys:
                    self.client.create_shard_key(self.name, key)
                for field, kind in common.DEFAULT_INDEXES:
                    self.client.create_payload_index(self.name, field, common.index_type(kind))

    def describe(self) -> ReportedSchema:
        with self._lock, _errors("reading the schema of", self.name):
            return common.reported_schema(self.client.get_collection(self.name), remote=not self.local)

    def read_metadata(self) -> dict[str, Any]:
        with self._lock, _errors("reading metadata of", self.name):
            return dict(self.client.get_collection(self.name).config.metadata or {})

    def merge_metadata(self, patch: Mapping[str, Any]) -> None:
        with self._lock, _errors("updating metadata of", self.name):
            self.client.update_collection(self.name, metadata=dict(patch))

    def upsert(self, points: Sequence[PointData], *, shard_key: ShardKey | None) -> None:
        with self._lock, _errors("upserting into", self.name):
            self.client.upsert(
                self.name,
                points=common.point_structs(points, self.schema),
                wait=True,
                **self._selector(shard_key),
            )

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool, shard_key: ShardKey | None) -> list[RawPoint]:
        names = [self.schema.dense_name, self.schema.multivector_name] if with_vectors else False
        with self._lock, _errors("retrieving from", self.name):
            records = self.client.retrieve(
                self.name, ids=list(ids), with_payload=True, with_vectors=names, **self._selector(shard_key)
            )
        return [common.raw_point(r, self.schema) for r in records]

    def scroll(
        self, *, filter: Any, limit: int, offset: Any, with_vectors: bool, shard_key: ShardKey | None
    ) -> tuple[list[RawPoint], Any]:
        names = [self.schema.dense_name, self.schema.multivector_name] if with_vectors else False
        with self._lock, _errors("scrolling", self.name):
            records, next_offset = self.client.scroll(
                self.name, scroll_filter=filter, limit=limit, offset=offset, with_payload=True,
                with_vectors=names, **self._selector(shard_key),
            )  # fmt: skip
        return [common.raw_point(r, self.schema) for r in records], next_offset

    def query(self, plans: Sequence[QueryPlan]) -> list[list[RawPoint]]:
        requests = common.query_requests(self._plans(plans), self.schema, local=self.local)
        if self.local:
            requests = [r.model_copy(update={"shard_key": None}) for r in requests]
        with self._lock, _errors("searching", self.name):
            responses = self.client.query_batch_points(self.name, requests=requests)
        return self._finish(plans, responses)

    def delete(self, *, ids: Sequence[str] | None, filter: Any, shard_key: ShardKey | None) -> None:
        m = common.models()
        selector = m.PointIdsList(points=list(ids)) if ids is not None else m.FilterSelector(filter=filter)
        with self._lock, _errors("deleting from", self.name):
            self.client.delete(self.name, points_selector=selector, wait=True, **self._selector(shard_key))

    def count(self, filter: Any, *, shard_key: ShardKey | None) -> int:
        with self._lock, _errors("counting", self.name):
            return int(self.client.count(self.name, count_filter=filter, exact=True, **self._selector(shard_key)).count)

    def payload_indexes(self) -> dict[str, str]:
        with self._lock, _errors("reading payload indexes of", self.name):
            schema = self.client.get_collection(self.name).payload_schema or {}
        return {k: str(getattr(v.data_type, "value", v.data_type)) for k, v in schema.items()}

    def create_payload_index(self, key: str, kind: str) -> None:
        field_type = common.index_type(kind)
        if self.local:
            logger.info("qdrant-client local mode ignores payload indexes (field %r)", key)
            return
        with self._lock, _errors("indexing a field of", self.name):
            self.client.create_payload_index(self.name, key, field_type)

    def optimize(self) -> None:
        """Servers optimise in the background; local mode has nothing to optimise."""

    def after_write(self, n_points: int) -> None:
        """Nothing to do: the client writes with ``wait=True``."""

    def close(self) -> None:
        if self.owns_client:
            with self._lock:
                self.client.close()


class AsyncClientBackend(_Base):
    """A collection on an ``AsyncQdrantClient`` (local or remote), natively async."""

    async def exists(self) -> bool:
        with _errors("checking", self.name):
            return bool(await self.client.collection_exists(self.name))

    async def create(self, schema: CollectionSchema, metadata: Mapping[str, Any]) -> None:
        with _errors("creating", self.name):
            await self.client.create_collection(
                self.name, **common.create_kwargs(schema, metadata, remote=not self.local)
            )
            if not self.local:
                for key in schema.shard_keys:
                    await self.client.create_shard_key(self.name, key)
                for field, kind in common.DEFAULT_INDEXES:
                    await self.client.create_payload_index(self.name, field, common.index_type(kind))

    async def describe(self) -> ReportedSchema:
        with _errors("reading the schema of", self.name):
            return common.reported_schema(await self.client.get_collection(self.name), remote=not self.local)

    async def read_metadata(self) -> dict[str, Any]:
        with _errors("reading metadata of", self.name):
            return dict((await self.client.get_collection(self.name)).config.metadata or {})

    async def merge_metadata(self, patch: Mapping[str, Any]) -> None:
        with _errors("updating metadata of", self.name):
            await self.client.update_collection(self.name, metadata=dict(patch))

    async def upsert(self, points: Sequence[PointData], *, shard_key: ShardKey | None) -> None:
        with _errors("upserting into", self.name):
            await self.client.upsert(
                self.name,
                points=common.point_structs(points, self.schema),
                wait=True,
                **self._selector(shard_key),
            )

    async def retrieve(self, ids: Sequence[str], *, with_vectors: bool, shard_key: ShardKey | None) -> list[RawPoint]:
        names = [self.schema.dense_name, self.schema.multivector_name] if with_vectors else False
        with _errors("retrieving from", self.name):
            records = await self.client.retrieve(
                self.name, ids=list(ids), with_payload=True, with_vectors=names, **self._selector(shard_key)
            )
        return [common.raw_point(r, self.schema) for r in records]

    async def scroll(
        self, *, filter: Any, limit: int, offset: Any, with_vectors: bool, shard_key: ShardKey | None
    ) -> tuple[list[RawPoint], Any]:
        names = [self.schema.dense_name, self.schema.multivector_name] if with_vectors else False
        with _errors("scrolling", self.name):
            records, next_offset = await self.client.scroll(
                self.name, scroll_filter=filter, limit=limit, offset=offset, with_payload=True,
                with_vectors=names, **self._selector(shard_key),
            )  # fmt: skip
        return [common.raw_point(r, self.schema) for r in records], next_offset

    async def query(self, plans: Sequence[QueryPlan]) -> list[list[RawPoint]]:
        requests = common.query_requests(self._plans(plans), self.schema, local=self.local)
        if self.local:
            requests = [r.model_copy(update={"shard_key": None}) for r in requests]
        with _errors("searching", self.name):
            responses = await self.client.query_batch_points(self.name, requests=requests)
        return self._finish(plans, responses)

    async def delete(self, *, ids: Sequence[str] | None, filter: Any, shard_key: ShardKey | None) -> None:
        m = common.models()
        selector = m.PointIdsList(points=list(ids)) if ids is not None else m.FilterSelector(filter=filter)
        with _errors("deleting from", self.name):
            await self.client.delete(self.name, points_selector=selector, wait=True, **self._selector(shard_key))

    async def count(self, filter: Any, *, shard_key: ShardKey | None) -> int:
        with _errors("counting", self.name):
            result = await self.client.count(self.name, count_filter=filter, exact=True, **self._selector(shard_key))
        return int(result.count)

    async def payload_indexes(self) -> dict[str, str]:
        with _errors("reading payload indexes of", self.name):
            schema = (await self.client.get_collection(self.name)).payload_schema or {}
        return {k: str(getattr(v.data_type, "value", v.data_type)) for k, v in schema.items()}

    async def create_payload_index(self, key: str, kind: str) -> None:
        field_type = common.index_type(kind)
        if self.local:
            logger.info("qdrant-client local mode ignores payload indexes (field %r)", key)
            return
        with _errors("indexing a field of", self.name):
            await self.client.create_payload_index(self.name, key, field_type)

    async def optimize(self) -> None:
        """Servers optimise in the background."""

    async def after_write(self, n_points: int) -> None:
        """Nothing to do: the client writes with ``wait=True``."""

    async def close(self) -> None:
        if self.owns_client:
            await self.client.close()
