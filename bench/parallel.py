"""Can one hybrid query use more than one core on the embedded engine? (an exploration for the
hybrid latency target at 100k points; see docs/benchmarks.md "Search").

The engine merges a collection into one segment when it optimises, so one query runs on one core.
The other way to spread a query is to split the points over several shards, query them from
Python threads at once, and merge their top-10s by score. This script measures that, on the
search benchmark's synthetic data (``bench/search.py``'s generator, same flags and seed): the
mean-token hybrid (mean prefetch of K, exact MaxSim rerank, as
``CollectionSchema(prefetch_vector="mean")`` stores it) on one shard with all points, against the
points split over ``--shards`` shards queried with K/shards each, one after the other and from one
thread per shard. p50 latency and recall@10 against exact MaxSim (numpy).

Usage:
    python bench/parallel.py --quick           # 10,000 points, ~1 minute
    python bench/parallel.py --write-docs      # 100k points, ~6 minutes, ~14 GB RAM (three shards)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _common import host, write_section
from search import WIDTH, World, add_world_args, documents, exact_top, queries, unit

HEADING = "## One query on several cores (bench/parallel.py)"


def build_shard(path: Path, dense_mean: np.ndarray, mv: np.ndarray, ids: np.ndarray) -> Any:
    """A shard with the mean token (HNSW) and the float16 MaxSim multi-vector, points ``ids``."""
    import qdrant_edge as edge

    hnsw = edge.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000)
    vectors = {
        "mean": edge.EdgeVectorParams(size=WIDTH, distance=edge.Distance.Cosine, hnsw_config=hnsw),
        "mv": edge.EdgeVectorParams(
            size=WIDTH,
            distance=edge.Distance.Cosine,
            multivector_config=edge.MultiVectorConfig(edge.MultiVectorComparator.MaxSim),
            datatype=edge.VectorStorageDatatype.Float16,
            hnsw_config=edge.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000),
        ),
    }
    shard = edge.EdgeShard.create(str(path), edge.EdgeConfig(vectors=vectors))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        points = [
            edge.Point(int(i), {"mean": dense_mean[i].tolist(), "mv": mv[i].astype(np.float32).tolist()}, {})
            for i in chunk
        ]
        shard.update(edge.UpdateOperation.upsert_points(points))
    shard.optimize()
    return shard


def request(q_mean: np.ndarray, q_mv: np.ndarray, k: int) -> Any:
    import qdrant_edge as edge

    prefetch = edge.Prefetch(
        limit=k, query=edge.Query.Nearest(q_mean.tolist(), using="mean"), params=edge.SearchParams(hnsw_ef=max(k, 100))
    )
    return edge.QueryRequest(limit=10, query=edge.Query.Nearest(q_mv.tolist(), using="mv"), prefetches=[prefetch])


def shard_rows(
    whole: Any, parts: list[Any], data: dict[str, np.ndarray], truth: np.ndarray, args: argparse.Namespace
) -> list[dict[str, Any]]:
    n_parts = len(parts)
    rows = []

    def whole_query(req: Any) -> list[Any]:
        return [whole.query(req)]

    def in_sequence(req: Any) -> list[Any]:
        return [p.query(req) for p in parts]

    def in_threads(req: Any) -> list[Any]:
        return list(pool.map(lambda p: p.query(req), parts))

    with ThreadPoolExecutor(n_parts) as pool:
        for k in args.k:
            per = max(10, k // n_parts)
            runs: dict[str, list[float]] = {"one shard": [], "in sequence": [], "in threads": []}
            found: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.repeats):
                for i in range(len(data["q_mv"])):
                    one = request(data["q_mean"][i], data["q_mv"][i], k)
                    split = request(data["q_mean"][i], data["q_mv"][i], per)
                    calls: dict[str, Callable[[], list[Any]]] = {
                        "one shard": partial(whole_query, one),
                        "in sequence": partial(in_sequence, split),
                        "in threads": partial(in_threads, split),
                    }
                    for name, call in calls.items():
                        t = time.perf_counter()
                        results = call()
                        runs[name].append((time.perf_counter() - t) * 1000)
                        hits = sorted((h for r in results for h in r), key=lambda h: -h.score)[:10]
                        found[name].append(len({int(h.id) for h in hits} & set(truth[i].tolist())) / 10)
            for name in runs:
                label = f"mean K={k} -> exact" if name == "one shard" else f"{n_parts} shards x K={per}, {name}"
                rows.append(
                    {
                        "k": k,
                        "setup": label,
                        "p50": statistics.median(runs[name]),
                        "p95": float(np.percentile(runs[name], 95)),
                        "recall": float(np.mean(found[name])),
                    }
                )
                print(rows[-1], flush=True)
    return rows


def section(args: argparse.Namespace, seconds: float, rows: list[dict[str, Any]]) -> str:
    command = "python bench/parallel.py " + " ".join(sys.argv[1:])
    from importlib.metadata import version

    findings = []
    for k in args.k:
        one, seq, thr = (r for r in rows if r["k"] == k)
        findings.append(
            f"- K={k}: {args.shards} shards from {args.shards} threads, p50 {thr['p50']:.2f} ms against "
            f"{one['p50']:.2f} ms on one shard ({one['p50'] / thr['p50']:.2f}x) and {seq['p50']:.2f} ms for the "
            f"shards one after the other; recall@10 {thr['recall']:.3f} against {one['recall']:.3f}."
        )
    fast = [r for r in rows if r["p50"] <= 5.0 and r["recall"] >= 0.95]
    findings.append(
        "- **Both targets (p50 <= 5 ms, recall@10 >= 0.95): "
        + ("met by " + "; ".join(r["setup"] for r in fast) if fast else f"met by none of the {len(rows)} setups")
        + ".**"
    )
    lines = [
        HEADING,
        "",
        f"Machine: {host()}, qdrant-edge-py {version('qdrant-edge-py')}.",
        f"Command: `{command.strip()}` ({time.strftime('%Y-%m-%d')}, {seconds:.0f} s in all).",
        f"Data: bench/search.py's synthetic world, {args.points:,} documents of {args.tokens} tokens, "
        f"{args.queries} queries of {args.query_tokens} tokens, {args.repeats} passes; recall@10 against the "
        "exact MaxSim top-10 (numpy). The shards hold alternate points; each returns its top-10 and the "
        "merged list keeps the 10 best scores.",
        "",
        *findings,
        "",
        "| setup | p50 ms | p95 ms | recall@10 |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {r['setup']} | {r['p50']:.2f} | {r['p95']:.2f} | {r['recall']:.3f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_world_args(parser)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--k", type=int, nargs="+", default=[200, 300], help="prefetch sizes (all shards together)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="10,000 points, 30 queries")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.points, args.queries, args.repeats = 10_000, 30, 1
    started = time.time()
    world = World(args)
    _, mv = map(np.concatenate, zip(*documents(world, args.points, args.tokens, args.seed), strict=True))
    _, q_mv = queries(world, args.queries, args.query_tokens, args.seed)
    truth = exact_top(q_mv, mv, 10)[0]
    data = {"q_mv": q_mv, "q_mean": unit(q_mv.sum(1))}
    mean = unit(mv.astype(np.float32).mean(1))
    print(f"data and exact MaxSim ground truth: {time.time() - started:.0f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ids = np.arange(args.points)
        whole = build_shard(Path(tmp) / "whole", mean, mv, ids)
        parts = [build_shard(Path(tmp) / f"part{s}", mean, mv, ids[s :: args.shards]) for s in range(args.shards)]
        print(f"shards built: {time.time() - started:.0f} s", flush=True)
        rows = shard_rows(whole, parts, data, truth, args)
        for shard in [whole, *parts]:
            shard.close()
    text = section(args, time.time() - started, rows)
    print(text)
    if args.write_docs:
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
