"""The embedded backend: Qdrant's own engine in process (``qdrant_edge.EdgeShard``).

A store directory holds one folder per collection::

    <store>/<name>/shard/     the EdgeShard (segments, WAL, edge_config.json)
    <store>/<name>/jv4.json   the jv4 sidecar: collection metadata (model record, metadata keys)

A shard directory can be opened once per process (the engine locks its WAL); collections opened
twice in one process share one shard through a reference-counted registry. qdrant-edge has no
async API: :class:`MultiVectorCollection` runs its calls in a worker thread for the async twins.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..._optional import require
from ...errors import JV4Error, StoreError
from ..filters import to_edge_filter
from ..payload import DOC_ID
from ..schema import CollectionSchema, ReportedSchema, ShardKey, VectorSpec
from ..types import PointData, QueryPlan, RawPoint, middle_stage
from .edge_layout import describe, plan_layout, search_threads, segment_sizes_kb

__all__ = ["OPTIMIZE_AFTER", "EdgeBackend", "collection_dir"]

logger = logging.getLogger(__name__)

#: Points written since the last index build that trigger one (checked after each upsert request).
OPTIMIZE_AFTER = 10_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SIDECAR = "jv4.json"
_HNSW_EF_CONSTRUCT = 100
_FULL_SCAN_THRESHOLD_KB = 10_000

_registry_lock = threading.Lock()
_registry: dict[str, list[Any]] = {}  # resolved shard dir -> [EdgeShard, open count]
_pending: list[str] = []  # releases of garbage-collected handles, applied at the next registry operation


def _edge() -> Any:
    return require("qdrant_edge", purpose="the embedded Qdrant backend (MultiVectorCollection on a directory)")


def collection_dir(store: str | os.PathLike[str], name: str) -> Path:
    """The folder of collection ``name`` in a store directory (validates the name)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"collection name {name!r} must be 1-128 characters of letters, digits, '.', '_' or '-' "
            "starting with a letter or digit (it names a folder of the store)"
        )
    return Path(store).expanduser() / name


@contextlib.contextmanager
def _errors(op: str, name: str) -> Iterator[None]:
    try:
        yield
    except JV4Error:
        raise
    except Exception as exc:  # qdrant_edge raises plain Exception
        raise StoreError(f"{op} collection {name!r} failed: {exc}") from exc


def _quantization(edge: Any, kind: str | None) -> Any:
    if kind is None:
        return None
    if kind == "scalar":
        return edge.ScalarQuantizationConfig(edge.ScalarType.Int8, always_ram=True)
    return edge.BinaryQuantizationConfig(always_ram=True)


def _hnsw(edge: Any, m: int) -> Any:
    return edge.HnswIndexConfig(m=m, ef_construct=_HNSW_EF_CONSTRUCT, full_scan_threshold=_FULL_SCAN_THRESHOLD_KB)


def _as_list(vector: Any) -> Any:
    """A query vector as the nested lists the binding converts fastest."""
    return vector.tolist() if hasattr(vector, "tolist") else vector


def _edge_config(schema: CollectionSchema) -> Any:
    edge = _edge()
    datatypes = {
        "float32": edge.VectorStorageDatatype.Float32,
        "float16": edge.VectorStorageDatatype.Float16,
        "uint8": edge.VectorStorageDatatype.Uint8,
    }
    dense = edge.EdgeVectorParams(
        size=schema.dense_size,
        distance=edge.Distance.Cosine,
        on_disk=schema.dense_on_disk,
        quantization_config=_quantization(edge, schema.dense_quantization),
        hnsw_config=_hnsw(edge, 16 if schema.dense_hnsw_m is None else schema.dense_hnsw_m),
    )
    multi = edge.EdgeVectorParams(
        size=schema.multivector_size,
        distance=edge.Distance.Cosine,
        on_disk=schema.multivector_on_disk,
        multivector_config=edge.MultiVectorConfig(edge.MultiVectorComparator.MaxSim),
        datatype=datatypes[schema.multivector_datatype],
        quantization_config=_quantization(edge, schema.multivector_quantization),
        hnsw_config=_hnsw(edge, schema.multivector_hnsw_m),
    )
    vectors = {schema.dense_name: dense, schema.multivector_name: multi}
    if schema.prefetch_vector == "mean":
        vectors[schema.mean_name] = edge.EdgeVectorParams(
            size=schema.multivector_size, distance=edge.Distance.Cosine, hnsw_config=_hnsw(edge, 16)
        )
    if schema.pooled_tokens is not None:
        vectors[schema.pooled_name] = edge.EdgeVectorParams(
            size=schema.multivector_size,
            distance=edge.Distance.Cosine,
            multivector_config=edge.MultiVectorConfig(edge.MultiVectorComparator.MaxSim),
            datatype=edge.VectorStorageDatatype.Float16,
            hnsw_config=_hnsw(edge, 0),
        )
    return edge.EdgeConfig(
        vectors=vectors,
        on_disk_payload=schema.on_disk_payload or None,
    )


