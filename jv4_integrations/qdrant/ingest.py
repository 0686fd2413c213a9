"""Turning caller items and vectors into points: validation, ids, sources, payloads, request batches.

Pure functions (no storage calls) used by :mod:`.flows`.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, InputProblem
from ..scoring import mean_token, pool_tokens
from .ids import content_item_id, normalize_item_id, point_id, text_item_id, vectors_item_id
from .payload import MODALITIES, build_payload, clean_metadata
from .record import value_type
from .types import PointData

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from .schema import CollectionSchema

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "IN_PROCESS_MAX_REQUEST_BYTES",
    "IngestItem",
    "check_columns",
    "clean_metadatas",
    "estimate_request_bytes",
    "metadata_fields",
    "precheck_items",
    "prepare_items_for_ingest",
    "request_batches",
    "vectors_to_points",
]

#: Upper bound of one upsert request's estimated JSON size (Qdrant advises staying under ~5 MB).
DEFAULT_MAX_REQUEST_BYTES = 4_000_000
#: The same for in-process engines (embedded engine, qdrant-client local mode): no HTTP request.
IN_PROCESS_MAX_REQUEST_BYTES = 64_000_000
#: Upper bound of points per upsert request.
DEFAULT_MAX_REQUEST_POINTS = 256
#: Bytes of one float in a JSON request (digits, sign, separator).
_JSON_FLOAT_BYTES = 12


@dataclass(frozen=True)
class IngestItem:
    """A validated item ready to encode.

    Attributes:
        encode_input: what the encoder gets (text, decoded PIL image or ``Mixed`` of decoded images).
        item_id: the caller's id or the content hash.
        modality: ``"text"``, ``"image"`` or ``"mixed"``.
        text: the text, or ``None``.
        source: the image reference for the payload, or ``None``.
    """

    encode_input: Any
    item_id: str
    modality: str
    text: str | None
    source: str | None


def check_columns(n: int, **columns: Sequence[Any] | None) -> None:
    """Every per-item column given must have one entry per item."""
    for name, column in columns.items():
        if column is not None:
            if isinstance(column, (str, bytes, Mapping)):
                raise TypeError(f"{name} must be a list with one entry per item, got {type(column).__name__}")
            if len(column) != n:
                raise ValueError(f"{name} has {len(column)} entries for {n} items")


def clean_metadatas(metadatas: Sequence[Mapping[str, Any] | None] | None) -> list[dict[str, Any] | None] | None:
    """Every item's metadata in its stored form (:func:`~.payload.clean_metadata`), checked before
    anything is encoded or written.

    Raises:
        InputError: every item whose metadata cannot be stored, with the key path and the reason.
    """
    if metadatas is None:
        return None
    out: list[dict[str, Any] | None] = []
    problems = []
    for i, meta in enumerate(metadatas):
        try:
            out.append(None if meta is None else clean_metadata(meta))
        except ValueError as exc:
            problems.append(InputProblem(i, str(exc)))
    if problems:
        raise InputError(problems, what="item")
    return out


def _source_of(item: Any) -> str | None:
    """The path / URI an image item came from (``None`` for pixels or bytes without a name)."""
    from PIL import Image

    from ..core.inputs import ImageRef, Mixed

    if isinstance(item, ImageRef):
        return None if item.ref.startswith("data:") else item.ref
    if isinstance(item, Path):
        return str(item)
    if isinstance(item, Image.Image):
        name = getattr(item, "filename", "")
        return str(name) if name else None
    if isinstance(item, Mixed):
        for image in item.images:
            ref = _source_of(image)
            if ref:
                return ref
        return None
    name = getattr(item, "name", None) if hasattr(item, "read") else None
    return name if isinstance(name, str) and name else None


def _data_uri(image: PILImage.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _precheck(item: Any) -> str | None:
    """Why an item is certainly bad, judged without decoding it (``None`` = looks fine)."""
    from PIL import Image

    from ..core.inputs import ImageRef, Mixed

    if isinstance(item, str):
        return f"empty text {item!r}" if not item.strip() else None
    if item is None:
        return "None is not a valid input"
    if isinstance(item, Mixed):
        if not isinstance(item.text, str) or not item.images:
            return "a Mixed item needs a str text and at least one image"
        for j, image in enumerate(item.images):
            reason = _precheck(image)
            if reason is not None:
                return f"image {j} of the Mixed item: {reason}"
        return None
    path: Path | None = None
    if isinstance(item, Path):
        path = item
    elif isinstance(item, ImageRef) and "://" not in item.ref and not item.ref.startswith("data:"):
        path = Path(item.ref)
    if path is not None:
        return None if path.is_file() else f"image file {str(path)!r} does not exist"
    if isinstance(item, (ImageRef, Image.Image, bytes, bytearray, memoryview)) or hasattr(item, "read"):
        return None
    return f"unsupported input type {type(item).__name__}"


def precheck_items(items: Sequence[Any]) -> None:
    """Reject, before anything is written, every item that is bad without decoding it.

    Catches empty texts, ``None``, unsupported types and missing image files across the whole call
    (decoding problems, e.g. a corrupt image, surface when its chunk is prepared).

    Raises:
        InputError: every such item, by index.
    """
    problems = []
    for i, item in enumerate(items):
        reason = _precheck(item)
        if reason is not None:
            problems.append(InputProblem(i, reason))
    if problems:
        raise InputError(problems)


def prepare_items_for_ingest(
    items: Sequence[Any],
    *,
    offset: int,
    ids: Sequence[str] | None,
    sources: Sequence[str | None] | None,
    store_images: bool,
    allow_urls: bool,
    limits: Any,
) -> list[IngestItem]:
    """Validate and decode a chunk of items; derive their ids and sources.

    Args:
        items: the chunk.
        offset: index of its first item in the whole call (for error messages).
        ids: normalised caller ids for the chunk, or ``None`` (content hashes).
        sources: caller-given sources for the chunk (override the derived ones).
        store_images: keep each image's pixels in ``source`` as a PNG ``data:`` URI.
        allow_urls: fetch ``ImageRef("http(s)://…")`` items.
        limits: the encoder's image safety limits.

    Returns:
        One :class:`IngestItem` per item.

    Raises:
        InputError: bad items, named by their index in the whole call.
    """
    from ..core.inputs import DeferredImage, Mixed, materialize, prepare_items

    problems = [
        InputProblem(offset + i, f"empty text {item!r}")
        for i, item in enumerate(items)
        if isinstance(item, str) and not item.strip()
    ]
    try:
        prepared = prepare_items(list(items), allow_urls=allow_urls, limits=limits)
    except InputError as exc:
        problems.extend(InputProblem(offset + p.index, p.reason) for p in exc.problems)
    if problems:
        raise InputError(sorted(problems, key=lambda p: p.index))
    out = []
    for i, (item, prep) in enumerate(zip(items, prepared, strict=True)):
        # images past the call's decoded-memory budget come back deferred: decode them one at a time
        # for the hash, and hand the encoder their file / bytes so it decodes them at batch time
        item_id = (
            ids[i]
            if ids is not None
            else content_item_id(prep.kind, prep.text, (materialize(image) for image in prep.images))
        )
        source = sources[i] if sources is not None and sources[i] is not None else _source_of(item)
        if store_images and prep.images:
            source = _data_uri(materialize(prep.images[0]))
        images = [image.source if isinstance(image, DeferredImage) else image for image in prep.images]
        if prep.kind == "text":
            encode_input: Any = prep.text
        elif prep.kind == "image":
            encode_input = images[0]
        else:
            encode_input = Mixed(prep.text or "", images)
        out.append(IngestItem(encode_input, item_id, prep.kind, prep.text, source))
    return out


def metadata_fields(metadatas: Sequence[Mapping[str, Any] | None] | None) -> dict[str, str]:
    """Top-level metadata keys of a call with the JSON type of their first non-null value."""
    fields: dict[str, str] = {}
    for meta in metadatas or ():
        for key, value in (meta or {}).items():
            if key not in fields or (fields[key] == "null" and value is not None):
                fields[key] = value_type(value)
    return fields


def _as_matrix(value: Any, what: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def vectors_to_points(
    dense: Sequence[Any] | np.ndarray,
    multivectors: Sequence[Any],
    *,
    schema: CollectionSchema,
    collection: str,
    texts: Sequence[str | None] | None = None,
    ids: Sequence[str] | None = None,
    metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    doc_ids: Sequence[str | None] | None = None,
    sources: Sequence[str | None] | None = None,
    modalities: Sequence[str] | None = None,
    extras: Sequence[Mapping[str, Any] | None] | None = None,
    offset: int = 0,
) -> list[PointData]:
    """Validate vectors and build points (every bad item is reported, none is written).

    Args:
        dense: ``(n, dense_size)`` or ``n`` vectors of ``dense_size``.
        multivectors: ``n`` arrays of ``(n_tokens_i, multivector_size)``.
        schema: the collection schema (sizes).
        collection: its name, for messages.
        texts / ids / metadatas / doc_ids / sources / modalities / extras: per-item payload pieces.
        offset: index of the first item in the whole call.

    Returns:
        The points, in order.

    Raises:
        InputError: wrong sizes, ranks, non-finite values, unknown modalities; each item named.
    """
    n = len(dense)
    check_columns(
        n,
        multivectors=multivectors,
        texts=texts,
        ids=ids,
        metadatas=metadatas,
        doc_ids=doc_ids,
        sources=sources,
        modalities=modalities,
        extras=extras,
    )
    problems: list[InputProblem] = []
    points: list[PointData] = []
    for i in range(n):
        where = offset + i
        d = _as_matrix(dense[i], "dense")
        mv = _as_matrix(multivectors[i], "multivector")
        bad = []
        if d.ndim != 1 or d.shape[0] != schema.dense_size:
            bad.append(
                f"dense vector has shape {d.shape}; collection {collection!r} expects ({schema.dense_size},) "
                f"for {schema.dense_name!r}"
            )
        elif not np.isfinite(d).all():
            bad.append("dense vector holds NaN or inf")
        if mv.ndim != 2 or mv.shape[1] != schema.multivector_size or mv.shape[0] == 0:
            bad.append(
                f"multi-vector has shape {mv.shape}; collection {collection!r} expects (n_tokens >= 1, "
                f"{schema.multivector_size}) for {schema.multivector_name!r}"
            )
        elif not np.isfinite(mv).all():
            bad.append("multi-vector holds NaN or inf")
        mean = None
        if schema.prefetch_vector == "mean" and not bad:
            mean = mean_token(mv)
            if mean is None:
                bad.append(f"multi-vector tokens average to zero: no {schema.mean_name!r} prefetch vector")
        text = texts[i] if texts is not None else None
        modality = modalities[i] if modalities is not None else ("text" if text is not None else "image")
        if modality not in MODALITIES:
            bad.append(f"unknown modality {modality!r}; expected one of {list(MODALITIES)}")
        if bad:
            problems.append(InputProblem(where, "; ".join(bad)))
            continue
        if ids is not None:
            item_id = ids[i]
        elif text is not None and modality == "text":
            item_id = text_item_id(text)
        else:
            item_id = vectors_item_id(d, mv)
        try:
            payload = build_payload(
                item_id=item_id,
                modality=modality,
                text=text,
                metadata=metadatas[i] if metadatas is not None else None,
                source=sources[i] if sources is not None else None,
                doc_id=doc_ids[i] if doc_ids is not None else None,
                extra=extras[i] if extras is not None else None,
            )
        except ValueError as exc:
            problems.append(InputProblem(where, str(exc)))
            continue
        pooled = pool_tokens(mv, schema.pooled_tokens) if schema.pooled_tokens is not None else None
        points.append(PointData(point_id(item_id), d, mv, payload, mean, pooled))
    if problems:
        raise InputError(problems, what="item")
    return points


def estimate_request_bytes(point: PointData) -> int:
    """Rough JSON size of one point in an upsert request."""
    floats = int(point.dense.size) + int(point.multivector.size)
    floats += sum(int(extra.size) for extra in (point.mean, point.pooled) if extra is not None)
    return floats * _JSON_FLOAT_BYTES + len(json.dumps(point.payload, default=str)) + 64


def request_batches(
    points: Sequence[PointData],
    *,
    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    max_points: int = DEFAULT_MAX_REQUEST_POINTS,
) -> Iterator[list[PointData]]:
    """Split points into upsert requests under ``max_bytes`` (estimated) and ``max_points`` each.

    A single point larger than ``max_bytes`` goes alone in its request.
    """
    batch: list[PointData] = []
    size = 0
    for point in points:
        cost = estimate_request_bytes(point)
        if batch and (size + cost > max_bytes or len(batch) >= max_points):
            yield batch
            batch, size = [], 0
        batch.append(point)
        size += cost
    if batch:
        yield batch


def normalize_ids(ids: Sequence[Any] | None, n: int, *, unique: bool = False) -> list[str] | None:
    """Validate and stringify caller ids (``None`` = content hashes).

    Args:
        ids: the caller's ids, or ``None``.
        n: how many items they are for.
        unique: writing: an id may appear once per call (a repeat would silently overwrite the
            earlier item, which is almost always a bug in the caller's ids).

    Raises:
        ValueError: a wrong count or an id of the wrong type.
        InputError: with ``unique``, every repeated id, naming the item it repeats.
    """
    if ids is None:
        return None
    check_columns(n, ids=ids)
    out = [normalize_item_id(v, index=i) for i, v in enumerate(ids)]
    if unique:
        first: dict[str, int] = {}
        repeats = []
        for i, item_id in enumerate(out):
            if item_id in first:
                repeats.append(
                    InputProblem(
                        i, f"id {item_id!r} repeats the id of item {first[item_id]} (ids must be unique in one call)"
                    )
                )
            else:
                first[item_id] = i
        if repeats:
            raise InputError(repeats, what="item")
    return out
