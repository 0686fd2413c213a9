"""The examples run, the example data is reproducible, the docs build, the package type-checks and lints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*cmd: str, timeout: int = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False, env={**os.environ, **(env or {})}
    )


def test_qdrant_example_runs_in_demo_mode() -> None:
    out = _run(sys.executable, "examples/qdrant_late_interaction.py", "--demo")
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert "DEMO MODE" in text and "indexed 9 items (4 texts, 3 images, 2 PDF pages)" in text
    hybrid_top = text.split("hybrid search for")[1].splitlines()[1].split()
    by_hand = text.split("MaxSim by hand over all 9 items: best is ")[1].split()
    assert hybrid_top[1] == by_hand[0]  # hybrid (K=100 >= 9 items) equals exact MaxSim computed by hand
    assert float(hybrid_top[0]) == pytest.approx(float(by_hand[1].strip("()")), abs=1e-3)
    image_line = text.split("image query bike-diagram.png: ")[1].splitlines()[0]
    assert image_line.startswith("bike-diagram.png")
    assert "PDF pages only: spec-sheet.pdf#page=" in text
    table = text.split("recall@3 of hybrid search against exact MaxSim, 3 queries")[1].splitlines()
    assert table[4].split()[:2] == ["20", "1.000"]  # K=20 covers all 9 items: hybrid finds the exact top-3


def test_example_data_is_reproducible(tmp_path: Path) -> None:
    out = _run(sys.executable, "examples/make_example_data.py", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    committed = ROOT / "examples" / "data"
    for path in sorted(committed.rglob("*")):
        if path.is_dir():
            continue
        fresh = tmp_path / path.relative_to(committed)
        if path.suffix in (".png", ".jpg"):
            assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(fresh))), path
        else:
            assert path.read_bytes() == fresh.read_bytes(), path


def test_docs_build_strict(tmp_path: Path) -> None:
    out = _run(str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "core" / "index.html").is_file()


def test_mypy_is_clean_on_the_package_examples_and_benchmarks() -> None:
    out = _run(str(BIN / "mypy"), "jv4_integrations", "examples", "bench")
    assert out.returncode == 0, out.stdout[-3000:]


def test_ruff_is_clean() -> None:
    check = _run(str(BIN / "ruff"), "check", "jv4_integrations", "tests", "bench", "examples")
    assert check.returncode == 0, check.stdout[-3000:]
    fmt = _run(str(BIN / "ruff"), "format", "--check", "jv4_integrations", "tests", "bench", "examples")
    assert fmt.returncode == 0, fmt.stdout[-3000:]