def _reported_from_edge_json(data: Mapping[str, Any]) -> ReportedSchema:
    """Read the engine's persisted ``edge_config.json``."""
    global_hnsw = (data.get("hnsw_config") or {}).get("m")
    global_q = data.get("quantization_config")
    specs: dict[str, VectorSpec] = {}
    for name, v in (data.get("vectors") or {}).items():
        quant = v.get("quantization_config") or global_q
        multi = v.get("multivector_config")
        memory = str(v.get("memory") or "").lower()
        specs[name] = VectorSpec(
            size=v.get("size"),
            distance=str(v.get("distance", "")).lower() or None,
            comparator=str(multi.get("comparator")).lower() if multi else "none",
            datatype=str(v.get("datatype") or "float32").lower(),
            hnsw_m=(v.get("hnsw_config") or {}).get("m", global_hnsw),
            quantization=next(iter(quant)).lower() if isinstance(quant, Mapping) and quant else "none",
            on_disk=bool(v.get("on_disk")) or memory == "cold",
        )
    for name in data.get("sparse_vectors") or {}:
        specs[name] = VectorSpec(comparator="sparse")
    return ReportedSchema(vectors=specs)


def _key(shard_dir: Path) -> str:
    return str(shard_dir.resolve())


def _drop(key: str) -> None:
    """One holder fewer for ``key``; the last one flushes and closes the shard (lock held)."""
    entry = _registry.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _registry[key]
        entry[0].flush()
        entry[0].close()


def _drain() -> None:
    """Apply the releases that garbage collection queued (lock held)."""
    while _pending:
        key = _pending.pop()
        try:
            _drop(key)
        except Exception:  # a failed close must not stop the others; the engine's WAL keeps the data
            logger.exception("closing the dropped handle of %r failed", key)


def _acquire(shard_dir: Path, create_config: Any | None) -> Any:
    key = _key(shard_dir)
    with _registry_lock:
        _drain()
        entry = _registry.get(key)
        if entry is not None:
            entry[1] += 1
            return entry[0]
        edge = _edge()
        try:
            # the absolute path: the engine keeps the path it was given, and a relative one would
            # point elsewhere once the working directory changes (its later flushes would fail)
            shard = edge.EdgeShard.create(key, create_config) if create_config is not None else edge.EdgeShard.load(key)
        except Exception as exc:  # qdrant_edge raises plain Exception
            if "WouldBlock" in str(exc):
                raise StoreError(
                    f"collection folder {str(shard_dir.parent)!r} is in use by another process: the embedded "
                    "engine lets one process at a time open a collection (a handle that was never closed holds "
                    "it until its process exits). Close it there, or serve the collection from a Qdrant server "
                    "to share it between processes (docs/scaling.md)"
                ) from exc
            raise
        _registry[key] = [shard, 1]
        return shard


def _reopen(shard_dir: Path, config: Any) -> Any | None:
    """Close the shard and load it again with ``config`` (settings the engine only takes at load).
    Returns ``None``, and does nothing, while another handle of this process shares the shard. When
    the load with ``config`` fails the shard is loaded again as it was (a warning says why); when
    that fails too, the shard is left closed and the error raised."""
    key = _key(shard_dir)
    with _registry_lock:
        _drain()
        entry = _registry.get(key)
        if entry is None or entry[1] != 1:
            return None
        old = entry[0]
        old.flush()
        old.close()
        edge = _edge()
        try:
            entry[0] = edge.EdgeShard.load(key, config)
        except Exception as exc:  # qdrant_edge raises plain Exception
            logger.warning("reloading %r with new optimizer settings failed (%s); loading it as it was", key, exc)
            try:
                entry[0] = edge.EdgeShard.load(key)
            except Exception:
                del _registry[key]
                raise
        return entry[0]


