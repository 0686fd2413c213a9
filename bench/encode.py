"""Encode benchmark: our batching vs the batching of Jina's reference code.

Workload (fixed, seeded): 512 texts of 5-400 words and 32 images of varied sizes and aspect ratios.

Methods:
- ``ours-both`` / ``ours-dense``: ``JV4Encoder.encode_documents`` (length-sorted, token-budget
  batches; dense + multi-vector from one forward).
- ``ref-both`` / ``ref-dense``: Jina's batching: texts and images in separate calls, batches of 8
  in input order padded to the longest, one pass for dense and another one for multi-vectors.
- ``ref-both+lm_head``: the same, also running the 151,936-wide vocabulary projection on every
  token as Jina's code does (it runs the full causal-LM forward).

Each (preset, method) runs in its own process so peak memory is that method's own.

Usage:
    python bench/encode.py                      # tiny + medium on the CPU, prints a Markdown table
    python bench/encode.py --write-docs         # also updates docs/benchmarks.md
    python bench/encode.py --preset full --device cuda --dtype bfloat16   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import host, write_section

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("ours-both", "ours-dense", "ref-both", "ref-dense", "ref-both+lm_head")
IMAGE_SIZES = [(320, 240), (1240, 1754), (1920, 1080), (600, 800), (2000, 300), (800, 800), (1024, 768), (300, 1200)]
_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "they",
    "model",
    "vector",
    "token",
    "query",
    "passage",
    "image",
    "page",
    "chart",
    "table",
    "revenue",
    "region",
    "quarter",
    "search",
    "index",
    "store",
    "retrieval",
    "embedding",
    "late",
    "interaction",
    "dense",
    "sparse",
    "cluster",
    "shard",
    "replica",
    "payload",
    "filter",
    "score",
    "rerank",
    "matrix",
    "attention",
    "layer",
    "adapter",
    "precision",
    "memory",
    "throughput",
    "latency",
    "benchmark",
    "document",
    "figure",
    "caption",
    "language",
    "multilingual",
    "Qdrant",
    "LangChain",
    "LlamaIndex",
    "transformer",
    "vision",
    "patch",
    "merge",
    "rope",
    "position",
    "padding",
    "batch",
    "sort",
    "order",
    "restore",
    "numerics",
    "pooling",
    "mean",
    "normalise",
    "Matryoshka",
    "truncate",
    "projector",
    "checkpoint",
    "safetensors",
    "tokenizer",
    "vocabulary",
]


def workload(n_texts: int, n_images: int, seed: int = 0) -> tuple[list[str], list[Any]]:
    """The fixed benchmark inputs."""
    import numpy as np
    from PIL import Image

    rng = random.Random(seed)
    texts = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 400))) for _ in range(n_texts)]
    nrng = np.random.default_rng(seed)
    images = []
    for i in range(n_images):
        w, h = IMAGE_SIZES[i % len(IMAGE_SIZES)]
        small = nrng.integers(0, 256, (max(h // 16, 1), max(w // 16, 1), 3), dtype=np.uint8)
        images.append(Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR))
    return texts, images


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{host()}, torch {torch.__version__} ({torch.get_num_threads()} threads), {gpu}"


def _reference(enc: Any, texts: list[str], images: list[Any], *, both: bool, lm_head: bool) -> dict[str, int]:
    """Jina's batching on our model: per-modality calls, batches of 8 in input order."""
    import torch

    from jv4_integrations.core.inputs import prepare_items
    from jv4_integrations.core.model import mean_pool, normalize, token_vectors, unpad
    from jv4_integrations.core.preprocess import collate

    builder, model = enc._builder, enc.model
    vocab = None
    if lm_head:  # tied embeddings: Jina's causal-LM forward multiplies by the embedding matrix
        vocab = model.get_submodule("base_model.model.model.language_model.embed_tokens").weight
    processed = 0
    passes = [False, True] if both else [False]
    with torch.inference_mode():
        for group in (texts, images):
            rows = builder.build(
                prepare_items(group), prompt="passage", task="retrieval", max_length=32768, max_pixels=None
            )
            for multivector in passes:
                for start in range(0, len(rows), 8):
                    batch_rows = rows[start : start + 8]
                    batch = collate(batch_rows, builder, [None] * len(batch_rows), enc.device)
                    hidden, projected = model(
                        input_ids=batch.input_ids,
                        attention_mask=batch.attention_mask,
                        pixel_values=batch.pixel_values,
                        image_grid_thw=batch.image_grid_thw,
                        mm_token_type_ids=batch.mm_token_type_ids,
                        with_projection=multivector,
                        adapter_names=batch.tasks,
                    )
                    if vocab is not None:
                        hidden @ vocab.T
                    if multivector:
                        unpad(
                            token_vectors(projected, batch.attention_mask, reference=False).cpu(), batch.attention_mask
                        )
                    else:
                        normalize(mean_pool(hidden, batch.pool_mask, reference=False)).cpu()
                    processed += batch.input_ids.numel()
    return {"processed_tokens": processed}


