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
from ..errors import CollectionNotFoundError
from .models import DEMO_WARNING, resolve_model
from .output import print_hits, print_info
from .sources import SUPPORTED_SUFFIXES, SourceFailure, SourceFile, SourceItem, iter_files, load_file

if TYPE_CHECKING:
    from ..core.encoder import JV4Encoder
    from ..qdrant import MultiVectorCollection


def _location(args: argparse.Namespace) -> str:
    return str(args.qdrant_url or args.store)


def _describe_location(args: argparse.Namespace) -> str:
    return f"Qdrant at {args.qdrant_url}" if args.qdrant_url else f"embedded store {args.store}"


def _open(args: argparse.Namespace, *, encoder: Any = None, create: bool, schema: Any = None) -> MultiVectorCollection:
    from ..qdrant import MultiVectorCollection

    return MultiVectorCollection.open(
        _location(args), args.collection, encoder=encoder, create=create, schema=schema, api_key=args.api_key
    )


def _existing(args: argparse.Namespace) -> tuple[str | None, str] | None:
    """An existing collection's recorded model (or ``None``) and prefetch vector; ``None`` when there is
    no collection yet."""
    try:
        with _open(args, create=False) as collection:
            record = collection.info().model
            prefetch = collection.schema.prefetch_vector
    except CollectionNotFoundError:
        return None
    return (record.model if record is not None else None), prefetch


def _recorded_model(args: argparse.Namespace) -> str | None:
    """The model recorded in an existing collection, or ``None`` when there is no collection yet."""
    existing = _existing(args)
    return existing[0] if existing is not None else None


def _load_encoder(name: str, device: str | None) -> JV4Encoder:
    from ..core.encoder import JV4Encoder

    path, is_demo = resolve_model(name)
    if is_demo:
        print(f"jv4: note: {DEMO_WARNING}", file=sys.stderr)
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


def _is_unchanged(collection: MultiVectorCollection, source: SourceFile) -> bool:
    """Whether every item of the file is stored with the same file hash, and nothing more."""
    ids = [item.item_id for item in source.items]
    stored = collection.get(ids)
    if len(stored) != len(ids) or any(p.metadata.get("sha256") != source.sha256 for p in stored):
        return False
    return collection.count(_of_doc(source.items[0].doc_id)) == len(ids)


def _write(collection: MultiVectorCollection, encoder: JV4Encoder, batch: list[SourceItem], dim: int) -> None:
    """Encode a batch once (dense + multi-vector) and upsert it with its payload."""
    result = encoder.encode_documents([i.content for i in batch], output="both", truncate_dim=dim)
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


