"""Payload schema, ids, filter translation and request building (no model needed)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import numpy as np
import pytest
from qdrant_client import models
from qdrant_helpers import SMALL, Corpus, Store

from jv4_integrations.errors import StoreError
from jv4_integrations.qdrant import (
    POINT_ID_NAMESPACE,
    MultiVectorCollection,
    build_payload,
    metadata_filter,
    metadata_key,
    parse_payload,
    point_id,
)
from jv4_integrations.qdrant.filters import check_filter_keys, filter_keys, to_edge_filter
from jv4_integrations.qdrant.ids import content_item_id, text_item_id
from jv4_integrations.qdrant.types import QueryPlan


def test_payload_round_trip() -> None:
    meta = {"a": 1, "nested": {"b": [1, 2]}}
    payload = build_payload(item_id="x1", modality="mixed", text="t", metadata=meta, source="p.png", doc_id="d")
    assert payload == {
        "text": "t",
        "metadata": meta,
        "modality": "mixed",
        "source": "p.png",
        "doc_id": "d",
        "item_id": "x1",
        "jv4_schema": 1,
    }
    assert payload["metadata"] is not meta  # copied, the caller's dict is never touched
    parsed = parse_payload(payload)
    assert (
        parsed.item_id,
        parsed.text,
        parsed.metadata,
        parsed.modality,
        parsed.source,
        parsed.doc_id,
        parsed.schema_version,
    ) == ("x1", "t", meta, "mixed", "p.png", "d", 1)
    foreign = parse_payload({"page_content": "lc"})
    assert (foreign.item_id, foreign.text, foreign.metadata, foreign.schema_version) == ("", None, {}, None)
    with pytest.raises(ValueError, match=r"unknown modality 'video'; expected one of \['text', 'image', 'mixed'\]"):
        build_payload(item_id="x", modality="video")
    with pytest.raises(ValueError, match="metadata must be a dict"):
        build_payload(item_id="x", modality="text", metadata=[1])  # type: ignore[arg-type]
    assert metadata_key("year") == "metadata.year"


def test_ids_are_deterministic_uuid5() -> None:
    assert point_id("doc-1") == str(uuid.uuid5(POINT_ID_NAMESPACE, "doc-1")) == point_id("doc-1")
    assert point_id("doc-1") != point_id("doc-2")
    assert point_id(7) == point_id("7") == str(uuid.uuid5(POINT_ID_NAMESPACE, "7"))  # ids= takes ints too
    u = uuid.UUID(int=5)
    assert point_id(u) == point_id(str(u))
    with pytest.raises(ValueError, match=r"must be a str, int or uuid\.UUID"):
        point_id(1.5)  # type: ignore[arg-type]
    assert text_item_id("hello") == content_item_id("text", "hello", [])
    assert text_item_id("hello").startswith("sha256:") and len(text_item_id("hello")) == 71
    from PIL import Image

    img = Image.new("RGB", (4, 4), (1, 2, 3))
    image_id = content_item_id("image", None, [img])
    assert image_id == content_item_id("image", None, [img.copy()])
    assert len({image_id, content_item_id("mixed", "hello", [img]), text_item_id("hello")}) == 3
    assert content_item_id("image", None, [Image.new("RGB", (4, 4), (1, 2, 4))]) != image_id


def test_metadata_filter_builds_qdrant_conditions() -> None:
    flt = metadata_filter(
        {
            "cat": "news",
            "year": {"gte": 2020, "lt": 2024},
            "tags": ["a", "b"],
            "gone": None,
            "when": {"gte": "2024-01-01T00:00:00Z"},
            "ok": True,
        }
    )
    by_key = {getattr(c, "key", None) or c.is_null.key: c for c in flt.must}
    assert by_key["metadata.cat"].match == models.MatchValue(value="news")
    assert by_key["metadata.year"].range == models.Range(gte=2020, lt=2024)
    assert by_key["metadata.tags"].match == models.MatchAny(any=["a", "b"])
    assert isinstance(by_key["metadata.gone"], models.IsNullCondition)
    assert isinstance(by_key["metadata.when"].range, models.DatetimeRange)
    assert by_key["metadata.ok"].match == models.MatchValue(value=True)
    assert metadata_filter({"x": 1.5}).must[0].range == models.Range(gte=1.5, lte=1.5)  # float equality
    for bad, message in [
        ({"y": {"between": 1}}, "a range with keys"),
        ({"y": {"gte": [1]}}, "must be a number"),
        ({"y": [1.5]}, "str or int values"),
        ({"y": float("nan")}, "unsupported value nan"),
        ({"y": {"gte": "soon"}}, r"string bounds \{'gte': 'soon'\} make a datetime range, and each must be an ISO"),
    ]:
        with pytest.raises(ValueError, match=message):
            metadata_filter(bad)


def test_filter_key_checking() -> None:
    flt = models.Filter(
        must=[
            models.NestedCondition(
                nested=models.Nested(
                    key="metadata.pages[]",
                    filter=models.Filter(must=[models.FieldCondition(key="n", match=models.MatchValue(value=1))]),
                )
            )
        ],
        should=models.Filter(must_not=[models.IsEmptyCondition(is_empty=models.PayloadField(key="metadata.x.y"))]),
        min_should=models.MinShould(
            conditions=[
                models.HasIdCondition(has_id=[1]),
                models.IsNullCondition(is_null=models.PayloadField(key="doc_id")),
            ],
            min_count=1,
        ),
    )
    assert filter_keys(flt) == {"metadata.pages[]", "metadata.x.y", "doc_id"}
    check_filter_keys(flt, {"pages", "x"}, collection="c")
    with pytest.raises(StoreError, match=r"\['metadata.x.y'\]"):
        check_filter_keys(flt, {"pages"}, collection="c")


FILTERS: list[Any] = [
    {"colour": "red"},
    {"group": [1, 2], "score": {"gt": 0.1, "lte": 0.7}},
    models.Filter(
        must_not=[models.FieldCondition(key="metadata.colour", match=models.MatchExcept(**{"except": ["red"]}))]
    ),
    models.Filter(
        should=[
            models.FieldCondition(key="metadata.group", match=models.MatchValue(value=0)),
            models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value="doc2"))]),
        ]
    ),
    models.Filter(
        min_should=models.MinShould(
            conditions=[
                models.FieldCondition(key="metadata.group", match=models.MatchValue(value=1)),
                models.FieldCondition(key="metadata.colour", match=models.MatchValue(value="red")),
                models.FieldCondition(key="metadata.score", range=models.Range(lt=0.5)),
            ],
            min_count=2,
        )
    ),
    models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="metadata.tags"))]),
    models.Filter(must=[models.IsNullCondition(is_null=models.PayloadField(key="source"))]),
    models.Filter(must=[models.FieldCondition(key="metadata.tags", values_count=models.ValuesCount(gte=2))]),
    models.Filter(must=[models.FieldCondition(key="text", match=models.MatchValue(value="text 7"))]),
    {"score": 3 / 60},  # a float equals: a one-point range
]


def _expected_counts(corpus: Corpus) -> list[int]:
    metas = corpus.metadatas
    docs = [f"doc{i // 10}" for i in range(len(metas))]
    tags = [["a", "b"] if i % 5 == 0 else [] for i in range(len(metas))]
    return [
        sum(m["colour"] == "red" for m in metas),
        sum(m["group"] in (1, 2) and 0.1 < m["score"] <= 0.7 for m in metas),
        sum(m["colour"] == "red" for m in metas),
        sum(m["group"] == 0 or d == "doc2" for m, d in zip(metas, docs, strict=True)),
        sum((m["group"] == 1) + (m["colour"] == "red") + (m["score"] < 0.5) >= 2 for m in metas),
        sum(not t for t in tags),
        len(metas),
        sum(len(t) >= 2 for t in tags),
        1,
        sum(m["score"] == 3 / 60 for m in metas),
    ]


def test_filters_mean_the_same_on_every_backend(store: Store, corpus: Corpus) -> None:
    col = store.open(schema=SMALL)
    metas = [dict(m, tags=["a", "b"] if i % 5 == 0 else []) for i, m in enumerate(corpus.metadatas)]
    col.add_embeddings(
        corpus.dense,
        corpus.multivectors,
        texts=corpus.texts,
        metadatas=metas,
        doc_ids=[f"doc{i // 10}" for i in range(60)],
    )
    assert [col.count(f) for f in FILTERS] == _expected_counts(corpus)


def test_filters_on_a_collection_never_written_to_return_nothing(store: Store, corpus: Corpus) -> None:
    col = store.open(schema=SMALL)
    assert col.count({"tenant": "a"}) == 0  # nothing written yet: no keys to check, nothing matches
    assert col.search_by_vector(dense=corpus.dense[0], mode="dense", filter={"tenant": "a"}) == []
    col.add_embeddings(corpus.dense[:1], corpus.multivectors[:1], texts=corpus.texts[:1])
    with pytest.raises(StoreError, match=r"unknown field\(s\) \['metadata.tenant'\]"):  # now it has points
        col.count({"tenant": "a"})


def test_bool_filters_match_on_every_backend(store: Store, corpus: Corpus) -> None:
    # qdrant-edge's binding reads a Python bool as 0/1, which never equals a stored bool
    col = store.open(schema=SMALL)
    flags = [i % 3 == 0 for i in range(len(corpus.texts))]
    col.add_embeddings(corpus.dense, corpus.multivectors, texts=corpus.texts, metadatas=[{"flag": f} for f in flags])
    truthy = sum(flags)
    assert col.count({"flag": True}) == truthy
    assert col.count({"flag": False}) == len(flags) - truthy
    explicit = models.Filter(must=[models.FieldCondition(key="metadata.flag", match=models.MatchValue(value=True))])
    assert col.count(explicit) == truthy
    hits = col.search_by_vector(dense=corpus.dense[1], mode="dense", limit=100, filter={"flag": False})
    assert {h.text for h in hits} == {t for t, f in zip(corpus.texts, flags, strict=True) if not f}


def test_edge_translation_is_structural() -> None:
    import qdrant_edge

    translated = to_edge_filter(FILTERS[4])
    assert isinstance(translated, qdrant_edge.Filter) and translated.min_should.min_count == 2
    assert to_edge_filter(translated) is translated  # edge filters pass through
    with pytest.raises(StoreError, match="cannot translate"):
        to_edge_filter(
            models.Filter(
                must=[
                    models.FieldCondition(key="k", match=models.MatchText(text="x")).model_copy(
                        update={"match": object()}
                    )
                ]
            )
        )


def test_local_mode_reranks_on_the_client_and_servers_on_the_server() -> None:
    from jv4_integrations.qdrant.backends.client_common import query_requests, rerank
    from jv4_integrations.qdrant.types import RawPoint

    flt = metadata_filter({"a": 1})
    plan = QueryPlan(
        mode="hybrid",
        dense=np.ones(16, np.float32),
        multivector=np.ones((2, 8), np.float32),
        limit=3,
        prefetch_limit=20,
        filter=flt,
        hnsw_ef=64,
    )
    (local,) = query_requests([plan], SMALL, local=True)
    assert local.prefetch is None and local.using == "dense" and local.limit == 20
    assert local.with_vector == ["multivector"] and local.filter == flt
    (remote,) = query_requests([plan], SMALL, local=False)
    assert remote.using == "multivector" and remote.limit == 3 and remote.filter == flt
    assert remote.prefetch.using == "dense" and remote.prefetch.limit == 20 and remote.prefetch.filter == flt
    assert remote.prefetch.params.hnsw_ef == 64
    exact = dataclasses.replace(plan, mode="multivector")
    assert query_requests([exact], SMALL, local=False)[0].params.exact is True
    # the client-side rerank normalises query tokens like Qdrant's cosine and keeps the best `limit`
    rng = np.random.default_rng(0)
    docs = [rng.normal(size=(4, 8)).astype(np.float32) for _ in range(5)]
    unit_docs = [d / np.linalg.norm(d, axis=1, keepdims=True) for d in docs]
    cands = [RawPoint(id=str(i), payload={}, multivector=d) for i, d in enumerate(unit_docs)]
    query = 3 * rng.normal(size=(2, 8)).astype(np.float32)
    ranked = rerank(dataclasses.replace(plan, multivector=query), cands)
    qn = query / np.linalg.norm(query, axis=1, keepdims=True)
    want = sorted(((float((qn @ d.T).max(axis=1).sum()), str(i)) for i, d in enumerate(unit_docs)), reverse=True)[:3]
    assert [r.id for r in ranked] == [i for _, i in want]
    np.testing.assert_allclose([r.score for r in ranked], [s for s, _ in want], rtol=1e-6)


def test_unsupported_locations() -> None:
    with pytest.raises(TypeError, match="unsupported location int"):
        MultiVectorCollection.open(42, "t", schema=SMALL)
    with pytest.raises(ValueError, match=r"collection name '\.\./x'"):
        MultiVectorCollection.open("/tmp/any-store", "../x", schema=SMALL)


def test_importing_the_package_loads_no_qdrant_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, jv4_integrations.qdrant as q; "
        "assert q.MultiVectorCollection and q.CollectionSchema(dense_size=8); "
        "print(sorted(m for m in ('qdrant_client', 'qdrant_edge', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_extra_is_stored_only_when_given_and_read_back(store: Store, corpus: Corpus) -> None:
    from jv4_integrations.errors import InputError
    from jv4_integrations.qdrant.payload import PAYLOAD_FIELDS, build_payload, parse_payload

    plain = build_payload(item_id="a", modality="text", text="t")
    assert tuple(plain) == PAYLOAD_FIELDS and parse_payload(plain).extra == {}
    rich = build_payload(item_id="a", modality="text", text="t", extra={"tool": {"k": [1, 2]}})
    assert rich["extra"] == {"tool": {"k": [1, 2]}} and parse_payload(rich).extra == {"tool": {"k": [1, 2]}}
    with pytest.raises(ValueError, match="extra must be a dict or None, got list"):
        build_payload(item_id="a", modality="text", extra=[1])  # type: ignore[arg-type]

    col = store.open(schema=SMALL)
    extras: list[dict[str, Any] | None] = [{"tool": {"i": i}} if i % 2 else None for i in range(4)]
    ids = col.add_embeddings(corpus.dense[:4], corpus.multivectors[:4], texts=corpus.texts[:4], extras=extras)
    for point, extra in zip(col.get(ids), extras, strict=True):
        assert point.payload.get("extra") == extra and point.metadata == {}  # never mixed into metadata
    with pytest.raises(InputError, match=r"item 1: extra must be a dict or None, got str") as err:
        col.add_embeddings(corpus.dense[4:6], corpus.multivectors[4:6], texts=corpus.texts[4:6], extras=[None, "x"])
    assert len(err.value.problems) == 1 and col.count() == 4  # nothing written
