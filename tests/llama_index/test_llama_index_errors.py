"""Bad input names the node (or item), nothing is encoded; the extra's install hint; the public names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.schema import ImageNode, Node, TextNode

import jv4_integrations.llama_index as li
from jv4_integrations import InputError, JV4Encoder
from jv4_integrations.llama_index import JV4Embedding


def test_public_names_are_pinned() -> None:
    assert li.__all__ == ["JV4Embedding", "JV4QdrantVectorStore"]
    assert li.JV4Embedding.class_name() == "JV4Embedding"
    assert li.JV4QdrantVectorStore.class_name() == "JV4QdrantVectorStore"


def test_missing_llama_index_names_the_pip_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['llama_index'] = None\n"
        "sys.modules['llama_index.core'] = None\n"
        "try:\n"
        "    import jv4_integrations.llama_index\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("MissingDependencyError")
    assert "pip install 'jv4-integrations[llama-index]'" in out.stdout


def test_the_store_without_the_qdrant_extra_names_it() -> None:
    code = (
        "import sys\n"
        "sys.modules['qdrant_client'] = None\n"
        "from jv4_integrations.llama_index import JV4Embedding, JV4QdrantVectorStore\n"
        "try:\n"
        "    JV4QdrantVectorStore(':memory:', embed_model=JV4Embedding(model_name='not-loaded'))\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("MissingDependencyError JV4QdrantVectorStore needs 'qdrant-client'")
    assert "pip install 'jv4-integrations[qdrant]'" in out.stdout


def test_every_bad_node_is_named_and_nothing_is_encoded(embed: JV4Embedding, encoder: JV4Encoder) -> None:
    nodes = [
        TextNode(id_="fine", text="ok"),
        ImageNode(id_="no-image"),
        ImageNode(id_="remote", image_url="https://example.com/chart.png"),
        ImageNode(id_="bad-b64", image="###not base64###"),
    ]
    before = encoder.forward_calls
    with pytest.raises(InputError) as info:
        embed(nodes)
    message = str(info.value)
    assert message.startswith("3 invalid nodes:")
    assert "item 1: node 'no-image' (ImageNode): it has no image (image, image_path and image_url are all empty)" in (
        message
    )
    assert "item 2: node 'remote' (ImageNode): image_url 'https://example.com/chart.png' is only fetched with " in (
        message
    )
    assert "JV4Embedding(allow_urls=True)" in message
    assert "node 'bad-b64'" in message
    assert [p.index for p in info.value.problems] == [1, 2, 3]
    assert encoder.forward_calls == before
    assert all(n.embedding is None for n in nodes)


def test_unreadable_images_are_named_by_node_id(
    embed: JV4Embedding, encoder: JV4Encoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a png")
    nodes = [
        TextNode(id_="fine", text="ok"),
        ImageNode(id_="missing-file", image_path=str(tmp_path / "nope.png")),
        ImageNode(id_="junk-file", image_path=str(junk)),
    ]
    with pytest.raises(InputError) as info:
        embed(nodes)
    message = str(info.value)
    assert "item 1: node 'missing-file' (ImageNode): image file" in message and "does not exist" in message
    assert "item 2: node 'junk-file' (ImageNode): not a readable image" in message
    # in a later window of a long list, the position reported is still the position in the list
    monkeypatch.setattr("jv4_integrations.llama_index.embedding.NODES_PER_CALL", 2)
    later = [TextNode(text="a"), TextNode(text="b"), nodes[2]]
    with pytest.raises(InputError, match=r"^1 invalid node: item 2: node 'junk-file'"):
        embed(later)
    assert all(n.embedding is None for n in nodes + later)  # nothing assigned, not even the first window


def test_image_resource_without_content(embed: JV4Embedding) -> None:
    from llama_index.core.schema import MediaResource

    with pytest.raises(
        InputError, match=r"node 'empty-resource' \(Node\): its image_resource has no data, path or url"
    ):
        embed([Node(id_="empty-resource", image_resource=MediaResource(text="x"))])


def test_urls_are_fetched_only_with_opt_in(encoder: JV4Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    calls: list[str] = []

    def no_network(request: Any, timeout: float | None = None) -> Any:
        calls.append(request.full_url)
        raise OSError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    node = ImageNode(id_="remote", image_url="https://example.com/chart.png")
    with pytest.raises(InputError, match="allow_urls=True"):
        JV4Embedding(encoder=encoder)([node])
    with pytest.raises(InputError, match=r"node 'as-path' \(ImageNode\): image_path 'http://example.com/a.png' is"):
        JV4Embedding(encoder=encoder)([ImageNode(id_="as-path", image_path="http://example.com/a.png")])
    with pytest.raises(InputError, match="allow_urls=True"):
        JV4Embedding(encoder=encoder).get_image_embedding("https://example.com/chart.png")
    assert calls == []
    # with the opt-in, the core fetches it (with its size and time limits): here the fetch fails, named
    with pytest.raises(InputError, match=r"node 'remote' \(ImageNode\): cannot fetch 'https://example.com/chart.png'"):
        JV4Embedding(encoder=encoder, allow_urls=True)([node])
    assert calls == ["https://example.com/chart.png"]


@pytest.mark.parametrize("bad", [42, None, b"bytes are not a query", ["a list"]])
def test_non_string_query_is_rejected(embed: JV4Embedding, bad: Any) -> None:
    with pytest.raises(InputError, match=r"1 invalid query: item 0: a query must be a str, got "):
        embed.get_query_embedding(bad)


async def test_non_string_query_is_rejected_async(embed: JV4Embedding) -> None:
    with pytest.raises(InputError, match="a query must be a str, got int"):
        await embed.aget_query_embedding(42)  # type: ignore[arg-type]


def test_non_string_texts_are_rejected(embed: JV4Embedding) -> None:
    # bytes would otherwise be read as an image by the core
    with pytest.raises(InputError, match=r"item 1: a text must be a str, got bytes"):
        embed.get_text_embedding_batch(["fine", b"\x89PNG"])  # type: ignore[list-item]


def test_bad_image_argument_is_named(embed: JV4Embedding) -> None:
    with pytest.raises(InputError, match=r"item 0: unsupported input type int"):
        embed.get_image_embedding(42)  # type: ignore[arg-type]
