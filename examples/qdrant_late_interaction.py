"""Late-interaction search over images and text with Qdrant (dense prefetch + MaxSim rerank).

Indexes the bundled example data (text files, images and rendered PDF pages) into a
``MultiVectorCollection`` — the dense vector and the multi-vector of every item side by side in one
Qdrant collection — then searches it with a text query in the three modes and with an image query.

    python examples/qdrant_late_interaction.py --demo                 # offline, random weights
    python examples/qdrant_late_interaction.py                        # jinaai/jina-embeddings-v4
    python examples/qdrant_late_interaction.py --store ./jv4-data     # embedded engine on disk
    python examples/qdrant_late_interaction.py --store http://localhost:6333   # a Qdrant server

``JV4_EXAMPLE_MODEL`` sets the default of ``--model``; ``--model demo`` means ``--demo``.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium

from jv4_integrations import ImageRef, JV4Encoder, Mixed
from jv4_integrations.qdrant import CollectionSchema, MultiVectorCollection
from jv4_integrations.scoring import maxsim

DATA = Path(__file__).resolve().parent / "data"


def pdf_pages(path: Path) -> list[tuple[object, str]]:
    """Each page of a PDF as (image, text layer)."""
    document = pdfium.PdfDocument(str(path))
    pages = []
    for page in document:
        image = page.render(scale=1.5).to_pil().convert("RGB")
        pages.append((image, page.get_textpage().get_text_range().strip()))
    document.close()
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        default=os.environ.get("JV4_EXAMPLE_MODEL", "jinaai/jina-embeddings-v4"),
        help="Hub id or checkpoint folder (default $JV4_EXAMPLE_MODEL, else jinaai/jina-embeddings-v4)",
    )
    parser.add_argument("--demo", action="store_true", help="use a tiny random checkpoint (offline; meaningless ranks)")
    parser.add_argument("--store", default=":memory:", help="':memory:', a directory, or a Qdrant URL")
    parser.add_argument("--query", default="How long does charging take with the wall charger?", help="the text query")
    args = parser.parse_args()

    model = args.model
    if args.demo or model == "demo":
        from jv4_integrations.testing import write_tiny_checkpoint

        folder = tempfile.mkdtemp()
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # the checkpoint goes when the script ends
        model = str(write_tiny_checkpoint(Path(folder) / "jv4-tiny"))
        print("DEMO MODE: a tiny checkpoint with random weights; the rankings below are meaningless.")
    enc = JV4Encoder.shared(model)

    texts = sorted(DATA.glob("*.md")) + sorted(DATA.glob("*.txt"))
    images = sorted((DATA / "images").glob("*"))
    pages = pdf_pages(DATA / "spec-sheet.pdf")
    items: list[str | ImageRef | Mixed] = [p.read_text() for p in texts]
    items += [ImageRef(p) for p in images]
    items += [Mixed(text, [image]) for image, text in pages]  # a page image with its text layer, as one item
    ids = [p.name for p in texts + images] + [f"spec-sheet.pdf#page={i + 1}" for i in range(len(pages))]
    kinds = ["text"] * len(texts) + ["image"] * len(images) + ["pdf-page"] * len(pages)

    schema = CollectionSchema(dense_size=min(512, enc.dim), multivector_datatype="float16")
    with MultiVectorCollection.open(args.store, "example", encoder=enc, schema=schema) as col:
        col.add(items, ids=ids, metadatas=[{"kind": k} for k in kinds])
        print(f"indexed {col.count()} items ({len(texts)} texts, {len(images)} images, {len(pages)} PDF pages)")

        for mode in ("dense", "multivector", "hybrid"):
            hits = col.search(args.query, mode=mode, limit=3)
            print(f"\n{mode} search for {args.query!r}:")
            for hit in hits:
                print(f"  {hit.score:8.4f}  {hit.item_id}")

        # hybrid = dense prefetch of K candidates, then MaxSim over their multi-vectors: check by hand
        query = enc.encode_queries([args.query], output="both", truncate_dim=schema.dense_size)
        assert query.multivector is not None  # output="both" gives both
        stored = col.get(ids, with_vectors=True)
        scores = maxsim([query.multivector[0]], [p.multivector for p in stored])[0]
        best = stored[int(np.argmax(scores))].item_id
        print(f"\nMaxSim by hand over all {len(stored)} items: best is {best} ({float(scores.max()):.4f})")

        hits = col.search(ImageRef(images[0]), limit=2)
        print(f"\nimage query {images[0].name}: " + ", ".join(f"{h.item_id} ({h.score:.2f})" for h in hits))
        pages_only = col.search(args.query, limit=2, filter={"kind": "pdf-page"})
        print("PDF pages only: " + ", ".join(h.item_id for h in pages_only))

        # how many candidates hybrid needs to find what exact MaxSim finds, on your own queries
        report = col.measure_recall([args.query, "charging time", "warranty"], limit=3, prefetch_limits=(3, 5, 20))
        print(f"\n{report}")
        print(
            f"(with {col.count()} items, K >= {col.count()} reranks the whole collection, so its recall is 1 by "
            "construction and the times show overheads, not search speed: run this on your own collection, and "
            "see bench/search.py for measurements at scale)"
        )


if __name__ == "__main__":
    main()
