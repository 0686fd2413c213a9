"""Ingestion: one forward pass per chunk, deterministic ids, idempotent and resumable writes, payloads."""

from __future__ import annotations

import dataclasses
import datetime
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_helpers import SMALL, Corpus, Store

from jv4_integrations import ImageRef, Mixed
from jv4_integrations.errors import InputError, StoreError
from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection, point_id
from jv4_integrations.qdrant.ingest import estimate_request_bytes

SCHEMA = CollectionSchema(dense_size=32)
TEXTS = [f"document number {i} about topic {i % 4}" for i in range(10)]


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_items_payloads_and_vectors(store: Store, encoder: Any, image_factory: Any, tmp_path: Path) -> None:
    col = store.open(encoder=encoder, schema=SCHEMA)
    path = tmp_path / "page.png"
    path.write_bytes(_png(image_factory(2)))
    items = [
        "a plain text",
        image_factory(1),
        path,
        ImageRef(str(path)),
        _png(image_factory(3)),
        Mixed("caption of a page", [path]),
    ]
    metas = [{"n": i, "nested": {"tags": ["x", "y"]}} for i in range(len(items))]
    ids = col.add(items, metadatas=metas, doc_ids=["d1", "d1", "d2", "d2", None, "d3"])
    assert len(ids) == 6 and all(i.startswith("sha256:") for i in ids)
    assert ids[2] == ids[3]  # the same file as Path and as ImageRef is one item
    assert col.count() == 5
    got = {p.item_id: p for p in col.get(ids, with_vectors=True)}
    assert [got[i].modality for i in ids] == ["text", "image", "image", "image", "image", "mixed"]
    assert [got[i].text for i in ids] == ["a plain text", None, None, None, None, "caption of a page"]
    assert [got[i].source for i in ids] == [None, None, str(path), str(path), None, str(path)]
    assert [got[i].doc_id for i in ids] == ["d1", "d1", "d2", "d2", None, "d3"]
    assert got[ids[0]].metadata == metas[0]  # verbatim, nothing added
    assert set(got[ids[0]].payload) == {"text", "metadata", "modality", "source", "doc_id", "item_id", "jv4_schema"}
    assert got[ids[0]].payload["jv4_schema"] == 1 and got[ids[0]].id == point_id(ids[0])
    # stored vectors are the encoder's document vectors (values, not just shapes)
    ref = encoder.encode_documents([items[0], items[5]], output="both", truncate_dim=32)
    for k, item_id in enumerate([ids[0], ids[5]]):
        np.testing.assert_allclose(got[item_id].dense, ref.dense[k], atol=1e-5)
        np.testing.assert_allclose(got[item_id].multivector, ref.multivector[k], atol=1e-5)


def test_same_pixels_same_id_in_any_form(store: Store, encoder: Any, image_factory: Any, tmp_path: Path) -> None:
    col = store.open(encoder=encoder, schema=SCHEMA)
    image = image_factory(7)
    path = tmp_path / "x.png"
    path.write_bytes(_png(image))
    with open(path, "rb") as handle:
        ids = col.add([image, path, _png(image), ImageRef(str(path)), handle])
    assert len(set(ids)) == 1 and col.count() == 1
    assert col.add([image_factory(8)]) != ids and col.count() == 2


def test_readding_updates_instead_of_duplicating(store: Store, encoder: Any) -> None:
    col = store.open(encoder=encoder, schema=SCHEMA)
    first = col.add(TEXTS)
    assert col.add(TEXTS) == first and col.count() == 10
    mine = col.add(TEXTS[:3], ids=["a", "b", 7], metadatas=[{"v": 1}] * 3)
    assert mine == ["a", "b", "7"] and col.count() == 13
    col.add(["new text for a"], ids=["a"], metadatas=[{"v": 2}])
    assert col.count() == 13
    (a,) = col.get(["a"])
    assert (a.text, a.metadata) == ("new text for a", {"v": 2})


