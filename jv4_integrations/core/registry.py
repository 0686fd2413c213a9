"""One shared encoder per checkpoint, device, dtype and precision in the process."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .encoder import JV4Encoder

logger = logging.getLogger(__name__)

E = TypeVar("E", bound="JV4Encoder")
_Key = tuple[Any, ...]

_lock = threading.Lock()
_instances: dict[_Key, Any] = {}
_loading: dict[_Key, threading.Lock] = {}


def _identity(name_or_path: str | os.PathLike[str]) -> str:
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    return str(path.resolve()) if path.exists() else text


def shared_encoder(
    cls: type[E],
    name_or_path: str | os.PathLike[str],
    *,
    device: str | None,
    dtype: Any,
    precision: str,
    revision: str | None,
    cache_dir: str | os.PathLike[str] | None,
    local_files_only: bool | None,
    merged_task: str | None,
) -> E:
    """Return the process-wide encoder for these settings, loading it once (thread-safe)."""
    from .device import resolve_placement

    placement = resolve_placement(device, dtype, precision)
    key: _Key = (
        _identity(name_or_path),
        revision,
        os.fspath(cache_dir) if cache_dir else None,
        placement.device,
        placement.dtype,
        placement.precision,
        merged_task,
    )
    with _lock:
        found = _instances.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        loading = _loading.setdefault(key, threading.Lock())
    with loading:
        with _lock:
            found = _instances.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        encoder = cls.from_pretrained(
            name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            device=placement.device,
            dtype=placement.dtype,
            precision=placement.precision,
            merged_task=merged_task,
        )
        with _lock:
            _instances[key] = encoder
            _loading.pop(key, None)
        return encoder  # type: ignore[return-value]


def clear_shared() -> int:
    """Forget every shared encoder (they are freed once no one else holds them); returns how many."""
    with _lock:
        count = len(_instances)
        _instances.clear()
    return count
