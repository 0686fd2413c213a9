"""LlamaIndex nodes as jv4 points and back, through the shared payload schema only.

A node is stored as one point (see :mod:`jv4_integrations.qdrant.payload`):

- ``item_id`` = ``node.node_id`` (so ids round-trip: the point id is derived from it);
- ``text`` = the node's text (``MetadataMode.NONE``; ``None`` for an image node without text);
- ``metadata`` = ``node.metadata``, verbatim (nothing internal is added);
- ``doc_id`` = ``node.ref_doc_id`` (the SOURCE relationship);
- ``modality`` = ``"text"``, ``"image"`` or ``"mixed"``: what was encoded;
- ``source`` = for image nodes, ``image_path``, else ``image_url``, else the base64 ``image`` as a
  ``data:`` URI (the only way to keep an in-memory image); ``None`` for text nodes.

Reading a point back gives a ``TextNode`` (modality text) or an ``ImageNode`` (image, mixed) with
that id, text, metadata and SOURCE relationship. What the schema has no place for is not kept:
other relationships (previous / next / parent / child), ``excluded_*_metadata_keys``, templates,
character offsets and the node class beyond text / image.
"""

from __future__ import annotations

import base64
import binascii
import io
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llama_index.core.schema import BaseNode, ImageNode, MetadataMode, Node, NodeRelationship, RelatedNodeInfo, TextNode

from ..core.inputs import Mixed

__all__ = ["NodeColumns", "node_columns", "node_from_point"]

_URL_SCHEMES = ("http", "https", "file")


@dataclass(frozen=True)
class NodeColumns:
    """The payload pieces of a list of nodes, one entry per node (``add_embeddings`` columns)."""

    ids: list[str]
    texts: list[str | None]
    metadatas: list[dict[str, Any]]
    doc_ids: list[str | None]
    sources: list[str | None]
    modalities: list[str]


def _modality(item: Any) -> str:
    if isinstance(item, str):
        return "text"
    return "mixed" if isinstance(item, Mixed) else "image"


def _data_uri(b64: str | bytes, mimetype: str | None) -> str:
    text = b64.decode("ascii") if isinstance(b64, bytes) else b64
    if not mimetype:
        try:
            from PIL import Image

            with Image.open(io.BytesIO(base64.b64decode(text))) as image:
                mimetype = image.get_format_mimetype()
        except Exception:  # the encoder has accepted the bytes; an unknown format only loses the type
            mimetype = None
    return f"data:{mimetype or 'application/octet-stream'};base64,{text}"


def _image_source(node: BaseNode) -> str | None:
    if isinstance(node, ImageNode):
        if node.image_path:
            return node.image_path
        if node.image_url:
            return node.image_url
        return _data_uri(node.image, node.image_mimetype) if node.image else None
    if isinstance(node, Node) and node.image_resource is not None:
        res = node.image_resource
        if res.path is not None:
            return str(res.path)
        if res.url is not None:
            return str(res.url)
        return _data_uri(res.data, res.mimetype) if res.data else None
    return None


def node_columns(nodes: Sequence[BaseNode], items: Sequence[Any]) -> NodeColumns:
    """The payload columns of ``nodes``, given the encode item of each (from ``node_items``)."""
    texts: list[str | None] = []
    sources: list[str | None] = []
    modalities = [_modality(item) for item in items]
    for node, modality in zip(nodes, modalities, strict=True):
        text = node.get_content(metadata_mode=MetadataMode.NONE)
        if modality == "text":
            texts.append(text)
            sources.append(None)
        else:
            texts.append(text or None)
            sources.append(_image_source(node))
    return NodeColumns(
        ids=[node.node_id for node in nodes],
        texts=texts,
        metadatas=[dict(node.metadata) for node in nodes],
        doc_ids=[node.ref_doc_id for node in nodes],
        sources=sources,
        modalities=modalities,
    )


def _image_fields(source: str | None) -> dict[str, Any]:
    if not source:
        return {}
    if source.startswith("data:"):
        header, _, data = source.partition(",")
        mimetype = header[len("data:") :].split(";", 1)[0] or None
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return {"image_url": source}
        return {"image": data, "image_mimetype": None if mimetype == "application/octet-stream" else mimetype}
    if urllib.parse.urlsplit(source).scheme.lower() in _URL_SCHEMES:
        return {"image_url": source}
    return {"image_path": source}


def node_from_point(
    point_id: str,
    item_id: str,
    text: str | None,
    metadata: dict[str, Any],
    modality: str,
    source: str | None,
    doc_id: str | None,
) -> BaseNode:
    """Rebuild a node from a stored point's payload fields (a ``SearchHit`` or ``StoredPoint``).

    Example:
        >>> node_from_point("p", "n1", "hello", {"k": 1}, "text", None, "doc-1").ref_doc_id
        'doc-1'
    """
    relationships = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc_id)} if doc_id else {}
    node_id = item_id or point_id  # a point jv4 did not write has no item_id
    if modality == "text":
        return TextNode(id_=node_id, text=text or "", metadata=metadata, relationships=relationships)
    return ImageNode(
        id_=node_id, text=text or "", metadata=metadata, relationships=relationships, **_image_fields(source)
    )
