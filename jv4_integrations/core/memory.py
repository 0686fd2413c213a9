"""Memory the weights will take, against what the machine has free: a warning before a load that
would run out (the published model is 3.8B parameters: ~14 GiB in float32, ~7 GiB in bfloat16)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .device import Placement

__all__ = ["available_device_memory", "available_ram", "warn_if_short"]

logger = logging.getLogger(__name__)

_GIB = 2**30


def available_ram() -> int | None:
    """Bytes of RAM available to a new allocation (Linux ``MemAvailable``), or ``None`` when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def available_device_memory(device: str) -> int | None:
    """Free bytes on a CUDA device, or ``None`` for other devices / when unknown."""
    if not device.startswith("cuda"):
        return None
    import torch

    try:
        free, _total = torch.cuda.mem_get_info(torch.device(device))
    except (RuntimeError, AssertionError):
        return None
    return int(free)


def warn_if_short(needed: int, placement: Placement, name: str) -> bool:
    """Log a WARNING when the weights will not fit in the free memory; returns whether it warned.

    The weights are built in RAM first and then moved to the device, so RAM is checked on every
    device and the device's own free memory on CUDA. The estimate covers the weights only
    (activations come on top, bounded by the token budget per forward pass).

    Args:
        needed: bytes of the weights in ``placement.dtype``.
        placement: where they go.
        name: the checkpoint, for the message.
    """
    hint = " dtype='bfloat16' takes half the memory of float32." if placement.dtype == "float32" else ""
    warned = False
    for where, free in (
        ("RAM", available_ram()),
        (f"{placement.device} memory", available_device_memory(placement.device)),
    ):
        if free is not None and needed > free:
            logger.warning(
                "loading %s needs about %.1f GiB for its %s weights, but only %.1f GiB of %s is free: the load "
                "may fail or the process may be killed for lack of memory.%s",
                name,
                needed / _GIB,
                placement.dtype,
                free / _GIB,
                where,
                hint,
            )
            warned = True
    return warned
