"""The collection's operations, written once for the sync and the async API.

Each operation is a generator that yields :class:`Step` requests (a backend call, or CPU work such
as encoding) and receives their results. :func:`drive` runs a flow against a synchronous backend;
:func:`adrive` awaits a native async backend and moves CPU work and synchronous backends to a
worker thread, so the event loop is never blocked. Because both drivers run the same flow, the
async twins return exactly what the sync methods return.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..errors import InputError, InputProblem, SchemaMismatchError, StoreError
from .filters import check_filter_keys, resolve_filter
from .ids import point_id
from .ingest import (
    metadata_fields,
    prepare_items_for_ingest,
    request_batches,
    vectors_to_points,
)
from .payload import DOC_ID, PAYLOAD_SCHEMA_VERSION
from .record import ModelRecord, field_entries, known_fields, parse_record
from .schema import CollectionSchema, ShardKey, infer_schema, schema_differences
from .types import MODES, CollectionInfo, QueryPlan, RawPoint, SearchHit, StoredPoint

if TYPE_CHECKING:
    from ..core.encoder import JV4Encoder

__all__ = ["Context", "Step", "adrive", "drive"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    """One request of a flow: ``backend.<op>(*args, **kwargs)``, or ``fn(*args, **kwargs)`` (CPU work)."""

    op: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    fn: Callable[..., Any] | None = None


Flow = Generator[Step, Any, T]


def _call(op: str, *args: Any, **kwargs: Any) -> Step:
    return Step(op, args, kwargs)


def _cpu(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Step:
    return Step("", args, kwargs, fn)


def drive(flow: Flow[T], backend: Any) -> T:
    """Run a flow against a synchronous backend."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        try:
            value = (
                step.fn(*step.args, **step.kwargs)
                if step.fn is not None
                else getattr(backend, step.op)(*step.args, **step.kwargs)
            )
        except BaseException as exc:  # handed to the flow, which re-raises it
            error = exc


