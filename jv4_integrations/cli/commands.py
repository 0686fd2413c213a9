"""The ``jv4 index``, ``jv4 search`` and ``jv4 info`` commands."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.hub import DEFAULT_MODEL
from ..errors import CollectionNotFoundError, StoreError
from .main import UsageError
from .models import DEMO_WARNING, is_demo, resolve_model
from .output import print_hits, print_info
from .progress import progress as make_progress
from .sources import (
    MISSING,
    SUPPORTED_SUFFIXES,
    TEXT_SUFFIXES,
    SourceFailure,
    SourceFile,
    SourceItem,
    iter_files,
    load_file,
)

if TYPE_CHECKING:
    from ..core.encoder import JV4Encoder
    from ..qdrant import MultiVectorCollection


def _location(args: argparse.Namespace) -> str:
    return str(args.qdrant_url or args.store)


def _describe_location(args: argparse.Namespace) -> str:
    return f"Qdrant at {args.qdrant_url}" if args.qdrant_url else f"embedded store {args.store}"


def _open(
    args: argparse.Namespace, *, encoder: Any = None, create: bool, schema: Any = None, task: str | None = None
) -> MultiVectorCollection:
    from ..qdrant import MultiVectorCollection

    return MultiVectorCollection.open(
        _location(args), args.collection, encoder=encoder, create=create, schema=schema, task=task, api_key=args.api_key
    )


@dataclass(frozen=True)
class Existing:
    """What an existing collection recorded: model, task, sizes, prefetch vector, metadata keys."""

    model: str | None
    task: str | None
    dense_size: int
    prefetch: str
    metadata_keys: tuple[str, ...]


def _existing(args: argparse.Namespace) -> Existing | None:
    """The existing collection's record, or ``None`` when there is no collection yet."""
    try:
        with _open(args, create=False) as collection:
            info = collection.info()
    except CollectionNotFoundError:
        return None
    return Existing(
        model=info.model.model if info.model is not None else None,
        task=info.model.task if info.model is not None else None,
        dense_size=info.schema.dense_size,
        prefetch=info.schema.prefetch_vector,
        metadata_keys=tuple(sorted(info.metadata_fields)),
    )


def require_store(args: argparse.Namespace) -> None:
    """The ``qdrant`` extra, checked before anything loads: the embedded store needs qdrant-edge-py,
    and both stores qdrant-client."""
    from .._optional import require

    require("qdrant_client", purpose="jv4")
    if not args.qdrant_url:
        require("qdrant_edge", purpose="jv4's embedded store")


def check_device(device: str | None) -> None:
    """Refuse a ``--device`` that torch does not know or this machine does not have, before loading."""
    if device is None:
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {device!r} is not a device; use cpu, cuda, cuda:N or mps") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"--device {device}: this machine has no CUDA GPU that torch can use; use --device cpu")
        if parsed.index is not None and parsed.index >= count:
            raise UsageError(f"--device {device}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    elif parsed.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise UsageError(f"--device {device}: Apple's MPS is not available here; use --device cpu")
    elif parsed.type != "cpu":
        raise UsageError(f"--device {device}: jv4 runs on cpu, cuda, cuda:N or mps")


def _load_encoder(name: str, device: str | None) -> JV4Encoder:
    from ..core.encoder import JV4Encoder

    path, is_demo = resolve_model(name)
    if is_demo:
        print(f"jv4: note: {DEMO_WARNING}", file=sys.stderr)
    print(f"jv4: loading {'the demo model' if is_demo else name} on {device or 'the default device'}", file=sys.stderr)
    return JV4Encoder.shared(path, device=device)


def _pick_model(args: argparse.Namespace, recorded: str | None) -> str:
    """``--model``, else the model recorded in the collection, else the published model."""
    if args.model is not None:
        return str(args.model)
    return recorded if recorded is not None else DEFAULT_MODEL


# -- index ----------------------------------------------------------------------------------------


@dataclass
class IndexStats:
    """Counts for the summary line."""

    files: int = 0
    changed: int = 0
    unchanged: int = 0
    items: int = 0
    removed: int = 0
    pruned_files: int = 0
    pruned_items: int = 0
    failures: list[SourceFailure] = field(default_factory=list)


def _of_doc(doc_id: str, *, except_ids: set[str] | None = None) -> Any:
    from qdrant_client import models

    return models.Filter(
        must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))],
        must_not=[models.FieldCondition(key="item_id", match=models.MatchAny(any=sorted(except_ids)))]
        if except_ids
        else None,
    )


