"""JV4Embedding's methods: values equal to the core's, batching, async without blocking, settings."""

from __future__ import annotations

import asyncio
import io
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_helpers import ATOL, TEXTS, png_base64
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload, LlamaDebugHandler
from llama_index.core.schema import ImageNode, TextNode

from jv4_integrations import ImageRef, JV4Encoder
from jv4_integrations.llama_index import JV4Embedding


def test_shares_the_one_loaded_encoder(encoder: JV4Encoder, tiny_checkpoint: Path) -> None:
    by_name = JV4Embedding(model_name=str(tiny_checkpoint), device="cpu")
    assert by_name.encoder is encoder
    assert JV4Embedding(encoder=encoder).encoder is encoder


def test_construction_is_cheap_and_lazy() -> None:
    code = (
        "import sys\n"
        "from jv4_integrations.llama_index import JV4Embedding\n"
        "e = JV4Embedding(model_name='/no/such/checkpoint', dimensions=128, task='code')\n"
        "e.to_json()\n"
        "print(','.join(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""  # no model, not even torch, until first use


def test_query_text_and_image_values_equal_the_core(
    embed: JV4Embedding, encoder: JV4Encoder, image_factory: Any
) -> None:
    query = embed.get_query_embedding(TEXTS[0])
    text = embed.get_text_embedding(TEXTS[0])
    np.testing.assert_allclose(query, encoder.encode_queries([TEXTS[0]], output="dense").dense[0], atol=ATOL)
    np.testing.assert_allclose(text, encoder.encode_documents([TEXTS[0]], output="dense").dense[0], atol=ATOL)
    assert not np.allclose(query, text, atol=1e-3)  # query and passage prompts differ
    assert all(type(x) is float for x in query + text)
    image = image_factory(3)
    np.testing.assert_allclose(
        embed.get_image_embedding(image), encoder.encode_documents([image], output="dense").dense[0], atol=ATOL
    )


def test_image_arguments_in_every_form(embed: JV4Embedding, image_factory: Any, tmp_path: Path) -> None:
    image = image_factory(4)
    path = tmp_path / "four.png"
    image.save(path)
    expected = embed.get_image_embedding(image)
    forms: list[Any] = [str(path), path, io.BytesIO(path.read_bytes()), path.read_bytes(), ImageRef(path.as_uri())]
    for got in embed.get_image_embedding_batch(forms):
        np.testing.assert_allclose(got, expected, atol=ATOL)


def test_batch_equals_one_by_one(embed: JV4Embedding, encoder: JV4Encoder, image_factory: Any) -> None:
    embed.embed_batch_size = 3
    before = encoder.forward_calls
    batch = embed.get_text_embedding_batch(list(TEXTS))
    assert encoder.forward_calls - before == 2  # 4 texts in batches of 3: two calls, not four
    for text, got in zip(TEXTS, batch, strict=True):
        np.testing.assert_allclose(got, embed.get_text_embedding(text), atol=ATOL)
    images = [image_factory(s) for s in range(4)]
    for image, got in zip(images, embed.get_image_embedding_batch(images), strict=True):
        np.testing.assert_allclose(got, embed.get_image_embedding(image), atol=ATOL)


async def test_async_equals_sync(embed: JV4Embedding, image_factory: Any) -> None:
    image = image_factory(5)
    np.testing.assert_allclose(await embed.aget_query_embedding("q"), embed.get_query_embedding("q"), atol=ATOL)
    np.testing.assert_allclose(await embed.aget_text_embedding("t"), embed.get_text_embedding("t"), atol=ATOL)
    np.testing.assert_allclose(
        await embed.aget_text_embedding_batch(list(TEXTS)), embed.get_text_embedding_batch(list(TEXTS)), atol=ATOL
    )
    np.testing.assert_allclose(await embed.aget_image_embedding(image), embed.get_image_embedding(image), atol=ATOL)
    np.testing.assert_allclose(
        await embed.aget_image_embedding_batch([image]), embed.get_image_embedding_batch([image]), atol=ATOL
    )


@pytest.fixture
def gated(encoder: JV4Encoder, monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, list[int]]:
    """Make the encoder wait until the test's event loop opens a gate; record the calling threads.

    A method that ran the model on the event loop's thread would hold the loop, the gate could never
    be opened, and the call fails after 10 s with a clear message: no timing is measured.
    """
    gate = threading.Event()
    callers: list[int] = []
    original = encoder.encode

    def encode(*args: Any, **kwargs: Any) -> Any:
        callers.append(threading.get_ident())
        if not gate.wait(timeout=10):
            raise AssertionError("the encoder ran on the event loop's thread and blocked it")
        return original(*args, **kwargs)

    monkeypatch.setattr(encoder, "encode", encode)
    return gate, callers


ASYNC_CALLS: dict[str, Callable[[JV4Embedding, Any], Coroutine[Any, Any, Any]]] = {
    "query": lambda e, img: e.aget_query_embedding("q"),
    "agg_queries": lambda e, img: e.aget_agg_embedding_from_queries(["q1", "q2"]),
    "text": lambda e, img: e.aget_text_embedding("t"),
    "text_batch": lambda e, img: e.aget_text_embedding_batch(["a", "b"]),
    "image": lambda e, img: e.aget_image_embedding(img),
    "image_batch": lambda e, img: e.aget_image_embedding_batch([img, img]),
    "acall": lambda e, img: e.acall([TextNode(text="n")]),
}


@pytest.mark.parametrize("kind", sorted(ASYNC_CALLS))
async def test_async_methods_leave_the_event_loop_free(
    kind: str, embed: JV4Embedding, gated: tuple[threading.Event, list[int]], image_factory: Any
) -> None:
    gate, callers = gated
    task = asyncio.ensure_future(ASYNC_CALLS[kind](embed, image_factory(6)))
    for _ in range(500):  # let the call reach the encoder
        if callers:
            break
        await asyncio.sleep(0.01)
    assert callers, "the encoder was never called"
    loop_thread = threading.get_ident()
    assert loop_thread not in callers  # the model runs in a worker thread...
    gate.set()  # ...while this coroutine, on the loop, still runs and opens the gate
    assert await asyncio.wait_for(task, timeout=30) is not None


def test_agg_query_embedding_is_one_call_and_the_mean(embed: JV4Embedding, encoder: JV4Encoder) -> None:
    before = encoder.forward_calls
    agg = embed.get_agg_embedding_from_queries(["first query", "second query"])
    assert encoder.forward_calls - before == 1
    core = encoder.encode_queries(["first query", "second query"], output="dense").dense
    np.testing.assert_allclose(agg, core.mean(axis=0), atol=ATOL)


def test_matryoshka_dimensions(encoder: JV4Encoder, image_factory: Any) -> None:
    small = JV4Embedding(encoder=encoder, dimensions=16)
    query = small.get_query_embedding("q")
    assert len(query) == 16 and len(small.get_image_embedding(image_factory(7))) == 16
    np.testing.assert_allclose(
        query, encoder.encode_queries(["q"], output="dense", truncate_dim=16).dense[0], atol=ATOL
    )
    with pytest.raises(ValueError, match=r"dimensions=5 is not a Matryoshka size .* one of \[4, 8, 16, 32, 64\]"):
        JV4Embedding(encoder=encoder, dimensions=5)
    lazy = JV4Embedding(model_name=str(encoder.path), device="cpu", dimensions=48)  # checked when loaded
    with pytest.raises(ValueError, match="dimensions=48"):
        lazy.get_query_embedding("q")


def test_task(encoder: JV4Encoder) -> None:
    code = JV4Embedding(encoder=encoder, task="code")
    got = code.get_text_embedding("def f(): pass")
    np.testing.assert_allclose(
        got, encoder.encode_documents(["def f(): pass"], task="code", output="dense").dense[0], atol=ATOL
    )
    assert not np.allclose(got, JV4Embedding(encoder=encoder).get_text_embedding("def f(): pass"), atol=1e-3)
    with pytest.raises(ValueError, match=r"unknown task 'nope'; expected None or one of \['retrieval'"):
        JV4Embedding(task="nope")


def test_settings_are_validated(encoder: JV4Encoder) -> None:
    with pytest.raises(ValueError, match="unknown model_kwargs"):
        JV4Embedding(model_kwargs={"trust_remote_code": True})
    with pytest.raises(ValueError, match="use the 'dtype' field instead"):
        JV4Embedding(model_kwargs={"dtype": "bfloat16"})
    with pytest.raises(ValueError, match="must be a str, bool or None"):
        JV4Embedding(model_kwargs={"revision": object()})
    assert JV4Embedding(model_kwargs={"cache_dir": Path("/tmp/x")}).model_kwargs == {"cache_dir": "/tmp/x"}
    with pytest.raises(ValueError, match="use the 'dimensions' field instead"):
        JV4Embedding(encode_kwargs={"truncate_dim": 8})
    with pytest.raises(ValueError, match="must be an int or None"):
        JV4Embedding(encode_kwargs={"max_pixels": "big"})
    with pytest.raises(ValueError, match="precision"):
        JV4Embedding(precision="fast")
    with pytest.raises(ValueError, match="image_node_text"):
        JV4Embedding(image_node_text="both")
    with pytest.raises(ValueError, match="extra"):
        JV4Embedding(dimension=128)  # a typo is an error, not silently ignored
    with pytest.raises(ValueError, match="conflicts with the encoder"):
        JV4Embedding(encoder=encoder, model_name="jinaai/jina-embeddings-v4")
    with pytest.raises(ValueError, match="dtype='bfloat16' conflicts with the encoder's 'float32'"):
        JV4Embedding.from_encoder(encoder, dtype="bfloat16")
    with pytest.raises(TypeError, match="encoder must be a JV4Encoder"):
        JV4Embedding(encoder="jinaai/jina-embeddings-v4")  # type: ignore[arg-type]
    from llama_index.core.storage.kvstore import SimpleKVStore

    with pytest.raises(ValueError, match="does not take embeddings_cache"):
        JV4Embedding(embeddings_cache=SimpleKVStore())


def test_from_encoder_takes_the_model_fields(encoder: JV4Encoder) -> None:
    embed = JV4Embedding.from_encoder(encoder, dimensions=8)
    assert embed.encoder is encoder
    assert (embed.model_name, embed.device, embed.dtype, embed.precision) == (
        encoder.name_or_path,
        "cpu",
        "float32",
        "auto",
    )
    assert len(embed.get_query_embedding("q")) == 8


def test_encode_kwargs_reach_the_core(encoder: JV4Encoder) -> None:
    short = JV4Embedding(encoder=encoder, encode_kwargs={"max_length": 4})
    text = "a long passage that will not fit into four tokens at all"
    np.testing.assert_allclose(
        short.get_text_embedding(text),
        encoder.encode_documents([text], output="dense", max_length=4).dense[0],
        atol=ATOL,
    )
    assert not np.allclose(short.get_text_embedding(text), JV4Embedding(encoder=encoder).get_text_embedding(text))


def test_copies_keep_the_encoder(encoder: JV4Encoder) -> None:
    import copy

    embed = JV4Embedding.from_encoder(encoder.__class__.from_pretrained(encoder.path, device="cpu"))
    own = embed.encoder
    assert own is not encoder  # a private instance, not the shared one
    assert embed.model_copy().encoder is own
    assert embed.model_copy(deep=True).encoder is own
    assert copy.deepcopy(embed).encoder is own
    assert copy.copy(embed).encoder is own


def test_pickles_without_the_weights(embed: JV4Embedding, encoder: JV4Encoder) -> None:
    data = pickle.dumps(embed)
    assert len(data) < 10_000
    clone = pickle.loads(data)
    assert clone.to_dict() == embed.to_dict()
    assert clone.encoder is encoder  # reloaded lazily through the shared registry


def test_callback_events_carry_every_node(embed: JV4Embedding, image_factory: Any) -> None:
    handler = LlamaDebugHandler()
    embed.callback_manager = CallbackManager([handler])
    embed([TextNode(text="hello"), ImageNode(image=png_base64(image_factory(8)))])
    pairs = handler.get_event_pairs(CBEventType.EMBEDDING)
    assert len(pairs) == 1
    end = pairs[0][1].payload
    assert end is not None
    assert end[EventPayload.CHUNKS] == ["hello", "[image] BytesIO"]
    assert len(end[EventPayload.EMBEDDINGS]) == 2