def test_interrupted_ingestion_rerun_is_exact(store: Store, encoder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    col = store.open(encoder=encoder, schema=SCHEMA)
    backend = col._backend
    real = backend.upsert
    calls = {"n": 0}

    def flaky(points: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise StoreError("connection lost (injected)")
        real(points, **kwargs)

    monkeypatch.setattr(backend, "upsert", flaky)
    with pytest.raises(StoreError, match="injected"):
        col.add(TEXTS, batch_size=3)
    assert col.count() == 3  # the first chunk landed, nothing else
    monkeypatch.setattr(backend, "upsert", real)
    ids = col.add(TEXTS, batch_size=3)
    assert col.count() == 10 and len(set(ids)) == 10
    assert sorted(p.text or "" for p in col.get(ids)) == sorted(TEXTS)


def test_skip_existing_resumes_without_reencoding(store: Store, encoder: Any) -> None:
    col = store.open(encoder=encoder, schema=SCHEMA)
    col.add(TEXTS[:4], batch_size=4)
    before = encoder.forward_calls
    ids = col.add(TEXTS, batch_size=4, skip_existing=True)
    assert encoder.forward_calls - before == 2  # chunk 1 was stored already: only chunks 2 and 3 encode
    assert col.count() == 10 and len(ids) == 10


def test_one_forward_pass_per_chunk_gives_both_vectors(store: Store, encoder: Any) -> None:
    col = store.open(encoder=encoder, schema=SCHEMA)
    before = encoder.forward_calls
    col.add(TEXTS, batch_size=4)
    assert encoder.forward_calls - before == 3


def test_upserts_are_split_by_request_size(store: Store, corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    col = MultiVectorCollection.open(store.location(), "sized", schema=SMALL, max_request_bytes=4_000)
    store._open.append(col)
    sizes: list[list[int]] = []
    real = col._backend.upsert

    def record(points: Any, **kwargs: Any) -> None:
        sizes.append([estimate_request_bytes(p) for p in points])
        real(points, **kwargs)

    monkeypatch.setattr(col._backend, "upsert", record)
    col.add_embeddings(corpus.dense, corpus.multivectors, texts=corpus.texts)
    assert len(sizes) > 1 and sum(len(s) for s in sizes) == 60
    assert all(sum(s) <= 4_000 or len(s) == 1 for s in sizes)
    assert col.count() == 60


def test_wrong_vector_sizes_name_the_item(store: Store, corpus: Corpus) -> None:
    col = store.open(schema=SMALL)
    dense = [corpus.dense[0], corpus.dense[1][:12], corpus.dense[2]]
    mvs = [corpus.multivectors[0], corpus.multivectors[1], np.ones((3, 5), np.float32)]
    with pytest.raises(InputError) as info:
        col.add_embeddings(dense, mvs)
    assert [p.index for p in info.value.problems] == [1, 2]
    assert "item 1: dense vector has shape (12,); collection 't' expects (16,) for 'dense'" in str(info.value)
    assert "item 2: multi-vector has shape (3, 5)" in str(info.value) and "(n_tokens >= 1, 8)" in str(info.value)
    with pytest.raises(InputError, match="NaN"):
        col.add_embeddings([np.full(16, np.nan)], [corpus.multivectors[0]])
    with pytest.raises(ValueError, match="multivectors has 1 entries for 2 items"):
        col.add_embeddings(corpus.dense[:2], corpus.multivectors[:1])
    assert col.count() == 0  # nothing was written


def test_bad_items_are_named_and_nothing_is_written(store: Store, encoder: Any) -> None:
    col = store.open(encoder=encoder, schema=SCHEMA)
    with pytest.raises(InputError) as info:
        col.add(["fine", "   ", None, ImageRef("missing.png")])
    assert [p.index for p in info.value.problems] == [1, 2, 3]
    assert "item 1: empty text '   '" in str(info.value) and "item 2: None is not a valid input" in str(info.value)
    assert "item 3: image file 'missing.png' does not exist" in str(info.value)
    with pytest.raises(InputError) as info:  # checked for the whole call before the first chunk is written
        col.add(["a", "b", "c", None], batch_size=2)
    assert [p.index for p in info.value.problems] == [3]
    assert col.count() == 0
    with pytest.raises(InputError) as info:  # a corrupt image is found when its chunk is decoded
        col.add(["a", "b", "c", b"not an image"], batch_size=2)
    assert [p.index for p in info.value.problems] == [3] and "not a readable image" in str(info.value)
    assert col.count() == 2  # the first chunk was written; fixing item 3 and rerunning completes the call
    with pytest.raises(ValueError, match="metadatas has 1 entries for 2 items"):
        col.add(["a", "b"], metadatas=[{}])
    with pytest.raises(ValueError, match=r"id of item 1 must be a str, int or uuid\.UUID"):
        col.add(["a", "b"], ids=["x", 1.5])
    with pytest.raises(TypeError, match="wrap a single item in a list"):
        col.add("just a string")
    assert col.count() == 2


def test_metadata_is_stored_in_json_form(store: Store, corpus: Corpus) -> None:
    col = store.open(schema=SMALL)
    given = {
        "when": datetime.datetime(2024, 5, 1, 12, 30),
        "day": datetime.date(2024, 5, 1),
        "pages": (1, 2),
        "file": Path("docs/a.txt"),
        "n": np.int64(7),
        "x": np.float32(0.5),
        "ok": np.bool_(True),
        "nested": {"tags": ("a", "b"), "none": None},
    }
    original = dict(given)
    col.add_embeddings(corpus.dense[:2], corpus.multivectors[:2], ids=["a", "b"], metadatas=[given, {"n": 3}])
    assert given == original  # the caller's dict is not modified
    stored = col.get(["a"])[0].metadata
    assert stored == {
        "when": "2024-05-01T12:30:00",
        "day": "2024-05-01",
        "pages": [1, 2],
        "file": "docs/a.txt",
        "n": 7,
        "x": 0.5,
        "ok": True,
        "nested": {"tags": ["a", "b"], "none": None},
    }
    assert type(stored["n"]) is int and type(stored["ok"]) is bool
    assert col.count({"when": {"gte": "2024-05-01T00:00:00Z"}}) == 1  # a datetime range reads the ISO string
    assert col.count({"n": 7}) == 1 and col.count({"ok": True}) == 1
    assert col.info().metadata_fields["pages"] == "list"


def test_metadata_that_cannot_be_stored_is_refused_before_anything_is_written(
    store: Store, corpus: Corpus, encoder: Any
) -> None:
    col = store.open(schema=SMALL)
    bad = [{1: "x"}, {"fine": 1}, {"s": {1, 2}}, {"v": [1.0, float("nan")]}, {"": 1}, {"d": {"k": {2: "y"}}}]
    with pytest.raises(InputError) as info:
        col.add_embeddings(corpus.dense[:6], corpus.multivectors[:6], metadatas=bad)
    assert [p.index for p in info.value.problems] == [0, 2, 3, 4, 5]
    text = str(info.value)
    assert "item 0: metadata has the key 1; metadata keys must be non-empty strings" in text
    assert "item 2: metadata['s'] is a set, which metadata cannot hold" in text
    assert "item 3: metadata['v'][1] is nan; metadata numbers must be finite" in text
    assert "item 5: metadata['d']['k'] has the key 2" in text
    assert col.count() == 0 and "fine" not in col.info().metadata_fields  # no keys recorded for a failed write
    with_encoder = store.open("enc", encoder=encoder, schema=SCHEMA)
    before = encoder.forward_calls
    with pytest.raises(InputError, match=r"item 3: metadata\['b'\] is a bytes"):
        with_encoder.add(["a", "b", "c", "d"], metadatas=[{}, {}, {}, {"b": b"xx"}], batch_size=2)
    assert encoder.forward_calls == before and with_encoder.count() == 0  # refused before any encoding


def test_dotted_metadata_keys_are_stored_with_a_warning_and_filters_on_them_explain(
    store: Store, corpus: Corpus, caplog: pytest.LogCaptureFixture
) -> None:
    col = store.open(schema=SMALL)
    with caplog.at_level("WARNING", logger="jv4_integrations"):
        col.add_embeddings(corpus.dense[:2], corpus.multivectors[:2], ids=["a", "b"], metadatas=[{"a.b": 1}, {"c": 2}])
    assert "metadata key(s) ['a.b']" in caplog.text and "no filter can select on them" in caplog.text
    assert col.get(["a"])[0].metadata == {"a.b": 1}  # stored as given
    with pytest.raises(StoreError, match=r"filter on \['metadata.a.b'\].*contain '\.', which Qdrant filters read as"):
        col.count({"a.b": 1})
    with pytest.raises(StoreError, match=r"unknown field\(s\) \['metadata.x.y'\]"):  # a plain typo keeps its message
        col.count({"x.y": 1})
    assert col.count({"c": 2}) == 1


def test_repeated_ids_in_one_call_are_refused_and_nothing_is_written(store: Store, corpus: Corpus) -> None:
    col = store.open(schema=SMALL)
    dense, mvs = corpus.dense[:4], corpus.multivectors[:4]
    with pytest.raises(InputError) as info:
        col.add_embeddings(dense, mvs, ids=["a", "b", "a", 1])
    assert [p.index for p in info.value.problems] == [2]
    assert "item 2: id 'a' repeats the id of item 0 (ids must be unique in one call)" in str(info.value)
    with pytest.raises(InputError, match="item 1: id '7' repeats the id of item 0"):  # 7 and "7" are one id
        col.add_embeddings(dense[:2], mvs[:2], ids=[7, "7"])
    assert col.count() == 0
    assert col.add_embeddings(dense, mvs, ids=["a", "b", "c", "d"]) == ["a", "b", "c", "d"]
    assert col.add_embeddings(dense[:2], mvs[:2], ids=["a", "b"]) == ["a", "b"]  # across calls: an update
    assert col.count() == 4


def test_repeated_content_without_ids_is_one_point_and_logged(
    store: Store, encoder: Any, caplog: pytest.LogCaptureFixture
) -> None:
    col = store.open(encoder=encoder, schema=SCHEMA)
    with caplog.at_level("WARNING", logger="jv4_integrations"):
        ids = col.add(["same", "other", "same"], metadatas=[{"n": 1}, {"n": 2}, {"n": 3}])
    assert ids[0] == ids[2] != ids[1] and col.count() == 2
    assert col.get([ids[0]])[0].metadata == {"n": 3}  # the copy written last
    assert "1 item(s) written to 't' repeat the content of an earlier item" in caplog.text
    with pytest.raises(InputError, match="item 1: id 'x' repeats the id of item 0"):
        col.add(["same", "other"], ids=["x", "x"])
    caplog.clear()
    with caplog.at_level("WARNING", logger="jv4_integrations"):
        col.add(["third", "fourth"])
    assert "repeat the content" not in caplog.text


def test_store_images_keeps_pixels_as_data_uri(store: Store, encoder: Any, image_factory: Any) -> None:
    col = store.open(encoder=encoder, schema=SCHEMA)
    image = image_factory(4)
    (item_id,) = col.add([image], store_images=True)
    (point,) = col.get([item_id])
    assert point.source is not None and point.source.startswith("data:image/png;base64,")
    assert col.add([ImageRef(point.source)]) == [item_id]  # the stored pixels are the same item
    assert col.count() == 1


def test_encoder_needed_and_uint8_refused(store: Store, encoder: Any) -> None:
    with pytest.raises(StoreError, match="needs an encoder"):
        store.open("plain", schema=SMALL).add(["text"])
    col = store.open("bytes", encoder=encoder, schema=dataclasses.replace(SCHEMA, multivector_datatype="uint8"))
    with pytest.raises(StoreError, match="uint8"):
        col.add(["text"])


def test_precomputed_ids_match_add(store: Store, encoder: Any) -> None:
    col = store.open(encoder=encoder, schema=SCHEMA)
    result = encoder.encode_documents(TEXTS[:2], output="both", truncate_dim=32)
    ids = col.add_embeddings(result.dense, result.multivector, texts=TEXTS[:2], metadatas=[{"k": 1}, {"k": 2}])
    assert col.add(TEXTS[:2]) == ids and col.count() == 2


def test_deferred_images_give_the_same_ids_and_vectors(
    store: Store, encoder: Any, image_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.png"
    path.write_bytes(_png(image_factory(11)))
    items = [path, _png(image_factory(12)), Mixed("two pages", [path, _png(image_factory(13))]), image_factory(14)]
    eager = store.open("eager", encoder=encoder, schema=SCHEMA)
    eager_ids = eager.add(items)
    # a decoded-memory budget of one byte: every image file / bytes is validated, then decoded again later
    monkeypatch.setattr(encoder, "image_limits", dataclasses.replace(encoder.image_limits, max_decoded_bytes=1))
    lazy = store.open("lazy", encoder=encoder, schema=SCHEMA)
    assert lazy.add(items) == eager_ids
    for a, b in zip(eager.get(eager_ids, with_vectors=True), lazy.get(eager_ids, with_vectors=True), strict=True):
        assert (a.item_id, a.source, a.modality) == (b.item_id, b.source, b.modality)
        np.testing.assert_allclose(a.dense, b.dense, atol=1e-6)
        np.testing.assert_allclose(a.multivector, b.multivector, atol=1e-6)


def test_delete_with_an_empty_filter_is_refused_and_deletes_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    import pytest

    from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection

    rng = np.random.default_rng(0)
    with MultiVectorCollection.open(str(tmp_path / "store"), "c", schema=CollectionSchema(dense_size=8)) as col:
        col.add_embeddings(
            rng.normal(size=(2, 8)), [rng.normal(size=(3, 128)), rng.normal(size=(2, 128))], texts=["a", "b"]
        )
        with pytest.raises(ValueError, match="empty filter"):
            col.delete(filter={})
        assert col.count() == 2


def test_encode_kwargs_reach_the_encode_call(store: Store, encoder: Any, image_factory: Any) -> None:
    col = store.open(encoder=encoder, schema=SCHEMA)
    items = ["a long passage " * 20, image_factory(3)]
    options = {"max_length": 9, "max_pixels": 28 * 28 * 4}
    ids = col.add(items, ids=["t", "i"], encode_kwargs=options)
    ref = encoder.encode_documents(items, output="both", truncate_dim=32, **options)
    for k, point in enumerate(col.get(ids, with_vectors=True)):
        np.testing.assert_allclose(point.multivector, ref.multivector[k], atol=1e-5)
        np.testing.assert_allclose(point.dense, ref.dense[k], atol=1e-5)
    plain = encoder.encode_documents(items, output="multivector", truncate_dim=32)
    assert [m.shape[0] for m in ref.multivector] != [m.shape[0] for m in plain.multivector]  # the options mattered
    with pytest.raises(TypeError, match=r"unsupported encode_kwargs \['task'\]; add\(\) accepts \['max_length'"):
        col.add(["x"], encode_kwargs={"task": "code"})
    assert col.count() == 2
