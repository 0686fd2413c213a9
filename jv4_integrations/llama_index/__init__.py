"""LlamaIndex integration: :class:`JV4Embedding` and :class:`JV4QdrantVectorStore`.

:class:`JV4Embedding` is a multimodal embedding and node transformation; :class:`JV4QdrantVectorStore`
a vector store keeping each node's dense vector and multi-vector in Qdrant, with late-interaction
(MaxSim) search. Needs the ``llama-index`` extra (``pip install 'jv4-integrations[llama-index]'``);
the store also needs the ``qdrant`` extra.

Example:
    >>> from jv4_integrations.llama_index import JV4Embedding, JV4QdrantVectorStore  # doctest: +SKIP
    >>> embed = JV4Embedding()  # cheap: the model loads on first use, shared in the process  # doctest: +SKIP
    >>> embed.get_query_embedding("which chart shows revenue by region?")[:3]  # doctest: +SKIP
    >>> store = JV4QdrantVectorStore("./jv4-data", collection_name="nodes", embed_model=embed)  # doctest: +SKIP
"""

from __future__ import annotations

from .._optional import require

require("llama_index.core", purpose="jv4_integrations.llama_index")

from .embedding import JV4Embedding  # noqa: E402
from .vector_store import JV4QdrantVectorStore  # noqa: E402

__all__ = ["JV4Embedding", "JV4QdrantVectorStore"]
