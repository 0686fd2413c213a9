"""One shared encoder per checkpoint, device, dtype and precision in the process.

Requests are keyed by what the caller passed (name or path, revision, cache) and, once resolved, by
the checkpoint directory itself: a Hub id and the path of its cached snapshot (or a symlink to a
local copy) give the same instance instead of loading the weights twice.
"""

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
#: The same encoders, keyed by the resolved checkpoint directory and placement.
_by_files: dict[_Key, Any] = {}


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
        from .hub import resolve_checkpoint_dir

        root = resolve_checkpoint_dir(
            name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only
        )
        files_key: _Key = (str(root.resolve()), placement.device, placement.dtype, placement.precision, merged_task)
        with _lock:
            same_files = _by_files.get(files_key)
            if same_files is not None:
                logger.info("%s resolves to %s, already loaded: sharing that encoder", name_or_path, root)
                _instances[key] = same_files
                _loading.pop(key, None)
                return same_files  # type: ignore[no-any-return]
            others = [k for k in _by_files if k[0] == files_key[0]]
        if others:
            logger.warning(
                "loading a second copy of %s (device %s, dtype %s, precision %s) beside the one(s) already loaded "
                "with %s: each copy holds its own weights in memory; pass the same device/dtype/precision to share one",
                root,
                placement.device,
                placement.dtype,
                placement.precision,
                ", ".join(f"{k[1]}/{k[2]}/{k[3]}" for k in others),
            )
        encoder = cls._load(os.fspath(name_or_path), root, placement, merged_task)
        with _lock:
            _instances[key] = encoder
            _by_files[files_key] = encoder
            _loading.pop(key, None)
        return encoder  # type: ignore[return-value]


def clear_shared() -> int:
    """Forget every shared encoder (they are freed once no one else holds them); returns how many."""
    with _lock:
        count = len(set(map(id, _instances.values())))
        _instances.clear()
        _by_files.clear()
    return count
