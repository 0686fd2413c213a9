"""JV4QdrantVectorStore: LlamaIndex metadata filters, ref-doc and node restrictions, deletes, and bad input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_helpers import TEXTS
from llama_index.core.schema import ImageNode, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_store_helpers import search_nodes

from jv4_integrations import InputError, JV4Encoder, StoreError
from jv4_integrations.llama_index import JV4Embedding, JV4QdrantVectorStore
from jv4_integrations.llama_index.filters import SUPPORTED_OPERATORS

Make = Callable[..., JV4QdrantVectorStore]
ALL = {"t0", "t1", "t2", "t3", "i0", "i1", "i2"}


def f(key: str, value: Any, op: str = "==") -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=FilterOperator(op))


def fs(*filters: MetadataFilter | MetadataFilters, condition: str = "and") -> MetadataFilters:
    return MetadataFilters(filters=list(filters), condition=FilterCondition(condition))


@pytest.fixture(scope="module")
def shared_store(
    tmp_path_factory: pytest.TempPathFactory, encoder: JV4Encoder, image_factory: Any
) -> Iterator[JV4QdrantVectorStore]:
    """One store for the read-only tests of this module (opening and filling one takes ~1 s)."""
    root = tmp_path_factory.mktemp("filters")
    paths = []
    for seed in range(3):
        paths.append(root / f"image-{seed}.png")
        image_factory(seed).save(paths[-1])
    store = JV4QdrantVectorStore(str(root / "store"), "nodes", embed_model=JV4Embedding(encoder=encoder))
    store.add(search_nodes(paths))
    yield store
    store.close()


@pytest.fixture
def store(make_store: Make, image_paths: list[Path]) -> JV4QdrantVectorStore:
    """A store of its own, for tests that change it."""
    store = make_store()
    store.add(search_nodes(image_paths))
    return store


def found(store: JV4QdrantVectorStore, filters: MetadataFilters | None = None, **kwargs: Any) -> set[str]:
    """Every node the query can return (top-k above the collection size), in dense mode."""
    query = VectorStoreQuery(
        query_str="anything", similarity_top_k=20, filters=filters, doc_ids=kwargs.pop("doc", None)
    )
    return set(store.query(query, mode=kwargs.pop("mode", "dense"), **kwargs).ids or [])


CASES = [
    (fs(f("topic", "pets")), {"t0", "i0"}),
    (fs(f("topic", "pets", "!=")), ALL - {"t0", "i0"}),
    (fs(f("year", 2021, ">")), {"t2", "t3", "i1", "i2"}),
    (fs(f("year", 2021, ">=")), {"t1", "t2", "t3", "i1", "i2"}),
    (fs(f("year", 2020, "<")), {"t0"}),
    (fs(f("year", 2020, "<=")), {"t0", "i0"}),
    (fs(f("score", 1.5)), {"t1"}),  # float equality
    (fs(f("score", 1.0, ">")), {"t1", "t2"}),
    (fs(f("topic", ["pets", "food"], "in")), {"t0", "i0", "t2", "i2"}),
    (fs(f("topic", ["pets", "food"], "nin")), {"t1", "t3", "i1"}),
    (fs(f("tags", ["a", "c"], "any")), {"t0", "t3"}),
    (fs(f("tags", ["a", "b"], "all")), {"t0"}),
    (fs(f("tags", "b", "contains")), {"t0", "t1"}),
    (fs(f("title", "bread", "text_match")), {"t2"}),
    (fs(f("title", "REVENUE", "text_match_insensitive")), {"t1"}),
    (fs(f("tags", None, "is_empty")), {"t2", "i0", "i1", "i2"}),  # [] or missing
    (fs(f("topic", ["pets", "finance"], "in"), f("year", 2021, ">=")), {"t1", "i1"}),
    (fs(f("topic", "food"), f("year", 2020, "<"), condition="or"), {"t2", "i2", "t0"}),
    (fs(f("topic", "pets"), f("topic", "food"), condition="not"), {"t1", "t3", "i1"}),  # none of them holds
    (fs(f("year", 2020, ">="), fs(f("topic", "pets"), f("topic", "code"), condition="or")), {"i0", "t3"}),
]


@pytest.mark.parametrize(("filters", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_metadata_filters(shared_store: JV4QdrantVectorStore, filters: MetadataFilters, expected: set[str]) -> None:
    assert found(shared_store, filters) == expected


@pytest.mark.parametrize(("filters", "expected"), CASES[:6], ids=[str(i) for i in range(6)])
def test_get_nodes_by_filters_reads_what_a_query_finds(
    shared_store: JV4QdrantVectorStore, filters: MetadataFilters, expected: set[str]
) -> None:
    nodes = shared_store.get_nodes(filters=filters)
    assert sorted(n.node_id for n in nodes) == sorted(expected)  # each once
    by_id = {n.node_id: n for n in shared_store.get_nodes(sorted(ALL))}
    for node in nodes:  # the same nodes as reading them by id
        assert node.get_content() == by_id[node.node_id].get_content() and node.metadata == by_id[node.node_id].metadata


async def test_get_nodes_by_ids_and_filters_keeps_the_request_order(shared_store: JV4QdrantVectorStore) -> None:
    recent = fs(f("year", 2021, ">="))  # t1, t2, t3, i1, i2
    asked = ["i2", "t0", "t3", "missing", "t1", "i2"]
    expected = ["i2", "t3", "t1"]  # matching ids, in request order, each once
    assert [n.node_id for n in shared_store.get_nodes(asked, filters=recent)] == expected
    assert [n.node_id for n in await shared_store.aget_nodes(asked, filters=recent)] == expected
    assert {n.node_id for n in await shared_store.aget_nodes(filters=recent)} == {"t1", "t2", "t3", "i1", "i2"}
    assert {n.node_id for n in shared_store.get_nodes()} == ALL  # neither: every node
    assert shared_store.get_nodes(filters=fs(f("year", 3000, ">"))) == []


def test_filters_apply_in_every_mode_and_with_restrictions(shared_store: JV4QdrantVectorStore) -> None:
    pets_or_food = fs(f("topic", ["pets", "food"], "in"))
    for mode in ("hybrid", "multivector"):
        assert found(shared_store, pets_or_food, mode=mode) == {"t0", "i0", "t2", "i2"}
    assert found(shared_store, doc=["doc-a"]) == {"t0", "t1"}
    assert found(shared_store, pets_or_food, doc=["doc-a", "doc-c"]) == {"t0", "i0", "i2"}
    assert found(shared_store, node_ids=["t0", "i1", "t3"]) == {"t0", "i1", "t3"}
    assert found(shared_store, pets_or_food, node_ids=["t0", "i1"]) == {"t0"}
    assert found(shared_store, filter={"topic": "finance"}) == {"t1", "i1"}  # a jv4 metadata dict, ANDed
    assert found(shared_store, fs()) == ALL and found(shared_store, doc=[]) == ALL  # empty = no restriction


def test_unsupported_filter_operator_names_the_valid_ones(shared_store: JV4QdrantVectorStore) -> None:
    bad = MetadataFilter.model_construct(key="topic", value="pets", operator="regex")
    with pytest.raises(ValueError, match=r"unsupported filter operator 'regex' on key 'topic'") as err:
        found(shared_store, MetadataFilters(filters=[bad]))
    for op in SUPPORTED_OPERATORS:
        assert repr(op) in str(err.value)
    assert set(SUPPORTED_OPERATORS) == {op.value for op in FilterOperator}  # every LlamaIndex operator maps
    bad_condition = MetadataFilters.model_construct(filters=[f("topic", "pets")], condition="xor")
    with pytest.raises(ValueError, match=r"unsupported filter condition 'xor'.*\['and', 'or', 'not'\]"):
        found(shared_store, bad_condition)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (fs(f("year", [2020, 2021], ">")), r"filter 'year' > \[2020, 2021\]: operator '>' takes one value"),
        (fs(f("topic", "pets", "in")), r"filter 'topic' in 'pets': operator 'in' takes a non-empty list"),
        (fs(f("year", "soon", ">")), r"filter 'year' > 'soon': a str bound must be an ISO-8601 datetime"),
        (fs(f("title", 3, "text_match")), r"a text match takes a non-empty str"),
    ],
)
def test_filter_values_that_do_not_fit_their_operator(
    shared_store: JV4QdrantVectorStore, filters: MetadataFilters, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        found(shared_store, filters)


def test_filter_on_a_key_no_node_has_is_an_error(shared_store: JV4QdrantVectorStore) -> None:
    with pytest.raises(StoreError, match=r"unknown field\(s\) \['metadata.topc'\].*'metadata.topic'"):
        found(shared_store, fs(f("topc", "pets")))


def test_delete_by_ref_doc_id_nodes_filters_and_clear(store: JV4QdrantVectorStore) -> None:
    store.delete("doc-a")
    assert found(store) == ALL - {"t0", "t1"}
    store.delete_nodes(["t2", "nope"])
    assert found(store) == {"t3", "i0", "i1", "i2"}
    store.delete_nodes(filters=fs(f("year", 2022, ">=")))
    assert found(store) == {"i0"}
    assert [n.node_id for n in store.get_nodes(["i0", "t3", "i1"])] == ["i0"]
    with pytest.raises(ValueError, match="give node_ids and / or filters"):
        store.delete_nodes()
    store.clear()
    assert store.client.count() == 0 and found(store) == set()
    assert store.client.info().model is not None  # the collection and its record stay


def test_bad_modes_and_options_are_clear_errors(shared_store: JV4QdrantVectorStore, make_store: Make) -> None:
    query = VectorStoreQuery(query_str="cat", similarity_top_k=2)
    with pytest.raises(
        ValueError, match=r"unknown mode 'maxsim'; expected one of \['hybrid', 'dense', 'multivector'\]"
    ):
        shared_store.query(query, mode="maxsim")
    with pytest.raises(ValueError, match=r"unknown mode 'fast'; expected one of"):
        make_store(mode="fast")
    with pytest.raises(ValueError, match=r"prefetch_limit must be an int >= 1, got 0"):
        make_store(prefetch_limit=0)
    with pytest.raises(ValueError, match=r"query mode 'mmr' is not supported.*\['hybrid', 'dense', 'multivector'\]"):
        shared_store.query(VectorStoreQuery(query_str="cat", mode=VectorStoreQueryMode.MMR))
    with pytest.raises(ValueError, match=r"mode='dense' conflicts with the query's mode 'hybrid'"):
        shared_store.query(VectorStoreQuery(query_str="cat", mode=VectorStoreQueryMode.HYBRID), mode="dense")
    with pytest.raises(TypeError, match=r"unknown query option\(s\) \['alpha'\]; expected some of \['mode'"):
        shared_store.query(query, alpha=0.5)
    for mode in ("multivector", "hybrid"):
        with pytest.raises(
            ValueError, match=f"mode '{mode}' needs query.query_str.*cannot be made from query_embedding"
        ):
            shared_store.query(VectorStoreQuery(query_embedding=[0.1] * 64), mode=mode)


def test_nodes_without_a_usable_image_are_named_and_nothing_is_written(
    make_store: Make, embed: JV4Embedding, tmp_path: Path
) -> None:
    store = make_store()
    nodes = [
        TextNode(id_="ok", text=TEXTS[0]),
        ImageNode(id_="no-image"),
        ImageNode(id_="web", image_url="https://x/y.png"),
    ]
    with pytest.raises(
        InputError, match=r"2 invalid nodes: item 1: node 'no-image' \(ImageNode\): it has no image"
    ) as err:
        store.add(nodes)
    assert "item 2: node 'web' (ImageNode): image_url 'https://x/y.png' is only fetched with" in str(err.value)
    assert store.client.count() == 0

    # a missing file is found by the core; its position is the caller's, also when other nodes were captured
    captured = embed([TextNode(id_="ok", text=TEXTS[0])])
    missing = ImageNode(id_="gone", image_path=str(tmp_path / "gone.png"))
    with pytest.raises(InputError, match=r"1 invalid node: item 1: node 'gone' \(ImageNode\): .*gone.png"):
        store.add([*captured, missing])


def test_a_collection_of_another_size_or_task_is_refused(make_store: Make, encoder: JV4Encoder) -> None:
    make_store().close()
    with pytest.raises(
        ValueError, match=r"stores dense vectors of size 64, embed_model gives 16: use JV4Embedding\(dimensions=64"
    ):
        make_store(embed_model=JV4Embedding(encoder=encoder, dimensions=16))
    with pytest.raises(ValueError, match=r"task"):
        make_store(embed_model=JV4Embedding(encoder=encoder, task="code"))


def test_search_options_reach_the_collection(shared_store: JV4QdrantVectorStore) -> None:
    query = VectorStoreQuery(query_str="a cat", similarity_top_k=3)
    plain = shared_store.query(query, prefetch_limit=6)
    tuned = shared_store.query(query, prefetch_limit=6, hnsw_ef=64, rerank_candidates=4)  # unquantized: no stage
    assert tuned.ids == plain.ids and tuned.similarities == plain.similarities
    with pytest.raises(ValueError, match=r"rerank_candidates \(9\) must be between limit \(3\) and prefetch_limit"):
        shared_store.query(query, prefetch_limit=6, rerank_candidates=9)
    with pytest.raises(ValueError, match="hnsw_ef"):
        shared_store.query(query, hnsw_ef=0)
