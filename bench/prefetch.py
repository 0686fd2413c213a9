"""Prefetch predictors: which cheap first stages keep the exact MaxSim top-10 (an exploration for
the hybrid recall target at 100k points; see docs/benchmarks.md "Search").

Hybrid search reranks the K dense candidates by exact MaxSim, so its recall@10 is bounded by how
many of the exact top-10 the first stage puts among its K. On the search benchmark's synthetic data
the dense top-100 holds only ~59% of them at 100k points. This script asks whether another first or
middle stage would do better, on the same data (``bench/search.py``'s generator, same flags/seed):

- numpy, single-vector first stages (exact top-K by inner product, then an exact MaxSim rerank):
  the collection's dense vector; the mean multi-vector token; MUVERA-style fixed dimensional
  encodings (``R`` repetitions of ``2**k`` SimHash buckets, each token projected to ``p`` dims;
  documents average per bucket and fill empty buckets from the nearest token, queries sum).
- numpy, three stages: dense top-K1, a cheaper MaxSim keeps K2, the exact MaxSim ranks those; the
  cheaper MaxSim is on sign-binarised tokens (what a binary-quantized copy scores) or on k-means
  pooled tokens (each document's tokens clustered into ``c`` unit centroids, deterministic init).
- ``--engine``: the promising ones for real, on Qdrant's embedded engine (qdrant-edge, driven
  directly: neither extra vector is a feature of MultiVectorCollection): a collection with the
  dense vector, the mean token (unit, 128-d, HNSW), the float16 multi-vector and the pooled
  multi-vector as named vectors; p50 latency and recall@10 of a first stage (dense or mean token)
  of K1, optionally the pooled MaxSim keeping K2, then the exact MaxSim.

Usage:
    python bench/prefetch.py --quick                 # 5,000 points, ~1 minute
    python bench/prefetch.py --engine --write-docs   # 100k points, ~15 minutes, ~8 GB RAM
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import host, write_section
from search import WIDTH, World, add_world_args, documents, exact_top, queries, unit

from jv4_integrations import scoring  # importable once search.py put the project root on sys.path

HEADING = "## Prefetch predictors (bench/prefetch.py)"


def recall_of(order: np.ndarray, k: int, truth: tuple[np.ndarray, ...]) -> float:
    """recall@10 of an exact MaxSim rerank of each query's first ``k`` of ``order`` (queries, >= k)."""
    top, _, scores = truth
    found = []
    for i in range(len(order)):
        cand = order[i][:k]
        best = cand[np.argsort(-scores[i, cand])[:10]]
        found.append(len(set(best.tolist()) & set(top[i].tolist())) / 10)
    return float(np.mean(found))


