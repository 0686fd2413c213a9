"""LangChain's own ``VectorStoreIntegrationTests`` for ``JV4QdrantVectorStore``, on the tiny checkpoint.

Nothing is overridden: the suite runs sync and async, with ``get_by_ids``, on two engines: qdrant-client
in memory and Qdrant's embedded engine in a temporary directory. Its ``vectorstore`` fixture yields an
empty store per test (a new collection) and closes it afterwards.

The suite's default embeddings (``get_embeddings()``, a ``DeterministicFakeEmbedding``) are not used:
the store needs the multi-vectors of the jv4 model, so the fixture builds it on the session's tiny
checkpoint, with the default hybrid (dense prefetch + MaxSim rerank) search.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from jv4_integrations import JV4Encoder
from jv4_integrations.langchain import JV4Embeddings, JV4QdrantVectorStore


class TestJV4QdrantVectorStoreInMemory(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tiny_params: dict[str, Any], encoder: JV4Encoder) -> Iterator[JV4QdrantVectorStore]:
        store = JV4QdrantVectorStore(embedding=JV4Embeddings(**tiny_params), location=":memory:")
        assert store.collection.encoder is encoder  # the session's one model instance
        assert store.collection.count() == 0
        try:
            yield store
        finally:
            store.close()


class TestJV4QdrantVectorStoreEmbedded(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tiny_params: dict[str, Any], tmp_path: Path) -> Iterator[JV4QdrantVectorStore]:
        store = JV4QdrantVectorStore(
            embedding=JV4Embeddings(**tiny_params), location=tmp_path / "store", collection_name="suite"
        )
        assert store.collection.backend_kind == "edge" and store.collection.count() == 0
        try:
            yield store
        finally:
            store.close()
