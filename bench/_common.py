"""What the benchmark scripts share: a description of the machine they ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["host"]


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
