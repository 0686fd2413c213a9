"""``JV4Embeddings`` beyond the standard suites: values against the core, sharing, async, errors."""

from __future__ import annotations

import asyncio
import copy
import importlib
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from PIL import Image
from pydantic import ValidationError

import jv4_integrations
from jv4_integrations import CheckpointError, ImageRef, InputError, JV4Encoder, MissingDependencyError, Mixed
from jv4_integrations.langchain import JV4Embeddings

TEXTS = ["Qdrant stores dense vectors.", "A sourdough starter needs flour and water.", "Jupiter is a gas giant."]
QUERY = "which database stores vectors?"
ATOL = 1e-5


def _close(got: list[float] | list[list[float]], expected: Any) -> None:
    np.testing.assert_allclose(np.asarray(got, dtype=np.float32), np.asarray(expected), rtol=0, atol=ATOL)


def _plain_floats(vectors: list[list[float]]) -> bool:
    return isinstance(vectors, list) and all(isinstance(v, list) and all(type(x) is float for x in v) for v in vectors)


# -- construction, configuration, sharing -----------------------------------------------------


def test_is_a_langchain_embeddings_and_construction_loads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("construction must not load a model")

    monkeypatch.setattr(JV4Encoder, "shared", refuse)
    monkeypatch.setattr(JV4Encoder, "from_pretrained", refuse)
    monkeypatch.setattr(JV4Encoder, "_load", refuse)
    emb = JV4Embeddings(model="/nowhere/jv4-missing", dimensions=16, task="code")
    assert isinstance(emb, Embeddings)
    assert emb.model_name == "/nowhere/jv4-missing"  # alias "model" and the field name both work
    assert JV4Embeddings(model_name="x").model_name == "x"
    assert JV4Embeddings().model_name == "jinaai/jina-embeddings-v4"
    assert emb.embed_documents([]) == []  # nothing to embed: still nothing loaded


