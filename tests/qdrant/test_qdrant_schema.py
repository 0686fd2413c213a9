"""Collection creation and schema validation: every difference is listed, nothing is changed."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest
from qdrant_helpers import SMALL, Corpus, Store

from jv4_integrations.errors import MissingDependencyError, SchemaMismatchError, StoreError
from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection

RICH = dataclasses.replace(
    SMALL,
    multivector_datatype="float16",
    multivector_quantization="scalar",
    dense_quantization="binary",
    dense_hnsw_m=32,
    multivector_on_disk=True,
)

# (changed settings, words every difference line must contain)
SINGLE_CHANGES: list[tuple[dict[str, Any], list[str]]] = [
    ({"dense_size": 32}, ["'dense' size", "16", "32"]),
    ({"multivector_size": 4}, ["'multivector' size", "8", "4"]),
    ({"multivector_datatype": "float32"}, ["'multivector' datatype", "float16", "float32"]),
    ({"multivector_hnsw_m": 16}, ["'multivector' HNSW m", "0", "16"]),
    ({"dense_hnsw_m": 8}, ["'dense' HNSW m", "32", "8"]),
    ({"multivector_quantization": None}, ["'multivector' quantization", "scalar", "none"]),
    ({"dense_quantization": "scalar"}, ["'dense' quantization", "binary", "scalar"]),
    ({"multivector_on_disk": False}, ["'multivector' on_disk", "True", "False"]),
]


def test_creates_the_requested_schema(store: Store) -> None:
    col = store.open(schema=RICH)
    assert col.count() == 0
    store.restart()
    reopened = store.open(schema=None)  # no schema: read back what the backend reports
    assert reopened.schema == RICH
    record = reopened.info().model
    assert record is not None and (record.dense_size, record.multivector_size) == (16, 8)
    assert (record.dense_name, record.multivector_name) == ("dense", "multivector")


@pytest.mark.parametrize(("change", "words"), SINGLE_CHANGES, ids=[next(iter(c)) for c, _ in SINGLE_CHANGES])
def test_each_single_difference_is_reported(
    store: Store, corpus: Corpus, change: dict[str, Any], words: list[str]
) -> None:
    col = store.open(schema=RICH)
    col.add_embeddings(corpus.dense[:5], corpus.multivectors[:5], texts=corpus.texts[:5])
    with pytest.raises(SchemaMismatchError) as info:
        store.open(schema=dataclasses.replace(RICH, **change))
    assert len(info.value.differences) == 1, info.value.differences
    line = info.value.differences[0]
    assert all(w in line for w in words), line
    assert info.value.collection == "t"
    # untouched: same points, same settings
    store.restart()
    again = store.open(schema=None)
    assert again.schema == RICH and again.count() == 5


def test_every_difference_is_listed_at_once(store: Store) -> None:
    store.open(schema=RICH)
    wanted = CollectionSchema(
        dense_size=64,
        dense_name="emb",
        multivector_name="multivector",
        multivector_size=4,
        multivector_datatype="float32",
        multivector_hnsw_m=4,
    )
    with pytest.raises(SchemaMismatchError) as info:
        store.open(schema=wanted)
    diffs = info.value.differences
    text = "\n".join(diffs)
    assert "vector 'emb' is missing" in text
    assert "vector 'dense' exists in the collection but not in the requested schema" in text
    for words in (
        ["'multivector' size", "8", "4"],
        ["'multivector' datatype", "float16"],
        ["'multivector' HNSW m"],
        ["'multivector' quantization", "scalar"],
        ["'multivector' on_disk"],
    ):
        assert any(all(w in d for w in words) for d in diffs), (words, diffs)
    assert len(diffs) == 7
    assert str(len(diffs)) in str(info.value) and "left unchanged" in str(info.value)


def test_same_schema_opens(store: Store) -> None:
    store.open(schema=RICH)
    assert store.open(schema=RICH).schema == RICH


def test_missing_collection_with_create_false(store: Store) -> None:
    with pytest.raises(StoreError, match=r"collection 'nope' does not exist.*create=True"):
        store.open("nope", schema=SMALL, create=False)
    with pytest.raises(StoreError, match="does not exist"):
        store.open("nope", create=False)  # the failed opens created nothing
    with pytest.raises(StoreError, match="needs schema=CollectionSchema"):
        store.open("nope")  # neither a schema nor an encoder


def test_encoder_must_fit_the_collection(store: Store, encoder: Any) -> None:
    store.open(schema=dataclasses.replace(SMALL, dense_size=12, multivector_size=128))
    with pytest.raises(SchemaMismatchError, match=r"dense size 12 is not a Matryoshka size"):
        store.open(encoder=encoder)
    with pytest.raises(ValueError, match="cannot create collection 'other'"):
        store.open("other", encoder=encoder, schema=CollectionSchema(dense_size=12))


def test_task_is_recorded_and_checked(store: Store, encoder: Any) -> None:
    col = store.open(encoder=encoder, schema=CollectionSchema(dense_size=32))
    assert col.task == "retrieval"
    info = col.info()
    assert info.model is not None and info.model.model == encoder.name_or_path and info.model.task == "retrieval"
    with pytest.raises(SchemaMismatchError, match="written with task 'retrieval', requested 'code'"):
        store.open(encoder=encoder, task="code")
    assert store.open(encoder=encoder).schema.dense_size == 32  # no schema: the collection's own


def test_foreign_collection_is_reported_not_adapted() -> None:
    from qdrant_client import QdrantClient, models

    from jv4_integrations.qdrant import MultiVectorCollection

    client = QdrantClient(":memory:")
    client.create_collection("foreign", vectors_config=models.VectorParams(size=16, distance=models.Distance.DOT))
    with pytest.raises(SchemaMismatchError) as info:
        MultiVectorCollection.open(client, "foreign", schema=SMALL)
    assert "vector 'dense' is missing" in "\n".join(info.value.differences)
    with pytest.raises(SchemaMismatchError, match="cannot tell the dense vector"):
        MultiVectorCollection.open(client, "foreign")
    described = client.get_collection("foreign").config.params.vectors
    assert described.size == 16 and described.distance == models.Distance.DOT  # unchanged


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dense_size": 0}, "dense_size must be an int >= 1"),
        ({"dense_size": 16, "multivector_datatype": "int4"}, r"unknown multivector_datatype 'int4'.*float16"),
        ({"dense_size": 16, "dense_quantization": "pq"}, r"unknown dense_quantization 'pq'.*binary"),
        ({"dense_size": 16, "dense_name": "v", "multivector_name": "v"}, "must differ"),
        ({"dense_size": 16, "shard_keys": ("",)}, "shard keys"),
        ({"dense_size": 16, "replication_factor": 0}, "replication_factor"),
        (
            {"dense_size": 16, "replication_factor": 1, "write_consistency_factor": 3},
            r"write_consistency_factor 3 exceeds the 1 replica\(s\) of each shard",
        ),
        ({"dense_size": 16, "write_consistency_factor": 2}, r"exceeds the 1 replica\(s\)"),  # default: 1 copy
    ],
)
def test_invalid_schemas(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CollectionSchema(**kwargs)


def test_cluster_settings_are_sent_to_a_server() -> None:
    from qdrant_client import models

    from jv4_integrations.qdrant.backends.client_common import create_kwargs

    schema = dataclasses.replace(
        RICH,
        shard_number=6,
        replication_factor=2,
        write_consistency_factor=2,
        shard_keys=("eu", "us"),
        on_disk_payload=True,
    )
    remote = create_kwargs(schema, {"jv4": {}}, remote=True)
    assert (remote["shard_number"], remote["replication_factor"], remote["write_consistency_factor"]) == (6, 2, 2)
    assert remote["sharding_method"] == models.ShardingMethod.CUSTOM and remote["on_disk_payload"] is True
    mv = remote["vectors_config"]["multivector"]
    assert mv.multivector_config.comparator == models.MultiVectorComparator.MAX_SIM
    assert mv.hnsw_config.m == 0 and mv.datatype == models.Datatype.FLOAT16 and mv.on_disk is True
    assert isinstance(mv.quantization_config, models.ScalarQuantization)
    dense = remote["vectors_config"]["dense"]
    assert (
        dense.size == 16
        and dense.hnsw_config.m == 32
        and isinstance(dense.quantization_config, models.BinaryQuantization)
    )
    local = create_kwargs(schema, {}, remote=False)
    assert "shard_number" not in local and "sharding_method" not in local


def test_reported_server_schema_compares_cluster_settings() -> None:
    from types import SimpleNamespace

    from qdrant_client import models

    from jv4_integrations.qdrant.backends.client_common import create_kwargs, reported_schema
    from jv4_integrations.qdrant.schema import schema_differences

    created = create_kwargs(RICH, {}, remote=True)
    params = models.CollectionParams(
        vectors=created["vectors_config"], shard_number=3, replication_factor=1, write_consistency_factor=1
    )
    info = SimpleNamespace(
        config=SimpleNamespace(
            params=params,
            hnsw_config=models.HnswConfig(m=16, ef_construct=100, full_scan_threshold=10000),
            quantization_config=None,
        )
    )
    reported = reported_schema(info, remote=True)
    assert schema_differences(dataclasses.replace(RICH, shard_number=3), reported) == []
    diffs = schema_differences(
        dataclasses.replace(RICH, shard_number=2, replication_factor=2, shard_keys=("a",)), reported
    )
    assert diffs == [
        "shard_number: the collection has 3, requested 2",
        "replication_factor: the collection has 1, requested 2",
        "sharding_method: the collection has 'auto', requested 'custom'",
    ]
    assert reported.vectors["dense"].hnsw_m == 32 and reported.vectors["multivector"].datatype == "float16"


def test_an_unreachable_server_url_fails_at_once_without_a_client_warning() -> None:
    import warnings

    from jv4_integrations.errors import StoreError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(StoreError, match=r"cannot reach the Qdrant server at http://127\.0\.0\.1:9"):
            MultiVectorCollection.open("http://127.0.0.1:9", "t")
    assert not [w for w in caught if "server version" in str(w.message)]


def test_server_version_compatibility_rule() -> None:
    from jv4_integrations.qdrant.backends import version_problem

    assert version_problem("1.20.0", "1.20.3") is None
    assert version_problem("1.20.0", "1.19.0") is None and version_problem("1.20.0", "1.21.1") is None
    assert "may be incompatible" in (version_problem("1.20.0", "1.18.0") or "")
    assert "qdrant-client 1.20.0 and the Qdrant server 2.0.0" in (version_problem("1.20.0", "2.0.0") or "")
    assert version_problem("1.20.0", "dev") is None


def test_record_model_changes_only_the_model_and_persists(disk_store: Store, corpus: Corpus) -> None:
    col = disk_store.open(schema=SMALL)
    col.add_embeddings(corpus.dense, corpus.multivectors, texts=corpus.texts, metadatas=corpus.metadatas)
    before = col.info()
    col.record_model("/models/jv4-moved")
    disk_store.restart()
    reopened = disk_store.open(schema=None)
    after = reopened.info()
    assert after.model is not None and before.model is not None
    assert after.model == dataclasses.replace(before.model, model="/models/jv4-moved")
    assert after.metadata_fields == before.metadata_fields and after.points == before.points == 60
    asyncio.run(reopened.arecord_model("/models/again"))
    assert reopened.model_record is not None and reopened.model_record.model == "/models/again"
    assert reopened.info().model == dataclasses.replace(before.model, model="/models/again")
    with pytest.raises(ValueError, match="non-empty Hub id or folder path"):
        reopened.record_model(" ")


def test_a_missing_engine_is_named_before_anything_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qdrant_edge", None)  # qdrant-edge-py not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'jv4-integrations\[qdrant\]'"):
        MultiVectorCollection.open(tmp_path / "store", "docs", schema=SMALL)
    assert not (tmp_path / "store" / "docs").exists()
