"""The embedded engine: store layout, shared shards, index builds, single-shard limits."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
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
    real = col._backend._build

    def spy() -> None:
        builds.append(1)
        real()

    monkeypatch.setattr(col._backend, "_build", spy)
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


def test_one_large_call_builds_as_it_goes(tmp_path: Path, corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge_backend, "OPTIMIZE_AFTER", 25)
    # one point per upsert request: the build check runs after each request, not once per call
    col = MultiVectorCollection.open(tmp_path, "t", schema=SMALL, max_request_bytes=1)
    pending: list[int] = []
    real = col._backend._build

    def spy() -> None:
        pending.append(col._backend._pending)
        real()

    monkeypatch.setattr(col._backend, "_build", spy)
    col.add_embeddings(corpus.dense, corpus.multivectors, texts=corpus.texts)
    assert pending == [25] * (len(corpus.dense) // 25)
    assert col.count() == len(corpus.dense)
    col.close()


def test_shard_keys_need_a_server(tmp_path: Path, corpus: Corpus) -> None:
    with MultiVectorCollection.open(tmp_path, "t", schema=SMALL) as col:
        with pytest.raises(StoreError, match="shard keys need a Qdrant server"):
            col.add_embeddings(corpus.dense[:1], corpus.multivectors[:1], shard_key="eu")
        d, m = query_vectors(corpus, 0)
        with pytest.raises(StoreError, match="shard keys need a Qdrant server"):
            col.search_by_vector(dense=d, multivector=m, shard_key="eu")
        assert col.count() == 0


_OTHER_PROCESS = """
import sys
from jv4_integrations.errors import StoreError
from jv4_integrations.qdrant import MultiVectorCollection
try:
    col = MultiVectorCollection.open(sys.argv[1], "t", create=False)
except StoreError as exc:
    print("refused:", exc)
else:
    print("count:", col.count())
    col.close()
"""


def _other_process(store: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, str(store)], capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout.strip()


def test_a_store_open_in_another_process_is_refused_at_open(tmp_path: Path, corpus: Corpus) -> None:
    with MultiVectorCollection.open(tmp_path, "t", schema=SMALL) as col:
        col.add_embeddings(corpus.dense[:3], corpus.multivectors[:3], texts=corpus.texts[:3])
        message = _other_process(tmp_path)
        assert message.startswith("refused:") and "in use by another process" in message, message
        assert col.count() == 3  # the holder is unaffected
    assert _other_process(tmp_path) == "count: 3"  # closed: the other process opens it


def test_a_handle_dropped_without_close_gives_the_store_back(tmp_path: Path, corpus: Corpus) -> None:
    def write_and_drop() -> None:
        col = MultiVectorCollection.open(tmp_path, "t", schema=SMALL)
        col.add_embeddings(corpus.dense[:2], corpus.multivectors[:2], texts=corpus.texts[:2])

    write_and_drop()
    gc.collect()
    assert not edge_backend._registry
    assert _other_process(tmp_path) == "count: 2"
    kept = MultiVectorCollection.open(tmp_path, "t", create=False)  # a live handle still holds it
    assert kept.count() == 2
    assert _other_process(tmp_path).startswith("refused:")
    kept.close()


def test_a_handle_collected_during_a_registry_operation_is_released_later(tmp_path: Path) -> None:
    col = MultiVectorCollection.open(tmp_path, "t", schema=SMALL)
    with edge_backend._registry_lock:  # as if a collection pass ran inside another open()/close()
        del col
        gc.collect()  # the finalizer must not wait for the lock (it would deadlock): it queues
        assert len(edge_backend._pending) == 1 and len(edge_backend._registry) == 1
    MultiVectorCollection.open(tmp_path, "other", schema=SMALL).close()  # the next operation applies it
    assert not edge_backend._pending and not edge_backend._registry
    assert _other_process(tmp_path) == "count: 0"


def test_a_relative_store_keeps_working_after_a_change_of_directory(
    tmp_path: Path, corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    col = MultiVectorCollection.open("./store", "t", schema=SMALL)
    monkeypatch.chdir(tmp_path / "b")  # the engine must not resolve its files against the new directory
    col.add_embeddings(corpus.dense[:3], corpus.multivectors[:3], texts=corpus.texts[:3])
    col.optimize()
    col.close()
    assert not (tmp_path / "b" / "store").exists()
    with MultiVectorCollection.open(tmp_path / "a" / "store", "t", create=False) as again:
        assert again.count() == 3
