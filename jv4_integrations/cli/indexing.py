"""``jv4 index``: walk the paths, skip what is unchanged, encode and write the rest, prune what is gone."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.hub import DEFAULT_MODEL
from ..errors import InputError
from .commands import (
    Existing,
    check_device,
    check_model_option,
    describe_location,
    existing_collection,
    load_encoder,
    open_collection,
    pick_model,
    require_store,
)
from .main import UsageError
from .models import resolve_model
from .output import shown
from .progress import progress as make_progress
from .sources import MISSING, SUPPORTED_SUFFIXES, SourceFailure, SourceFile, file_sha256, load_file
from .stored import (
    LEGACY_CHUNK_CHARS,
    NOTHING_STORED,
    batches,
    gone_files,
    recorded_chunk_chars,
    remove_stale,
    stored_file,
    write,
)
from .walk import iter_files

if TYPE_CHECKING:
    from ..core.encoder import JV4Encoder
    from ..core.inputs import ImageLimits
    from ..qdrant import MultiVectorCollection

#: The Matryoshka sizes of the published model.
PUBLISHED_DIMS = (128, 256, 512, 1024, 2048)


@dataclass
class IndexStats:
    """Counts for the summary line."""

    files: int = 0
    changed: int = 0
    unchanged: int = 0
    empty: int = 0
    excluded: int = 0
    items: int = 0
    removed: int = 0
    pruned_files: int = 0
    pruned_items: int = 0
    failures: list[SourceFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def image_limits(args: argparse.Namespace) -> ImageLimits | None:
    """``--max-image-pixels``, as the limits images are read with (``None``: the defaults)."""
    if args.max_image_pixels is None:
        return None
    from ..core.inputs import ImageLimits

    return ImageLimits(max_image_pixels=args.max_image_pixels)


def _check_index_options(args: argparse.Namespace, existing: Existing | None) -> bool:
    """Options that contradict the existing collection: refused before anything loads or changes.
    Returns whether ``--model`` names the new place of the collection's moved model folder."""
    if existing is None:
        return False
    where = f"collection {args.collection!r}"
    if args.prefetch is not None and args.prefetch != existing.prefetch:
        raise UsageError(
            f"{where} was created with --prefetch {existing.prefetch}; it keeps it (leave --prefetch out, or index "
            "into a new collection with --collection NAME)"
        )
    if args.dim is not None and args.dim != existing.dense_size:
        raise UsageError(
            f"{where} holds dense vectors of size {existing.dense_size}; --dim {args.dim} needs a new collection "
            "(--collection NAME)"
        )
    if args.pooled_tokens is not None and args.pooled_tokens != existing.pooled_tokens:
        held = f"pools to {existing.pooled_tokens} tokens" if existing.pooled_tokens else "has no pooled copy"
        raise UsageError(
            f"{where} {held}; --pooled-tokens {args.pooled_tokens} needs a new collection (--collection NAME)"
        )
    if args.task is not None and existing.task not in (None, args.task):
        raise UsageError(f"{where} was indexed with --task {existing.task}, not {args.task}")
    return check_model_option(args, existing, "indexing")


class _Target:
    """The model and the collection of one run, each opened when first needed: an existing
    collection at once, a new one at its first write (so a run that writes nothing creates nothing),
    the model when the first file needs encoding."""

    def __init__(self, args: argparse.Namespace, name: str, existing: Existing | None) -> None:
        self.args = args
        self.name = name
        self.progress: Any = make_progress(0, disabled=True)  # the run's bar, once it starts
        self.collection: MultiVectorCollection | None = (
            open_collection(args, create=False) if existing is not None else None
        )
        self._encoder: JV4Encoder | None = None

    def encoder(self) -> JV4Encoder:
        if self._encoder is None:
            self.progress.clear()  # the loading lines go above the bar, not into it
            self._encoder = load_encoder(self.name, self.args.device)
            if self.collection is not None:
                _check_model_fits(self._encoder, self.name, self.collection)
            self.progress.refresh()
        return self._encoder

    def get(self) -> MultiVectorCollection:
        """The collection, created (with the model's record) when it is new."""
        if self.collection is None:
            from ..qdrant import CollectionSchema

            enc = self.encoder()
            dim = self.args.dim if self.args.dim is not None else enc.dim
            if dim not in enc.dims:
                raise UsageError(f"--dim {dim} is not a size of {self.name}; choose one of {list(enc.dims)}")
            schema = CollectionSchema(
                dense_size=dim, prefetch_vector=self.args.prefetch or "dense", pooled_tokens=self.args.pooled_tokens
            )
            self.collection = open_collection(self.args, encoder=enc, create=True, schema=schema, task=self.args.task)
        return self.collection

    def close(self) -> None:
        if self.collection is not None:
            self.collection.close()


