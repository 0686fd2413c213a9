"""LangChain integration: ``JV4Embeddings`` and the late-interaction vector store ``JV4QdrantVectorStore``.

Install with ``pip install 'jv4-integrations[langchain]'``; the vector store also needs the ``qdrant``
extra (``pip install 'jv4-integrations[langchain,qdrant]'``).

Importing this package is cheap; ``langchain_core`` is imported when a name is first used, and a
missing extra raises :class:`~jv4_integrations.MissingDependencyError` naming it.

Example:
    >>> from jv4_integrations.langchain import JV4Embeddings, JV4QdrantVectorStore
    >>> emb = JV4Embeddings(model="jinaai/jina-embeddings-v4", dimensions=512)
    >>> emb.embed_query("what is late interaction?")  # doctest: +SKIP
    >>> store = JV4QdrantVectorStore(embedding=emb, location="./jv4-data")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .embeddings import JV4Embeddings
    from .vectorstore import JV4QdrantVectorStore

__all__ = ["JV4Embeddings", "JV4QdrantVectorStore"]

__getattr__, __dir__ = lazy_attributes(
    __name__, {"JV4Embeddings": ".embeddings", "JV4QdrantVectorStore": ".vectorstore"}
)
