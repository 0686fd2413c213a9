"""What the ``jv4`` tests share: the example data, and running the command in process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jv4_integrations.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``jv4 ARGV``: exit status, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def index(capsys: Any, store: Path, model: Path, *paths: Path, extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    """``jv4 index PATHS --store STORE --model MODEL --no-progress EXTRA``."""
    return run(capsys, "index", *map(str, paths), "--store", str(store), "--model", str(model), "--no-progress", *extra)
