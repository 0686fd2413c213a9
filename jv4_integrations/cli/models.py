"""Which model the command line uses: a Hub id, a local folder, or the offline demo model."""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

#: ``--model demo``: the tiny random checkpoint, written on demand. Its rankings are meaningless.
DEMO_MODEL = "demo"
DEMO_WARNING = (
    "using the offline DEMO model: a tiny checkpoint with RANDOM weights in the published layout. "
    "The whole pipeline runs, but the rankings are meaningless. For real results, index into a new "
    "collection (another --store or --collection) with --model jinaai/jina-embeddings-v4 (or a local copy of it)."
)
_DEMO_VERSION = "v1"


def cache_root() -> Path:
    """``$JV4_CACHE``, else ``$XDG_CACHE_HOME/jv4-integrations``, else ``~/.cache/jv4-integrations``."""
    explicit = os.environ.get("JV4_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jv4-integrations"


def demo_model_dir() -> Path:
    """The demo checkpoint's folder, written on first use (a few seconds, about 40 MB)."""
    target = _demo_target()
    marker = target / ".complete"
    if not marker.exists():
        from ..testing import write_tiny_checkpoint

        logger.info("writing the demo model to %s", target)
        write_tiny_checkpoint(target, preset="tiny", seed=0)
        marker.write_text("ok\n")
    return target


def _demo_target() -> Path:
    return cache_root() / f"demo-model-{_DEMO_VERSION}"


def resolve_model(name: str) -> tuple[str, bool]:
    """Map ``--model`` to what ``JV4Encoder`` loads; returns ``(name_or_path, is_demo)``.

    A local folder is given as its absolute path. A collection indexed with ``--model demo`` records
    the demo folder's path; a path to a folder of that name is recognised as the demo model too (the
    demo is the same checkpoint wherever it was written), so its results stay labelled and a moved or
    cleared cache does not break the collection.
    """
    if is_demo(name):
        return str(demo_model_dir()), True
    local = Path(name).expanduser()
    if local.is_dir():  # recorded absolute, so the collection finds it from any working directory
        return str(local.resolve()), False
    return name, False


def is_demo(name: str) -> bool:
    """Whether ``name`` is the demo model: ``demo``, or a path to a demo folder (nothing is written)."""
    return name == DEMO_MODEL or Path(name).name == _demo_target().name
