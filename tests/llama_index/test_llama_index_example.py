"""The runnable example ``examples/llama_index_multimodal_pipeline.py``, run as a user would, in demo mode."""

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
from jv4_integrations.scoring import maxsim

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "llama_index_multimodal_pipeline.py"
HIT = re.compile(r"^\s*(\d+)\. (-?\d+\.\d{4})  \[(text|image)\] ([\w.-]+)  (.+)$")


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("jv4_example_llama_index_pipeline", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_runs_offline_in_demo_mode_and_scores_like_the_core(encoder: JV4Encoder) -> None:
    # The demo writes the same random checkpoint as the test fixture (preset "tiny", seed 0), so the
    # printed scores can be checked against the fixture's encoder.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "JV4_EXAMPLE_MODEL": ""}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--demo", "-k", "2", "--vector-store"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out, _, store_out = done.stdout.partition("\nvector store: ")
    assert "DEMO MODE" in out and "MEANINGLESS" in out
    assert "ingested 6 nodes (3 text, 3 image), dense size 64, 1 model forward pass(es)" in out
    assert "second run: served from the pipeline cache, 0 forward passes" in out

    example = _load_example()
    query = encoder.encode_queries([example.QUESTION], output="dense").dense[0]
    names = list(example.NOTES) + list(example.DRAWINGS)
    docs = list(example.NOTES.values()) + [example.draw(name) for name in example.DRAWINGS]
    expected = dict(zip(names, encoder.encode_documents(docs, output="dense").dense @ query, strict=True))

    hits = [m.groups() for m in map(HIT.match, out.splitlines()) if m]
    for kind in ("text", "image"):
        ranked = [h for h in hits if h[2] == kind]
        pool = {n: s for n, s in expected.items() if (n in example.NOTES) == (kind == "text")}
        best = sorted(pool, key=lambda n: -pool[n])[:2]
        assert [int(h[0]) for h in ranked] == [1, 2]
        assert [h[3] for h in ranked] == best  # the core's top 2, in order
        np.testing.assert_allclose([float(h[1]) for h in ranked], [pool[n] for n in best], atol=2e-4)

    # --vector-store: one pass for both vectors of every node, then hybrid search = the core's MaxSim
    # (6 nodes, all within the dense prefetch, so the rerank sees every node)
    assert store_out.startswith("6 nodes with a dense vector and a multi-vector each, 1 model forward pass(es)")
    q_multi = encoder.encode_queries([example.QUESTION], output="multivector").multivector
    d_multi = encoder.encode_documents(docs, output="multivector").multivector
    maxsim_scores = dict(zip(names, np.asarray(maxsim(q_multi, d_multi))[0], strict=True))
    best = sorted(maxsim_scores, key=lambda n: -maxsim_scores[n])[:2]
    late = [m.groups() for m in map(HIT.match, store_out.splitlines()) if m]
    assert [int(h[0]) for h in late] == [1, 2]
    assert [h[3] for h in late] == best
    assert [h[2] for h in late] == ["text" if n in example.NOTES else "image" for n in best]
    np.testing.assert_allclose([float(h[1]) for h in late], [maxsim_scores[n] for n in best], atol=2e-3)
