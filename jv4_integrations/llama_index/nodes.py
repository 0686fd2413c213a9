"""Turning LlamaIndex nodes and image arguments into items of the core's encode API.

Image nodes (``ImageNode``, and ``Node`` / ``ImageDocument`` with an ``image_resource``) become
images; every other node becomes the text LlamaIndex embeds (``MetadataMode.EMBED``). A node that
cannot be turned into an item is reported by its id, together with every other bad node of the call.
"""

from __future__ import annotations

import base64
import io
import urllib.parse
from collections.abc import Sequence
from typing import Any, Literal

from llama_index.core.schema import BaseNode, ImageNode, MetadataMode, Node

from ..core.inputs import ImageRef, Mixed
from ..errors import InputError, InputProblem

__all__ = ["ImageNodeText", "IMAGE_NODE_TEXT", "node_items", "image_items", "text_items", "name_nodes", "labels"]

#: How the text of an image node is used: ignored (image alone) or encoded with the image (``Mixed``).
ImageNodeText = Literal["ignore", "mixed"]
IMAGE_NODE_TEXT: tuple[str, ...] = ("ignore", "mixed")
_REMOTE = ("http", "https")


class _Unresolvable(Exception):
    """Internal: why one node has no usable image."""


def _url_ref(url: str, allow_urls: bool, field: str) -> ImageRef:
    if urllib.parse.urlsplit(url).scheme.lower() in _REMOTE and not allow_urls:
        raise _Unresolvable(f"{field} {url!r} is only fetched with JV4Embedding(allow_urls=True)")
    return ImageRef(url)


def _image_node_image(node: ImageNode, allow_urls: bool) -> Any:
    if node.image_url and not (node.image or node.image_path):
        # not through resolve_image(): it would fetch any URL, without opt-in or size limits
        return _url_ref(node.image_url, allow_urls, "image_url")
    if not (node.image or node.image_path):
        raise _Unresolvable("it has no image (image, image_path and image_url are all empty)")
    try:
        resolved = node.resolve_image()
    except Exception as exc:  # bad base64 (binascii.Error) and the like
        raise _Unresolvable(f"its image cannot be resolved: {exc}") from None
    return _url_ref(resolved, allow_urls, "image_path") if isinstance(resolved, str) else resolved


def _resource_image(node: Node, allow_urls: bool) -> Any:
    resource = node.image_resource
    assert resource is not None
    if resource.data:
        try:
            return io.BytesIO(base64.b64decode(resource.data))  # MediaResource keeps data base64-encoded
        except ValueError as exc:
            raise _Unresolvable(f"its image_resource.data is not valid base64: {exc}") from None
    if resource.path is not None:
        return ImageRef(str(resource.path))
    if resource.url is not None:
        return _url_ref(str(resource.url), allow_urls, "image_resource.url")
    raise _Unresolvable("its image_resource has no data, path or url")


def _image_of(node: BaseNode, allow_urls: bool) -> Any | None:
    """The node's image as a core item, or ``None`` for a node without one."""
    if isinstance(node, ImageNode):
        return _image_node_image(node, allow_urls)
    if isinstance(node, Node) and node.image_resource is not None:
        return _resource_image(node, allow_urls)
    return None


def _has_text(node: BaseNode) -> bool:
    if isinstance(node, Node):
        return bool(node.text_resource and (node.text_resource.text or "").strip())
    return bool(getattr(node, "text", "").strip())


def _node_item(node: BaseNode, image_node_text: str, allow_urls: bool) -> Any:
    image = _image_of(node, allow_urls)
    if image is None:
        return node.get_content(metadata_mode=MetadataMode.EMBED)
    if image_node_text == "mixed" and _has_text(node):
        return Mixed(node.get_content(metadata_mode=MetadataMode.EMBED), [image])
    return image


def node_items(nodes: Sequence[BaseNode], *, image_node_text: str, allow_urls: bool) -> list[Any]:
    """One core item per node, in order: an image (or ``Mixed``) for image nodes, text otherwise.

    Args:
        nodes: LlamaIndex nodes.
        image_node_text: ``"ignore"`` (an image node is its image alone) or ``"mixed"`` (an image
            node with text is ``Mixed(EMBED-mode text, [image])``).
        allow_urls: whether ``http(s)`` image URLs may be fetched (by the core, with its limits).

    Returns:
        The items, in node order.

    Raises:
        InputError: every node without a usable image, each named by position and node id.
    """
    items: list[Any] = []
    problems: list[InputProblem] = []
    for index, node in enumerate(nodes):
        if not isinstance(node, BaseNode):
            problems.append(InputProblem(index, f"expected a llama_index BaseNode, got {type(node).__name__}"))
            continue
        try:
            items.append(_node_item(node, image_node_text, allow_urls))
        except _Unresolvable as exc:
            problems.append(InputProblem(index, f"node {node.node_id!r} ({type(node).__name__}): {exc}"))
    if problems:
        raise InputError(problems, what="node")
    return items


def name_nodes(error: InputError, nodes: Sequence[BaseNode], *, offset: int = 0) -> InputError:
    """Restate a core :class:`InputError` about node items with the node ids.

    Args:
        error: the core's error; its indexes point into ``nodes``.
        nodes: the nodes of that encode call.
        offset: position of ``nodes[0]`` in the caller's list (the reported index).
    """
    problems = [
        InputProblem(offset + p.index, f"node {nodes[p.index].node_id!r} ({type(nodes[p.index]).__name__}): {p.reason}")
        if 0 <= p.index < len(nodes)
        else p
        for p in error.problems
    ]
    return InputError(problems, what="node")


def text_items(values: Sequence[Any], *, what: str) -> list[str]:
    """Check that every value is a ``str`` (the core would read bytes or paths as images)."""
    if isinstance(values, str):
        raise TypeError(f"expected a list of {what}s, got one str; wrap it in a list")
    problems = [
        InputProblem(i, f"a {what} must be a str, got {type(v).__name__} ({_short(v)})")
        for i, v in enumerate(values)
        if not isinstance(v, str)
    ]
    if problems:
        raise InputError(problems, what=what)
    return list(values)


def image_items(values: Sequence[Any]) -> list[Any]:
    """LlamaIndex passes image paths and URLs as ``str``: make them :class:`ImageRef` items."""
    return [ImageRef(v) if isinstance(v, str) else v for v in values]


def labels(items: Sequence[Any]) -> list[str]:
    """Short descriptions of items for LlamaIndex's callback and instrumentation events."""
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mixed):
            out.append(item.text)
        elif isinstance(item, ImageRef):
            out.append(f"[image] {_short(item.ref)}")
        else:
            out.append(f"[image] {type(item).__name__}")
    return out


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