def _release(key: str) -> None:
    with _registry_lock:
        _drop(key)
        _drain()


def _release_dropped(key: str) -> None:
    """The finalizer of a handle garbage-collected without close(). It may run inside a registry
    operation of this very thread (a collection pass), so it never waits for the lock: when the
    lock is taken it queues the release for the next registry operation."""
    if _registry_lock.acquire(blocking=False):
        try:
            _pending.append(key)
            _drain()
        finally:
            _registry_lock.release()
    else:
        _pending.append(key)


class EdgeBackend:
    """A collection in an embedded qdrant-edge shard under a store directory."""

    kind = "edge"

    def __init__(self, store: str | os.PathLike[str], name: str) -> None:
        self.name = name
        self.root = collection_dir(store, name)
        self.location: str | None = str(Path(store).expanduser())
        self.shard_dir = self.root / "shard"
        self.sidecar = self.root / _SIDECAR
        self._shard: Any = None
        self._finalizer: weakref.finalize[[str], EdgeBackend] | None = None
        self._schema: CollectionSchema | None = None
        self._pending = 0
        self._meta_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    def bind(self, schema: CollectionSchema) -> None:
        self._schema = schema
        self.shard  # noqa: B018  (opens the shard now: a store held by another process fails at open)

    @property
    def schema(self) -> CollectionSchema:
        if self._schema is None:
            raise StoreError(f"collection {self.name!r} is not open")
        return self._schema

    @property
    def shard(self) -> Any:
        if self._shard is None:
            with _errors("opening", self.name):
                self._hold(_acquire(self.shard_dir, None))
        return self._shard

    def _hold(self, shard: Any) -> None:
        """Keep ``shard``; a handle dropped without close() gives it back when it is garbage-collected."""
        self._shard = shard
        self._finalizer = weakref.finalize(self, _release_dropped, _key(self.shard_dir))

    def exists(self) -> bool:
        return (self.shard_dir / "edge_config.json").is_file() or (self.shard_dir / "segments").is_dir()

    def create(self, schema: CollectionSchema, metadata: Mapping[str, Any]) -> None:
        if schema.has_cluster_settings:
            logger.info(
                "the embedded engine is one shard on one machine: cluster settings of %r are ignored",
                self.name,
            )
        edge = _edge()  # a missing qdrant-edge-py is named before anything is written
        with _errors("creating", self.name):
            self.root.mkdir(parents=True, exist_ok=True)
            self._write_sidecar({"metadata": dict(metadata)})
            self._hold(_acquire(self.shard_dir, _edge_config(schema)))
            self._shard.update(edge.UpdateOperation.create_field_index(DOC_ID, edge.PayloadSchemaType.Keyword))

    def describe(self) -> ReportedSchema:
        path = self.shard_dir / "edge_config.json"
        try:
            return _reported_from_edge_json(json.loads(path.read_text()))
        except (OSError, ValueError, AttributeError, StopIteration) as exc:
            raise StoreError(
                f"cannot read the configuration of collection {self.name!r} from {str(path)!r}: {exc}"
            ) from exc

    def close(self) -> None:
        if self._shard is not None:
            self._forget()
            with _errors("closing", self.name):
                _release(_key(self.shard_dir))

    def _forget(self) -> None:
        """Drop this handle's shard without releasing it (the registry no longer holds it, or the
        caller releases it)."""
        self._shard = None
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()

    # -- metadata sidecar -----------------------------------------------------------------------

    def _read_sidecar(self) -> dict[str, Any]:
        try:
            data = json.loads(self.sidecar.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {str(self.sidecar)!r}: {exc}") from exc
        return data if isinstance(data, dict) else {}

    def _write_sidecar(self, data: Mapping[str, Any]) -> None:
        tmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, self.sidecar)

    def read_metadata(self) -> dict[str, Any]:
        return dict(self._read_sidecar().get("metadata") or {})

    def merge_metadata(self, patch: Mapping[str, Any]) -> None:
        with self._meta_lock:
            data = self._read_sidecar()
            meta = dict(data.get("metadata") or {})
            meta.update(patch)
            data["metadata"] = meta
            self._write_sidecar(data)

    # -- points ---------------------------------------------------------------------------------

    @staticmethod
    def _no_shard_key(shard_key: ShardKey | None) -> None:
        if shard_key is not None:
            raise StoreError(
                f"shard_key={shard_key!r}: shard keys need a Qdrant server or cluster; the embedded "
                "engine is a single shard"
            )

    def upsert(self, points: Sequence[PointData], *, shard_key: ShardKey | None) -> None:
        self._no_shard_key(shard_key)
        edge = _edge()
        s = self.schema
        # lists cross into the engine ~2.5x faster than 2-D numpy arrays
        structs = [edge.Point(p.id, p.named_vectors(s), p.payload) for p in points]
        with _errors("upserting into", self.name):
            self.shard.update(edge.UpdateOperation.upsert_points(structs))
        self._pending += len(points)

    def _raw(self, point: Any) -> RawPoint:
        vectors = point.vector if isinstance(point.vector, Mapping) else {}
        dense = vectors.get(self.schema.dense_name)
        multi = vectors.get(self.schema.multivector_name)
        return RawPoint(
            id=str(point.id),
            payload=point.payload or {},
            score=getattr(point, "score", None),
            dense=np.asarray(dense, dtype=np.float32) if dense is not None else None,
            multivector=np.asarray(multi, dtype=np.float32) if multi is not None else None,
        )

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool, shard_key: ShardKey | None) -> list[RawPoint]:
        self._no_shard_key(shard_key)
        names = [self.schema.dense_name, self.schema.multivector_name] if with_vectors else False
        with _errors("retrieving from", self.name):
            records = self.shard.retrieve(list(ids), with_payload=True, with_vector=names)
        by_id = {str(r.id): self._raw(r) for r in records}
        return [by_id[i] for i in ids if i in by_id]

    def scroll(
        self, *, filter: Any, limit: int, offset: Any, with_vectors: bool, shard_key: ShardKey | None
    ) -> tuple[list[RawPoint], Any]:
        self._no_shard_key(shard_key)
        edge = _edge()
        names = [self.schema.dense_name, self.schema.multivector_name] if with_vectors else False
        flt = to_edge_filter(filter) if filter is not None else None
        request = edge.ScrollRequest(offset=offset, limit=limit, filter=flt, with_payload=True, with_vector=names)
        with _errors("scrolling", self.name):
            records, next_offset = self.shard.scroll(request)
        return [self._raw(r) for r in records], next_offset

    def _request(self, plan: QueryPlan) -> Any:
        edge = _edge()
        s = self.schema
        flt = to_edge_filter(plan.filter) if plan.filter is not None else None
        dense_params = edge.SearchParams(hnsw_ef=plan.hnsw_ef) if plan.hnsw_ef is not None else None
        if plan.mode == "dense":
            return edge.QueryRequest(
                limit=plan.limit,
                query=edge.Query.Nearest(_as_list(plan.dense), using=s.dense_name),
                filter=flt,
                params=dense_params,
                with_payload=True,
                score_threshold=plan.score_threshold,
            )
        if plan.mode == "multivector":
            return edge.QueryRequest(
                limit=plan.limit,
                query=edge.Query.Nearest(_as_list(plan.multivector), using=s.multivector_name),
                filter=flt,
                params=edge.SearchParams(exact=True),
                with_payload=True,
                score_threshold=plan.score_threshold,
            )
        tokens = _as_list(plan.multivector)  # once: the binding reads a list about 4x faster than an array
        prefetch = edge.Prefetch(
            limit=plan.prefetch_limit,
            query=edge.Query.Nearest(_as_list(plan.prefetch_query), using=s.prefetch_name),
            filter=flt,
            params=dense_params,
        )
        middle = middle_stage(plan, s)
        if middle is not None:  # MaxSim on the pooled or quantized copy keeps rerank_candidates
            quantized = edge.QuantizationSearchParams(ignore=False, rescore=False)
            prefetch = edge.Prefetch(
                limit=plan.rerank_candidates,
                query=edge.Query.Nearest(tokens, using=middle.using),
                prefetches=[prefetch],
                filter=flt,
                params=edge.SearchParams(quantization=quantized) if middle.quantized else None,
            )
        return edge.QueryRequest(
            limit=plan.limit,
            query=edge.Query.Nearest(tokens, using=s.multivector_name),
            prefetches=[prefetch],
            filter=flt,
            # the rerank is exact: on a quantized multi-vector the engine would otherwise rank the
            # candidates by their quantized scores and rescore only the top `limit`
            params=edge.SearchParams(quantization=edge.QuantizationSearchParams(ignore=True)),
            with_payload=True,
            score_threshold=plan.score_threshold,
        )

    def query(self, plans: Sequence[QueryPlan]) -> list[list[RawPoint]]:
        for plan in plans:
            self._no_shard_key(plan.shard_key)
        requests = [self._request(p) for p in plans]
        with _errors("searching", self.name):
            if len(requests) == 1:
                results = [self.shard.query(requests[0])]
            else:
                results = self.shard.query_batch(_edge().QueryBatchRequest(requests))
        return [[self._raw(p) for p in points] for points in results]

    def delete(self, *, ids: Sequence[str] | None, filter: Any, shard_key: ShardKey | None) -> None:
        self._no_shard_key(shard_key)
        edge = _edge()
        op = (
            edge.UpdateOperation.delete_points(list(ids))
            if ids is not None
            else edge.UpdateOperation.delete_points_by_filter(to_edge_filter(filter))
        )
        with _errors("deleting from", self.name):
            self.shard.update(op)

    def count(self, filter: Any, *, shard_key: ShardKey | None) -> int:
        self._no_shard_key(shard_key)
        edge = _edge()
        flt = to_edge_filter(filter) if filter is not None else None
        with _errors("counting", self.name):
            return int(self.shard.count(edge.CountRequest(exact=True, filter=flt)))

    # -- indexes --------------------------------------------------------------------------------

    def payload_indexes(self) -> dict[str, str]:
        with _errors("reading payload indexes of", self.name):
            schema = self.shard.info().payload_schema
        return {k: str(v.data_type).rsplit(".", 1)[-1].lower() for k, v in schema.items()}

    def create_payload_index(self, key: str, kind: str) -> None:
        edge = _edge()
        types = {
            t.lower(): getattr(edge.PayloadSchemaType, t)
            for t in ("Keyword", "Integer", "Float", "Geo", "Text", "Bool", "Datetime", "Uuid")
        }
        if kind.lower() not in types:
            raise ValueError(f"unknown payload index type {kind!r}; expected one of {sorted(types)}")
        with _errors("indexing a field of", self.name):
            self.shard.update(edge.UpdateOperation.create_field_index(key, types[kind.lower()]))

    def _build(self) -> None:
        with _errors("optimizing", self.name):
            self.shard.optimize()
        self._pending = 0

    def segment_sizes_kb(self) -> list[int]:
        """Vector storage of each segment in use that holds data, in KB (see :mod:`.edge_layout`)."""
        with _errors("reading the segments of", self.name):
            manifest = self.shard.snapshot_manifest()
        return segment_sizes_kb(self.shard_dir, set(manifest) if isinstance(manifest, Mapping) else None)

    def optimize(self) -> None:
        """Build pending indexes, then merge the segments down to about one per search thread
        (see :mod:`.edge_layout`)."""
        self._build()
        threads = search_threads()
        sizes = self.segment_sizes_kb()
        cap_kb = plan_layout(sizes, threads)
        if cap_kb is None:
            return
        edge = _edge()
        config = edge.EdgeConfig(
            vectors=_edge_config(self.schema).vectors,
            optimizers=edge.EdgeOptimizersConfig(default_segment_number=threads, max_segment_size=cap_kb),
        )
        try:
            with _errors("optimizing", self.name):
                shard = _reopen(self.shard_dir, config)
        except StoreError:
            if _key(self.shard_dir) not in _registry:  # closed for good: the next call opens it again
                self._forget()
            raise
        if shard is None:
            logger.info("segments of %r not merged for search: another handle in this process shares it", self.name)
            return
        self._shard = shard
        logger.info(
            "merging the %d segments of %r (%s of vectors) into about %d of at most %d MB for search",
            len(sizes), self.name, describe(sizes), threads, cap_kb // 1024,
        )  # fmt: skip
        self._build()

    def after_write(self, n_points: int) -> None:
        if self._pending >= OPTIMIZE_AFTER:
            logger.info(
                "building the indexes of %r (%d points written since the last build)",
                self.name,
                self._pending,
            )
            self._build()