class _Writer:
    """Collects read files and writes their items in batches; a file whose items the encoder refuses
    is skipped (named, with the reason) and the others in its batch are written."""

    def __init__(self, target: _Target, args: argparse.Namespace, stats: IndexStats) -> None:
        self.target = target
        self.size = args.batch_size
        self.stats = stats
        self.progress = target.progress
        self.limits = image_limits(args)
        self.pending: list[SourceFile] = []

    def add(self, source: SourceFile) -> None:
        self.pending.append(source)
        if sum(len(p.items) for p in self.pending) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        collection, encoder = self.target.get(), self.target.encoder()
        dim = collection.schema.dense_size
        failed: dict[str, str] = {}  # doc id -> reason
        items = [item for source in self.pending for item in source.items]
        for batch in batches(items, self.size):
            batch = [item for item in batch if item.doc_id not in failed]
            try:
                if batch:
                    write(collection, encoder, batch, dim, self.limits)
            except InputError as exc:  # e.g. an image the file reader let through: only its file is skipped
                for problem in exc.problems:
                    failed.setdefault(batch[problem.index].doc_id, problem.reason)
                batch = [item for item in batch if item.doc_id not in failed]
                if batch:
                    write(collection, encoder, batch, dim, self.limits)
            self.stats.items += len(batch)
            self.progress.set_postfix(items=self.stats.items, refresh=False)
        for source in self.pending:  # only after its items are written: an interruption loses nothing
            doc = source.items[0].doc_id
            if doc in failed:
                self.stats.failures.append(SourceFailure(str(source.path), failed[doc]))
                continue
            self.stats.removed += remove_stale(collection, doc, {item.item_id for item in source.items})
            self.stats.changed += 1
            self.stats.notes.extend(f"{shown(source.path)}: {note}" for note in source.notes)
        self.progress.update(len(self.pending))
        self.pending.clear()