def test_model_fields_are_what_the_shared_encoder_is_asked_for(
    encoder: JV4Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []

    def record(name_or_path: str, **kwargs: Any) -> JV4Encoder:
        calls.append((name_or_path, kwargs))
        return encoder

    monkeypatch.setattr(JV4Encoder, "shared", record)
    emb = JV4Embeddings(
        model="org/some-checkpoint",
        device="cuda:1",
        dtype="bfloat16",
        precision="reference",
        model_kwargs={"revision": "v1", "cache_dir": "/models", "local_files_only": True},
    )
    assert calls == []
    assert emb.encoder is encoder
    assert calls == [
        (
            "org/some-checkpoint",
            {
                "device": "cuda:1",
                "dtype": "bfloat16",
                "precision": "reference",
                "revision": "v1",
                "cache_dir": "/models",
                "local_files_only": True,
            },
        )
    ]


def test_a_missing_checkpoint_fails_at_first_use_naming_it() -> None:
    emb = JV4Embeddings(model="/nowhere/jv4-missing", device="cpu")
    with pytest.raises(CheckpointError, match="jv4-missing"):
        emb.embed_query("hello")


def test_every_instance_resolves_to_the_one_shared_encoder(encoder: JV4Encoder, tiny_params: dict[str, Any]) -> None:
    first = JV4Embeddings(**tiny_params)
    second = JV4Embeddings(**tiny_params, task="code", dimensions=8, batch_size=2)
    third = JV4Embeddings(model_name=tiny_params["model_name"] + "/.", device="cpu")  # same directory
    via_kwargs = JV4Embeddings(**tiny_params, model_kwargs={"local_files_only": True})
    for emb in (first, second, third, via_kwargs):
        assert emb.encoder is encoder
    first.embed_query("load it")
    assert first.encoder is encoder and second.encoder is encoder


def test_from_encoder_copies_and_dumps_keep_one_model(encoder: JV4Encoder) -> None:
    emb = JV4Embeddings.from_encoder(encoder, dimensions=16)
    assert emb.encoder is encoder
    assert (emb.model_name, emb.device, emb.dtype, emb.precision) == (encoder.name_or_path, "cpu", "float32", "auto")
    assert copy.deepcopy(emb).encoder is encoder
    assert emb.model_copy(deep=True).encoder is encoder
    dumped = emb.model_dump()
    assert "encoder" not in dumped and "_encoder" not in dumped
    rebuilt = JV4Embeddings(**dumped)  # serialisable fields only; resolves to the same shared instance
    assert rebuilt.encoder is encoder
    _close(rebuilt.embed_query(QUERY), emb.embed_query(QUERY))
    with pytest.raises(TypeError, match="must be a JV4Encoder"):
        JV4Embeddings.from_encoder("jinaai/jina-embeddings-v4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\['device'\] are taken from the encoder"):
        JV4Embeddings.from_encoder(encoder, device="cuda")
    with pytest.raises(ValueError, match=r"dimensions=10 is not a Matryoshka size .* \[4, 8, 16, 32, 64\]"):
        JV4Embeddings.from_encoder(encoder, dimensions=10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"colour": "blue"}, "colour"),
        ({"dimensions": 0}, "greater than or equal to 1"),
        ({"batch_size": -2}, "greater than or equal to 1"),
        ({"task": "summarise"}, "retrieval"),
        ({"precision": "fast"}, "reference"),
        ({"model_kwargs": {"trust_remote_code": True}}, r"unknown model_kwargs key 'trust_remote_code'.*revision"),
        ({"model_kwargs": {"device": "cpu"}}, "use the 'device' field"),
        ({"encode_kwargs": {"truncate_dim": 16}}, "use the 'dimensions' field"),
        ({"query_encode_kwargs": {"task": "code"}}, r"query_encode_kwargs key 'task': use the 'task' field"),
        ({"encode_kwargs": {"prompt": "query"}}, r"unknown encode_kwargs key 'prompt'.*max_length"),
    ],
)
def test_bad_configuration_is_rejected_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        JV4Embeddings(**kwargs)


def test_dimensions_not_in_the_checkpoint_are_rejected_listing_the_valid_ones(tiny_params: dict[str, Any]) -> None:
    emb = JV4Embeddings(**tiny_params, dimensions=100)
    with pytest.raises(ValueError, match=r"dimensions=100 is not a Matryoshka size of .*\[4, 8, 16, 32, 64\]"):
        emb.embed_documents(["a"])


# -- values against the core ------------------------------------------------------------------


def test_embed_query_is_the_core_query_encoding(encoder: JV4Encoder, tiny_params: dict[str, Any]) -> None:
    got = JV4Embeddings(**tiny_params).embed_query(QUERY)
    assert isinstance(got, list) and all(type(x) is float for x in got) and len(got) == 64
    _close(got, encoder.encode_queries([QUERY]).dense[0])


def test_embed_documents_is_the_core_passage_encoding(encoder: JV4Encoder, tiny_params: dict[str, Any]) -> None:
    emb = JV4Embeddings(**tiny_params)
    got = emb.embed_documents(TEXTS)
    assert _plain_floats(got) and len(got) == 3
    _close(got, encoder.encode_documents(TEXTS).dense)
    # the prompts differ: a query is not embedded like the same text as a document
    assert not np.allclose(emb.embed_query(TEXTS[0]), got[0], atol=1e-3)
    # a tuple and a generator are accepted like a list
    _close(emb.embed_documents(tuple(TEXTS)), got)  # type: ignore[arg-type]
    _close(emb.embed_documents(t for t in TEXTS), got)  # type: ignore[arg-type]


