"""Writing points: encode chunk by chunk (one forward pass gives both vectors), upsert by size."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import StoreError
from ..ids import point_id
from ..ingest import metadata_fields, prepare_items_for_ingest, request_batches, vectors_to_points
from ..record import field_entries
from ..schema import ShardKey
from .driver import Context, Flow, call, cpu

__all__ = ["add_embeddings_flow", "add_flow", "record_model_flow"]

logger = logging.getLogger(__name__)


def _warn_repeated_content(name: str, item_ids: Sequence[str]) -> None:
    """Items without caller ids are named by their content: copies in one call are one point."""
    repeats = len(item_ids) - len(set(item_ids))
    if repeats:
        logger.warning(
            "%d item(s) written to %r repeat the content of an earlier item in the same call: content ids make "
            "each content one point, with the metadata of the copy written last. Pass ids= to keep copies apart.",
            repeats,
            name,
        )


def _record_fields(ctx: Context, metadatas: Sequence[Mapping[str, Any] | None] | None) -> Flow[None]:
    """Record new metadata keys before the points that carry them are written."""
    new = {k: v for k, v in metadata_fields(metadatas).items() if k not in ctx.fields}
    dotted = sorted(k for k in new if "." in k)
    if dotted:
        logger.warning(
            "metadata key(s) %s of collection %r contain '.', which filters read as nesting: they are stored, "
            "but no filter can select on them (rename them, e.g. with '_', to filter on them)",
            dotted,
            ctx.name,
        )
    if new:
        yield call("merge_metadata", field_entries(new))
        ctx.fields.update(new)


def _record_model(ctx: Context) -> Flow[None]:
    """Record the encoder of a collection created without one, at its first encode."""
    enc = ctx.encoder
    rec = ctx.record
    if enc is not None and rec is not None and rec.model is None:
        updated = dataclasses.replace(rec, model=enc.name_or_path, task=ctx.task)  # the rest stays
        yield call("merge_metadata", updated.to_metadata())
        ctx.record = updated


def record_model_flow(ctx: Context, model: str) -> Flow[None]:
    """Record ``model`` as the collection's model (its checkpoint folder moved); the rest of the record stays."""
    rec = ctx.record
    if rec is None:
        raise StoreError(
            f"collection {ctx.name!r} has no jv4 record (it was not created by jv4-integrations): there is no model "
            "to update"
        )
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"model must be a non-empty Hub id or folder path, got {model!r}")
    if rec.model == model:
        return
    updated = dataclasses.replace(rec, model=model)
    yield call("merge_metadata", updated.to_metadata())
    logger.info("collection %r now records model %r (was %r)", ctx.name, model, rec.model)
    ctx.record = updated


def _write(ctx: Context, points: Sequence[Any], shard_key: ShardKey | None, max_bytes: int) -> Flow[None]:
    for batch in request_batches(points, max_bytes=max_bytes):
        yield call("upsert", batch, shard_key=shard_key)
        # after each request, not each call: the embedded engine builds its indexes every
        # OPTIMIZE_AFTER points, so one large call leaves segments of that size, as many small ones do
        yield call("after_write", len(batch))


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
    encode_kwargs: Mapping[str, Any] | None = None,
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
    try:
        for start in range(0, len(items), batch_size):
            end = min(start + batch_size, len(items))
            chunk = list(items[start:end])
            prepared = yield cpu(
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
                found = yield call(
                    "retrieve",
                    [point_id(p.item_id) for p in prepared],
                    with_vectors=False,
                    shard_key=shard_key,
                )
                present = {r.id for r in found}
                todo = [i for i in todo if point_id(prepared[i].item_id) not in present]
            if todo:
                result = yield cpu(
                    enc.encode_documents,
                    [prepared[i].encode_input for i in todo],
                    output="both",
                    truncate_dim=schema.dense_size,
                    task=ctx.task,
                    **(encode_kwargs or {}),
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
                yield from _record_fields(ctx, [p.payload["metadata"] for p in points])
                yield from _write(ctx, points, shard_key, max_request_bytes)
            if progress is not None:
                progress.update(end - start)
    finally:
        if progress is not None:
            progress.close()
    if ids is None:
        _warn_repeated_content(ctx.name, item_ids)
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
    extras: Any = None,
) -> Flow[list[str]]:
    """Validate precomputed vectors (all of them, before writing anything) and upsert them."""
    points = yield cpu(
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
        extras=extras,
    )
    yield from _record_fields(ctx, [p.payload["metadata"] for p in points])
    yield from _write(ctx, points, shard_key, max_request_bytes)
    if ids is None:
        _warn_repeated_content(ctx.name, [p.id for p in points])
    return [p.payload["item_id"] for p in points]