def run_index(args: argparse.Namespace) -> int:
    """``jv4 index``: returns 0, or 1 when some files could not be indexed."""
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.chunk_chars is not None and args.chunk_chars < 1:
        raise UsageError(f"--chunk-chars must be >= 1, got {args.chunk_chars}")
    if args.pooled_tokens is not None and args.pooled_tokens < 1:
        raise UsageError(f"--pooled-tokens must be >= 1, got {args.pooled_tokens}")
    if args.max_image_pixels is not None and args.max_image_pixels < 1:
        raise UsageError(f"--max-image-pixels must be >= 1, got {args.max_image_pixels}")
    check_device(args.device)
    require_store(args)
    start = time.perf_counter()
    ignored: list[Path] = []
    excluded: dict[str, int] = {}
    paths = list(iter_files(args.paths, ignored=ignored, exclude=args.exclude or (), excluded=excluded))
    for pattern, count in excluded.items():
        if count == 0:
            print(
                f"jv4: note: --exclude {pattern!r} matched nothing (it matches names, or paths below PATH)",
                file=sys.stderr,
            )
    stats = IndexStats(excluded=sum(excluded.values()))
    has_files = any(isinstance(entry, Path) for entry in paths)
    existing = existing_collection(args) if has_files or args.prune else None
    if not has_files and existing is None:
        # before the model loads or a collection is created: nothing to write (and, with --prune,
        # no collection to prune)
        _nothing_to_index(args.paths, paths, ignored, stats.excluded)
        return 1
    model_moved = _check_index_options(args, existing)
    name = pick_model(args, existing.model if existing is not None else None)
    if existing is not None and existing.model is not None and args.model is None:
        print(f"jv4: using the collection's model {existing.model}", file=sys.stderr)
    if existing is None and args.dim is not None:
        dims = _known_dims(name)
        if dims is not None and args.dim not in dims:
            raise UsageError(f"--dim {args.dim} is not a size of {name}; choose one of {list(dims)}")
    target = _Target(args, name, existing)
    progress = target.progress = make_progress(len(paths), disabled=args.no_progress)
    try:
        if model_moved and target.collection is not None:  # loaded and checked first, then recorded
            target.encoder()
            target.collection.record_model(resolve_model(name)[0])
            print(f"jv4: collection {args.collection!r} now records model {resolve_model(name)[0]}", file=sys.stderr)
        # without --chunk-chars, a file indexed before keeps its chunk size; new files take the
        # collection's (that of a text item already stored), else 1500
        recorded = recorded_chunk_chars(target.collection) if target.collection is not None else None
        default_chars = args.chunk_chars or recorded or LEGACY_CHUNK_CHARS
        writer = _Writer(target, args, stats)
        try:
            for entry in paths:
                _index_one(entry, target.collection, writer, args, default_chars)
            writer.flush()
        finally:
            progress.close()
        if args.prune and target.collection is not None:
            _prune(target.collection, args, paths, stats)
        if target.collection is not None and (stats.items or stats.removed or stats.pruned_items):
            # index the last points and lay the segments out for search (embedded engine; a no-op
            # on a server, which does this by itself)
            target.collection.optimize()
        total = target.collection.count() if target.collection is not None else None
    finally:
        target.close()
    _summary(args, stats, ignored, total, time.perf_counter() - start)
    return 1 if stats.failures else 0


def _index_one(
    entry: Path | SourceFailure,
    collection: MultiVectorCollection | None,
    writer: _Writer,
    args: argparse.Namespace,
    default_chars: int,
) -> None:
    """Skip, count or queue one walked entry."""
    stats, progress = writer.stats, writer.progress
    if isinstance(entry, SourceFailure):
        # with --prune, a missing path is what pruning is for: checked against the store afterwards
        if not (args.prune and entry.reason == MISSING):
            stats.files += 1
            stats.failures.append(entry)
        progress.update(1)
        return
    stats.files += 1
    progress.set_description_str(f"indexing {entry.name}"[:40], refresh=False)
    try:
        sha = file_sha256(entry)
    except OSError as exc:
        stats.failures.append(SourceFailure(str(entry), f"cannot read: {exc.strerror or exc}"))
        progress.update(1)
        return
    stored = stored_file(collection, entry) if collection is not None else NOTHING_STORED  # None: no collection yet
    if stored.unchanged(sha, args.chunk_chars):  # decided from the hash and what is stored: the file is not read
        stats.unchanged += 1
        progress.update(1)
        return
    chars = args.chunk_chars or stored.chunk_chars or default_chars
    source = load_file(entry, chunk_chars=chars, sha256=sha, image_limits=writer.limits)
    if source.failure is not None:
        stats.failures.append(source.failure)
    elif not source.items:  # an emptied text file: its old items must not stay searchable
        removed = remove_stale(collection, str(entry.resolve()), set()) if collection is not None else 0
        stats.removed += removed
        stats.changed += 1 if removed else 0
        stats.empty += 0 if removed else 1
    else:
        writer.add(source)
        return  # its progress moves when it is written
    progress.update(1)


