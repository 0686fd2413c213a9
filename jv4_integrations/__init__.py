"""jina-embeddings-v4 in process: one model core, thin adapters for LangChain, LlamaIndex and Qdrant.

Importing this package is cheap: it imports no torch, transformers or framework. The public names
below are loaded on first use.

Example:
    >>> from jv4_integrations import JV4Encoder  # doctest: +SKIP
    >>> enc = JV4Encoder.from_pretrained("jinaai/jina-embeddings-v4")  # doctest: +SKIP
    >>> enc.encode_queries(["what is late interaction?"]).dense.shape  # doctest: +SKIP
    (1, 2048)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes
from ._version import __version__
from .errors import (
    CheckpointError,
    InputError,
    JV4Error,
    MissingDependencyError,
    SchemaMismatchError,
    StoreError,
    UnsupportedOutputError,
)

if TYPE_CHECKING:
    from .core.encoder import JV4Encoder
    from .core.inputs import ImageLimits, ImageRef, Mixed
    from .core.results import EncodeResult
    from .scoring import maxsim

__all__ = [
    "CheckpointError",
    "EncodeResult",
    "ImageLimits",
    "ImageRef",
    "InputError",
    "JV4Encoder",
    "JV4Error",
    "MissingDependencyError",
    "Mixed",
    "SchemaMismatchError",
    "StoreError",
    "UnsupportedOutputError",
    "__version__",
    "maxsim",
]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "JV4Encoder": ".core.encoder",
        "EncodeResult": ".core.results",
        "ImageLimits": ".core.inputs",
        "ImageRef": ".core.inputs",
        "Mixed": ".core.inputs",
        "maxsim": ".scoring",
    },
)
