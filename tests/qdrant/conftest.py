"""Fixtures of the Qdrant tests: one store per backend and a synthetic corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_helpers import BACKENDS, SMALL, Corpus, Store, make_corpus

from jv4_integrations.qdrant import MultiVectorCollection


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store on each backend: qdrant-client ':memory:', qdrant-client path=, qdrant-edge."""
    s = Store(request.param, tmp_path)
    yield s
    s.close()


@pytest.fixture(params=("path", "edge"))
def disk_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store on each persistent backend."""
    s = Store(request.param, tmp_path)
    yield s
    s.close()


@pytest.fixture
def corpus() -> Corpus:
    return make_corpus()


@pytest.fixture
def filled(store: Store, corpus: Corpus) -> MultiVectorCollection:
    """A SMALL-schema collection holding the corpus, on every backend."""
    col = store.open(schema=SMALL)
    col.add_embeddings(
        corpus.dense,
        corpus.multivectors,
        texts=corpus.texts,
        metadatas=corpus.metadatas,
        doc_ids=[f"doc{i // 10}" for i in range(len(corpus.texts))],
    )
    return col