async def adrive(flow: Flow[T], backend: Any, *, native: bool) -> T:
    """Run a flow: await a native async backend; CPU work and sync backends run in a worker thread."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        try:
            if step.fn is not None:
                value = await asyncio.to_thread(step.fn, *step.args, **step.kwargs)
            elif native:
                value = getattr(backend, step.op)(*step.args, **step.kwargs)
                if inspect.isawaitable(value):
                    value = await value
            else:
                value = await asyncio.to_thread(getattr(backend, step.op), *step.args, **step.kwargs)
        except BaseException as exc:
            error = exc


@dataclass
class Context:
    """What a flow knows about its collection (filled in by :func:`open_flow`)."""

    name: str
    encoder: JV4Encoder | None
    task: str | None
    check_filters: bool
    schema: CollectionSchema | None = None
    record: ModelRecord | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def bound(self) -> CollectionSchema:
        if self.schema is None:
            raise StoreError(f"collection {self.name!r} is not open")
        return self.schema

    def require_encoder(self, what: str) -> JV4Encoder:
        if self.encoder is None:
            raise StoreError(
                f"{what} needs an encoder: open the collection with encoder=JV4Encoder.shared(...), "
                "or pass vectors (add_embeddings / search_by_vector)"
            )
        return self.encoder


# -- open ---------------------------------------------------------------------------------------


def _encoder_differences(ctx: Context, schema: CollectionSchema) -> list[str]:
    enc = ctx.encoder
    if enc is None:
        return []
    out = []
    if schema.dense_size not in enc.dims:
        out.append(
            f"dense size {schema.dense_size} is not a Matryoshka size of encoder {enc.name_or_path!r} "
            f"(it has {list(enc.dims)})"
        )
    if not enc.supports_multivector:
        out.append(f"encoder {enc.name_or_path!r} produces no multi-vectors (a merged variant)")
    elif schema.multivector_size != enc.multivector_dim:
        out.append(
            f"multi-vector size {schema.multivector_size} differs from the encoder's {enc.multivector_dim}"
        )
    return out


def open_flow(
    ctx: Context, schema: CollectionSchema | None, create: bool, location: str | None
) -> Flow[None]:
    """Create the collection if missing (``create=True``) or validate it; bind the schema."""
    exists = yield _call("exists")
    enc = ctx.encoder
    if not exists:
        if not create:
            raise StoreError(
                f"collection {ctx.name!r} does not exist at {location!r}; open it with create=True "
                "(and a schema or an encoder) to create it"
            )
        if schema is None:
            if enc is None:
                raise StoreError(
                    f"collection {ctx.name!r} does not exist; creating it needs schema=CollectionSchema(...) "
                    "or an encoder"
                )
            schema = CollectionSchema(dense_size=enc.dim, multivector_size=enc.multivector_dim or 128)
        problems = _encoder_differences(ctx, schema)
        if problems:
            raise ValueError(f"cannot create collection {ctx.name!r}: " + "; ".join(problems))
        ctx.task = ctx.task or (enc.default_task if enc is not None else None)
        created = ModelRecord(
            model=enc.name_or_path if enc is not None else None,
            task=ctx.task,
            dense_size=schema.dense_size,
            multivector_size=schema.multivector_size,
            dense_name=schema.dense_name,
            multivector_name=schema.multivector_name,
            payload_schema=PAYLOAD_SCHEMA_VERSION,
        )
        yield _call("create", schema, created.to_metadata())
        ctx.record, ctx.fields = created, {}
        logger.info("created collection %r (%s)", ctx.name, schema)
    else:
        reported = yield _call("describe")
        metadata = yield _call("read_metadata")
        record = parse_record(metadata)
        if schema is None:
            try:
                schema = infer_schema(
                    reported,
                    dense_name=record.dense_name if record else None,
                    multivector_name=record.multivector_name if record else None,
                )
            except ValueError as exc:
                raise SchemaMismatchError(ctx.name, [str(exc)]) from None
        diffs = schema_differences(schema, reported) + _encoder_differences(ctx, schema)
        if record is not None and record.task and ctx.task and record.task != ctx.task:
            diffs.append(
                f"task: the collection was written with task {record.task!r}, requested {ctx.task!r}"
            )
        if diffs:
            raise SchemaMismatchError(ctx.name, diffs)
        if record is not None and record.model and enc is not None and record.model != enc.name_or_path:
            logger.warning(
                "collection %r was written by model %r; searching it with %r",
                ctx.name,
                record.model,
                enc.name_or_path,
            )
        ctx.task = (
            ctx.task
            or (record.task if record and record.task else None)
            or (enc.default_task if enc is not None else None)
        )
        ctx.record, ctx.fields = record, known_fields(metadata)
    ctx.schema = schema
    yield _call("bind", schema)


# -- ingestion ----------------------------------------------------------------------------------


def _record_fields(ctx: Context, metadatas: Sequence[Mapping[str, Any] | None] | None) -> Flow[None]:
    """Record new metadata keys before the points that carry them are written."""
    new = {k: v for k, v in metadata_fields(metadatas).items() if k not in ctx.fields}
    if new:
        yield _call("merge_metadata", field_entries(new))
        ctx.fields.update(new)


def _record_model(ctx: Context) -> Flow[None]:
    """Record the encoder of a collection created without one, at its first encode."""
    enc = ctx.encoder
    rec = ctx.record
    if enc is not None and rec is not None and rec.model is None:
        updated = ModelRecord(
            model=enc.name_or_path,
            task=ctx.task,
            dense_size=rec.dense_size,
            multivector_size=rec.multivector_size,
            dense_name=rec.dense_name,
            multivector_name=rec.multivector_name,
            payload_schema=rec.payload_schema,
            library_version=rec.library_version,
        )
        yield _call("merge_metadata", updated.to_metadata())
        ctx.record = updated


def _write(ctx: Context, points: Sequence[Any], shard_key: ShardKey | None, max_bytes: int) -> Flow[None]:
    for batch in request_batches(points, max_bytes=max_bytes):
        yield _call("upsert", batch, shard_key=shard_key)


def add_flow(
    ctx: Context,
    items: Sequence[Any],
    *,
    ids: list[str] | None,
    metadatas: Sequence[Mapping[str, Any] | None] | None,
    doc_ids: Sequence[str | None] | None,
    sources: Sequence[str | None] | None,
    batch_size: int,
    show_progress: bool,
    skip_existing: bool,
    store_images: bool,
    allow_urls: bool,
    shard_key: ShardKey | None,
    max_request_bytes: int,
) -> Flow[list[str]]:
    """Encode items chunk by chunk (one forward pass per chunk gives both vectors) and upsert them."""
    enc = ctx.require_encoder("add()")
    schema = ctx.bound
    if schema.multivector_datatype == "uint8":
        raise StoreError(
            f"collection {ctx.name!r} stores uint8 multi-vectors (integers 0-255); the encoder's vectors "
            "are floats in [-1, 1]: quantize them yourself and use add_embeddings, or use float16"
        )
    yield from _record_model(ctx)
    progress = None
    if show_progress and items:
        from tqdm.auto import tqdm

        progress = tqdm(total=len(items), desc=f"indexing into {ctx.name}", unit="item")
    item_ids: list[str] = []
    written = 0
    try:
        for start in range(0, len(items), batch_size):
            end = min(start + batch_size, len(items))
            chunk = list(items[start:end])
            prepared = yield _cpu(
                prepare_items_for_ingest,
                chunk,
                offset=start,
                ids=ids[start:end] if ids is not None else None,
                sources=sources[start:end] if sources is not None else None,
                store_images=store_images,
                allow_urls=allow_urls,
                limits=enc.image_limits,
            )
            item_ids.extend(p.item_id for p in prepared)
            todo = list(range(len(prepared)))
            if skip_existing:
                found = yield _call(
                    "retrieve",
                    [point_id(p.item_id) for p in prepared],
                    with_vectors=False,
                    shard_key=shard_key,
                )
                present = {r.id for r in found}
                todo = [i for i in todo if point_id(prepared[i].item_id) not in present]
            if todo:
                result = yield _cpu(
                    enc.encode_documents,
                    [prepared[i].encode_input for i in todo],
                    output="both",
                    truncate_dim=schema.dense_size,
                    task=ctx.task,
                )
                metas = [metadatas[start + i] for i in todo] if metadatas is not None else None
                points = vectors_to_points(
                    result.dense,
                    result.multivector,
                    schema=schema,
                    collection=ctx.name,
                    texts=[prepared[i].text for i in todo],
                    ids=[prepared[i].item_id for i in todo],
                    metadatas=metas,
                    doc_ids=[doc_ids[start + i] for i in todo] if doc_ids is not None else None,
                    sources=[prepared[i].source for i in todo],
                    modalities=[prepared[i].modality for i in todo],
                    offset=start,
                )
                yield from _record_fields(ctx, metas)
                yield from _write(ctx, points, shard_key, max_request_bytes)
                written += len(points)
            if progress is not None:
                progress.update(end - start)
    finally:
        if progress is not None:
            progress.close()
    yield _call("after_write", written)
    return item_ids


def add_embeddings_flow(
    ctx: Context,
    dense: Any,
    multivectors: Sequence[Any],
    *,
    texts: Any,
    ids: list[str] | None,
    metadatas: Any,
    doc_ids: Any,
    sources: Any,
    modalities: Any,
    shard_key: ShardKey | None,
    max_request_bytes: int,
) -> Flow[list[str]]:
    """Validate precomputed vectors (all of them, before writing anything) and upsert them."""
    points = yield _cpu(
        vectors_to_points,
        dense,
        multivectors,
        schema=ctx.bound,
        collection=ctx.name,
        texts=texts,
        ids=ids,
        metadatas=metadatas,
        doc_ids=doc_ids,
        sources=sources,
        modalities=modalities,
    )
    yield from _record_fields(ctx, metadatas)
    yield from _write(ctx, points, shard_key, max_request_bytes)
    yield _call("after_write", len(points))
    return [p.payload["item_id"] for p in points]


# -- search -------------------------------------------------------------------------------------


def check_mode(mode: str, limit: int, prefetch_limit: int) -> None:
    """Validate search options (``ValueError`` naming the valid values)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {list(MODES)}")
    for name, value in (("limit", limit), ("prefetch_limit", prefetch_limit)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if mode == "hybrid" and prefetch_limit < limit:
        raise ValueError(
            f"prefetch_limit ({prefetch_limit}) must be >= limit ({limit}) in hybrid mode: the MaxSim "
            "rerank only sees the dense candidates"
        )


def check_query(query: Any, index: int = 0) -> None:
    """Reject empty queries and lists given as one query."""
    if query is None:
        raise InputError([InputProblem(index, "the query is None")], what="query")
    if isinstance(query, str) and not query.strip():
        raise InputError([InputProblem(index, f"empty query {query!r}")], what="query")
    if isinstance(query, (list, tuple)):
        raise TypeError("search() takes one query; use search_batch() for a list of queries")


def filter_flow(ctx: Context, flt: Any) -> Flow[Any]:
    """Resolve a filter and check its keys (refreshing the known keys once before failing)."""
    resolved = resolve_filter(flt)
    if resolved is None or not ctx.check_filters:
        return resolved
    try:
        check_filter_keys(resolved, ctx.fields, collection=ctx.name)
    except StoreError:
        metadata = yield _call("read_metadata")  # another writer may have added keys since we opened
        ctx.fields = known_fields(metadata)
        check_filter_keys(resolved, ctx.fields, collection=ctx.name)
    return resolved


def _query_vector(value: Any, size: int, what: str, name: str, collection: str, *, multi: bool) -> np.ndarray:
    arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, dtype=np.float32)
    ok = arr.ndim == 2 and arr.shape[0] >= 1 and arr.shape[1] == size if multi else arr.shape == (size,)
    if not ok:
        expected = f"(n_tokens >= 1, {size})" if multi else f"({size},)"
        raise ValueError(
            f"query {what} has shape {arr.shape}; collection {collection!r} expects {expected} for {name!r}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"query {what} holds NaN or inf")
    return arr


def make_plan(
    ctx: Context,
    *,
    mode: str,
    dense: Any,
    multivector: Any,
    limit: int,
    prefetch_limit: int,
    flt: Any,
    hnsw_ef: int | None,
    score_threshold: float | None,
    shard_key: ShardKey | None,
) -> QueryPlan:
    """Validate query vectors against the schema and build a plan."""
    s = ctx.bound
    d = m = None
    if mode in ("dense", "hybrid"):
        if dense is None:
            raise ValueError(f"mode {mode!r} needs a dense query vector")
        d = _query_vector(dense, s.dense_size, "dense vector", s.dense_name, ctx.name, multi=False)
    if mode in ("multivector", "hybrid"):
        if multivector is None:
            raise ValueError(f"mode {mode!r} needs a query multi-vector")
        m = _query_vector(
            multivector, s.multivector_size, "multi-vector", s.multivector_name, ctx.name, multi=True
        )
    return QueryPlan(
        mode=mode,
        dense=d,
        multivector=m,
        limit=limit,
        prefetch_limit=prefetch_limit,
        filter=flt,
        hnsw_ef=hnsw_ef,
        score_threshold=score_threshold,
        shard_key=shard_key,
    )


def search_flow(
    ctx: Context,
    queries: Sequence[Any] | None,
    vectors: Sequence[tuple[Any, Any]] | None,
    *,
    mode: str,
    limit: int,
    prefetch_limit: int,
    flt: Any,
    hnsw_ef: int | None,
    score_threshold: float | None,
    shard_key: ShardKey | None,
) -> Flow[list[list[SearchHit]]]:
    """Encode queries once (both vectors from one forward pass), or take given vectors; run all searches."""
    check_mode(mode, limit, prefetch_limit)
    resolved = yield from filter_flow(ctx, flt)
    if queries is not None:
        for i, q in enumerate(queries):
            check_query(q, i)
        enc = ctx.require_encoder("searching with text or images")
        output = {"dense": "dense", "multivector": "multivector", "hybrid": "both"}[mode]
        result = yield _cpu(
            enc.encode_queries, list(queries), output=output, truncate_dim=ctx.bound.dense_size, task=ctx.task
        )
        n = len(queries)
        dense_rows = result.dense if result.dense is not None else [None] * n
        multi_rows = result.multivector if result.multivector is not None else [None] * n
        vectors = list(zip(dense_rows, multi_rows, strict=False))
    plans = [
        make_plan(
            ctx,
            mode=mode,
            dense=d,
            multivector=m,
            limit=limit,
            prefetch_limit=prefetch_limit,
            flt=resolved,
            hnsw_ef=hnsw_ef,
            score_threshold=score_threshold,
            shard_key=shard_key,
        )
        for d, m in vectors or ()
    ]
    if not plans:
        return []
    results: list[list[RawPoint]] = yield _call("query", plans)
    return [[SearchHit.from_raw(r) for r in rows] for rows in results]


# -- reads and deletes --------------------------------------------------------------------------


def get_flow(
    ctx: Context, ids: list[str], *, with_vectors: bool, shard_key: ShardKey | None
) -> Flow[list[StoredPoint]]:
    """Points by item id, in request order (missing ones skipped)."""
    pids = [point_id(i) for i in ids]
    raws: list[RawPoint] = yield _call("retrieve", pids, with_vectors=with_vectors, shard_key=shard_key)
    by_id = {r.id: r for r in raws}
    out, seen = [], set()
    for pid in pids:
        if pid in by_id and pid not in seen:
            seen.add(pid)
            out.append(StoredPoint.from_raw(by_id[pid]))
    return out


def delete_flow(
    ctx: Context,
    *,
    ids: list[str] | None,
    doc_ids: Sequence[str] | None,
    flt: Any,
    shard_key: ShardKey | None,
) -> Flow[None]:
    """Delete by item ids, by parent document ids or by filter (exactly one)."""
    given = [n for n, v in (("ids", ids), ("doc_ids", doc_ids), ("filter", flt)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"delete() takes exactly one of ids=, doc_ids= or filter=, got {given or 'none'}")
    if ids is not None:
        if ids:
            yield _call("delete", ids=[point_id(i) for i in ids], filter=None, shard_key=shard_key)
        return
    if doc_ids is not None:
        docs = list(doc_ids)
        if not docs:
            return
        from .filters import _models

        m = _models()
        resolved = m.Filter(must=[m.FieldCondition(key=DOC_ID, match=m.MatchAny(any=[str(d) for d in docs]))])
    else:
        resolved = yield from filter_flow(ctx, flt)
    yield _call("delete", ids=None, filter=resolved, shard_key=shard_key)


def count_flow(ctx: Context, flt: Any, *, shard_key: ShardKey | None) -> Flow[int]:
    """Exact count (of points matching ``flt``)."""
    resolved = yield from filter_flow(ctx, flt)
    count: int = yield _call("count", resolved, shard_key=shard_key)
    return count


def info_flow(ctx: Context, *, backend_kind: str, location: str | None) -> Flow[CollectionInfo]:
    """Counts, schema, model record, metadata keys and payload indexes."""
    points = yield _call("count", None, shard_key=None)
    metadata = yield _call("read_metadata")
    indexes = yield _call("payload_indexes")
    ctx.fields = known_fields(metadata)
    return CollectionInfo(
        name=ctx.name,
        backend=backend_kind,
        location=location,
        points=points,
        schema=ctx.bound,
        model=parse_record(metadata),
        metadata_fields=dict(ctx.fields),
        payload_indexes=indexes,
    )
