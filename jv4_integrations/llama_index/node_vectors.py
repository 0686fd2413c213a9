"""Both vectors of nodes from one forward pass: taken from the embedding's buffer, or encoded now.

When the store's :class:`JV4Embedding` embedded the nodes (as an ``IngestionPipeline`` step, or for a
``VectorStoreIndex``) while the store was attached, the multi-vectors of that pass wait in its
buffer (:mod:`.capture`), keyed by the encode settings and the encoded content. Nodes found there
cost nothing more; the others are encoded once, for both vectors. Either way the dense vector
stored is the one from the multi-vector's forward pass, and ``node.embedding`` is set to it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from llama_index.core.schema import BaseNode, MetadataMode

from ..core.results import EncodeResult
from ..errors import InputError, InputProblem
from .embedding import JV4Embedding

__all__ = ["SAME_VECTOR_ATOL", "both_vectors"]

logger = logging.getLogger("jv4_integrations.llama_index.vector_store")

#: A given node embedding farther than this from the stored dense vector is reported as replaced.
SAME_VECTOR_ATOL = 1e-3


def _encode(embed: JV4Embedding, nodes: list[BaseNode], positions: list[int], offset: int) -> EncodeResult:
    try:
        return embed.encode_nodes(nodes, output="both")
    except InputError as exc:  # its indexes point into ``nodes``: restate them in the caller's list
        problems = [
            InputProblem(offset + positions[p.index], p.reason) if 0 <= p.index < len(positions) else p
            for p in exc.problems
        ]
        raise InputError(problems, what="node") from None


def _sync_embeddings(nodes: Sequence[BaseNode], items: Sequence[Any], dense: Sequence[np.ndarray]) -> None:
    """Set ``node.embedding`` to the stored dense vector; report given embeddings that differed."""
    replaced: dict[bool, list[str]] = {True: [], False: []}
    for node, item, vector in zip(nodes, items, dense, strict=True):
        given = node.embedding
        if given is not None and (
            len(given) != vector.shape[0] or not np.allclose(given, vector, atol=SAME_VECTOR_ATOL)
        ):
            replaced[isinstance(item, str)].append(node.node_id)
        node.embedding = vector.tolist()
    if replaced[True]:
        logger.warning(
            "%d text node embedding(s) differed from embed_model's encoding of the node and were replaced by the "
            "stored vector (e.g. %r): were they embedded by another model or other settings?",
            len(replaced[True]),
            replaced[True][0],
        )
    if replaced[False]:
        logger.info(
            "%d image node(s) came with an embedding of their text (VectorStoreIndex embeds nodes as text) and "
            "were encoded from their image (e.g. %r); run the JV4Embedding transformation on them first to save "
            "that pass",
            len(replaced[False]),
            replaced[False][0],
        )


def both_vectors(
    embed: JV4Embedding, nodes: Sequence[BaseNode], items: Sequence[Any], *, offset: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """The dense vector and multi-vector of every node, each pair from one forward pass.

    Args:
        embed: the store's embedding (its buffer and its settings).
        nodes: the nodes.
        items: their encode items (``node_items``), in order.
        offset: position of ``nodes[0]`` in the caller's list (for error messages).

    Returns:
        ``(dense, multivectors, encoded)``: ``(d,)`` and ``(n_tokens, 128)`` float32 arrays in node
        order, and how many nodes had to be encoded now (the others came from the buffer).

    Raises:
        InputError: nodes whose image cannot be read, named by position in the caller's list and id.
    """
    capture = embed._capture
    settings = embed.vector_settings()
    found = [capture.get(settings, item) for item in items]
    missing = [i for i, entry in enumerate(found) if entry is None]
    dense = [e.dense if e is not None else np.empty(0, np.float32) for e in found]
    multi = [e.multivector if e is not None else np.empty(0, np.float32) for e in found]
    if missing:
        result = _encode(embed, [nodes[i] for i in missing], missing, offset)
        assert result.dense is not None and result.multivector is not None
        for j, i in enumerate(missing):
            dense[i], multi[i] = np.asarray(result.dense[j]), np.asarray(result.multivector[j])
        logger.info(
            "encoded %d of %d node(s) for both vectors (none in embed_model's buffer)", len(missing), len(nodes)
        )
    _sync_embeddings(nodes, items, dense)
    capture.discard(settings, items)
    # VectorStoreIndex embeds image nodes as text: forget what that pass captured
    capture.discard(
        settings,
        [
            n.get_content(metadata_mode=MetadataMode.EMBED)
            for n, i in zip(nodes, items, strict=True)
            if not isinstance(i, str)
        ],
    )
    return dense, multi, len(missing)