def ranked(sims: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's top ``k`` (unsorted within)."""
    return np.argpartition(-sims, k, axis=1)[:, :k]


def fde(tokens: np.ndarray, reps: int, bits: int, proj: int, *, query: bool, seed: int = 7) -> np.ndarray:
    """MUVERA-style fixed dimensional encodings of ``(n, t, 128)`` tokens: ``(n, reps * 2**bits * proj)``."""
    rng = np.random.default_rng(seed)
    buckets = 2**bits
    out = []
    for _ in range(reps):
        planes = rng.normal(size=(WIDTH, bits)).astype(np.float32)
        sketch = (rng.choice([-1.0, 1.0], size=(WIDTH, proj)) / np.sqrt(proj)).astype(np.float32)
        bucket = ((tokens @ planes > 0) * (2 ** np.arange(bits))).sum(-1)  # (n, t)
        projected = tokens @ sketch  # (n, t, proj)
        onehot = (bucket[..., None] == np.arange(buckets)).astype(np.float32)  # (n, t, buckets)
        summed = onehot.transpose(0, 2, 1) @ projected  # (n, buckets, proj)
        if not query:
            count = onehot.sum(1)
            summed = summed / np.maximum(count, 1)[..., None]
            # an empty bucket takes the token whose bucket is nearest in Hamming distance
            xor = bucket[:, None, :] ^ np.arange(buckets)[None, :, None]
            hamming = np.unpackbits(xor.astype(np.uint8)[..., None], axis=-1).sum(-1)
            nearest = np.take_along_axis(projected, hamming.argmin(-1)[..., None], axis=1)
            summed = np.where((count == 0)[..., None], nearest, summed)
        out.append(summed.reshape(len(tokens), -1))
    return np.concatenate(out, axis=1)


def pooled(tokens: np.ndarray, clusters: int, iters: int = 8) -> np.ndarray:
    """Spherical k-means of each item's tokens: ``(n, t, 128)`` -> ``(n, clusters, 128)`` unit centroids.

    Deterministic: the centroids start at evenly spaced token positions (neighbouring tokens are alike in
    real text, so this spreads them over the document).
    """
    start = np.linspace(0, tokens.shape[1] - 1, clusters).round().astype(int)
    centroids = tokens[:, start]
    for _ in range(iters):
        assign = (tokens @ centroids.transpose(0, 2, 1)).argmax(-1)
        onehot = (assign[..., None] == np.arange(clusters)).astype(np.float32)
        sums = onehot.transpose(0, 2, 1) @ tokens
        norms = np.linalg.norm(sums, axis=-1, keepdims=True)
        centroids = np.where(norms > 0, sums / np.maximum(norms, 1e-12), centroids)
    out: np.ndarray = centroids.astype(np.float32)
    return out


def maxsim(query: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """MaxSim of one ``(t, 128)`` query against ``(n, s, 128)`` documents: ``(n,)`` (the package's scorer)."""
    return np.asarray(scoring.maxsim([query], docs)[0])


def single_stage_rows(
    data: dict[str, np.ndarray], truth: tuple[np.ndarray, ...], args: argparse.Namespace
) -> list[dict[str, Any]]:
    rows = []
    ks = args.k

    def row(name: str, dims: int, sims: np.ndarray, seconds: float) -> None:
        order = ranked(sims, max(ks))
        order = np.take_along_axis(order, np.argsort(-np.take_along_axis(sims, order, 1), axis=1), 1)
        rows.append(
            {"predictor": name, "dims": dims, "encode_s": seconds, **{k: recall_of(order, k, truth) for k in ks}}
        )
        print(rows[-1], flush=True)

    row("dense vector", data["dense"].shape[1], data["q_dense"] @ data["dense"].T, 0.0)
    mean = unit(np.concatenate([c.astype(np.float32).mean(1) for c in np.array_split(data["mv"], 50)]))
    row("mean token", WIDTH, data["q_mv"].sum(1) @ mean.T, 0.0)
    for spec in args.fde:
        reps, bits, proj = (int(x) for x in spec.split(":"))
        t = time.perf_counter()
        docs = np.concatenate(
            [fde(c.astype(np.float32), reps, bits, proj, query=False) for c in np.array_split(data["mv"], 100)]
        )
        seconds = time.perf_counter() - t
        q = fde(data["q_mv"], reps, bits, proj, query=True)
        row(f"FDE R={reps} k={bits} p={proj}", docs.shape[1], q @ docs.T, seconds)
        del docs
    return rows


def middle_stage_rows(
    data: dict[str, np.ndarray], truth: tuple[np.ndarray, ...], args: argparse.Namespace
) -> list[dict[str, Any]]:
    k1 = args.k1
    first = ranked(data["q_dense"] @ data["dense"].T, k1)

    def binary(q: np.ndarray, d: np.ndarray) -> np.ndarray:
        return maxsim(np.sign(q), np.sign(d))

    def pooled_by(clusters: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        return lambda q, d: maxsim(q, pooled(d, clusters))

    cheap = {"binary (sign) tokens": binary, **{f"k-means pooled, {c} tokens": pooled_by(c) for c in args.clusters}}
    rows = []
    for name, score in cheap.items():
        orders = []
        for i in range(len(first)):
            cand = np.sort(first[i])
            orders.append(cand[np.argsort(-score(data["q_mv"][i], data["mv"][cand].astype(np.float32)))])
        order = np.stack(orders)
        rows.append({"middle stage": name, "K1": k1, **{k2: recall_of(order, k2, truth) for k2 in args.k2}})
        print(rows[-1], flush=True)
    rows.append(
        {
            "middle stage": "none (exact MaxSim on all K1)",
            "K1": k1,
            **{k2: recall_of(first, k1, truth) for k2 in args.k2},
        }
    )
    return rows


def engine_rows(
    data: dict[str, np.ndarray], truth: tuple[np.ndarray, ...], args: argparse.Namespace, tmp: Path
) -> list[dict[str, Any]]:
    import qdrant_edge as edge

    def params(multi: bool, m: int) -> Any:
        return edge.EdgeVectorParams(
            size=WIDTH,
            distance=edge.Distance.Cosine,
            multivector_config=edge.MultiVectorConfig(edge.MultiVectorComparator.MaxSim) if multi else None,
            datatype=edge.VectorStorageDatatype.Float16 if multi else None,
            hnsw_config=edge.HnswIndexConfig(m=m, ef_construct=100, full_scan_threshold=10_000),
        )

    clusters = args.engine_clusters
    vectors = {"dense": params(False, 16), "mean": params(False, 16), "mv": params(True, 0), "pooled": params(True, 0)}
    config = edge.EdgeConfig(vectors=vectors)
    shard = edge.EdgeShard.create(str(tmp / "shard"), config)
    t = time.perf_counter()
    n = len(data["dense"])
    for start in range(0, n, 500):
        stop = min(n, start + 500)
        mv = data["mv"][start:stop].astype(np.float32)
        pool = pooled(mv, clusters)
        mean = unit(mv.mean(1))
        points = [
            edge.Point(
                start + j,
                {
                    "dense": data["dense"][start + j].tolist(),
                    "mean": mean[j].tolist(),
                    "mv": mv[j].tolist(),
                    "pooled": pool[j].tolist(),
                },
                {},
            )
            for j in range(stop - start)
        ]
        shard.update(edge.UpdateOperation.upsert_points(points))
    ingest_s = time.perf_counter() - t
    t = time.perf_counter()
    shard.optimize()
    print(
        f"engine: ingested {n} points with pooling in {ingest_s:.0f} s, index {time.perf_counter() - t:.0f} s",
        flush=True,
    )

    q_mean = unit(data["q_mv"].sum(1))

    def request(first: str, i: int, k1: int, k2: int | None) -> Any:
        vector = data["q_dense"][i] if first == "dense" else q_mean[i]
        stage = edge.Prefetch(
            limit=k1,
            query=edge.Query.Nearest(vector.tolist(), using=first),
            params=edge.SearchParams(hnsw_ef=max(k1, 100)),
        )
        q = data["q_mv"][i].tolist()
        if k2 is not None:
            stage = edge.Prefetch(limit=k2, query=edge.Query.Nearest(q, using="pooled"), prefetches=[stage])
        return edge.QueryRequest(limit=10, query=edge.Query.Nearest(q, using="mv"), prefetches=[stage])

    rows = []
    for spec in args.engine_stages:
        first, _, sizes = spec.rpartition("@")
        first = first or "dense"
        k1, _, rest = sizes.partition(":")
        k2 = int(rest) if rest else None
        for i in range(3):
            shard.query(request(first, i, int(k1), k2))
        times, found = [], []
        for i in range(len(data["q_dense"])):
            req = request(first, i, int(k1), k2)
            t = time.perf_counter()
            hits = shard.query(req)
            times.append((time.perf_counter() - t) * 1000)
            found.append(len({int(p.id) for p in hits} & set(truth[0][i].tolist())) / 10)
        name = "dense" if first == "dense" else "mean token"
        label = f"{name} K1={k1} -> pooled ({clusters} tokens) K2={k2} -> exact" if k2 else f"{name} K={k1} -> exact"
        rows.append(
            {
                "stages": label,
                "p50": statistics.median(times),
                "p95": float(np.percentile(times, 95)),
                "recall": float(np.mean(found)),
            }
        )
        print(rows[-1], flush=True)
    shard.close()
    return rows


def findings(
    args: argparse.Namespace, single: list[dict[str, Any]], middle: list[dict[str, Any]], engine: list[dict[str, Any]]
) -> list[str]:
    """What the tables say, as bullet lines computed from them."""
    out = []
    for k in args.k:
        best = max(single, key=lambda r: r[k])
        dense = single[0]
        out.append(
            f"- First stage of K={k}: the {best['predictor']} keeps {best[k]:.3f} of the exact top-10 "
            f"(the dense vector: {dense[k]:.3f})."
        )
    for r in middle[:-1]:
        enough = [k2 for k2 in args.k2 if r[k2] >= 0.95]
        reach = f"reaches recall@10 >= 0.95 from K2={enough[0]}" if enough else "reaches recall@10 >= 0.95 at no K2"
        out.append(f"- Middle stage on {r['middle stage']} over the dense top-{r['K1']}: {reach}.")
    if engine:
        both = [r for r in engine if r["p50"] <= 5.0 and r["recall"] >= 0.95]
        good = [r for r in engine if r["recall"] >= 0.95]
        fast = [r for r in engine if r["p50"] <= 5.0]
        verdict = (
            "met by " + "; ".join(f"{r['stages']} ({r['p50']:.2f} ms, {r['recall']:.3f})" for r in both)
            if both
            else f"met by none of the {len(engine)} configurations"
        )
        out.append(f"- **Engine, both targets (p50 <= 5 ms, recall@10 >= 0.95): {verdict}.**")
        if good:
            r = min(good, key=lambda r: r["p50"])
            out.append(f"- Engine, fastest with recall@10 >= 0.95: {r['stages']}, p50 {r['p50']:.2f} ms.")
        if fast:
            r = max(fast, key=lambda r: r["recall"])
            out.append(f"- Engine, best recall@10 within 5 ms: {r['stages']}, {r['recall']:.3f} at {r['p50']:.2f} ms.")
    return out


def section(
    args: argparse.Namespace,
    seconds: float,
    single: list[dict[str, Any]],
    middle: list[dict[str, Any]],
    engine: list[dict[str, Any]],
) -> str:
    command = "python bench/prefetch.py " + " ".join(sys.argv[1:])
    lines = [
        HEADING,
        "",
        f"Machine: {host()}, numpy {np.__version__}.",
        f"Command: `{command.strip()}` ({time.strftime('%Y-%m-%d')}, {seconds:.0f} s in all).",
        f"Data: bench/search.py's synthetic world, {args.points:,} documents of {args.tokens} tokens, "
        f"{args.topics} topics, dense vector of {args.dense_dim}, {args.queries} queries of {args.query_tokens} "
        "tokens; recall@10 against the exact MaxSim top-10 after an exact MaxSim rerank of each stage's survivors.",
        "",
        *findings(args, single, middle, engine),
        "",
        "Single-vector first stage (exact top-K by inner product, numpy; 'encode s' = encoding every document):",
        "",
        "| first stage | dims | encode s | " + " | ".join(f"recall@10, K={k}" for k in args.k) + " |",
        "|---|---:|---:|" + "---:|" * len(args.k),
    ]
    for r in single:
        lines.append(
            f"| {r['predictor']} | {r['dims']} | {r['encode_s']:.0f} | "
            + " | ".join(f"{r[k]:.3f}" for k in args.k)
            + " |"
        )
    lines += [
        "",
        f"Three stages (numpy): exact dense top-K1={args.k1}, a cheaper MaxSim keeps K2, exact MaxSim ranks them:",
        "",
        "| middle stage | " + " | ".join(f"recall@10, K2={k}" for k in args.k2) + " |",
        "|---|" + "---:|" * len(args.k2),
    ]
    for r in middle:
        lines.append(f"| {r['middle stage']} | " + " | ".join(f"{r[k]:.3f}" for k in args.k2) + " |")
    if engine:
        lines += [
            "",
            "On the embedded engine (qdrant-edge driven directly, float16 multi-vectors, sequential queries):",
            "",
            "| stages | p50 ms | p95 ms | recall@10 |",
            "|---|---:|---:|---:|",
        ]
        lines += [f"| {r['stages']} | {r['p50']:.2f} | {r['p95']:.2f} | {r['recall']:.3f} |" for r in engine]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_world_args(parser)
    parser.add_argument("--k", type=int, nargs="+", default=[100, 200, 300, 500], help="first-stage sizes")
    parser.add_argument("--fde", nargs="*", default=["8:3:16", "16:3:16"], help="FDE configurations R:k:p")
    parser.add_argument("--k1", type=int, default=500, help="dense candidates of the three-stage rows")
    parser.add_argument("--k2", type=int, nargs="+", default=[50, 80, 100, 150])
    parser.add_argument("--clusters", type=int, nargs="*", default=[16, 25], help="pooled tokens per document")
    parser.add_argument("--engine", action="store_true", help="also time the promising stages on qdrant-edge")
    parser.add_argument("--engine-clusters", type=int, default=25)
    parser.add_argument(
        "--engine-stages",
        nargs="*",
        default=[
            "dense@100",
            "dense@500",
            "dense@500:100",
            "mean@100",
            "mean@200",
            "mean@300",
            "mean@300:80",
            "mean@400:80",
        ],
        help="[dense|mean]@K1[:K2]: first stage and size, then (with K2) the pooled middle stage",
    )
    parser.add_argument("--quick", action="store_true", help="5,000 points, 32 tokens, 50 queries")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.points, args.tokens, args.queries, args.topics = 5_000, 32, 50, 50
        args.k, args.k1, args.k2, args.clusters, args.engine_clusters = [50, 100], 200, [20, 50], [8], 8
        args.engine_stages = ["dense@50", "mean@50", "dense@200:50"]
    started = time.time()
    world = World(args)
    dense, mv = map(np.concatenate, zip(*documents(world, args.points, args.tokens, args.seed), strict=True))
    q_dense, q_mv = queries(world, args.queries, args.query_tokens, args.seed)
    truth = exact_top(q_mv, mv, 10)
    data = {"dense": dense, "mv": mv, "q_dense": q_dense, "q_mv": q_mv}
    print(f"data and exact MaxSim ground truth: {time.time() - started:.0f} s", flush=True)
    single = single_stage_rows(data, truth, args)
    middle = middle_stage_rows(data, truth, args)
    engine: list[dict[str, Any]] = []
    if args.engine:
        with tempfile.TemporaryDirectory() as tmp:
            engine = engine_rows(data, truth, args, Path(tmp))
    text = section(args, time.time() - started, single, middle, engine)
    print(text)
    if args.write_docs:
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
