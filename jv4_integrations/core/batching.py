"""Batch planning: sort rows by length, cut batches by a token budget, restore the order later."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Defaults: at most this many rows per forward...
DEFAULT_BATCH_SIZE = 64
#: ...and at most this many padded tokens (rows x longest row) on an accelerator...
DEFAULT_MAX_TOKENS = 16384
#: ...or on the CPU, where larger batches add memory traffic and no speed (bench/encode.py, medium
#: preset: 2048 ran ~15% faster than 16384 on 2 cores).
DEFAULT_MAX_TOKENS_CPU = 2048


def default_max_tokens(device: str) -> int:
    """The default token budget per forward on ``device`` (``"cpu"``, ``"cuda:0"``, ``"mps"``...)."""
    return DEFAULT_MAX_TOKENS_CPU if device.split(":", 1)[0] == "cpu" else DEFAULT_MAX_TOKENS


#: The planner's estimate of one forward's fixed cost, in tokens.
BATCH_OVERHEAD_TOKENS = 256


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


def plan_batches(
    lengths: Sequence[int],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    batch_overhead: int = BATCH_OVERHEAD_TOKENS,
) -> BatchPlan:
    """Group rows into batches of similar length with as little padding as possible.

    Rows are sorted by length, longest first (ties keep input order), then cut into contiguous
    batches that minimise ``padded tokens + batch_overhead x number of batches`` (an exact
    dynamic programme), where a batch has at most ``batch_size`` rows and ``rows x longest`` stays
    within ``max_tokens``. A row longer than ``max_tokens`` gets a batch of its own.

    Args:
        lengths: token count of each row.
        batch_size: most rows per batch.
        max_tokens: most padded tokens per batch.
        batch_overhead: the fixed cost of one forward, in tokens (trades padding for fewer batches).

    Returns:
        The plan.
    """
    if batch_size < 1 or max_tokens < 1:
        raise ValueError(f"batch_size and max_tokens must be >= 1, got {batch_size} and {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    sorted_lengths = [lengths[i] for i in order]
    n = len(order)
    # best[j]: least cost of batching the first j sorted rows; cut[j]: where its last batch starts
    best = [0] + [0] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        best[j] = -1
        for i in range(j - 1, max(-1, j - 1 - batch_size), -1):
            width = sorted_lengths[i]  # the longest row of batch [i, j)
            if j - i > 1 and width * (j - i) > max_tokens:
                break
            cost = best[i] + width * (j - i) + batch_overhead
            if best[j] < 0 or cost < best[j]:
                best[j], cut[j] = cost, i
    batches: list[tuple[int, ...]] = []
    padded = 0
    j = n
    while j > 0:
        i = cut[j]
        batches.append(tuple(order[i:j]))
        padded += sorted_lengths[i] * (j - i)
        j = i
    batches.reverse()
    return BatchPlan(tuple(batches), real_tokens=sum(lengths), padded_tokens=padded)
