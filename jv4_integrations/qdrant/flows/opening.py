"""Opening a collection: create it when missing, or validate it and list every difference."""

from __future__ import annotations

import logging

from ...errors import CollectionNotFoundError, SchemaMismatchError, StoreError
from ..payload import PAYLOAD_SCHEMA_VERSION
from ..record import ModelRecord, known_fields, parse_record
from ..schema import CollectionSchema, infer_schema, schema_differences
from .driver import Context, Flow, call

__all__ = ["open_flow"]

logger = logging.getLogger(__name__)


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
        out.append(f"multi-vector size {schema.multivector_size} differs from the encoder's {enc.multivector_dim}")
    return out


def open_flow(ctx: Context, schema: CollectionSchema | None, create: bool, location: str | None) -> Flow[None]:
    """Create the collection if missing (``create=True``) or validate it; bind the schema."""
    exists = yield call("exists")
    enc = ctx.encoder
    if not exists:
        if not create:
            raise CollectionNotFoundError(
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
            pooled_tokens=schema.pooled_tokens,
            pooled_name=schema.pooled_name if schema.pooled_tokens is not None else None,
        )
        yield call("create", schema, created.to_metadata())
        ctx.record, ctx.fields = created, {}
        logger.info("created collection %r (%s)", ctx.name, schema)
    else:
        reported = yield call("describe")
        metadata = yield call("read_metadata")
        record = parse_record(metadata)
        if schema is None:
            try:
                schema = infer_schema(
                    reported,
                    dense_name=record.dense_name if record else None,
                    multivector_name=record.multivector_name if record else None,
                    pooled_name=record.pooled_name if record else None,
                    pooled_tokens=record.pooled_tokens if record else None,
                )
            except ValueError as exc:
                raise SchemaMismatchError(ctx.name, [str(exc)]) from None
        diffs = schema_differences(schema, reported) + _encoder_differences(ctx, schema)
        recorded_pool = record.pooled_tokens if record is not None else None
        if schema.pooled_tokens is not None and recorded_pool not in (None, schema.pooled_tokens):
            diffs.append(
                f"pooled_tokens: the collection pools to {recorded_pool} tokens, requested {schema.pooled_tokens}"
            )
        if record is not None and record.task and ctx.task and record.task != ctx.task:
            diffs.append(f"task: the collection was written with task {record.task!r}, requested {ctx.task!r}")
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
    yield call("bind", schema)
