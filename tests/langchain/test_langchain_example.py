"""The runnable example ``examples/langchain_rag_retrieval.py``, run as a user would, in demo mode."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from jv4_integrations import JV4Encoder

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "langchain_rag_retrieval.py"
RANK_LINE = re.compile(r"^\s*(\d+)\. (-?\d+\.\d{4})  \[([\w-]+)\]  (.+)$")


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("jv4_example_langchain_rag", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_runs_offline_in_demo_mode_and_ranks_like_the_core(encoder: JV4Encoder) -> None:
    # The demo writes the same random checkpoint as the test fixture (preset "tiny", seed 0), so the
    # printed ranking and scores can be checked against the fixture's encoder.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "JV4_EXAMPLE_MODEL": ""}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--demo", "-k", "3"], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "DEMO MODE" in out and "MEANINGLESS" in out

    example = _load_example()
    sources = [source for source, _ in example.DOCUMENTS]
    texts = [text for _, text in example.DOCUMENTS]
    ranked = [m.groups() for m in map(RANK_LINE.match, out.splitlines()) if m]
    assert [int(r[0]) for r in ranked] == [1, 2, 3]

    scores = encoder.encode_queries([example.QUESTION]).dense[0] @ encoder.encode_documents(texts).dense.T
    order = np.argsort(-scores)[:3]
    assert [r[2] for r in ranked] == [sources[i] for i in order]
    assert [r[3] for r in ranked] == [texts[i] for i in order]
    np.testing.assert_allclose([float(r[1]) for r in ranked], scores[order], atol=2e-4)
    # the retriever's context holds the same passages, in the same order
    context = out.split("Context:\n", 1)[1].splitlines()[:3]
    assert context == [f"- {texts[i]} (source: {sources[i]})" for i in order]
    assert out.rstrip().endswith(f"Question: {example.QUESTION}")


def test_example_late_interaction_part_ranks_with_maxsim_like_the_core(encoder: JV4Encoder, tmp_path: Path) -> None:
    from langchain_core.vectorstores.utils import maximal_marginal_relevance

    from jv4_integrations.scoring import maxsim

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "JV4_EXAMPLE_MODEL": ""}
    store = tmp_path / "jv4-data"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--demo", "-k", "3", "--store", str(store)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    late = done.stdout.split("\nlate interaction: ", 1)[1]
    assert late.startswith(f"JV4QdrantVectorStore in {store} holds 5 documents")
    assert (store / "lighthouse").is_dir()  # an embedded Qdrant store on disk

    example = _load_example()
    sources = [source for source, _ in example.DOCUMENTS]
    texts = [text for _, text in example.DOCUMENTS]
    query = encoder.encode_queries([example.QUESTION], output="both")
    passages = encoder.encode_documents(texts, output="both")
    assert query.multivector is not None and passages.multivector is not None and passages.dense is not None
    # hybrid search with K=100 >= 5 documents reranks them all: exact MaxSim
    scores = np.asarray(maxsim(query.multivector, passages.multivector))[0]
    order = np.argsort(-scores)
    ranked = [m.groups() for m in map(RANK_LINE.match, late.splitlines()) if m]
    assert [r[2] for r in ranked] == [sources[i] for i in order[:3]]
    assert [r[3] for r in ranked] == [texts[i] for i in order[:3]]
    np.testing.assert_allclose([float(r[1]) for r in ranked], scores[order[:3]], atol=2e-4)
    # relevance: MaxSim divided by the query's token count, mapped from [-1, 1] to [0, 1]
    relevance = late.split("relevance (0-1): ", 1)[1].splitlines()[0].split(", ")
    n_tokens = len(query.multivector[0])
    assert relevance == [f"{sources[i]} {(1 + scores[i] / n_tokens) / 2:.3f}" for i in order[:3]]
    # MMR on dense cosine over the hybrid candidates (all five, in hybrid order)
    assert query.dense is not None
    picks = maximal_marginal_relevance(query.dense[0], [passages.dense[i].tolist() for i in order], 0.5, 3)
    mmr = late.split("mmr retriever: ", 1)[1].splitlines()[0]
    assert mmr == ", ".join(sources[order[i]] for i in picks)
