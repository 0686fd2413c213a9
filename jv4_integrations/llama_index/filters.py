"""LlamaIndex ``MetadataFilters`` as a Qdrant filter on the caller's metadata (``metadata.<key>``).

Every operator of LlamaIndex's ``FilterOperator`` and every ``FilterCondition`` (and, or, not; nested
``MetadataFilters``) is translated; a value that does not fit its operator raises ``ValueError``
naming the filter. ``node_ids`` / ``doc_ids`` restrictions become conditions on the payload's
``item_id`` / ``doc_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters

from .._optional import require
from ..qdrant.payload import DOC_ID, ITEM_ID, metadata_key

__all__ = ["SUPPORTED_CONDITIONS", "SUPPORTED_OPERATORS", "query_filter", "to_qdrant_filter"]

#: The LlamaIndex operators this store translates (all of those in llama-index-core 0.14).
SUPPORTED_OPERATORS: tuple[str, ...] = (
    "==",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "in",
    "nin",
    "any",
    "all",
    "contains",
    "text_match",
    "text_match_insensitive",
    "is_empty",
)
SUPPORTED_CONDITIONS: tuple[str, ...] = ("and", "or", "not")
_RANGES = {FilterOperator.GT: "gt", FilterOperator.GTE: "gte", FilterOperator.LT: "lt", FilterOperator.LTE: "lte"}


def _models() -> Any:
    return require("qdrant_client", purpose="JV4QdrantVectorStore filters").models


def _describe(f: MetadataFilter) -> str:
    return f"filter {f.key!r} {getattr(f.operator, 'value', f.operator)} {f.value!r}"


def _one(m: Any, path: str, value: Any, f: MetadataFilter) -> Any:
    """``path`` equals ``value`` (for an array field: holds it)."""
    if isinstance(value, (bool, str, int)):
        return m.FieldCondition(key=path, match=m.MatchValue(value=value))
    if isinstance(value, float):  # Qdrant matches only str / int / bool exactly: a one-point range
        return m.FieldCondition(key=path, range=m.Range(gte=value, lte=value))
    raise ValueError(f"{_describe(f)}: expected a str, int or float value, got {type(value).__name__}")


def _values(f: MetadataFilter) -> list[Any]:
    if not isinstance(f.value, list) or not f.value:
        raise ValueError(f"{_describe(f)}: operator {f.operator.value!r} takes a non-empty list of values")
    return list(f.value)


def _any_of(m: Any, path: str, f: MetadataFilter) -> Any:
    values = _values(f)
    if all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
        return m.FieldCondition(key=path, match=m.MatchAny(any=values))
    return m.Filter(should=[_one(m, path, v, f) for v in values])


def _scalar(f: MetadataFilter) -> Any:
    if isinstance(f.value, list):
        raise ValueError(f"{_describe(f)}: operator {f.operator.value!r} takes one value, not a list")
    return f.value


def _range(m: Any, path: str, f: MetadataFilter) -> Any:
    value, bound = _scalar(f), _RANGES[f.operator]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return m.FieldCondition(key=path, range=m.Range(**{bound: value}))
    if isinstance(value, str):
        try:
            return m.FieldCondition(key=path, range=m.DatetimeRange(**{bound: value}))
        except ValueError as exc:
            raise ValueError(f"{_describe(f)}: a str bound must be an ISO-8601 datetime ({exc})") from None
    raise ValueError(f"{_describe(f)}: expected a number or an ISO-8601 datetime str")


def _condition(m: Any, f: MetadataFilter) -> Any:
    op = f.operator
    path = metadata_key(f.key)
    if op == FilterOperator.EQ:
        value = _scalar(f)
        return m.IsNullCondition(is_null=m.PayloadField(key=path)) if value is None else _one(m, path, value, f)
    if op == FilterOperator.NE:
        value = _scalar(f)
        eq = m.IsNullCondition(is_null=m.PayloadField(key=path)) if value is None else _one(m, path, value, f)
        return m.Filter(must_not=[eq])
    if op in _RANGES:
        return _range(m, path, f)
    if op in (FilterOperator.IN, FilterOperator.ANY):
        return _any_of(m, path, f)
    if op == FilterOperator.NIN:
        return m.Filter(must_not=[_any_of(m, path, f)])
    if op == FilterOperator.ALL:
        return m.Filter(must=[_one(m, path, v, f) for v in _values(f)])
    if op == FilterOperator.CONTAINS:
        return _one(m, path, _scalar(f), f)
    if op in (FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE):
        value = _scalar(f)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{_describe(f)}: a text match takes a non-empty str")
        return m.FieldCondition(key=path, match=m.MatchText(text=value))
    if op == FilterOperator.IS_EMPTY:
        return m.IsEmptyCondition(is_empty=m.PayloadField(key=path))
    raise ValueError(
        f"unsupported filter operator {getattr(op, 'value', op)!r} on key {f.key!r}; "
        f"supported operators: {list(SUPPORTED_OPERATORS)}"
    )


def _group(m: Any, filters: MetadataFilters) -> Any | None:
    conditions = []
    for f in filters.filters:
        if isinstance(f, MetadataFilters):
            nested = _group(m, f)
            if nested is not None:
                conditions.append(nested)
        elif isinstance(f, MetadataFilter):
            conditions.append(_condition(m, f))
        else:
            raise TypeError(f"expected MetadataFilter or MetadataFilters, got {type(f).__name__}")
    if not conditions:
        return None
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return m.Filter(must=conditions)
    if condition == FilterCondition.OR:
        return m.Filter(should=conditions)
    if condition == FilterCondition.NOT:  # none of them holds (LlamaIndex's meaning)
        return m.Filter(must_not=conditions)
    raise ValueError(
        f"unsupported filter condition {getattr(condition, 'value', condition)!r}; "
        f"supported conditions: {list(SUPPORTED_CONDITIONS)}"
    )


def to_qdrant_filter(filters: MetadataFilters | None) -> Any | None:
    """Translate LlamaIndex metadata filters into a ``qdrant_client.models.Filter``.

    Args:
        filters: the filters (``None`` or an empty list = no filter).

    Returns:
        A ``models.Filter`` on ``metadata.<key>`` paths, or ``None``.

    Raises:
        ValueError: an unsupported operator or condition (the message lists the supported ones), or
            a value that does not fit its operator.

    Example:
        >>> from llama_index.core.vector_stores import MetadataFilter, MetadataFilters
        >>> f = to_qdrant_filter(MetadataFilters(filters=[MetadataFilter(key="year", value=2020, operator=">=")]))
        >>> f.must[0].key, f.must[0].range.gte
        ('metadata.year', 2020.0)
    """
    if filters is None:
        return None
    if not isinstance(filters, MetadataFilters):
        raise TypeError(f"filters must be llama_index MetadataFilters, got {type(filters).__name__}")
    return _group(_models(), filters)


def query_filter(
    filters: MetadataFilters | None, *, node_ids: Sequence[str] | None = None, doc_ids: Sequence[str] | None = None
) -> Any | None:
    """The metadata filters, restricted to some node ids and / or ref doc ids (all must hold)."""
    m = None
    parts: list[Any] = []
    translated = to_qdrant_filter(filters)
    if translated is not None:
        parts.append(translated)
    for key, ids in ((ITEM_ID, node_ids), (DOC_ID, doc_ids)):
        if ids is not None:
            m = m or _models()
            parts.append(m.FieldCondition(key=key, match=m.MatchAny(any=[str(i) for i in ids])))
    if not parts:
        return None
    if len(parts) == 1 and translated is not None:
        return translated
    return (m or _models()).Filter(must=parts)