def _prune(
    collection: MultiVectorCollection, args: argparse.Namespace, walked: list[Path | SourceFailure], stats: IndexStats
) -> None:
    """``--prune``: delete the items of files under the given paths that are gone."""
    gone = gone_files(collection, args.paths, walked)
    for entry in walked:
        if isinstance(entry, SourceFailure) and entry.reason == MISSING:
            root = Path(entry.path).resolve()
            if not any(Path(doc) == root or root in Path(doc).parents for doc in gone):
                stats.failures.append(SourceFailure(entry.path, f"{MISSING} (and nothing indexed under it)"))
    if gone:
        from qdrant_client import models

        of_gone = models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=gone))])
        stats.pruned_items = collection.count(of_gone)
        collection.delete(filter=of_gone)
        stats.pruned_files = len(gone)


def _known_dims(name: str) -> tuple[int, ...] | None:
    """The model's dense sizes, read without loading it (``None``: only known once it loads)."""
    if name == DEFAULT_MODEL:
        return PUBLISHED_DIMS
    from ..core.config import load_json, read_settings

    folder = Path(resolve_model(name)[0]).expanduser()
    try:
        raw = load_json(folder / "config.json")
        return read_settings(raw, has_adapters=(folder / "adapters").is_dir(), merged_task=None).matryoshka_dims
    except Exception:  # not a local checkpoint, or a broken one: loading it will say what is wrong
        return None


def _check_model_fits(encoder: JV4Encoder, name: str, collection: MultiVectorCollection) -> None:
    schema = collection.schema
    if schema.dense_size not in encoder.dims or encoder.multivector_dim != schema.multivector_size:
        raise UsageError(
            f"model {name} gives dense sizes {list(encoder.dims)} and {encoder.multivector_dim}-d multi-vectors; "
            f"collection {collection.name!r} holds {schema.dense_size} and {schema.multivector_size}: index into a "
            "new collection (--collection NAME) with this model"
        )


def _summary(
    args: argparse.Namespace, stats: IndexStats, ignored: list[Path], total: int | None, seconds: float
) -> None:
    for note in stats.notes:
        print(f"jv4: note: {note}", file=sys.stderr)
    for failure in stats.failures:
        print(f"jv4: skipped {shown(failure.path)}: {failure.reason}", file=sys.stderr)
    suffixes = sorted({p.suffix.lower() or "(none)" for p in ignored})
    print(
        f"indexed {stats.files} file(s) in {seconds:.1f} s: {stats.changed} new or changed ({stats.items} item(s) "
        f"written), {stats.unchanged} unchanged, {len(stats.failures)} skipped"
        + (f", {stats.empty} empty" if stats.empty else "")
        + (f", {len(ignored)} of other types ignored ({' '.join(suffixes)})" if ignored else "")
        + (f", {stats.excluded} file(s) or folder(s) excluded" if stats.excluded else "")
        + (f", {stats.removed} stale item(s) removed" if stats.removed else "")
        + (
            f", {stats.pruned_items} item(s) of {stats.pruned_files} file(s) that are gone pruned"
            if stats.pruned_files
            else ""
        )
        + (
            f"; {describe_location(args)} collection {args.collection!r} holds {total} item(s)"
            if total is not None
            else f"; nothing to write, so collection {args.collection!r} was not created"
        )
    )


def _nothing_to_index(given: list[str], walked: list[Path | SourceFailure], ignored: list[Path], excluded: int) -> None:
    skipped = [failure for failure in walked if isinstance(failure, SourceFailure)]
    for failure in skipped:
        print(f"jv4: skipped {shown(failure.path)}: {failure.reason}", file=sys.stderr)
    where = ", ".join(shown(p) for p in given)
    if any(f.reason != MISSING and Path(f.path).suffix.lower() in SUPPORTED_SUFFIXES for f in skipped):
        print(f"jv4 index: nothing to index in {where}: every file was skipped; nothing was written", file=sys.stderr)
        return
    other = f" ({len(ignored)} file(s) of other types)" if ignored else ""
    if excluded:
        other += f" ({excluded} file(s) or folder(s) excluded by --exclude)"
    print(
        f"jv4 index: nothing to index in {where}: no file with a supported suffix{other}; supported: "
        f"{' '.join(sorted(SUPPORTED_SUFFIXES))}; nothing was written",
        file=sys.stderr,
    )
