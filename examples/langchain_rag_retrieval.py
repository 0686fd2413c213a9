"""Retrieval for a RAG chain: LangChain + jina-embeddings-v4 in process, no embedding API.

``JV4Embeddings`` embeds a handful of documents into LangChain's ``InMemoryVectorStore``; its
retriever then finds the passages for a question and builds the context you would hand to an LLM.
Swap the store for any LangChain vector store (``langchain_qdrant.QdrantVectorStore``, Chroma…):
the embeddings object stays the same.

With ``--store``, the same documents also go into ``JV4QdrantVectorStore``, which keeps a
multi-vector per document and ranks with late interaction (dense prefetch, then MaxSim rerank), and
its retriever is used the same way (plain and MMR).

Run it:
    python examples/langchain_rag_retrieval.py                      # jinaai/jina-embeddings-v4 (downloaded once)
    python examples/langchain_rag_retrieval.py --model ./jina-embeddings-v4   # a local copy
    python examples/langchain_rag_retrieval.py --demo               # offline: a random tiny checkpoint
    python examples/langchain_rag_retrieval.py --demo --store memory        # + late interaction, in memory
    python examples/langchain_rag_retrieval.py --store ./jv4-data   # + late interaction, embedded Qdrant on disk

``JV4_EXAMPLE_MODEL`` sets the default of ``--model``; ``JV4_EXAMPLE_MODEL=demo`` or ``--model demo`` means ``--demo``.
Needs ``pip install 'jv4-integrations[langchain]'`` (``--store`` also the ``qdrant`` extra, ``--demo``
the ``testing`` extra).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from jv4_integrations.langchain import JV4Embeddings, JV4QdrantVectorStore

DEFAULT_MODEL = "jinaai/jina-embeddings-v4"
QUESTION = "How long does the backup battery keep its capacity?"
#: (source, text) of the knowledge base: a fictional lighthouse museum.
DOCUMENTS = [
    ("opening-hours", "The Cape Arven lighthouse museum opens daily from 10:00 to 17:00, April to October."),
    ("tickets", "Adult tickets cost 8 euros; children under twelve and members of the coastal society go free."),
    ("lamp", "The original 1892 Fresnel lens is still in the lantern room and turns on a bath of mercury."),
    ("battery", "The backup battery bank keeps 80 percent of its capacity for ten years under the warranty."),
    ("access", "A lift reaches the gallery level; the last 42 steps to the lantern room are stairs only."),
]


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
    parser.add_argument("-k", type=int, default=3, help="passages to retrieve")
    parser.add_argument(
        "--dimensions", type=int, default=None, help="Matryoshka size (128-2048; the --demo model has 4-64)"
    )
    parser.add_argument(
        "--store",
        default=None,
        metavar="memory|DIR",
        help="also search with late interaction in JV4QdrantVectorStore: in memory, or in an embedded Qdrant "
        "store in DIR (re-running updates the same documents)",
    )
    args = parser.parse_args()
    args.demo = args.demo or args.model == "demo"  # --model demo, as in the command line
    return args


def demo_checkpoint(folder: str) -> str:
    from jv4_integrations.testing import write_tiny_checkpoint

    return str(write_tiny_checkpoint(Path(folder) / "jv4-tiny", preset="tiny", seed=0))


def run(model: str, question: str, k: int, dimensions: int | None, store_location: str | None = None) -> None:
    embeddings = JV4Embeddings(model=model, dimensions=dimensions)  # cheap: loads on first use
    store = InMemoryVectorStore(embedding=embeddings)
    store.add_documents([Document(page_content=text, metadata={"source": source}) for source, text in DOCUMENTS])

    print(f"question: {question}")
    for rank, (doc, score) in enumerate(store.similarity_search_with_score(question, k=k), start=1):
        print(f"{rank:>3}. {score:.4f}  [{doc.metadata['source']}]  {doc.page_content}")

    retriever = store.as_retriever(search_kwargs={"k": k})  # what a RAG chain plugs in
    passages = retriever.invoke(question)
    context = "\n".join(f"- {doc.page_content} (source: {doc.metadata['source']})" for doc in passages)
    print(f"\nprompt for your LLM:\nAnswer from the context only.\nContext:\n{context}\nQuestion: {question}")
    if store_location is not None:
        late_interaction(embeddings, store_location, question, k)


def late_interaction(embeddings: JV4Embeddings, location: str, question: str, k: int) -> None:
    """The same documents in JV4QdrantVectorStore: dense + multi-vector per document, MaxSim rerank."""
    where = ":memory:" if location == "memory" else location
    with JV4QdrantVectorStore(embedding=embeddings, location=where, collection_name="lighthouse") as store:
        store.add_documents(  # ids = sources: re-running replaces these documents instead of adding copies
            [Document(page_content=text, metadata={"source": source}, id=source) for source, text in DOCUMENTS]
        )
        print(f"\nlate interaction: JV4QdrantVectorStore in {location} holds {store.collection.count()} documents")
        print("hybrid search (dense prefetch, MaxSim rerank; scores are MaxSim sums):")
        for rank, (doc, score) in enumerate(store.similarity_search_with_score(question, k=k), start=1):
            print(f"{rank:>3}. {score:.4f}  [{doc.metadata['source']}]  {doc.page_content}")
        relevance = store.similarity_search_with_relevance_scores(question, k=k)
        print("relevance (0-1): " + ", ".join(f"{doc.id} {score:.3f}" for doc, score in relevance))
        mmr = store.as_retriever(search_type="mmr", search_kwargs={"k": k, "lambda_mult": 0.5})
        print("mmr retriever: " + ", ".join(str(doc.id) for doc in mmr.invoke(question)))


def main() -> None:
    args = parse_args()
    if not args.demo:
        run(args.model, args.question, args.k, args.dimensions, args.store)
        return
    print("DEMO MODE: a random tiny checkpoint (random weights), so the rankings below are MEANINGLESS;")
    print("they only show that the pipeline runs. Use --model jinaai/jina-embeddings-v4 for real results.\n")
    with tempfile.TemporaryDirectory() as folder:
        run(demo_checkpoint(folder), args.question, args.k, args.dimensions, args.store)


if __name__ == "__main__":
    main()