def worker(args: argparse.Namespace) -> None:
    """Run one method in this process and print one JSON line."""
    import torch

    from jv4_integrations import JV4Encoder
    from jv4_integrations.core.batching import DEFAULT_BATCH_SIZE, default_max_tokens, plan_batches
    from jv4_integrations.core.inputs import prepare_items

    enc = JV4Encoder.from_pretrained(args.checkpoint, device=args.device, dtype=args.dtype)
    texts, images = workload(args.texts, args.images)
    items = texts + images
    warm_t, warm_i = workload(16, 2, seed=99)
    enc.encode_documents(warm_t + warm_i)
    if enc.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rows = enc._builder.build(
        prepare_items(items), prompt="passage", task="retrieval", max_length=32768, max_pixels=None
    )
    real = sum(len(r) for r in rows)
    patches = sum(t * h * w for r in rows for t, h, w in r.grids)
    backbone = enc.model.get_submodule("base_model.model.model")
    language, visual = backbone.get_submodule("language_model"), backbone.get_submodule("visual")
    text_params = sum(p.numel() for n, p in language.named_parameters() if "embed_tokens" not in n)
    vision_params = sum(p.numel() for p in visual.parameters())
    # forward FLOPs of the matrix work: 2 x parameters per text token and per vision patch (attention excluded)
    flops = 2 * text_params * real + 2 * vision_params * patches
    start = time.perf_counter()
    if args.method.startswith("ours"):
        enc.encode_documents(items, output="both" if args.method == "ours-both" else "dense")
        plan = plan_batches(
            [len(r) for r in rows], batch_size=DEFAULT_BATCH_SIZE, max_tokens=default_max_tokens(enc.device)
        )
        processed = plan.padded_tokens
    else:
        processed = _reference(enc, texts, images, both="both" in args.method, lm_head="lm_head" in args.method)[
            "processed_tokens"
        ]
    if enc.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated()
        if enc.device.startswith("cuda")
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    print(
        json.dumps(
            {
                "method": args.method,
                "seconds": seconds,
                "inputs": len(items),
                "real_tokens": real,
                "processed_tokens": processed,
                "peak_bytes": peak,
                "images": len(images),
                "flops": flops,
            }
        )
    )


def run_preset(preset: str, args: argparse.Namespace, ckpt_root: Path) -> list[dict[str, Any]]:
    from jv4_integrations.testing import write_tiny_checkpoint

    path = ckpt_root / preset
    if not (path / "config.json").exists():
        write_tiny_checkpoint(path, preset=preset, seed=0)
    results = []
    for method in args.methods:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            "--checkpoint",
            str(path),
            "--method",
            method,
            "--texts",
            str(args.texts),
            "--images",
            str(args.images),
            "--device",
            args.device,
        ]
        if args.dtype:
            cmd += ["--dtype", args.dtype]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit(f"{preset}/{method} failed:\n{out.stderr[-3000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["preset"] = preset
        results.append(row)
        print(f"  {preset:7s} {method:17s} {row['seconds']:8.2f} s", file=sys.stderr)
    return results


def table(results: list[dict[str, Any]], peak_tflops: float | None) -> str:
    lines = [
        "| preset | method | seconds | inputs/s | images/s | tokens/s | padding efficiency | peak memory "
        "| speed-up vs ref |" + (" MFU |" if peak_tflops else ""),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if peak_tflops else ""),
    ]
    by = {(r["preset"], r["method"]): r for r in results}
    for r in results:
        base = by.get((r["preset"], "ref-dense" if r["method"].endswith("dense") else "ref-both"))
        speed = f"{base['seconds'] / r['seconds']:.2f}x" if base else ""
        lines.append(
            f"| {r['preset']} | {r['method']} | {r['seconds']:.2f} | {r['inputs'] / r['seconds']:.1f} | "
            f"{r['images'] / r['seconds']:.1f} | "
            f"{r['real_tokens'] / r['seconds']:,.0f} | {r['real_tokens'] / r['processed_tokens']:.3f} | "
            f"{r['peak_bytes'] / 2**20:,.0f} MiB | {speed} |"
            + (f" {r['flops'] / r['seconds'] / (peak_tflops * 1e12):.1%} |" if peak_tflops else "")
        )
    return "\n".join(lines)


