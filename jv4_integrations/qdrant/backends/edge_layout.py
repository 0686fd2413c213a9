"""Segment layout of an embedded shard for search speed.

The embedded engine searches a shard's segments in parallel, one search thread per segment, and a
hybrid query pays its first stage (an HNSW search of ``prefetch_limit``) once per segment. Ingestion
builds its indexes every :data:`~.edge.OPTIMIZE_AFTER` points, which leaves many segments of a few
ten thousand points each (the engine's default size cap stops it merging them further): on two
cores, 100,000 points in five segments answered a three-stage hybrid query in 6.95 ms p50 where the
same points in two segments took 4.43 ms (``bench/layout.py``, docs/benchmarks.md).
:meth:`~.edge.EdgeBackend.optimize` therefore asks the engine to merge the segments down to about
one per search thread, by raising its segment size cap to ``total / threads`` (with some slack: the
engine merges the smallest segments greedily and never splits one).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection
from pathlib import Path

__all__ = ["MAX_SEARCH_SEGMENTS", "SIZE_SLACK", "describe", "plan_layout", "search_threads", "segment_sizes_kb"]

#: Upper bound on the segments a layout aims at, however many cores the machine has.
MAX_SEARCH_SEGMENTS = 16
#: The size cap is the even share of the data times this: room for the greedy merge to reach the
#: target count with segments of unequal sizes.
SIZE_SLACK = 1.25


def search_threads() -> int:
    """The cores this process may run on (the engine sizes its search pool by them), capped."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_SEARCH_SEGMENTS))


def segment_sizes_kb(shard_dir: Path, live: Collection[str] | None = None) -> list[int]:
    """Vector storage of each segment of a shard that holds data, in KB (allocated blocks: an empty
    appendable segment's preallocated chunks count as nothing, and it is left out).

    Args:
        shard_dir: the shard directory.
        live: the ids (folder names) of the segments in use (the engine keeps the folders that an
            optimisation replaced until the shard closes); ``None``: every folder.
    """
    segments = shard_dir / "segments"
    if not segments.is_dir():
        return []
    sizes = []
    for segment in sorted(segments.iterdir()):
        if not segment.is_dir() or (live is not None and segment.name not in live) or not _written(segment):
            continue
        allocated = 0
        for storage in segment.glob("vector_storage-*"):
            allocated += sum(_blocks(f) for f in storage.rglob("*") if f.is_file())
        sizes.append(math.ceil(allocated / 1024))
    return sizes


def _blocks(path: Path) -> int:
    st = path.stat()
    blocks = getattr(st, "st_blocks", None)
    return int(blocks) * 512 if blocks is not None else st.st_size


def _written(segment: Path) -> bool:
    """Whether the engine ever wrote to ``segment`` (its version is 0 until then)."""
    try:
        return bool(json.loads((segment / "segment.json").read_text()).get("version"))
    except (OSError, ValueError, AttributeError):
        return True  # unreadable: count it, the layout is only a hint to the engine


def plan_layout(sizes_kb: list[int], threads: int) -> int | None:
    """The segment size cap (KB) that merges ``sizes_kb`` into about ``threads`` segments, or
    ``None`` when there are no more segments than threads already."""
    if len(sizes_kb) <= threads:
        return None
    return math.ceil(sum(sizes_kb) / threads * SIZE_SLACK)


def describe(sizes_kb: list[int]) -> str:
    """Segment sizes for people, e.g. ``"1759+1172 MB"``."""
    return "+".join(str(kb // 1024) for kb in sizes_kb) + " MB"
