"""Filters: a small dict form for the caller's metadata, key checking, and translation to qdrant-edge.

:class:`qdrant_client.models.Filter` is the one filter language of this package: every method that
takes ``filter=`` accepts one, or a plain dict that :func:`metadata_filter` turns into one. The
embedded (qdrant-edge) backend translates it with :func:`to_edge_filter`.

Qdrant itself answers a filter on a field no point has with no results, which hides typos; here
every key a filter names must be a payload field (``text``, ``doc_id``, ``modality``, ``source``,
``item_id``, ...) or ``metadata.<key>`` for a metadata key some point was written with, otherwise
:func:`check_filter_keys` raises a :class:`~jv4_integrations.errors.StoreError` listing the known ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .._optional import require
from ..errors import StoreError
from .payload import METADATA, PAYLOAD_FIELDS, metadata_key

__all__ = ["check_filter_keys", "filter_keys", "metadata_filter", "resolve_filter", "to_edge_filter"]

_RANGE_OPS = ("gt", "gte", "lt", "lte")


def _models() -> Any:
    return require("qdrant_client", purpose="Qdrant filters").models


def _condition(models: Any, key: str, value: Any) -> Any:
    path = metadata_key(key)
    if value is None:
        return models.IsNullCondition(is_null=models.PayloadField(key=path))
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(_RANGE_OPS))
        if unknown or not value:
            raise ValueError(
                f"filter on {key!r}: a dict value is a range with keys {list(_RANGE_OPS)}, got {dict(value)!r}"
            )
        if all(isinstance(v, str) for v in value.values()):
            try:
                return models.FieldCondition(key=path, range=models.DatetimeRange(**value))
            except ValueError:  # pydantic's ValidationError
                raise ValueError(
                    f"filter on {key!r}: string bounds {dict(value)!r} make a datetime range, and each must be an "
                    "ISO 8601 datetime or date (e.g. '2024-05-01' or '2024-05-01T12:00:00Z'); use numbers for a "
                    "numeric range"
                ) from None
        for op, bound in value.items():
            if isinstance(bound, bool) or not isinstance(bound, (int, float)):
                raise ValueError(
                    f"filter on {key!r}: range bound {op}={bound!r} must be a number (or all ISO datetimes)"
                )
        return models.FieldCondition(key=path, range=models.Range(**value))
    if isinstance(value, (list, tuple, set, frozenset)):
        values = list(value)
        if not values or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            raise ValueError(
                f"filter on {key!r}: a list means 'any of' and must hold str or int values, got {values!r}"
            )
        return models.FieldCondition(key=path, match=models.MatchAny(any=values))
    if isinstance(value, (str, int, bool)):
        return models.FieldCondition(key=path, match=models.MatchValue(value=value))
    if isinstance(value, float) and math.isfinite(value):  # Qdrant matches no floats: a one-point range
        return models.FieldCondition(key=path, range=models.Range(gte=value, lte=value))
    raise ValueError(
        f"filter on {key!r}: unsupported value {value!r}; expected str, int, bool, a finite float, None, a list "
        f"(any of) or a range dict with keys {list(_RANGE_OPS)}"
    )


def metadata_filter(conditions: Mapping[str, Any]) -> Any:
    """Turn ``{"key": value, ...}`` on the caller's metadata into a Qdrant filter (all must hold).

    Values: ``str`` / ``int`` / ``bool`` = equals; a ``float`` = equals (a one-point range); a
    list = any of; ``None`` = the value is an explicit ``null``; a dict with ``gt`` / ``gte`` /
    ``lt`` / ``lte`` = a range (numbers, or ISO-8601 strings for a datetime range). For anything
    else (or, should, must_not, payload fields such as ``doc_id``) build a
    ``qdrant_client.models.Filter`` yourself.

    Args:
        conditions: metadata key -> value.

    Returns:
        A ``qdrant_client.models.Filter`` on ``metadata.<key>`` paths.

    Example:
        >>> f = metadata_filter({"category": "news", "year": {"gte": 2020}})  # doctest: +SKIP
        >>> [c.key for c in f.must]  # doctest: +SKIP
        ['metadata.category', 'metadata.year']
    """
    if not isinstance(conditions, Mapping):
        raise TypeError(f"conditions must be a dict, got {type(conditions).__name__}")
    models = _models()
    return models.Filter(must=[_condition(models, key, value) for key, value in conditions.items()])


def resolve_filter(value: Any) -> Any:
    """``None``, a dict (see :func:`metadata_filter`) or a ``models.Filter`` -> ``models.Filter | None``."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return metadata_filter(value) if value else None
    models = _models()
    if isinstance(value, models.Filter):
        return value
    raise TypeError(
        f"filter must be None, a dict of metadata conditions or a qdrant_client.models.Filter, "
        f"got {type(value).__name__}"
    )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _walk(flt: Any) -> Iterator[Any]:
    """Every condition of a filter, nested filters included."""
    for group in (flt.must, flt.should, flt.must_not):
        for cond in _as_list(group):
            if hasattr(cond, "must") and hasattr(cond, "should"):
                yield from _walk(cond)
            else:
                yield cond
    if flt.min_should is not None:
        for cond in _as_list(flt.min_should.conditions):
            if hasattr(cond, "must") and hasattr(cond, "should"):
                yield from _walk(cond)
            else:
                yield cond