#: ``--chunk-chars`` of collections indexed before it was recorded in each text item.
LEGACY_CHUNK_CHARS = 1500


def _is_unchanged(collection: MultiVectorCollection, source: SourceFile) -> bool:
    """Whether every item of the file is stored with the same file hash (and, for text, the same
    chunk size), and nothing more."""
    ids = [item.item_id for item in source.items]
    stored = collection.get(ids)
    if len(stored) != len(ids) or any(p.metadata.get("sha256") != source.sha256 for p in stored):
        return False
    for item, point in zip(source.items, stored, strict=True):  # get() keeps the order of the ids
        wanted = item.metadata.get("chunk_chars")
        if wanted is not None and _chunk_chars_of(point.metadata) != wanted:
            return False
    return collection.count(_of_doc(source.items[0].doc_id)) == len(ids)


def _chunk_chars_of(metadata: dict[str, Any]) -> int | None:
    """The chunk size a stored text item was cut with (``None`` when its record is unusable)."""
    value = metadata.get("chunk_chars", LEGACY_CHUNK_CHARS)
    return value if isinstance(value, int) and value >= 1 else None


def _file_chunk_chars(collection: MultiVectorCollection, path: Path) -> int | None:
    """The chunk size a text file was indexed with (``None``: not a text file, or not indexed yet)."""
    if path.suffix.lower() not in TEXT_SUFFIXES:
        return None
    stored = collection.get([f"{path.resolve()}#chunk=0"])
    return _chunk_chars_of(stored[0].metadata) if stored else None


def _recorded_chunk_chars(collection: MultiVectorCollection) -> int | None:
    """The ``--chunk-chars`` the collection's text items were cut with (``None``: no text item yet)."""
    try:
        for point in collection.scroll({"kind": "text"}, batch_size=1):
            return _chunk_chars_of(point.metadata)
    except StoreError:  # no item has a "kind" yet
        return None
    return None


def _write(collection: MultiVectorCollection, encoder: JV4Encoder, batch: list[SourceItem], dim: int) -> None:
    """Encode a batch once (dense + multi-vector) and upsert it with its payload."""
    result = encoder.encode_documents([i.content for i in batch], output="both", truncate_dim=dim, task=collection.task)
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


def _remove_stale(collection: MultiVectorCollection, doc_id: str, keep: set[str]) -> int:
    """Delete a file's points that its current version no longer has (e.g. after it got shorter)."""
    stale = _of_doc(doc_id, except_ids=keep)
    count = collection.count(stale)
    if count:
        collection.delete(filter=stale)
    return count


def _prune(collection: MultiVectorCollection, paths: list[str], walked: list[Path | SourceFailure]) -> list[str]:
    """Doc ids (absolute file paths) stored under ``paths`` whose file the walk no longer found."""
    roots = [Path(p).resolve() for p in paths]
    found = {str(entry.resolve()) for entry in walked if isinstance(entry, Path)}
    stored = {p.doc_id for p in collection.scroll(batch_size=1024) if p.doc_id is not None}
    return sorted(
        doc for doc in stored - found if any(Path(doc) == root or root in Path(doc).parents for root in roots)
    )