def test_dimensions_truncate_like_the_core(encoder: JV4Encoder, tiny_params: dict[str, Any]) -> None:
    emb = JV4Embeddings(**tiny_params, dimensions=16)
    docs, query = emb.embed_documents(TEXTS), emb.embed_query(QUERY)
    assert {len(v) for v in [*docs, query]} == {16}
    _close(docs, encoder.encode_documents(TEXTS, truncate_dim=16).dense)
    _close(query, encoder.encode_queries([QUERY], truncate_dim=16).dense[0])
    full = np.asarray(encoder.encode_documents(TEXTS).dense[:, :16])  # Matryoshka: the renormalised prefix
    _close(docs, full / np.linalg.norm(full, axis=1, keepdims=True))


def test_tasks_select_the_core_adapter(encoder: JV4Encoder, tiny_params: dict[str, Any]) -> None:
    code = JV4Embeddings(**tiny_params, task="code")
    retrieval = JV4Embeddings(**tiny_params, task="retrieval")
    default = JV4Embeddings(**tiny_params)
    _close(code.embed_documents(TEXTS), encoder.encode_documents(TEXTS, task="code").dense)
    _close(code.embed_query(QUERY), encoder.encode_queries([QUERY], task="code").dense[0])
    assert not np.allclose(code.embed_documents(TEXTS), retrieval.embed_documents(TEXTS), atol=1e-3)
    _close(default.embed_documents(TEXTS), retrieval.embed_documents(TEXTS))
    # text-matching is symmetric: both sides use the query prompt
    matching = JV4Embeddings(**tiny_params, task="text-matching")
    _close(matching.embed_query(TEXTS[1]), matching.embed_documents([TEXTS[1]])[0])
    _close(matching.embed_query(TEXTS[1]), encoder.encode_queries([TEXTS[1]], task="text-matching").dense[0])


def test_encode_kwargs_reach_the_core_and_query_kwargs_only_queries(
    encoder: JV4Encoder, tiny_params: dict[str, Any]
) -> None:
    long = "late interaction keeps one vector per token and scores with MaxSim " * 4
    emb = JV4Embeddings(**tiny_params, query_encode_kwargs={"max_length": 6})
    short = encoder.encode_queries([long], max_length=6).dense[0]
    assert not np.allclose(short, encoder.encode_queries([long]).dense[0], atol=1e-3)
    _close(emb.embed_query(long), short)
    _close(emb.embed_documents([long]), encoder.encode_documents([long]).dense)  # documents untouched
    both = JV4Embeddings(**tiny_params, encode_kwargs={"max_length": 6})
    _close(both.embed_documents([long]), encoder.encode_documents([long], max_length=6).dense)
    _close(both.embed_query(long), short)  # query_encode_kwargs empty: encode_kwargs apply to queries too


def test_batch_size_sets_rows_per_forward_pass(encoder: JV4Encoder, tiny_params: dict[str, Any]) -> None:
    emb = JV4Embeddings(**tiny_params, batch_size=1)
    before = encoder.forward_calls
    got = emb.embed_documents(TEXTS)
    assert encoder.forward_calls - before == len(TEXTS)
    _close(got, encoder.encode_documents(TEXTS).dense)


def test_embed_image_is_the_core_image_encoding(
    encoder: JV4Encoder, tiny_params: dict[str, Any], image_paths: list[str]
) -> None:
    emb = JV4Embeddings(**tiny_params)
    got = emb.embed_image(uris=image_paths)
    assert _plain_floats(got) and len(got) == 3
    expected = encoder.encode_documents([ImageRef(p) for p in image_paths]).dense
    _close(got, expected)
    _close(emb.embed_images(image_paths), expected)
    # file: URIs, raw bytes and PIL images are the same images
    others = [Path(image_paths[0]).as_uri(), Path(image_paths[1]).read_bytes(), Image.open(image_paths[2])]
    _close(emb.embed_image(others), expected)  # type: ignore[arg-type]
    # Matryoshka applies to images too
    _close(
        JV4Embeddings(**tiny_params, dimensions=8).embed_image(image_paths[:1]),
        encoder.encode_documents([ImageRef(image_paths[0])], truncate_dim=8).dense,
    )


