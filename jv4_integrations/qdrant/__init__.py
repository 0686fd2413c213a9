"""Qdrant storage for jina-embeddings-v4: a dense vector and a MaxSim multi-vector per item.

:class:`MultiVectorCollection` works on Qdrant's embedded engine (qdrant-edge; pass a directory)
and on qdrant-client in every mode (``":memory:"``, ``path=``, a server or cluster URL; sync or
async). Importing this package does not import qdrant-client or qdrant-edge; they are imported when
a collection is opened (``pip install 'jv4-integrations[qdrant]'``).

Example:
    >>> from jv4_integrations import JV4Encoder  # doctest: +SKIP
    >>> from jv4_integrations.qdrant import MultiVectorCollection
    >>> enc = JV4Encoder.shared("jinaai/jina-embeddings-v4")  # doctest: +SKIP
    >>> col = MultiVectorCollection.open("./jv4-data", "docs", encoder=enc)  # doctest: +SKIP
    >>> col.add(["Qdrant stores vectors."], metadatas=[{"category": "db"}])  # doctest: +SKIP
    >>> col.search("vector database", filter={"category": "db"})[0].text  # doctest: +SKIP
    'Qdrant stores vectors.'
"""

from __future__ import annotations

from .collection import DEFAULT_COLLECTION, MultiVectorCollection
from .filters import metadata_filter
from .flows.tuning import RecallReport, RecallRow
from .ids import POINT_ID_NAMESPACE, point_id
from .payload import PAYLOAD_SCHEMA_VERSION, build_payload, clean_metadata, metadata_key, parse_payload
from .record import ModelRecord
from .schema import CollectionSchema
from .types import MODES, CollectionInfo, SearchHit, StoredPoint

__all__ = [
    "DEFAULT_COLLECTION",
    "MODES",
    "PAYLOAD_SCHEMA_VERSION",
    "POINT_ID_NAMESPACE",
    "CollectionInfo",
    "CollectionSchema",
    "ModelRecord",
    "MultiVectorCollection",
    "RecallReport",
    "RecallRow",
    "SearchHit",
    "StoredPoint",
    "build_payload",
    "clean_metadata",
    "metadata_filter",
    "metadata_key",
    "parse_payload",
    "point_id",
]
