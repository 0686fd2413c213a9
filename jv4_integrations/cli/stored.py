"""What ``jv4 index`` asks the collection: what a file left there, writing a batch, removing what is stale."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from .sources import MISSING, READER_VERSION, TEXT_SUFFIXES, SourceFailure, SourceItem

if TYPE_CHECKING:
    from ..core.encoder import JV4Encoder
    from ..core.inputs import ImageLimits
    from ..qdrant import MultiVectorCollection

#: ``--chunk-chars`` of collections indexed before it was recorded in each text item.
LEGACY_CHUNK_CHARS = 1500


def of_doc(doc_id: str, *, except_ids: set[str] | None = None) -> Any:
    """A filter on the items of one file (all but ``except_ids``)."""
    from qdrant_client import models

    return models.Filter(
        must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))],
        must_not=[models.FieldCondition(key="item_id", match=models.MatchAny(any=sorted(except_ids)))]
        if except_ids
        else None,
    )


def chunk_chars_of(metadata: dict[str, Any]) -> int | None:
    """The chunk size a stored text item was cut with (``None`` when its record is unusable)."""
    value = metadata.get("chunk_chars", LEGACY_CHUNK_CHARS)
    return value if isinstance(value, int) and value >= 1 else None


@dataclass(frozen=True)
class StoredFile:
    """What the collection holds of one file.

    Attributes:
        count: its items.
        hashes: the file hashes they were written from.
        totals: the item counts the file had when they were written (``chunks`` / ``pages`` / 1 for
            an image), one per distinct value (``None``: not recorded).
        chunk_sizes: the chunk sizes of its text items (``None`` among them: unusable; empty: not text).
        readers: the reader versions that wrote them (``None``: before versions were recorded).
    """

    count: int
    hashes: frozenset[str]
    totals: frozenset[int | None]
    chunk_sizes: frozenset[int | None]
    readers: frozenset[int | None] = frozenset()

    @property
    def chunk_chars(self) -> int | None:
        """The one chunk size every text item was cut with (``None``: not text, mixed or unusable)."""
        return next(iter(self.chunk_sizes)) if len(self.chunk_sizes) == 1 else None

    def unchanged(self, sha256: str, chunk_chars: int | None) -> bool:
        """Whether a file with this hash (cut with ``chunk_chars``, ``None``: its own) is stored
        whole, from one version, one cut and the current reader."""
        if self.count == 0 or self.hashes != {sha256} or self.readers != {READER_VERSION}:
            return False  # new, changed, or read by an older reader (which decoded some files wrongly)
        if self.chunk_sizes and (self.chunk_chars is None or chunk_chars not in (None, self.chunk_chars)):
            return False  # items cut with several sizes (an interrupted re-cut), or with another size
        return len(self.totals) == 1 and self.count == next(iter(self.totals))


#: What a collection that does not exist yet holds of any file.
NOTHING_STORED = StoredFile(0, frozenset(), frozenset(), frozenset())


def stored_file(collection: MultiVectorCollection, path: Path) -> StoredFile:
    """What the collection holds of ``path`` (one scroll over its items)."""
    points = list(collection.scroll(of_doc(str(path.resolve())), batch_size=256))
    is_text = path.suffix.lower() in TEXT_SUFFIXES

    def total(metadata: dict[str, Any]) -> int | None:
        kind = str(metadata.get("kind"))
        return _int({"text": metadata.get("chunks"), "pdf-page": metadata.get("pages"), "image": 1}.get(kind))

    return StoredFile(
        count=len(points),
        hashes=frozenset(str(p.metadata.get("sha256")) for p in points),
        totals=frozenset(total(p.metadata) for p in points),
        chunk_sizes=frozenset(chunk_chars_of(p.metadata) for p in points) if is_text else frozenset(),
        readers=frozenset(_int(p.metadata.get("reader")) for p in points),
    )


def _int(value: Any) -> int | None:
    """A stored count or version (``None`` when missing or not an int)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def recorded_chunk_chars(collection: MultiVectorCollection) -> int | None:
    """The ``--chunk-chars`` the collection's text items were cut with (``None``: no text item yet)."""
    try:
        for point in collection.scroll({"kind": "text"}, batch_size=1):
            return chunk_chars_of(point.metadata)
    except StoreError:  # no item has a "kind" yet
        return None
    return None


def write(
    collection: MultiVectorCollection,
    encoder: JV4Encoder,
    batch: list[SourceItem],
    dim: int,
    image_limits: ImageLimits | None = None,
) -> None:
    """Encode a batch once (dense + multi-vector) and upsert it with its payload."""
    result = encoder.encode_documents(
        [i.content for i in batch], output="both", truncate_dim=dim, task=collection.task, image_limits=image_limits
    )
    assert result.dense is not None and result.multivector is not None
    collection.add_embeddings(
        result.dense,
        result.multivector,
        texts=[i.text for i in batch],
        ids=[i.item_id for i in batch],
        metadatas=[i.metadata for i in batch],
        doc_ids=[i.doc_id for i in batch],
        sources=[None if i.metadata["kind"] == "text" else i.source for i in batch],
        modalities=["text" if i.metadata["kind"] == "text" else "image" for i in batch],
    )


def remove_stale(collection: MultiVectorCollection, doc_id: str, keep: set[str]) -> int:
    """Delete a file's points that its current version no longer has (e.g. after it got shorter)."""
    stale = of_doc(doc_id, except_ids=keep)
    count = collection.count(stale)
    if count:
        collection.delete(filter=stale)
    return count


def gone_files(collection: MultiVectorCollection, paths: list[str], walked: list[Path | SourceFailure]) -> list[str]:
    """Doc ids (absolute file paths) stored under ``paths`` whose file the walk no longer found.

    A file or folder that is there but could not be read (a failure other than "missing") keeps
    what is stored under it.
    """
    roots = [Path(p).resolve() for p in paths]
    found = {str(entry.resolve()) for entry in walked if isinstance(entry, Path)}
    failed = [Path(f.path) for f in walked if isinstance(f, SourceFailure) and f.reason != MISSING]
    kept = [p.resolve() if p.exists() else p.absolute() for p in failed]  # not the target of a broken link
    stored = {p.doc_id for p in collection.scroll(batch_size=1024) if p.doc_id is not None}

    def under(doc: str, folders: list[Path]) -> bool:
        return any(Path(doc) == root or root in Path(doc).parents for root in folders)

    return sorted(doc for doc in stored - found if under(doc, roots) and not under(doc, kept))


def batches(items: list[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    """``items`` in runs of ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