def _batches(items: list[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
    if args.task is not None and existing.task not in (None, args.task):
        raise UsageError(f"{where} was indexed with --task {existing.task}, not {args.task}")
    return _check_model_option(args, existing, "indexing")


def _check_model_option(args: argparse.Namespace, existing: Existing, doing: str) -> bool:
    """Refuse a ``--model`` other than the one that indexed the collection: its vectors would not be
    comparable. A recorded local folder that is gone may be named at its new place: returns ``True``
    then."""
    if args.model is None or existing.model is None or _same_model(args.model, existing.model):
        return False
    if not _moved_away(existing.model):
        effect = (
            "would mix two models' vectors in one collection"
            if doing == "indexing"
            else "would compare its query with another model's vectors"
        )
        raise UsageError(
            f"collection {args.collection!r} was indexed with model {existing.model}; --model {args.model} {effect} "
            "(leave --model out to use the collection's model, or index into a new collection with --collection "
            "NAME or another --store)"
        )
    print(
        f"jv4: note: the collection's model folder {existing.model} is gone; {doing} with {args.model}, "
        "which must be a copy of the same model",
        file=sys.stderr,
    )
    return True


def _moved_away(recorded: str) -> bool:
    """A recorded local checkpoint folder that no longer exists (moved or deleted): ``--model`` may
    then name its new place. Hub ids (``org/name``) are not local paths."""
    if is_demo(recorded):
        return False
    local = Path(recorded).expanduser().is_absolute() or recorded.startswith((".", "~"))
    return local and not Path(recorded).expanduser().exists()


def _same_model(given: str, recorded: str) -> bool:
    """Whether ``--model`` names the recorded model (the demo, the same folder, or the same Hub id)."""
    if is_demo(given) or is_demo(recorded):
        return is_demo(given) and is_demo(recorded)
    if given == recorded:
        return True
    pa, pb = Path(given).expanduser(), Path(recorded).expanduser()
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


def run_index(args: argparse.Namespace) -> int:
    """``jv4 index``: returns 0, or 1 when some files could not be indexed."""
    from ..qdrant import CollectionSchema

    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.chunk_chars is not None and args.chunk_chars < 1:
        raise UsageError(f"--chunk-chars must be >= 1, got {args.chunk_chars}")
    check_device(args.device)
    require_store(args)
    start = time.perf_counter()
    ignored: list[Path] = []
    paths = list(iter_files(args.paths, ignored=ignored))
    has_files = any(isinstance(entry, Path) for entry in paths)
    existing = _existing(args) if has_files or args.prune else None
    if not has_files and existing is None:
        # before the model loads or a collection is created: nothing to write (and, with --prune,
        # no collection to prune)
        _nothing_to_index(args.paths, paths, ignored)
        return 1
    model_moved = _check_index_options(args, existing)
    name = _pick_model(args, existing.model if existing is not None else None)
    if existing is not None and existing.model is not None and args.model is None:
        print(f"jv4: using the collection's model {existing.model}", file=sys.stderr)
    loaded: list[JV4Encoder] = []
    if existing is None and args.dim is not None:
        dims = _known_dims(name)
        if dims is not None and args.dim not in dims:
            raise UsageError(f"--dim {args.dim} is not a size of {name}; choose one of {list(dims)}")
    if existing is None:  # creating the collection records the model: load it now
        loaded.append(_load_encoder(name, args.device))
        dim = args.dim if args.dim is not None else loaded[0].dim
        if dim not in loaded[0].dims:
            raise UsageError(f"--dim {dim} is not a size of {name}; choose one of {list(loaded[0].dims)}")
        schema = CollectionSchema(dense_size=dim, prefetch_vector=args.prefetch or "dense")
        opened = _open(args, encoder=loaded[0], create=True, schema=schema, task=args.task)
    else:
        opened = _open(args, create=False)
    stats = IndexStats()
    with opened as collection:
        if model_moved:  # later runs find the model at its new place without --model
            collection.record_model(resolve_model(name)[0])
            print(f"jv4: collection {args.collection!r} now records model {resolve_model(name)[0]}", file=sys.stderr)
        dim = collection.schema.dense_size
        # without --chunk-chars, a file indexed before keeps its chunk size; new files take the
        # collection's (that of a text item already stored), else 1500
        default_chars = args.chunk_chars or _recorded_chunk_chars(collection) or LEGACY_CHUNK_CHARS
        progress = make_progress(len(paths), disabled=args.no_progress)

        def encoder() -> JV4Encoder:  # loaded once, when the first file needs encoding
            if not loaded:
                progress.clear()  # the loading lines go above the bar, not into it
                loaded.append(_load_encoder(name, args.device))
                _check_model_fits(loaded[0], name, collection)
                progress.refresh()
            return loaded[0]

        pending: list[SourceFile] = []

        def flush() -> None:
            items = [item for source in pending for item in source.items]
            for batch in _batches(items, args.batch_size):
                _write(collection, encoder(), batch, dim)
                stats.items += len(batch)
                progress.set_postfix(items=stats.items, refresh=False)
            for source in pending:  # only after its items are written: an interruption loses nothing
                keep = {item.item_id for item in source.items}
                stats.removed += _remove_stale(collection, source.items[0].doc_id, keep)
            stats.changed += len(pending)
            progress.update(len(pending))
            pending.clear()

        try:
            for entry in paths:
                if isinstance(entry, SourceFailure):
                    # with --prune, a missing path is what pruning is for: checked against the store below
                    if not (args.prune and entry.reason == MISSING):
                        stats.files += 1
                        stats.failures.append(entry)
                    progress.update(1)
                    continue
                stats.files += 1
                progress.set_description_str(f"indexing {entry.name}"[:40], refresh=False)
                chars = args.chunk_chars or _file_chunk_chars(collection, entry) or default_chars
                source = load_file(entry, chunk_chars=chars)
                if source.failure is not None:
                    stats.failures.append(source.failure)
                    progress.update(1)
                elif not source.items:  # an emptied text file: its old items must not stay searchable
                    stats.removed += _remove_stale(collection, str(entry.resolve()), set())
                    stats.changed += 1
                    progress.update(1)
                elif _is_unchanged(collection, source):
                    stats.unchanged += 1
                    progress.update(1)
                else:
                    pending.append(source)
                    if sum(len(p.items) for p in pending) >= args.batch_size:
                        flush()
            flush()
        finally:
            progress.close()
        if args.prune:
            gone = _prune(collection, args.paths, paths)
            for entry in paths:
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
        total = collection.count()
    _summary(args, stats, ignored, total, time.perf_counter() - start)
    return 1 if stats.failures else 0


#: The Matryoshka sizes of the published model.
PUBLISHED_DIMS = (128, 256, 512, 1024, 2048)


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


def _summary(args: argparse.Namespace, stats: IndexStats, ignored: list[Path], total: int, seconds: float) -> None:
    for failure in stats.failures:
        print(f"jv4: skipped {failure.path}: {failure.reason}", file=sys.stderr)
    suffixes = sorted({p.suffix.lower() or "(none)" for p in ignored})
    print(
        f"indexed {stats.files} file(s) in {seconds:.1f} s: {stats.changed} new or changed ({stats.items} item(s) "
        f"written), {stats.unchanged} unchanged, {len(stats.failures)} skipped"
        + (f", {len(ignored)} of other types ignored ({' '.join(suffixes)})" if ignored else "")
        + (f", {stats.removed} stale item(s) removed" if stats.removed else "")
        + (
            f", {stats.pruned_items} item(s) of {stats.pruned_files} file(s) that are gone pruned"
            if stats.pruned_files
            else ""
        )
        + f"; {_describe_location(args)} collection {args.collection!r} holds {total} item(s)"
    )


def _nothing_to_index(given: list[str], walked: list[Path | SourceFailure], ignored: list[Path]) -> None:
    skipped = [failure for failure in walked if isinstance(failure, SourceFailure)]
    for failure in skipped:
        print(f"jv4: skipped {failure.path}: {failure.reason}", file=sys.stderr)
    if any(f.reason != MISSING and Path(f.path).suffix.lower() in SUPPORTED_SUFFIXES for f in skipped):
        where = ", ".join(given)
        print(f"jv4 index: nothing to index in {where}: every file was skipped; nothing was written", file=sys.stderr)
        return
    other = f" ({len(ignored)} file(s) of other types)" if ignored else ""
    print(
        f"jv4 index: nothing to index in {', '.join(given)}: no file with a supported suffix{other}; supported: "
        f"{' '.join(sorted(SUPPORTED_SUFFIXES))}; nothing was written",
        file=sys.stderr,
    )


# -- search ---------------------------------------------------------------------------------------


def _parse_filters(pairs: list[str]) -> dict[str, Any] | None:
    if not pairs:
        return None
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--filter expects KEY=VALUE (e.g. kind=pdf-page), got {pair!r}")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def _search_filter(filters: dict[str, Any] | None) -> Any:
    """``--filter`` pairs as a filter; ``path=FILE`` means that file wherever the command runs from
    (matched on its absolute path, the document id), not the path as it was typed at indexing."""
    if not filters or "path" not in filters:
        return filters
    from qdrant_client import models

    from ..qdrant import metadata_filter

    rest = {k: v for k, v in filters.items() if k != "path"}
    file = str(Path(str(filters["path"])).expanduser().resolve())
    must = [models.FieldCondition(key="doc_id", match=models.MatchValue(value=file))]
    return models.Filter(must=must + (list(metadata_filter(rest).must or []) if rest else []))


def _check_image(path: Path) -> None:
    """Decode the query image now, so that a folder or a non-image fails before the model loads."""
    from ..core.inputs import prepare_items
    from ..errors import InputError

    if not path.is_file():
        raise UsageError(f"--image {path}: {'not a file' if path.exists() else 'no such file'}")
    try:
        prepare_items([path])
    except InputError as exc:
        raise UsageError(f"--image {path}: {exc.problems[0].reason}") from None


def run_search(args: argparse.Namespace) -> int:
    """``jv4 search``: prints ranked results (or JSON)."""
    from ..core.inputs import Mixed

    if args.query is None and args.image is None:
        raise UsageError("give a QUERY, an --image PATH, or both")
    if args.query is not None and not args.query.strip():
        raise UsageError("the query is empty")
    if args.limit < 1:
        raise UsageError(f"-k must be >= 1, got {args.limit}")
    if args.image is not None:
        _check_image(Path(args.image))
    filters = _parse_filters(args.filter)
    check_device(args.device)
    require_store(args)
    existing = _existing(args)
    if existing is None:
        raise CollectionNotFoundError(
            f"collection {args.collection!r} does not exist in the {_describe_location(args)}; "
            "run `jv4 index PATH` first"
        )
    unknown = sorted(set(filters or ()) - set(existing.metadata_keys))
    if unknown:
        raise StoreError(
            f"--filter key(s) {unknown}: no item of collection {args.collection!r} has them; its items have "
            f"{list(existing.metadata_keys)}"
        )
    _check_model_option(args, existing, "searching")
    encoder = _load_encoder(_pick_model(args, existing.model), args.device)
    query: Any = args.query
    if args.image is not None:
        image = Path(args.image)
        query = Mixed(args.query, [image]) if args.query is not None else image
    with _open(args, encoder=encoder, create=False) as collection:
        hits = collection.search(query, mode=args.mode, limit=args.limit, filter=_search_filter(filters))
    print_hits(hits, as_json=args.json)
    return 0


# -- info -----------------------------------------------------------------------------------------


def _collection_names(args: argparse.Namespace) -> list[str]:
    if args.qdrant_url:
        from ..qdrant.backends import server_client

        client = server_client(args.qdrant_url, args.api_key)
        try:
            return sorted(c.name for c in client.get_collections().collections)
        finally:
            client.close()
    store = Path(args.store)
    if not store.is_dir():
        return []
    return sorted(p.name for p in store.iterdir() if (p / "shard").is_dir())


def run_info(args: argparse.Namespace) -> int:
    """``jv4 info``: the store, its collections (or the one ``--collection`` names), counts, model and
    vector settings."""
    require_store(args)
    infos = []
    names = _collection_names(args)
    if args.collection is not None:
        if args.collection not in names:
            raise CollectionNotFoundError(
                f"collection {args.collection!r} does not exist in the {_describe_location(args)}; it has "
                f"{names or 'no collections'}"
            )
        names = [args.collection]
    failed = 0
    for name in names:
        try:
            with _open(argparse.Namespace(**{**vars(args), "collection": name}), create=False) as collection:
                infos.append(collection.info())
        except StoreError as exc:  # e.g. held by another process: report it, show the others
            print(f"jv4: error: {exc}", file=sys.stderr)
            failed += 1
    print_info(_describe_location(args), infos, as_json=args.json)
    return 1 if failed else 0
