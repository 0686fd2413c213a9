"""LangChain's own standard test suites for ``JV4Embeddings``, on the tiny checkpoint (nothing overridden)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from jv4_integrations.langchain import JV4Embeddings


class _TinyCheckpoint:
    """Points ``embedding_model_params`` at the session's tiny checkpoint.

    The suites read ``embedding_model_params`` (a property, without fixture access) in their
    ``model`` fixture and inside ``test_init``; this autouse fixture runs first and stores the path
    on the test instance.
    """

    _checkpoint: str

    @pytest.fixture(autouse=True)
    def _use_tiny_checkpoint(self, tiny_checkpoint: Path) -> None:
        self._checkpoint = str(tiny_checkpoint)

    @property
    def embeddings_class(self) -> type[JV4Embeddings]:
        return JV4Embeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model_name": self._checkpoint, "device": "cpu"}


class TestJV4EmbeddingsStandardUnit(_TinyCheckpoint, EmbeddingsUnitTests):
    pass


class TestJV4EmbeddingsStandardIntegration(_TinyCheckpoint, EmbeddingsIntegrationTests):
    pass