def run_index(args: argparse.Namespace) -> int:
    """``jv4 index``: returns 0, or 1 when some files could not be indexed."""
    from ..qdrant import CollectionSchema

    if args.batch_size < 1 or args.chunk_chars < 1:
        raise SystemExit("jv4 index: --batch-size and --chunk-chars must be >= 1")
    start = time.perf_counter()
    paths = list(iter_files(args.paths))
    if not args.prune and not any(isinstance(entry, Path) for entry in paths):
        # before the model loads or a collection is created: there is nothing to write
        _nothing_to_index(args.paths, paths)
        return 1
    existing = _existing(args)
    recorded = existing[0] if existing is not None else None
    name = _pick_model(args, recorded)
    if recorded is not None and args.model is None:
        print(f"jv4: using the collection's model {recorded}", file=sys.stderr)
    # an existing collection keeps its prefetch vector; --prefetch is checked against it
    prefetch = args.prefetch or (existing[1] if existing is not None else "dense")
    encoder = _load_encoder(name, args.device)
    dim = args.dim if args.dim is not None else encoder.dim
    if dim not in encoder.dims:
        raise SystemExit(f"jv4 index: --dim {dim} is not available; choose one of {list(encoder.dims)}")
    schema = CollectionSchema(dense_size=dim, prefetch_vector=prefetch)  # type: ignore[arg-type]
    stats = IndexStats()
    with _open(args, encoder=encoder, create=True, schema=schema) as collection:
        if args.task is not None and collection.task not in (None, args.task):
            raise SystemExit(f"jv4 index: the collection was indexed with task {collection.task!r}, not {args.task!r}")
        progress = _progress(len(paths), disabled=args.no_progress)
        pending: list[SourceFile] = []

        def flush() -> None:
            items = [item for source in pending for item in source.items]
            for batch in _batches(items, args.batch_size):
                _write(collection, encoder, batch, dim)
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
                stats.files += 1
                if isinstance(entry, SourceFailure):
                    stats.failures.append(entry)
                    progress.update(1)
                    continue
                source = load_file(entry, chunk_chars=args.chunk_chars)
                if source.failure is not None:
                    stats.failures.append(source.failure)
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
            if gone:
                from qdrant_client import models

                of_gone = models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=gone))])
                stats.pruned_items = collection.count(of_gone)
                collection.delete(filter=of_gone)
                stats.pruned_files = len(gone)
        total = collection.count()
    for failure in stats.failures:
        print(f"jv4: skipped {failure.path}: {failure.reason}", file=sys.stderr)
    seconds = time.perf_counter() - start
    print(
        f"indexed {stats.files} file(s) in {seconds:.1f} s: {stats.changed} new or changed ({stats.items} item(s) "
        f"written), {stats.unchanged} unchanged, {len(stats.failures)} skipped"
        + (f", {stats.removed} stale item(s) removed" if stats.removed else "")
        + (
            f", {stats.pruned_items} item(s) of {stats.pruned_files} file(s) that are gone pruned"
            if stats.pruned_files
            else ""
        )
        + f"; {_describe_location(args)} collection {args.collection!r} holds {total} item(s)"
    )
    return 1 if stats.failures else 0


def _nothing_to_index(given: list[str], walked: list[Path | SourceFailure]) -> None:
    for failure in walked:
        if isinstance(failure, SourceFailure):
            print(f"jv4: skipped {failure.path}: {failure.reason}", file=sys.stderr)
    print(
        f"jv4 index: nothing to index in {', '.join(given)}: no file with a supported suffix "
        f"({' '.join(sorted(SUPPORTED_SUFFIXES))}); nothing was written",
        file=sys.stderr,
    )


def _progress(total: int, *, disabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="indexing", unit="file", disable=disabled, file=sys.stderr, dynamic_ncols=True)


# -- search ---------------------------------------------------------------------------------------


def _parse_filters(pairs: list[str]) -> dict[str, Any] | None:
    if not pairs:
        return None
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"jv4 search: --filter expects KEY=VALUE, got {pair!r}")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def run_search(args: argparse.Namespace) -> int:
    """``jv4 search``: prints ranked results (or JSON)."""
    from ..core.inputs import Mixed

    if args.query is None and args.image is None:
        raise SystemExit("jv4 search: give a QUERY, an --image PATH, or both")
    if args.query is not None and not args.query.strip():
        raise SystemExit("jv4 search: the query is empty")
    if args.limit < 1:
        raise SystemExit("jv4 search: -k must be >= 1")
    recorded = _recorded_model(args)
    if recorded is None:
        raise CollectionNotFoundError(
            f"collection {args.collection!r} does not exist in the {_describe_location(args)}; "
            "run `jv4 index PATH` first"
        )
    name = _pick_model(args, recorded)
    encoder = _load_encoder(name, args.device)
    query: Any = args.query
    if args.image is not None:
        image = Path(args.image)
        query = Mixed(args.query, [image]) if args.query is not None else image
    with _open(args, encoder=encoder, create=False) as collection:
        hits = collection.search(query, mode=args.mode, limit=args.limit, filter=_parse_filters(args.filter))
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
    """``jv4 info``: the store, its collections, counts, model and vector settings."""
    infos = []
    for name in _collection_names(args):
        with _open(argparse.Namespace(**{**vars(args), "collection": name}), create=False) as collection:
            infos.append(collection.info())
    print_info(_describe_location(args), infos, as_json=args.json)
    return 0
