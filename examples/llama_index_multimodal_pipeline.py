"""Text files and images through one LlamaIndex IngestionPipeline, then text -> text and text -> image search.

``JV4Embedding`` is the last step of an ``IngestionPipeline``: text chunks get the passage
embedding, image nodes the image embedding, in one encode call and one vector space. A
``MultiModalVectorStoreIndex`` built from the nodes (``JV4Embedding`` as both its text and its image
model, instead of the default CLIP) then answers a question with passages and with images. A second
run of the pipeline is served from its cache without touching the model.

Run it:
    python examples/llama_index_multimodal_pipeline.py                     # jinaai/jina-embeddings-v4
    python examples/llama_index_multimodal_pipeline.py --model ./jina-embeddings-v4   # a local copy
    python examples/llama_index_multimodal_pipeline.py --demo              # offline: a random tiny checkpoint

With ``--vector-store`` it also ingests the same documents into a ``JV4QdrantVectorStore`` (Qdrant's
embedded engine, in the temporary folder), which keeps a dense vector and a multi-vector per node
from one forward pass, and answers the question with hybrid late-interaction search (dense
prefetch, MaxSim rerank):
    python examples/llama_index_multimodal_pipeline.py --demo --vector-store

``JV4_EXAMPLE_MODEL`` sets the default of ``--model``; ``JV4_EXAMPLE_MODEL=demo`` or ``--model demo`` means ``--demo``.
Needs ``pip install 'jv4-integrations[llama-index]'`` (``--demo`` also needs the ``testing`` extra,
``--vector-store`` the ``qdrant`` extra).
The inputs (three short notes and three drawings of a fictional harbour's tide station) are written
to a temporary folder by the script itself.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from llama_index.core import SimpleDirectoryReader
from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.ingestion import IngestionCache, IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, Document, ImageDocument, ImageNode
from PIL import Image, ImageDraw

from jv4_integrations.llama_index import JV4Embedding

DEFAULT_MODEL = "jinaai/jina-embeddings-v4"
QUESTION = "Which chart shows the tide height over the day?"
#: file name -> text of the notes (each short enough to be one chunk).
NOTES = {
    "station.txt": "The Porth Ilar tide station measures the water level every six minutes from a float well "
    "under the north pier and publishes the readings on the harbour office noticeboard.",
    "tides.txt": "High water at Porth Ilar comes about fifty minutes later each day; spring tides after the new "
    "moon lift the level by almost five metres, neap tides by barely two.",
    "boats.txt": "Fishing boats leave the inner basin two hours before high water, because the sill at the "
    "basin entrance dries out at low tide and keeps the keel boats inside.",
}
#: file name -> what the drawing shows (kept as node metadata).
DRAWINGS = {
    "tide-curve.png": "line chart of the tide height over one day",
    "harbour-map.png": "map of the harbour with the north pier and the inner basin",
    "rain-bars.png": "bar chart of monthly rainfall",
}


def parse_args() -> argparse.Namespace:
    env_model = os.environ.get("JV4_EXAMPLE_MODEL", "")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--model",
        default=env_model if env_model not in ("", "demo") else DEFAULT_MODEL,
        help="Hub id or local directory of the checkpoint (default: %(default)s)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        default=env_model == "demo",
        help="write a random tiny checkpoint and use it (offline; rankings are meaningless)",
    )
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("-k", type=int, default=2, help="passages and images to retrieve")
    parser.add_argument(
        "--dimensions", type=int, default=None, help="Matryoshka size (128-2048; the --demo model has 4-64)"
    )
    parser.add_argument(
        "--vector-store",
        action="store_true",
        help="also ingest into a JV4QdrantVectorStore and search it in hybrid mode (needs the qdrant extra)",
    )
    args = parser.parse_args()
    args.demo = args.demo or args.model == "demo"  # --model demo, as in the command line
    return args


def draw(name: str, size: int = 224) -> Image.Image:
    """The drawings: simple shapes, deterministic (the tests redraw them to check the scores)."""
    image = Image.new("RGB", (size, size), "white")
    pen = ImageDraw.Draw(image)
    if name == "tide-curve.png":
        heights = [112 + int(80 * ((i % 12) - 6) ** 2 / 36) - 40 for i in range(0, 24)]
        pen.line([(8 + i * 9, h) for i, h in enumerate(heights)], fill="navy", width=4)
        pen.line([(8, 216), (216, 216)], fill="black", width=2)
    elif name == "harbour-map.png":
        pen.rectangle([0, 150, size, size], fill="steelblue")
        pen.rectangle([100, 40, 120, 170], fill="gray")  # the north pier
        pen.ellipse([20, 120, 90, 190], fill="lightblue", outline="black")  # the inner basin
    else:
        for i, h in enumerate([60, 90, 140, 120, 70, 40, 30, 50, 100, 150, 170, 130]):
            pen.rectangle([10 + i * 17, 216 - h, 22 + i * 17, 216], fill="darkgreen")
    return image


def write_inputs(folder: Path) -> tuple[list[Path], list[Path]]:
    """Write the notes and the drawings into ``folder``; returns (text files, image files)."""
    folder.mkdir(parents=True, exist_ok=True)
    texts, images = [], []
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
        texts.append(folder / name)
    for name in DRAWINGS:
        draw(name).save(folder / name)
        images.append(folder / name)
    return texts, images


def load_documents(texts: list[Path], images: list[Path]) -> list[Document]:
    docs = SimpleDirectoryReader(input_files=[str(p) for p in texts]).load_data()
    for doc in docs:  # a temporary path says nothing about the content: keep it out of the embedded text
        doc.excluded_embed_metadata_keys.append("file_path")
    # Image nodes need some text or metadata: LlamaIndex indexes skip nodes whose EMBED content is empty,
    # and the pipeline cache tells nodes apart by text and metadata only.
    docs += [
        ImageDocument(image_path=str(p), metadata={"file_name": p.name, "drawing": DRAWINGS[p.name]}) for p in images
    ]
    return docs


def show(rank: int, hit_score: float | None, node: BaseNode) -> None:
    kind = "image" if isinstance(node, ImageNode) else "text"
    name = node.metadata.get("file_name", "?")
    what = node.metadata["drawing"] if isinstance(node, ImageNode) else node.get_content()[:70] + "..."
    print(f"{rank:>3}. {hit_score or 0.0:.4f}  [{kind}] {name}  {what}")


def late_interaction(embed: JV4Embedding, documents: list[Document], folder: Path, question: str, k: int) -> None:
    """Ingest into a JV4QdrantVectorStore (dense + multi-vector per node) and search it in hybrid mode."""
    from llama_index.core import VectorStoreIndex

    from jv4_integrations.llama_index import JV4QdrantVectorStore

    store = JV4QdrantVectorStore(str(folder / "jv4-data"), collection_name="harbour", embed_model=embed)
    before = embed.encoder.forward_calls
    # the pipeline's JV4Embedding step computes both vectors in one pass; the store writes both
    pipeline = IngestionPipeline(transformations=[SentenceSplitter(chunk_size=256), embed], vector_store=store)
    pipeline.run(documents=documents)
    print(
        f"\nvector store: {store.client.count()} nodes with a dense vector and a multi-vector each, "
        f"{embed.encoder.forward_calls - before} model forward pass(es)"
    )
    index = VectorStoreIndex.from_vector_store(store, embed_model=embed)
    hits = index.as_retriever(similarity_top_k=k).retrieve(question)  # the store's default: hybrid
    print("hybrid late-interaction search (dense prefetch, MaxSim rerank), passages and images together:")
    for rank, hit in enumerate(hits, start=1):
        show(rank, hit.score, hit.node)
    store.close()


def run(model: str, folder: Path, question: str, k: int, dimensions: int | None, vector_store: bool = False) -> None:
    embed = JV4Embedding(model_name=model, dimensions=dimensions)  # cheap: loads on first use
    documents = load_documents(*write_inputs(folder))
    cache = IngestionCache()
    pipeline = IngestionPipeline(transformations=[SentenceSplitter(chunk_size=256), embed], cache=cache)
    nodes = pipeline.run(documents=documents)
    n_images = sum(isinstance(n, ImageNode) for n in nodes)
    print(
        f"ingested {len(nodes)} nodes ({len(nodes) - n_images} text, {n_images} image), dense size "
        f"{len(nodes[0].embedding or [])}, {embed.encoder.forward_calls} model forward pass(es)"
    )

    before = embed.encoder.forward_calls
    IngestionPipeline(transformations=[SentenceSplitter(chunk_size=256), embed], cache=cache).run(documents=documents)
    print(f"second run: served from the pipeline cache, {embed.encoder.forward_calls - before} forward passes")

    index = MultiModalVectorStoreIndex(nodes, embed_model=embed, image_embed_model=embed)
    retriever = index.as_retriever(similarity_top_k=k, image_similarity_top_k=k)
    hits = retriever.retrieve(question)
    print(f"\nquestion: {question}")
    print("passages:")
    for rank, hit in enumerate((h for h in hits if not isinstance(h.node, ImageNode)), start=1):
        show(rank, hit.score, hit.node)
    print("images:")
    for rank, hit in enumerate((h for h in hits if isinstance(h.node, ImageNode)), start=1):
        show(rank, hit.score, hit.node)
    if vector_store:
        late_interaction(embed, documents, folder, question, k)


def demo_checkpoint(folder: Path) -> str:
    from jv4_integrations.testing import write_tiny_checkpoint

    return str(write_tiny_checkpoint(folder / "jv4-tiny", preset="tiny", seed=0))


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = args.model
        if args.demo:
            print("DEMO MODE: a random tiny checkpoint (random weights), so the rankings below are MEANINGLESS;")
            print("they only show that the pipeline runs. Use --model jinaai/jina-embeddings-v4 for real results.\n")
            model = demo_checkpoint(folder)
        run(model, folder / "inputs", args.question, args.k, args.dimensions, args.vector_store)


if __name__ == "__main__":
    main()