def filter_keys(flt: Any) -> set[str]:
    """The payload keys a ``models.Filter`` reads (for nested conditions, the array key)."""
    keys: set[str] = set()
    for cond in _walk(flt):
        if hasattr(cond, "key") and isinstance(getattr(cond, "key", None), str):
            keys.add(cond.key)
        elif getattr(cond, "is_empty", None) is not None:
            keys.add(cond.is_empty.key)
        elif getattr(cond, "is_null", None) is not None:
            keys.add(cond.is_null.key)
        elif getattr(cond, "nested", None) is not None:
            keys.add(cond.nested.key)
    return keys


def _top(key: str) -> str:
    return key.split(".", 1)[0].split("[", 1)[0]


def check_filter_keys(flt: Any, known_metadata: Iterable[str], *, collection: str) -> None:
    """Raise :class:`StoreError` if a filter names a field no jv4 point has.

    Args:
        flt: a ``models.Filter``.
        known_metadata: metadata keys recorded for the collection.
        collection: its name, for the message.
    """
    known = set(known_metadata)
    bad: list[str] = []
    for key in sorted(filter_keys(flt)):
        top = _top(key)
        if top == METADATA and "." in key:
            sub = _top(key.split(".", 1)[1])
            if sub not in known:
                bad.append(key)
        elif top not in PAYLOAD_FIELDS:
            bad.append(key)
    # a bad key whose whole sub-path is a recorded key: that key has a dot (its first part is not recorded)
    dotted = [k for k in bad if k.startswith(METADATA + ".") and k[len(METADATA) + 1 :] in known]
    if dotted:
        raise StoreError(
            f"filter on {dotted} in collection {collection!r}: these metadata keys contain '.', which Qdrant "
            "filters read as nesting (a key, then a key inside it), so no filter can select on them; store "
            "them under keys without '.' (e.g. with '_') to filter on them"
        )
    if bad:
        fields = [f for f in PAYLOAD_FIELDS if f != METADATA] + [metadata_key(k) for k in sorted(known)]
        raise StoreError(
            f"filter on unknown field(s) {bad} in collection {collection!r}: no point was written with them; "
            f"known fields: {fields} (metadata keys are filtered as 'metadata.<key>')"
        )


# -- qdrant-edge translation ------------------------------------------------------------------


def _edge_match(edge: Any, match: Any) -> Any:
    name = type(match).__name__
    if name == "MatchValue":
        import numpy as np

        value = match.value
        # the binding reads a Python bool as the integer 0/1, which never equals a stored bool;
        # numpy's bool reaches it as a bool
        return edge.MatchValue(np.bool_(value) if isinstance(value, bool) else value)
    if name == "MatchAny":
        return edge.MatchAny(list(match.any))
    if name == "MatchExcept":
        return edge.MatchExcept(list(match.except_))
    if name == "MatchText":
        return edge.MatchText(match.text)
    if name == "MatchTextAny":
        return edge.MatchTextAny(match.text_any)
    if name == "MatchPhrase":
        return edge.MatchPhrase(match.phrase)
    if name in ("MatchPrefix", "MatchSubstring"):
        attr = "prefix" if name == "MatchPrefix" else "substring"
        return getattr(edge, name)(getattr(match, attr))
    raise StoreError(f"the embedded engine cannot translate match {match!r}")