#: The targets on the ``medium`` preset: speed-up of both outputs, of dense alone, padding efficiency.
TARGETS = {"ours-both": 3.0, "ours-dense": 1.5, "padding": 0.9}


def findings(results: list[dict[str, Any]]) -> str:
    """One bullet per preset: speed-ups against the reference batching and padding, with the targets."""
    by = {(r["preset"], r["method"]): r for r in results}
    out = []
    for preset in dict.fromkeys(r["preset"] for r in results):
        parts = []
        for ours, ref in (("ours-both", "ref-both"), ("ours-dense", "ref-dense")):
            if (preset, ours) in by and (preset, ref) in by:
                speed = by[(preset, ref)]["seconds"] / by[(preset, ours)]["seconds"]
                verdict = f" (target >= {TARGETS[ours]}x: {'met' if speed >= TARGETS[ours] else 'missed'})"
                parts.append(f"{ours} {speed:.2f}x {ref}" + (verdict if preset == "medium" else ""))
        if (preset, "ours-both") in by:
            r = by[(preset, "ours-both")]
            pad = r["real_tokens"] / r["processed_tokens"]
            verdict = f" (target >= {TARGETS['padding']}: {'met' if pad >= TARGETS['padding'] else 'missed'})"
            parts.append(f"padding efficiency {pad:.3f}" + (verdict if preset == "medium" else ""))
        if parts:
            out.append(f"- {preset}: " + "; ".join(parts) + ".")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", nargs="+", default=["tiny", "medium"], choices=["tiny", "medium", "full"])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=[m for m in METHODS if "lm_head" not in m],
        choices=METHODS,
        help="ref-both+lm_head (Jina's full causal-LM forward) is slow on CPUs and off by default",
    )
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--checkpoints", type=Path, default=None, help="reuse checkpoints from this folder")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the device's peak dense TFLOP/s in the benchmark dtype, to report MFU (H100 SXM bf16: 989)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = args.checkpoints or Path(tmp)
        results = [r for preset in args.preset for r in run_preset(preset, args, root)]
    command = "python bench/encode.py " + " ".join(sys.argv[1:])
    section = (
        "## Encoding (bench/encode.py)\n\n"
        f"Machine: {machine()}. Device {args.device}, dtype {args.dtype or 'default'}.\n"
        f"Command: `{command.strip()}` ({time.strftime('%Y-%m-%d')}).\n"
        f"Workload: {args.texts} texts of 5-400 words + {args.images} images of {len(IMAGE_SIZES)} sizes "
        "(320x240 to 1920x1080, 2000x300 and 300x1200), encoded as documents (retrieval task).\n"
        "tokens/s counts input tokens (text, image and prompt tokens) embedded per second; padding efficiency is "
        "real tokens / tokens processed (padding included, every pass counted); peak memory is the process's "
        "maximum resident set (CPU) or maximum allocated GPU memory, model included (our batches are "
        "sized by a token budget, not by 8 items, which can raise it).\n"
        + (
            "The `full` preset (the real 3.8B shapes, random weights) needs a GPU: `python bench/encode.py "
            "--preset full --device cuda --dtype bfloat16 --peak-tflops 989` (H100) adds pages/s (images/s) and MFU.\n"
            if args.device == "cpu"
            else ""
        )
        + "\n"
        + findings(results)
        + "\n\n"
        + table(results, args.peak_tflops)
        + "\n"
    )
    print(section)
    if args.write_docs:
        write_section("## Encoding (bench/encode.py)", section)


if __name__ == "__main__":
    main()
