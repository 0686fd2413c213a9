"""The README stays true: its two commands are the ones CI runs, and its Python snippets run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, flags=re.S)
    assert first_block is not None and README.index(first_block.group(0)) < README.index("## ")
    commands = first_block.group(1).strip().splitlines()
    assert len(commands) == 2
    assert "jv4 index examples/data --model demo" in commands[0] and "jv4 search" in commands[0]
    assert commands[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci.splitlines()


@pytest.mark.parametrize("index", range(4), ids=["python", "qdrant", "langchain", "llama-index"])
def test_readme_python_snippets_run(index: int, tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Each snippet runs as written, with the tiny checkpoint standing in for the published model."""
    code = _snippets()[index]
    code = code.replace('"jinaai/jina-embeddings-v4"', repr(str(tiny_checkpoint)))
    code = code.replace("truncate_dim=512", "truncate_dim=32").replace("dimensions=1024", "dimensions=32")
    if "JV4Encoder.shared" not in code and "JV4Embedding" in code:  # adapters default to the published model
        code = code.replace("JV4Embeddings(", f"JV4Embeddings(model={str(tiny_checkpoint)!r}, ", 1)
        code = code.replace("JV4Embedding()", f"JV4Embedding(model_name={str(tiny_checkpoint)!r})", 1)
    images = ROOT / "examples" / "data" / "images"
    shutil.copy(images / "sales-chart.png", tmp_path / "q3-chart.png")
    shutil.copy(images / "bike-diagram.png", tmp_path / "p7.png")
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    assert out.returncode == 0, f"snippet {index} failed:\n{code}\n{out.stderr[-3000:]}"
    assert out.stdout.strip(), "every snippet prints its result"
