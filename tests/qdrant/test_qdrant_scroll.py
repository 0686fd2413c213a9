"""Scrolling: every stored point exactly once, page by page, with filters and vectors, sync and async."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from qdrant_helpers import SMALL, Corpus, Store, make_corpus

from jv4_integrations.errors import StoreError
from jv4_integrations.qdrant import MultiVectorCollection


def _fill(col: MultiVectorCollection, corpus: Corpus) -> list[str]:
    return col.add_embeddings(
        corpus.dense, corpus.multivectors, texts=corpus.texts, metadatas=corpus.metadatas, doc_ids=[
            f"doc-{i // 10}" for i in range(len(corpus.texts))
        ]
    )  # fmt: skip


@pytest.mark.parametrize("batch_size", [1, 7, 60, 500])
def test_scroll_yields_every_point_once_and_equals_get(store: Store, corpus: Corpus, batch_size: int) -> None:
    col = store.open(schema=SMALL)
    ids = _fill(col, corpus)
    points = list(col.scroll(batch_size=batch_size))
    assert sorted(p.item_id for p in points) == sorted(ids)  # each once, none missing
    by_id = {p.item_id: p for p in col.get(ids)}
    for p in points:
        assert p == by_id[p.item_id]  # same text, metadata, doc id, ... as get()


def test_scroll_with_filters(store: Store, corpus: Corpus) -> None:
    from qdrant_client import models

    col = store.open(schema=SMALL)
    _fill(col, corpus)
    red = [p.text for p in col.scroll({"colour": "red"}, batch_size=8)]
    assert sorted(red) == sorted(t for t, m in zip(corpus.texts, corpus.metadatas, strict=True) if m["colour"] == "red")
    doc = models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value="doc-2"))])
    assert sorted(p.text or "" for p in col.scroll(doc)) == sorted(corpus.texts[20:30])
    assert list(col.scroll({"group": 99})) == []
    assert len(list(col.scroll({"group": 1}))) == col.count({"group": 1})


def test_scroll_with_vectors_returns_what_was_stored(store: Store, corpus: Corpus) -> None:
    col = store.open(schema=SMALL)
    _fill(col, corpus)
    index = {t: i for i, t in enumerate(corpus.texts)}
    points = list(col.scroll(batch_size=13, with_vectors=True))
    assert len(points) == len(corpus.texts)
    for p in points:
        i = index[p.text or ""]
        assert p.dense is not None and p.multivector is not None
        np.testing.assert_allclose(p.dense, corpus.dense[i], atol=1e-6)
        np.testing.assert_allclose(p.multivector, corpus.multivectors[i], atol=1e-6)
    assert all(p.dense is None and p.multivector is None for p in col.scroll(batch_size=13))


def test_an_empty_collection_scrolls_nothing(store: Store) -> None:
    assert list(store.open(schema=SMALL).scroll()) == []


def test_bad_arguments_are_named(store: Store, corpus: Corpus) -> None:
    col = store.open(schema=SMALL)
    _fill(col, corpus)
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            col.scroll(batch_size=bad)  # type: ignore[arg-type]  # raised at once, before iterating
    with pytest.raises(StoreError, match="nonexistent"):
        next(col.scroll({"nonexistent": 1}))  # a filter key no point has, as for search and count


async def test_ascroll_equals_scroll(store: Store, corpus: Corpus) -> None:
    col = store.open(schema=SMALL)
    _fill(col, corpus)
    sync = list(col.scroll({"group": 0}, batch_size=4, with_vectors=True))
    got = [p async for p in col.ascroll({"group": 0}, batch_size=4, with_vectors=True)]
    assert [p.item_id for p in got] == [p.item_id for p in sync]
    for a, b in zip(got, sync, strict=True):
        assert a.dense is not None and b.dense is not None
        np.testing.assert_array_equal(a.dense, b.dense)
    with pytest.raises(ValueError, match="batch_size"):
        col.ascroll(batch_size=0)


async def test_ascroll_on_an_async_client(corpus: Corpus) -> None:
    from qdrant_client import AsyncQdrantClient

    col = await MultiVectorCollection.aopen(AsyncQdrantClient(":memory:"), "a", schema=SMALL)
    ids = await col.aadd_embeddings(corpus.dense, corpus.multivectors, texts=corpus.texts, metadatas=corpus.metadatas)
    points = [p async for p in col.ascroll(batch_size=9)]
    assert sorted(p.item_id for p in points) == sorted(ids)
    green = sorted([p.text or "" async for p in col.ascroll({"colour": "green", "group": 2}, batch_size=2)])
    expected = [
        t for t, m in zip(corpus.texts, corpus.metadatas, strict=True) if m["colour"] == "green" and m["group"] == 2
    ]
    assert green == sorted(expected) and len(green) == 10
    await col.aclose()


def test_the_docs_migration_recipe_copies_every_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 4 of "Moving to a cluster" in docs/qdrant.md, run as written: embedded store -> another backend."""
    from qdrant_client import QdrantClient

    text = (Path(__file__).resolve().parents[2] / "docs" / "qdrant.md").read_text()
    start = text.index("```python", text.index("4. **Copy the points**")) + len("```python")
    code = textwrap.dedent(text[start : text.index("```", start)])
    corpus = make_corpus(300)  # more than one page of 256
    monkeypatch.chdir(tmp_path)
    with MultiVectorCollection.open("./jv4-data", "docs", schema=SMALL) as col:
        ids = _fill(col, corpus)
        col.delete(ids[:5])  # a store that has seen deletes
    target = MultiVectorCollection.open(QdrantClient(":memory:"), "docs", schema=SMALL)
    exec(code, {"MultiVectorCollection": MultiVectorCollection, "target": target})
    assert target.count() == 295
    with MultiVectorCollection.open("./jv4-data", "docs", create=False) as source:
        expected = {p.item_id: p for p in source.get(ids, with_vectors=True)}
    copied = {p.item_id: p for p in target.get(ids, with_vectors=True)}
    assert copied.keys() == expected.keys() == set(ids[5:])
    for item_id, p in copied.items():
        q = expected[item_id]
        assert (p.id, p.text, p.metadata, p.doc_id, p.modality, p.source) == (
            q.id, q.text, q.metadata, q.doc_id, q.modality, q.source
        )  # fmt: skip
        np.testing.assert_allclose(p.dense, q.dense, atol=1e-6)
        np.testing.assert_allclose(p.multivector, q.multivector, atol=1e-3)  # float32 copy of the stored vectors
    target.close()