# -- async ------------------------------------------------------------------------------------


async def test_async_methods_equal_the_sync_ones(tiny_params: dict[str, Any], image_paths: list[str]) -> None:
    emb = JV4Embeddings(**tiny_params, dimensions=32)
    _close(await emb.aembed_documents(TEXTS), emb.embed_documents(TEXTS))
    _close(await emb.aembed_query(QUERY), emb.embed_query(QUERY))
    _close(await emb.aembed_image(image_paths), emb.embed_image(image_paths))
    _close(await emb.aembed_images(image_paths[:1]), emb.embed_image(image_paths[:1]))


async def test_concurrent_async_calls_share_the_model_and_give_the_sync_results(
    encoder: JV4Encoder, tiny_params: dict[str, Any], image_paths: list[str]
) -> None:
    a = JV4Embeddings(**tiny_params)
    b = JV4Embeddings(**tiny_params, task="code", dimensions=16)
    calls = [
        a.aembed_documents(TEXTS),
        a.aembed_query(QUERY),
        b.aembed_documents(TEXTS[::-1]),
        b.aembed_query(QUERY),
        a.aembed_image(image_paths),
        *(a.aembed_query(f"question number {i}") for i in range(6)),
    ]
    results = await asyncio.gather(*calls)
    _close(results[0], a.embed_documents(TEXTS))
    _close(results[1], a.embed_query(QUERY))
    _close(results[2], b.embed_documents(TEXTS[::-1]))
    _close(results[3], b.embed_query(QUERY))
    _close(results[4], a.embed_image(image_paths))
    for i, got in enumerate(results[5:]):
        _close(got, encoder.encode_queries([f"question number {i}"]).dense[0])


