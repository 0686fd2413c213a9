"""Batch planning: sort rows by length, cut batches by a token budget, restore the order later."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Defaults: at most this many rows per forward...
DEFAULT_BATCH_SIZE = 64
#: ...and at most this many padded tokens (rows x longest row).
DEFAULT_MAX_TOKENS = 16384


@dataclass(frozen=True)
class BatchPlan:
    """Row indices per batch, longest rows first.

    Attributes:
        batches: each batch's row indices (into the planned list).
        real_tokens: tokens that carry input.
        padded_tokens: tokens processed, padding included.
    """

    batches: tuple[tuple[int, ...], ...]
    real_tokens: int
    padded_tokens: int

    @property
    def padding_efficiency(self) -> float:
        """Real tokens / processed tokens (1.0 = no padding)."""
        return self.real_tokens / self.padded_tokens if self.padded_tokens else 1.0


def plan_batches(lengths: Sequence[int], *, batch_size: int = DEFAULT_BATCH_SIZE, max_tokens: int = DEFAULT_MAX_TOKENS) -> BatchPlan:
    """Group rows into batches of similar length.

    Rows are sorted by length, longest first (ties keep input order), and a batch grows while it
    has fewer than ``batch_size`` rows and ``rows x longest`` stays within ``max_tokens``. A row
    longer than ``max_tokens`` gets a batch of its own.

    Args:
        lengths: token count of each row.
        batch_size: most rows per batch.
        max_tokens: most padded tokens per batch.

    Returns:
        The plan.
    """
    if batch_size < 1 or max_tokens < 1:
        raise ValueError(f"batch_size and max_tokens must be >= 1, got {batch_size} and {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[tuple[int, ...]] = []
    current: list[int] = []
    longest = 0
    padded = 0
    for index in order:
        length = lengths[index]
        if current and (len(current) + 1 > batch_size or max(longest, length) * (len(current) + 1) > max_tokens):
            batches.append(tuple(current))
            padded += longest * len(current)
            current, longest = [], 0
        current.append(index)
        longest = max(longest, length)
    if current:
        batches.append(tuple(current))
        padded += longest * len(current)
    return BatchPlan(tuple(batches), real_tokens=sum(lengths), padded_tokens=padded)
