"""LlamaIndex integration: :class:`JV4Embedding`, a multimodal embedding and node transformation.

Needs the ``llama-index`` extra (``pip install 'jv4-integrations[llama-index]'``).

Example:
    >>> from jv4_integrations.llama_index import JV4Embedding  # doctest: +SKIP
    >>> embed = JV4Embedding()  # cheap: the model loads on first use, shared in the process  # doctest: +SKIP
    >>> embed.get_query_embedding("which chart shows revenue by region?")[:3]  # doctest: +SKIP
"""

from __future__ import annotations

from .._optional import require

require("llama_index.core", purpose="jv4_integrations.llama_index")

from .embedding import JV4Embedding  # noqa: E402

__all__ = ["JV4Embedding"]