async def test_async_embedding_does_not_block_the_event_loop(
    encoder: JV4Encoder, tiny_params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The encode call waits on a gate that only a coroutine on the event loop opens. If the
    # embedding ran on the loop's thread, the loop could never open it and the wait would time out.
    gate, entered = threading.Event(), threading.Event()
    threads: list[int] = []
    original = encoder.encode_documents

    def gated(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        entered.set()
        if not gate.wait(timeout=20):
            raise AssertionError("the event loop never ran while embedding: it was blocked")
        return original(*args, **kwargs)

    monkeypatch.setattr(encoder, "encode_documents", gated)
    emb = JV4Embeddings(**tiny_params)
    task = asyncio.create_task(emb.aembed_documents(TEXTS))
    heartbeats = 0
    while not entered.is_set():  # the loop keeps ticking until the worker is inside encode
        assert not task.done(), f"the call ended before reaching the encoder: {task.exception()!r}"
        await asyncio.sleep(0.001)
        heartbeats += 1
    for _ in range(3):  # and keeps ticking while the worker is held inside encode
        await asyncio.sleep(0)
        heartbeats += 1
    assert not task.done()
    gate.set()
    got = await task
    assert heartbeats >= 3
    assert threads and threads[0] != threading.get_ident()
    _close(got, original(TEXTS).dense)


# -- bad input --------------------------------------------------------------------------------


def test_non_string_texts_are_rejected_naming_each_item(encoder: JV4Encoder, tiny_params: dict[str, Any]) -> None:
    emb = JV4Embeddings(**tiny_params)
    before = encoder.forward_calls
    with pytest.raises(InputError) as info:
        emb.embed_documents(["fine", None, b"\x89PNG", 3])  # type: ignore[list-item]
    problems = {p.index: p.reason for p in info.value.problems}
    assert sorted(problems) == [1, 2, 3]
    assert "None is not a text" in problems[1]
    assert "bytes is not a text" in problems[2] and "embed_image" in problems[2]  # never treated as an image
    assert "expected str, got int (3)" in problems[3]
    assert str(info.value).startswith("3 invalid texts: item 1: None is not a text")
    with pytest.raises(InputError, match=r"1 invalid text: item 0: None is not a text"):
        emb.embed_documents([None])  # type: ignore[list-item]
    with pytest.raises(InputError, match=r"1 invalid query: item 0: expected str, got ImageRef"):
        emb.embed_query(ImageRef("page.png"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="texts must be a list, got str"):
        emb.embed_documents("one text")  # type: ignore[arg-type]
    assert encoder.forward_calls == before  # rejected before any computation


async def test_async_methods_raise_the_same_errors(tiny_params: dict[str, Any]) -> None:
    emb = JV4Embeddings(**tiny_params)
    with pytest.raises(InputError, match="item 0: None is not a text"):
        await emb.aembed_documents([None])  # type: ignore[list-item]
    with pytest.raises(InputError, match="invalid query"):
        await emb.aembed_query(None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="does not exist"):
        await emb.aembed_image(["/nowhere/page.png"])


def test_bad_images_are_rejected_naming_each_item(
    tiny_params: dict[str, Any], image_paths: list[str], tmp_path: Path
) -> None:
    emb = JV4Embeddings(**tiny_params)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(InputError) as info:
        emb.embed_image([image_paths[0], str(tmp_path / "missing.png"), str(broken), "https://example.com/a.png"])
    problems = {p.index: p.reason for p in info.value.problems}
    assert sorted(problems) == [1, 2, 3]
    assert "missing.png" in problems[1] and "does not exist" in problems[1]
    assert "not a readable image" in problems[2]
    assert "fetching URLs is off" in problems[3] and "JV4Embeddings(...) for LangChain" in problems[3]
    with pytest.raises(InputError) as info:
        emb.embed_image([image_paths[0], None, 3, Mixed("caption", [Path(image_paths[0])])])  # type: ignore[list-item]
    assert [p.index for p in info.value.problems] == [1, 2, 3]
    assert [p.reason.split(" (")[0] for p in info.value.problems] == [
        "expected an image path or URI",
        "expected an image path or URI",
        "expected an image path or URI",
    ]
    assert str(info.value).startswith("3 invalid images: item 1: expected an image path or URI (str), got NoneType")
    assert "item 2: expected an image path or URI (str), got int (3)" in str(info.value)
    assert "got Mixed" in info.value.problems[2].reason
    with pytest.raises(TypeError, match="uris must be a list, got str"):
        emb.embed_image(image_paths[0])  # type: ignore[arg-type]


# -- packaging --------------------------------------------------------------------------------


def test_public_names_are_pinned() -> None:
    import jv4_integrations.langchain as module

    assert module.__all__ == ["JV4Embeddings", "JV4QdrantVectorStore"]
    assert module.JV4Embeddings is JV4Embeddings
    from jv4_integrations.langchain.vectorstore import JV4QdrantVectorStore

    assert module.JV4QdrantVectorStore is JV4QdrantVectorStore
    assert dir(module) == ["JV4Embeddings", "JV4QdrantVectorStore"]
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        module.Nope  # noqa: B018


def test_missing_langchain_core_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jv4_integrations, "langchain", importlib.import_module("jv4_integrations.langchain"))
    for name in list(sys.modules):
        if name == "langchain_core" or name.startswith("langchain_core."):
            monkeypatch.setitem(sys.modules, name, None)  # makes "import langchain_core..." fail
        elif name.startswith("jv4_integrations.langchain"):
            monkeypatch.delitem(sys.modules, name)
    fresh = importlib.import_module("jv4_integrations.langchain")  # the package itself imports nothing heavy
    expected = (
        r"JV4Embeddings needs 'langchain-core', which is not installed: pip install 'jv4-integrations\[langchain\]'"
    )
    with pytest.raises(MissingDependencyError, match=expected):
        fresh.JV4Embeddings  # noqa: B018
    with pytest.raises(MissingDependencyError, match=expected):
        importlib.import_module("jv4_integrations.langchain.embeddings")
