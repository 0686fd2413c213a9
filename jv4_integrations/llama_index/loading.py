"""Lazy access to the shared encoder from a pydantic model, without the model in its dump or pickle."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.encoder import JV4Encoder

__all__ = ["EncoderSlot", "MODEL_KWARGS", "ENCODE_KWARGS", "check_model_kwargs", "check_encode_kwargs"]

#: Keys of ``model_kwargs``: loading options of :meth:`JV4Encoder.shared` without a field of their own.
MODEL_KWARGS: tuple[str, ...] = ("revision", "cache_dir", "local_files_only", "merged_task")
#: Keys of ``encode_kwargs``: encode options without a field of their own (ints, so the dump stays JSON).
ENCODE_KWARGS: tuple[str, ...] = ("max_length", "max_tokens_per_batch", "max_pixels")
#: options that have a field of their own -> that field
_OWN_FIELD = {
    "device": "device",
    "dtype": "dtype",
    "precision": "precision",
    "task": "task",
    "truncate_dim": "dimensions",
    "batch_size": "embed_batch_size",
    "allow_urls": "allow_urls",
    "show_progress": "show_progress (a call argument)",
}


class EncoderSlot:
    """Holds a loaded encoder; pickles empty (a worker process loads its own), copies share it.

    LlamaIndex pickles transformations for ``IngestionPipeline(num_workers>1)`` and its
    ``BaseComponent.__getstate__`` test-pickles every private attribute: an empty pickle keeps both
    cheap instead of serialising the weights.
    """

    __slots__ = ("encoder",)

    def __init__(self, encoder: JV4Encoder | None = None) -> None:
        self.encoder = encoder

    def __reduce__(self) -> tuple[type[EncoderSlot], tuple[()]]:
        return (EncoderSlot, ())

    def __copy__(self) -> EncoderSlot:
        return EncoderSlot(self.encoder)

    def __deepcopy__(self, memo: dict[int, Any]) -> EncoderSlot:
        return EncoderSlot(self.encoder)


def _check_keys(value: dict[str, Any], allowed: tuple[str, ...], name: str) -> None:
    for key in value:
        if key in _OWN_FIELD:
            raise ValueError(f"{name}[{key!r}]: use the {_OWN_FIELD[key]!r} field instead")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {name} {unknown}; expected some of {list(allowed)}")


def check_model_kwargs(value: dict[str, Any]) -> dict[str, Any]:
    """Validate ``model_kwargs`` (known keys, plain values so the dump stays JSON-serialisable)."""
    _check_keys(value, MODEL_KWARGS, "model_kwargs")
    out = dict(value)
    if out.get("cache_dir") is not None:
        out["cache_dir"] = os.fspath(out["cache_dir"])
    for key, val in out.items():
        if val is not None and not isinstance(val, (str, bool)):
            raise ValueError(
                f"model_kwargs[{key!r}] must be a str, bool or None (it is part of the pipeline cache key), "
                f"got {type(val).__name__} {val!r}"
            )
    return out


def check_encode_kwargs(value: dict[str, Any]) -> dict[str, Any]:
    """Validate ``encode_kwargs``: known keys with positive int values (the core checks the ranges)."""
    _check_keys(value, ENCODE_KWARGS, "encode_kwargs")
    for key, val in value.items():
        if val is not None and (not isinstance(val, int) or isinstance(val, bool)):
            raise ValueError(f"encode_kwargs[{key!r}] must be an int or None, got {type(val).__name__} {val!r}")
    return dict(value)
