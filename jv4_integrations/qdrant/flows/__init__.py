"""The operations of :class:`~jv4_integrations.qdrant.MultiVectorCollection`, as backend-neutral flows.

``driver`` runs them (sync or async); ``opening``, ``writing`` and ``reading`` hold the operations.
"""

from __future__ import annotations

from .driver import Context, Flow, Step, adrive, drive
from .opening import open_flow
from .reading import count_flow, delete_flow, get_flow, info_flow, scroll_flow, search_flow
from .tuning import RecallReport, RecallRow, measure_recall_flow
from .writing import add_embeddings_flow, add_flow, record_model_flow

__all__ = [
    "Context",
    "Flow",
    "RecallReport",
    "RecallRow",
    "Step",
    "add_embeddings_flow",
    "add_flow",
    "adrive",
    "count_flow",
    "delete_flow",
    "drive",
    "get_flow",
    "info_flow",
    "measure_recall_flow",
    "open_flow",
    "record_model_flow",
    "scroll_flow",
    "search_flow",
]
