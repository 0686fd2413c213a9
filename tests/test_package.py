"""Package-level promises: a light import, the public names, the optional-dependency errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

import jv4_integrations
from jv4_integrations._optional import require
from jv4_integrations.errors import MissingDependencyError

HEAVY = ("torch", "transformers", "peft", "langchain_core", "llama_index", "qdrant_client", "qdrant_edge", "PIL")


def test_import_leaves_heavy_dependencies_out() -> None:
    code = f"import sys, jv4_integrations; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_are_pinned() -> None:
    assert sorted(jv4_integrations.__all__) == [
        "CheckpointError",
        "EncodeResult",
        "ImageLimits",
        "ImageRef",
        "InputError",
        "JV4Encoder",
        "JV4Error",
        "MissingDependencyError",
        "Mixed",
        "SchemaMismatchError",
        "StoreError",
        "UnsupportedOutputError",
        "__version__",
        "maxsim",
    ]
    for name in jv4_integrations.__all__:
        assert getattr(jv4_integrations, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        jv4_integrations.nope  # noqa: B018


def test_missing_extra_names_the_pip_extra() -> None:
    with pytest.raises(MissingDependencyError, match=r"pip install 'jv4-integrations\[pdf\]'"):
        _fake_missing()


def _fake_missing() -> None:
    from jv4_integrations import _optional

    _optional._EXTRAS["jv4_fake_module"] = ("pdf", "pypdfium2")
    try:
        require("jv4_fake_module", purpose="rendering PDFs")
    finally:
        del _optional._EXTRAS["jv4_fake_module"]
