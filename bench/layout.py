"""Segment layout: hybrid search on the embedded engine before and after ``optimize()`` merges the
segments that ingestion left (see ``jv4_integrations/qdrant/backends/edge_layout.py``).

The collection is bench/search.py's synthetic world (same flags and seed), written through
``MultiVectorCollection.add_embeddings`` with the mean-token prefetch and a pooled copy of 16 tokens
(the fastest configuration of docs/benchmarks.md). Ingestion builds its indexes every 10,000 points,
as it does for users; the script then times hybrid search, calls ``optimize()``, and times it again
on the same handle, then once more after closing and reopening the collection (a new process's
view). Each phase times every configuration over ``--repeats`` interleaved passes of the queries
and reports p50 (and the range of the per-pass p50s: the machine is shared) and recall@10 against
the exact MaxSim top-10 (numpy).

Usage:
    python bench/layout.py --quick        # 20,000 points, ~1 minute
    python bench/layout.py --write-docs   # 100,000 points, ~6 minutes, ~8 GB RAM
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from typing import Any

import numpy as np
from _common import write_section
from search import World, add_world_args, exact_top, ingest, machine, queries

from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection  # importable via search.py's path
from jv4_integrations.qdrant.backends.edge_layout import describe, search_threads

HEADING = "## Segment layout (bench/layout.py)"
CONFIGS = ((100, None), (300, None), (320, 120), (350, 110), (350, 130))


def layout(col: MultiVectorCollection) -> str:
    return describe(col._backend.segment_sizes_kb())


def phase(
    col: MultiVectorCollection, qd: np.ndarray, qm: np.ndarray, top: np.ndarray, repeats: int
) -> dict[str, dict[str, Any]]:
    """p50 (all samples), the per-pass p50 range and recall@10 of each configuration."""
    samples: dict[str, list[float]] = {}
    passes: dict[str, list[float]] = {}
    recall: dict[str, float] = {}
    for _ in range(repeats):
        for k1, k2 in CONFIGS:
            label = f"K1={k1} K2={k2}" if k2 else f"K={k1}"
            times, found = [], []
            for i in range(len(qd)):
                t = time.perf_counter()
                hits = col.search_by_vector(
                    dense=qd[i], multivector=qm[i], limit=10, prefetch_limit=k1, rerank_candidates=k2
                )
                times.append((time.perf_counter() - t) * 1000)
                found.append(len({int(h.item_id) for h in hits} & set(top[i].tolist())) / 10)
            samples.setdefault(label, []).extend(times)
            passes.setdefault(label, []).append(statistics.median(times))
            recall[label] = float(np.mean(found))
    return {
        label: {"p50": statistics.median(samples[label]), "range": (min(p), max(p)), "recall": recall[label]}
        for label, p in passes.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_world_args(parser)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20,000 points")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.points = 20_000
    args.datatype = "float16"
    started = time.time()
    world = World(args)
    qd, qm = queries(world, args.queries, args.query_tokens, args.seed)
    schema = CollectionSchema(
        dense_size=args.dense_dim, multivector_datatype="float16", prefetch_vector="mean", pooled_tokens=16
    )
    phases: list[tuple[str, str, dict[str, dict[str, Any]]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        col = MultiVectorCollection.open(tmp, "bench", schema=schema)
        seconds, _, kept = ingest(col, world, args.points, args)
        top = exact_top(qm, kept, 10)[0]
        del kept
        gc.collect()
        before = layout(col)
        print(f"ingested {args.points} points in {seconds:.0f} s: segments of {before}", file=sys.stderr, flush=True)
        phases.append(("as ingestion left it", before, phase(col, qd, qm, top, args.repeats)))
        t = time.perf_counter()
        col.optimize()
        merge_s = time.perf_counter() - t
        after = layout(col)
        print(f"optimize() in {merge_s:.0f} s: segments of {after}", file=sys.stderr, flush=True)
        phases.append(("after optimize(), same handle", after, phase(col, qd, qm, top, args.repeats)))
        col.close()
        col = MultiVectorCollection.open(tmp, "bench")
        phases.append(("closed and reopened", layout(col), phase(col, qd, qm, top, args.repeats)))
        col.close()
    text = section(args, time.time() - started, merge_s, phases)
    print(text)
    if args.write_docs:
        write_section(HEADING, text)


def section(
    args: argparse.Namespace, seconds: float, merge_s: float, phases: list[tuple[str, str, dict[str, dict[str, Any]]]]
) -> str:
    argv = " ".join(sys.argv[1:])
    lines = [
        HEADING,
        "",
        f"Machine: {machine()}; search threads (cores this process may use): {search_threads()}.",
        f"Command: `python bench/layout.py {argv}` ({time.strftime('%Y-%m-%d')}, {seconds:.0f} s in all).",
        f"Data: bench/search.py's synthetic world, {args.points:,} documents of {args.tokens} tokens, "
        f'{args.queries} queries of {args.query_tokens} tokens; `CollectionSchema(prefetch_vector="mean", '
        "pooled_tokens=16)`, float16 multi-vectors, written by `add_embeddings` (indexes built every 10,000 "
        "points, as for any user). Hybrid search through `search_by_vector` (our layer included); `K1=… K2=…` "
        "= mean-token prefetch of K1, MaxSim on the pooled copy keeps K2, exact MaxSim ranks those; recall@10 "
        "against the exact MaxSim top-10 (numpy). Each phase times every configuration in "
        f"{args.repeats} interleaved passes; 'p50 range' is the lowest and highest per-pass p50. "
        f"`optimize()` took {merge_s:.0f} s.",
        "",
        "| phase | segments (MB of vectors) | configuration | p50 ms | p50 range ms | recall@10 |",
        "|---|---|---|---:|---:|---:|",
    ]
    for name, segs, rows in phases:
        for label, r in rows.items():
            lines.append(
                f"| {name} | {segs} | {label} | {r['p50']:.2f} | {r['range'][0]:.2f}-{r['range'][1]:.2f} "
                f"| {r['recall']:.3f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
