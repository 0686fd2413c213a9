"""The embedded engine's segment layout: optimize() merges the segments to about one per search thread."""

from __future__ import annotations

import json
import logging
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection
from jv4_integrations.qdrant.backends import edge as edge_backend
from jv4_integrations.qdrant.backends import edge_layout

WIDE = CollectionSchema(dense_size=16, multivector_size=32)
BATCH = 300  # points per segment: 300 x 48 tokens x 32 x 4 bytes = 1.8 MB of multi-vectors
SEGMENTS = 6


def test_plan_layout() -> None:
    assert edge_layout.plan_layout([100, 100], 2) is None
    assert edge_layout.plan_layout([], 2) is None
    # the even share times the slack: 600 KB over 2 threads
    assert edge_layout.plan_layout([100] * 6, 2) == 375
    assert edge_layout.plan_layout([7, 5, 3], 1) == 19


def test_segment_sizes_count_written_segments(tmp_path: Path) -> None:
    segments = tmp_path / "shard" / "segments"
    for name, version, size in (("a", 3, 40_000), ("b", 0, 90_000), ("c", 5, 10_000)):
        storage = segments / name / "vector_storage-multivector"
        storage.mkdir(parents=True)
        (storage / "chunk").write_bytes(b"\1" * size)
        (segments / name / "segment.json").write_text(json.dumps({"version": version}))
    (segments / "d" / "vector_storage-dense").mkdir(parents=True)  # unreadable segment.json: counted
    (segments / "d" / "vector_storage-dense" / "v").write_bytes(b"\1" * 4096)
    sizes = edge_layout.segment_sizes_kb(tmp_path / "shard")
    assert len(sizes) == 3  # 'b' was never written
    assert sizes[0] >= 40 and sizes[1] >= 10 and sizes[2] >= 4
    assert len(edge_layout.segment_sizes_kb(tmp_path / "shard", live={"a", "b"})) == 1  # replaced ones left out
    assert edge_layout.segment_sizes_kb(tmp_path / "missing") == []


def _fragmented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, np.ndarray, np.ndarray]:
    """A collection of SEGMENTS segments: the shard is reloaded with optimizer settings that index
    every build and never merge, and each ingestion call builds once. The layout then aims at two."""
    import qdrant_edge as edge

    store = str(tmp_path / "store")
    MultiVectorCollection.open(store, "t", schema=WIDE).close()
    key = str((edge_backend.collection_dir(store, "t") / "shard").resolve())
    no_merge = edge.EdgeOptimizersConfig(indexing_threshold=1, max_segment_size=1, default_segment_number=64)
    config = edge.EdgeConfig(vectors=edge_backend._edge_config(WIDE).vectors, optimizers=no_merge)
    edge.EdgeShard.load(key, config).close()
    monkeypatch.setattr(edge_backend, "OPTIMIZE_AFTER", BATCH)
    monkeypatch.setattr(edge_backend, "search_threads", lambda: 2)  # the layout aims at two segments
    rng = np.random.default_rng(3)
    dense = rng.normal(size=(SEGMENTS * BATCH, 16)).astype(np.float32)
    multi = rng.normal(size=(SEGMENTS * BATCH, 48, 32)).astype(np.float32)
    with MultiVectorCollection.open(store, "t") as col:
        for s in range(SEGMENTS):
            part = slice(s * BATCH, (s + 1) * BATCH)
            col.add_embeddings(dense[part], list(multi[part]), ids=[f"p{i}" for i in range(s * BATCH, (s + 1) * BATCH)])
    return store, dense, multi


def _searches(col: MultiVectorCollection, dense: np.ndarray, multi: np.ndarray) -> list[list[tuple[str, float]]]:
    out = []
    for q in range(3):
        d, m = dense[q * 7] + 0.1, multi[q * 7][:6]
        for mode in ("dense", "multivector", "hybrid"):
            hits = col.search_by_vector(dense=d, multivector=m, mode=mode, limit=8, prefetch_limit=200)
            out.append([(h.id, h.score) for h in hits])
    return out


def _assert_same(a: list[list[tuple[str, float]]], b: list[list[tuple[str, float]]]) -> None:
    assert [[i for i, _ in hits] for hits in a] == [[i for i, _ in hits] for hits in b]
    np.testing.assert_allclose([s for hits in a for _, s in hits], [s for hits in b for _, s in hits], atol=1e-6)


def test_optimize_merges_segments_for_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store, dense, multi = _fragmented(tmp_path, monkeypatch)
    shard_dir = edge_backend.collection_dir(store, "t") / "shard"
    assert len(edge_layout.segment_sizes_kb(shard_dir)) == SEGMENTS
    col = MultiVectorCollection.open(store, "t")
    before = _searches(col, dense, multi)
    with caplog.at_level(logging.INFO, logger="jv4_integrations.qdrant.backends.edge"):
        col.optimize()
    assert "segments of 't'" in caplog.text and "into about 2 of at most" in caplog.text
    assert col._backend.shard.info().segments_count <= 3  # two with data, one empty appendable
    assert col.count() == SEGMENTS * BATCH
    _assert_same(before, _searches(col, dense, multi))
    col.close()
    assert len(edge_layout.segment_sizes_kb(shard_dir)) == 2
    optimizers = json.loads((shard_dir / "edge_config.json").read_text())["optimizers"]
    assert optimizers["default_segment_number"] == 2 and optimizers["max_segment_size"] > 0
    with MultiVectorCollection.open(store, "t", create=False) as again:  # persisted, reopened as it is
        _assert_same(before, _searches(again, dense, multi))
        again.optimize()  # already laid out: nothing to merge
        assert len(edge_layout.segment_sizes_kb(shard_dir)) == 2


def test_optimize_leaves_a_shared_shard_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store, dense, multi = _fragmented(tmp_path, monkeypatch)
    a = MultiVectorCollection.open(store, "t")
    b = MultiVectorCollection.open(store, "t")  # the same shard, another handle
    before = _searches(a, dense, multi)
    with caplog.at_level(logging.INFO, logger="jv4_integrations.qdrant.backends.edge"):
        a.optimize()
    assert "not merged for search: another handle in this process shares it" in caplog.text
    assert a._backend.shard.info().segments_count == SEGMENTS + 1
    _assert_same(before, _searches(b, dense, multi))
    b.close()
    a.optimize()  # the only handle now: merged
    assert a._backend.shard.info().segments_count <= 3
    _assert_same(before, _searches(a, dense, multi))
    a.close()


def test_a_failed_reload_loads_the_shard_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import qdrant_edge as edge

    store, dense, multi = _fragmented(tmp_path, monkeypatch)
    col = MultiVectorCollection.open(store, "t")
    before = _searches(col, dense, multi)
    loads: list[bool] = []

    def load(path: str, config: Any = None) -> Any:
        loads.append(config is not None)
        if config is not None:
            raise Exception("engine refused the settings")  # qdrant_edge raises plain Exception
        return edge.EdgeShard.load(path)

    fake = types.SimpleNamespace(**{n: getattr(edge, n) for n in dir(edge) if not n.startswith("_")})
    fake.EdgeShard = types.SimpleNamespace(load=load)
    monkeypatch.setattr(edge_backend, "_edge", lambda: fake)
    with caplog.at_level(logging.WARNING, logger="jv4_integrations.qdrant.backends.edge"):
        col.optimize()
    assert loads == [True, False]
    assert "engine refused the settings" in caplog.text and "loading it as it was" in caplog.text
    assert col._backend.shard.info().segments_count == SEGMENTS + 1
    _assert_same(before, _searches(col, dense, multi))
    col.close()
