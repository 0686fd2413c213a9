"""The pre-load memory check: the estimate equals the loaded weights, and a short machine is warned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from jv4_integrations import JV4Encoder
from jv4_integrations.core import memory
from jv4_integrations.core.checkpoint import locate_files, weight_bytes
from jv4_integrations.core.device import Placement


def test_estimate_equals_the_loaded_parameters(tiny_checkpoint: Path, encoder: Any) -> None:
    files = locate_files(tiny_checkpoint)
    loaded = sum(p.numel() * p.element_size() for p in encoder.model.parameters())
    assert weight_bytes(files, torch.float32) == loaded  # float32 encoder: every parameter comes from a file
    assert weight_bytes(files, torch.bfloat16) * 2 == loaded


def test_short_memory_is_warned_with_sizes_and_a_hint(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(memory, "available_ram", lambda: 4 * 2**30)
    placement = Placement(device="cpu", dtype="float32", precision="auto")
    with caplog.at_level("WARNING", logger="jv4_integrations"):
        assert memory.warn_if_short(15 * 2**30, placement, "jinaai/jina-embeddings-v4")
    assert "loading jinaai/jina-embeddings-v4 needs about 15.0 GiB for its float32 weights" in caplog.text
    assert "only 4.0 GiB of RAM is free" in caplog.text and "dtype='bfloat16'" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="jv4_integrations"):
        bf16 = Placement(device="cpu", dtype="bfloat16", precision="auto")
        assert memory.warn_if_short(5 * 2**30, bf16, "x") is True
        assert "dtype='bfloat16'" not in caplog.text  # no hint when it is already half precision
        assert memory.warn_if_short(3 * 2**30, bf16, "x") is False
    monkeypatch.setattr(memory, "available_ram", lambda: None)  # unknown: no warning, no error
    assert memory.warn_if_short(10**15, placement, "x") is False


def test_loading_warns_before_building_the_model(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(memory, "available_ram", lambda: 1024)
    with caplog.at_level("WARNING", logger="jv4_integrations"):
        enc = JV4Encoder.from_pretrained(tiny_checkpoint, device="cpu")
    assert f"loading {tiny_checkpoint} needs about" in caplog.text and "1024" not in caplog.text
    assert enc.encode(["still loads"]).dense.shape[0] == 1  # a warning, not a refusal


def test_ram_is_read_on_this_machine() -> None:
    free = memory.available_ram()
    assert free is None or free > 0
    assert memory.available_device_memory("cpu") is None
