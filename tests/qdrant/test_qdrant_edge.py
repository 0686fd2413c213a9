"""The embedded engine: store layout, shared shards, index builds, single-shard limits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from qdrant_helpers import SMALL, Corpus, query_vectors

from jv4_integrations.errors import StoreError
from jv4_integrations.qdrant import MultiVectorCollection
from jv4_integrations.qdrant.backends import edge as edge_backend


def test_store_layout_and_sidecar(tmp_path: Path, corpus: Corpus) -> None:
    with MultiVectorCollection.open(tmp_path, "docs", schema=SMALL) as col:
        col.add_embeddings(corpus.dense[:3], corpus.multivectors[:3], texts=corpus.texts[:3], metadatas=[{"k": 1}] * 3)
        assert col.backend_kind == "edge"
    assert (tmp_path / "docs" / "shard" / "edge_config.json").is_file()
    sidecar = json.loads((tmp_path / "docs" / "jv4.json").read_text())
    assert sidecar["metadata"]["jv4"]["dense_size"] == 16 and sidecar["metadata"]["jv4_field:k"] == "int"
    with MultiVectorCollection.open(tmp_path, "other", schema=SMALL) as other:  # a second collection, own folder
        assert other.count() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "other"]


def test_two_handles_share_one_shard(tmp_path: Path, corpus: Corpus) -> None:
    a = MultiVectorCollection.open(str(tmp_path), "t", schema=SMALL)
    b = MultiVectorCollection.open(str(tmp_path), "t", schema=SMALL)  # the engine locks a shard per process
    a.add_embeddings(corpus.dense[:4], corpus.multivectors[:4], texts=corpus.texts[:4])
    assert b.count() == 4
    a.close()
    b.add_embeddings(corpus.dense[4:6], corpus.multivectors[4:6], texts=corpus.texts[4:6])
    assert b.count() == 6
    b.close()
    with MultiVectorCollection.open(str(tmp_path), "t", create=False) as c:
        assert c.count() == 6


def test_indexes_build_after_large_writes(tmp_path: Path, corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge_backend, "OPTIMIZE_AFTER", 25)
    col = MultiVectorCollection.open(tmp_path, "t", schema=SMALL)
    builds: list[int] = []
    real = col._backend.optimize

    def spy() -> None:
        builds.append(1)
        real()

    monkeypatch.setattr(col._backend, "optimize", spy)
    col.add_embeddings(corpus.dense[:20], corpus.multivectors[:20], texts=corpus.texts[:20])
    assert builds == []
    d, m = query_vectors(corpus, 0)
    col.add_embeddings(corpus.dense[20:], corpus.multivectors[20:], texts=corpus.texts[20:])
    assert builds == [1]
    before = col.search_by_vector(dense=d, multivector=m, limit=5)
    col.optimize()
    after = col.search_by_vector(dense=d, multivector=m, limit=5)
    assert [h.id for h in before] == [h.id for h in after]
    np.testing.assert_allclose([h.score for h in before], [h.score for h in after], rtol=1e-6)
    col.create_payload_index("metadata.group", "integer")
    assert col.info().payload_indexes == {"doc_id": "keyword", "metadata.group": "integer"}
    with pytest.raises(ValueError, match="unknown payload index type 'number'"):
        col.create_payload_index("metadata.group", "number")
    col.close()


def test_shard_keys_need_a_server(tmp_path: Path, corpus: Corpus) -> None:
    with MultiVectorCollection.open(tmp_path, "t", schema=SMALL) as col:
        with pytest.raises(StoreError, match="shard keys need a Qdrant server"):
            col.add_embeddings(corpus.dense[:1], corpus.multivectors[:1], shard_key="eu")
        d, m = query_vectors(corpus, 0)
        with pytest.raises(StoreError, match="shard keys need a Qdrant server"):
            col.search_by_vector(dense=d, multivector=m, shard_key="eu")
        assert col.count() == 0
