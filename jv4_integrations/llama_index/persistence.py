"""LlamaIndex nodes as jv4 points and back, through the shared payload schema only.

A node is stored as one point (see :mod:`jv4_integrations.qdrant.payload`):

- ``item_id`` = ``node.node_id`` (so ids round-trip: the point id is derived from it);
- ``text`` = the node's text (``MetadataMode.NONE``; ``None`` for an image node without text);
- ``metadata`` = ``node.metadata``, verbatim (nothing internal is added);
- ``doc_id`` = ``node.ref_doc_id`` (the SOURCE relationship);
- ``modality`` = ``"text"``, ``"image"`` or ``"mixed"``: what was encoded;
- ``source`` = for image nodes, ``image_path``, else ``image_url``, else the base64 ``image`` as a
  ``data:`` URI (the only way to keep an in-memory image); ``None`` for text nodes.

- ``extra`` = ``{"llama_index": {...}}``: what LlamaIndex needs beyond that: every relationship
  (source, previous / next, parent / child), ``excluded_embed_metadata_keys`` /
  ``excluded_llm_metadata_keys``, character offsets and the metadata / text templates.

Reading a point back gives a ``TextNode`` (modality text) or an ``ImageNode`` (image, mixed) with
that id, text, metadata, relationships and settings. Points written by the LangChain store or the
command line have no ``extra``: their nodes get the SOURCE relationship from ``doc_id`` and default
settings. Not kept: the node class beyond text / image.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llama_index.core.schema import BaseNode, ImageNode, MetadataMode, Node, NodeRelationship, RelatedNodeInfo, TextNode

from ..core.inputs import Mixed
from ..qdrant.payload import parse_payload

if TYPE_CHECKING:
    from ..qdrant.types import SearchHit, StoredPoint

__all__ = ["EXTRA_KEY", "NodeColumns", "node_columns", "node_from_point"]

logger = logging.getLogger(__name__)

#: The key of this adapter's data in the payload's ``extra`` field.
EXTRA_KEY = "llama_index"
#: Node settings kept in ``extra`` (besides the relationships).
_SETTINGS = (
    "excluded_embed_metadata_keys",
    "excluded_llm_metadata_keys",
    "start_char_idx",
    "end_char_idx",
    "metadata_template",
    "metadata_separator",
    "text_template",
)

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
    extras: list[dict[str, Any]]


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
        extras=[{EXTRA_KEY: _node_extra(node)} for node in nodes],
    )


def _node_extra(node: BaseNode) -> dict[str, Any]:
    """The node's relationships and settings, JSON-ready."""
    relationships = {
        rel.value: [i.to_dict() for i in info] if isinstance(info, list) else info.to_dict()
        for rel, info in node.relationships.items()
    }
    return {"relationships": relationships, **{k: getattr(node, k) for k in _SETTINGS if hasattr(node, k)}}


def _restore(extra: Mapping[str, Any], node_id: str) -> dict[str, Any] | None:
    """Constructor keywords from a stored ``extra``; ``None`` (logged) when it cannot be read."""
    data = extra.get(EXTRA_KEY)
    if not isinstance(data, Mapping):
        return None
    try:
        relationships: dict[NodeRelationship, Any] = {}
        for key, info in (data.get("relationships") or {}).items():
            rel = NodeRelationship(key)
            relationships[rel] = (
                [RelatedNodeInfo.from_dict(dict(i)) for i in info]
                if isinstance(info, list)
                else RelatedNodeInfo.from_dict(dict(info))
            )
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("node %s: stored relationships could not be read (%s); keeping SOURCE only", node_id, exc)
        return None
    settings = {k: data[k] for k in _SETTINGS if k in data}
    return {"relationships": relationships, **settings}


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


def node_from_point(point: SearchHit | StoredPoint) -> BaseNode:
    """Rebuild a node from a stored point (a ``SearchHit`` or a ``StoredPoint``).

    Args:
        point: the point, as the collection returns it.

    Returns:
        A ``TextNode`` (modality text) or an ``ImageNode`` with the point's id, text, metadata and,
        when stored, its relationships and settings.
    """
    node_id = point.item_id or point.id  # a point jv4 did not write has no item_id
    restored = _restore(parse_payload(point.payload).extra, node_id) or {}
    relationships = dict(restored.pop("relationships", {}))
    if point.doc_id and NodeRelationship.SOURCE not in relationships:
        relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=point.doc_id)
    try:
        return _node(point, node_id, relationships, restored)
    except ValueError as exc:  # pydantic: stored settings this LlamaIndex version does not accept
        if not restored:
            raise
        logger.warning("node %s: stored settings could not be applied (%s); using the defaults", node_id, exc)
        return _node(point, node_id, relationships, {})


def _node(
    point: SearchHit | StoredPoint, node_id: str, relationships: dict[NodeRelationship, Any], settings: dict[str, Any]
) -> BaseNode:
    common = {"id_": node_id, "text": point.text or "", "metadata": point.metadata, "relationships": relationships}
    if point.modality == "text":
        return TextNode(**common, **settings)
    return ImageNode(**common, **settings, **_image_fields(point.source))
