"""Multi-vectors computed next to node embeddings, held until a :class:`JV4QdrantVectorStore` stores them.

LlamaIndex nodes carry one dense ``embedding``. A forward pass of jina-embeddings-v4 yields the
dense vector and the multi-vector together, so when a store that needs both is attached to a
:class:`~jv4_integrations.llama_index.JV4Embedding`, the embedding computes both and keeps the
multi-vectors here, keyed by the encode settings and the encoded content; the store then takes them
instead of running the model a second time. Nothing is captured while no store is attached, the
buffer is bounded (oldest entries are dropped first), and it never travels with a pickle.
"""

from __future__ import annotations

import hashlib
import io
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.inputs import ImageRef, Mixed

__all__ = ["Captured", "MultivectorCapture", "item_fingerprint"]

#: Default bound of the buffer: 1 GiB of dense + multi-vector floats.
DEFAULT_CAPTURE_BYTES = 1 << 30


@dataclass(frozen=True)
class Captured:
    """The two vectors of one encoded item, from one forward pass.

    Attributes:
        dense: ``(d,)`` float32.
        multivector: ``(n_tokens, 128)`` float32.
    """

    dense: np.ndarray
    multivector: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.dense.nbytes + self.multivector.nbytes)


def _image_fingerprint(image: Any) -> Hashable | None:
    if isinstance(image, ImageRef):  # a path or URI (a data: URI is hashed: it can be megabytes)
        ref = image.ref
        return ("ref", hashlib.sha256(ref.encode("utf-8", "surrogatepass")).hexdigest() if len(ref) > 512 else ref)
    if isinstance(image, io.BytesIO):
        return ("bytes", hashlib.sha256(image.getbuffer()).hexdigest())
    return None


def item_fingerprint(item: Any) -> Hashable | None:
    """A key for an encode item (text, ``ImageRef``, ``BytesIO`` or ``Mixed`` of those); ``None`` = not keyable.

    Example:
        >>> item_fingerprint("hello")[0]
        'text'
    """
    if isinstance(item, str):
        return ("text", hashlib.sha256(item.encode("utf-8", "surrogatepass")).hexdigest())
    if isinstance(item, Mixed):
        images = tuple(_image_fingerprint(image) for image in item.images)
        if any(fp is None for fp in images):
            return None
        return ("mixed", hashlib.sha256(item.text.encode("utf-8", "surrogatepass")).hexdigest(), images)
    return _image_fingerprint(item)


class MultivectorCapture:
    """A bounded, thread-safe buffer of multi-vectors, active while at least one consumer is alive.

    Copies of the owning embedding share it; a pickle carries an empty, inactive buffer (a worker
    process cannot hand vectors back to the store of the parent process).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, Captured] = OrderedDict()
        self._bytes = 0
        self._max_bytes = 0
        self._consumers: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        self.evicted = 0  # entries dropped to stay within the bound, since creation

    def __reduce__(self) -> tuple[type[MultivectorCapture], tuple[()]]:
        return (MultivectorCapture, ())

    def __copy__(self) -> MultivectorCapture:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> MultivectorCapture:
        return self

    @property
    def active(self) -> bool:
        """Whether a consumer (a store) is attached."""
        return len(self._consumers) > 0

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        self._prune()
        return self._bytes

    def __len__(self) -> int:
        self._prune()
        return len(self._entries)

    def _prune(self) -> None:
        """Drop every entry once no consumer is left (a consumer that was collected leaves by itself)."""
        if self._entries and not self.active:
            with self._lock:
                if not self.active:
                    self._entries.clear()
                    self._bytes = 0

    def attach(self, consumer: Any, max_bytes: int = DEFAULT_CAPTURE_BYTES) -> None:
        """Start capturing for ``consumer`` (held weakly); the bound is the largest asked for."""
        with self._lock:
            self._consumers[id(consumer)] = consumer
            self._max_bytes = max(self._max_bytes, int(max_bytes))

    def detach(self, consumer: Any) -> None:
        """Stop capturing for ``consumer`` (a store that closes); entries go once no consumer is left."""
        with self._lock:
            self._consumers.pop(id(consumer), None)
        self._prune()

    def put(self, settings: Hashable, items: Sequence[Any], dense: Any, multivectors: Sequence[Any]) -> None:
        """Keep the vectors of ``items`` (in order) under ``(settings, fingerprint)``."""
        if not self.active:
            self._prune()
            return
        with self._lock:
            for item, d, mv in zip(items, dense, multivectors, strict=True):
                fp = item_fingerprint(item)
                if fp is None:
                    continue
                key = (settings, fp)
                entry = Captured(np.array(d, dtype=np.float32), np.array(mv, dtype=np.float32))
                old = self._entries.pop(key, None)
                if old is not None:
                    self._bytes -= old.nbytes
                self._entries[key] = entry
                self._bytes += entry.nbytes
            while self._entries and self._bytes > self._max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.nbytes
                self.evicted += 1

    def get(self, settings: Hashable, item: Any) -> Captured | None:
        """The vectors captured for ``item`` under ``settings``, or ``None``."""
        fp = item_fingerprint(item)
        if fp is None:
            return None
        with self._lock:
            return self._entries.get((settings, fp))

    def discard(self, settings: Hashable, items: Sequence[Any]) -> None:
        """Forget the entries of ``items`` (once stored)."""
        with self._lock:
            for item in items:
                fp = item_fingerprint(item)
                old = self._entries.pop((settings, fp), None) if fp is not None else None
                if old is not None:
                    self._bytes -= old.nbytes

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
