"""What the benchmark scripts share: a description of the machine, and writing their docs section."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["DOCS", "host", "write_section"]

#: Where the results go.
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def host() -> str:
    """CPU model, core count, RAM and Python version, e.g. ``"Xeon, 2 cores, 24 GiB RAM, Python 3.11.7"``."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = f", {int(Path('/proc/meminfo').read_text().split()[1]) / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        memory = ""
    return f"{cpu}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}"


def write_section(heading: str, section: str) -> None:
    """Put ``section`` (which starts with ``heading``) into :data:`DOCS`, in place of the section
    with that heading (up to the next ``## ``), else at the end."""
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    start = text.find(heading)
    if start < 0:
        text = text.rstrip() + "\n\n" + section.strip() + "\n"
    else:
        end = text.find("\n## ", start + len(heading))
        rest = text[end + 1 :] if end >= 0 else ""
        text = text[:start] + section.strip() + "\n" + ("\n" + rest if rest else "")
    DOCS.write_text(text.rstrip() + "\n")