def _edge_range(edge: Any, rng: Any) -> Any:
    values = {op: getattr(rng, op) for op in _RANGE_OPS}
    if type(rng).__name__ == "DatetimeRange":
        return edge.RangeDateTime(**{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()})
    return edge.RangeFloat(**values)


def _edge_geo_point(edge: Any, p: Any) -> Any:
    return edge.GeoPoint(lon=p.lon, lat=p.lat)


def _edge_field(edge: Any, cond: Any) -> Any:
    kwargs: dict[str, Any] = {}
    if cond.match is not None:
        kwargs["match"] = _edge_match(edge, cond.match)
    if cond.range is not None:
        kwargs["range"] = _edge_range(edge, cond.range)
    if cond.values_count is not None:
        vc = cond.values_count
        kwargs["values_count"] = edge.ValuesCount(lt=vc.lt, gt=vc.gt, lte=vc.lte, gte=vc.gte)
    if cond.geo_bounding_box is not None:
        box = cond.geo_bounding_box
        kwargs["geo_bounding_box"] = edge.GeoBoundingBox(
            _edge_geo_point(edge, box.top_left), _edge_geo_point(edge, box.bottom_right)
        )
    if cond.geo_radius is not None:
        kwargs["geo_radius"] = edge.GeoRadius(_edge_geo_point(edge, cond.geo_radius.center), cond.geo_radius.radius)
    if cond.geo_polygon is not None:
        poly = cond.geo_polygon
        kwargs["geo_polygon"] = edge.GeoPolygon(
            [_edge_geo_point(edge, p) for p in poly.exterior.points],
            [[_edge_geo_point(edge, p) for p in ring.points] for ring in (poly.interiors or [])] or None,
        )
    if cond.is_empty is not None:
        kwargs["is_empty"] = cond.is_empty
    if cond.is_null is not None:
        kwargs["is_null"] = cond.is_null
    return edge.FieldCondition(cond.key, **kwargs)


def _edge_condition(edge: Any, cond: Any) -> Any:
    name = type(cond).__name__
    if name == "Filter":
        return to_edge_filter(cond)
    if name == "FieldCondition":
        return _edge_field(edge, cond)
    if name == "IsEmptyCondition":
        return edge.IsEmptyCondition(cond.is_empty.key)
    if name == "IsNullCondition":
        return edge.IsNullCondition(cond.is_null.key)
    if name == "HasIdCondition":
        return edge.HasIdCondition(set(cond.has_id))
    if name == "HasVectorCondition":
        return edge.HasVectorCondition(cond.has_vector)
    if name == "NestedCondition":
        return edge.NestedCondition(cond.nested.key, to_edge_filter(cond.nested.filter))
    raise StoreError(f"the embedded engine cannot translate filter condition {type(cond).__name__}: {cond!r}")


def to_edge_filter(flt: Any) -> Any:
    """Translate a ``qdrant_client.models.Filter`` into a ``qdrant_edge.Filter``.

    Args:
        flt: the qdrant-client filter (``qdrant_edge.Filter`` objects pass through unchanged).

    Returns:
        The equivalent qdrant-edge filter.

    Raises:
        StoreError: a condition the embedded engine does not support.
    """
    edge = require("qdrant_edge", purpose="the embedded Qdrant backend")
    if isinstance(flt, edge.Filter):
        return flt

    def conds(group: Any) -> list[Any] | None:
        items = _as_list(group)
        return [_edge_condition(edge, c) for c in items] if items else None

    min_should = None
    if flt.min_should is not None:
        min_should = edge.MinShould(conds(flt.min_should.conditions) or [], flt.min_should.min_count)
    return edge.Filter(
        must=conds(flt.must), should=conds(flt.should), must_not=conds(flt.must_not), min_should=min_should
    )
