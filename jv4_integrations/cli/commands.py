"""``jv4 search`` and ``jv4 info``, and what every command shares: the store, the collection's
record, the model and the device (``jv4 index`` is in :mod:`.indexing`)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.hub import DEFAULT_MODEL
from ..errors import CollectionNotFoundError, StoreError
from .main import UsageError
from .models import DEMO_WARNING, is_demo, resolve_model
from .output import print_hits, print_info

if TYPE_CHECKING:
    from ..core.encoder import JV4Encoder
    from ..qdrant import MultiVectorCollection


def _location(args: argparse.Namespace) -> str:
    return str(args.qdrant_url or args.store)


def describe_location(args: argparse.Namespace) -> str:
    return f"Qdrant at {args.qdrant_url}" if args.qdrant_url else f"embedded store {args.store}"


def open_collection(
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
    pooled_tokens: int | None = None
    quantized: bool = False


def existing_collection(args: argparse.Namespace) -> Existing | None:
    """The existing collection's record, or ``None`` when there is no collection yet."""
    try:
        with open_collection(args, create=False) as collection:
            info = collection.info()
    except CollectionNotFoundError:
        return None
    return Existing(
        model=info.model.model if info.model is not None else None,
        task=info.model.task if info.model is not None else None,
        dense_size=info.schema.dense_size,
        prefetch=info.schema.prefetch_vector,
        metadata_keys=tuple(sorted(info.metadata_fields)),
        pooled_tokens=info.schema.pooled_tokens,
        quantized=info.schema.multivector_quantization is not None,
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


def load_encoder(name: str, device: str | None) -> JV4Encoder:
    from ..core.encoder import JV4Encoder

    path, is_demo = resolve_model(name)
    if is_demo:
        print(f"jv4: note: {DEMO_WARNING}", file=sys.stderr)
    print(f"jv4: loading {'the demo model' if is_demo else name} on {device or 'the default device'}", file=sys.stderr)
    return JV4Encoder.shared(path, device=device)


def pick_model(args: argparse.Namespace, recorded: str | None) -> str:
    """``--model``, else the model recorded in the collection, else the published model."""
    if args.model is not None:
        return str(args.model)
    return recorded if recorded is not None else DEFAULT_MODEL


def check_model_option(args: argparse.Namespace, existing: Existing, doing: str) -> bool:
    """Refuse a ``--model`` other than the one that indexed the collection: its vectors would not be
    comparable. A recorded local folder that is gone may be named at its new place: returns ``True``
    then."""
    if args.model is None or existing.model is None or _same_model(args.model, existing.model):
        return False
    new_place = not is_demo(args.model) and Path(args.model).expanduser().is_dir()
    if _moved_away(existing.model) and not new_place:
        raise UsageError(
            f"collection {args.collection!r} was indexed with model {existing.model}, a folder that is gone; "
            f"--model {args.model} is not a folder that could be its new place (name the folder the model was "
            "moved to)"
        )
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
    prefetch_limit = args.prefetch_limit
    if args.mode != "hybrid" and (prefetch_limit is not None or args.rerank_candidates is not None):
        raise UsageError(f"--prefetch-limit and --rerank-candidates are for --mode hybrid, not {args.mode}")
    if prefetch_limit is not None and prefetch_limit < args.limit:
        raise UsageError(f"--prefetch-limit {prefetch_limit} must be >= -k {args.limit}")
    if args.rerank_candidates is not None:
        from ..qdrant.collection_base import DEFAULT_PREFETCH_LIMIT

        upper = prefetch_limit if prefetch_limit is not None else max(DEFAULT_PREFETCH_LIMIT, args.limit)
        if not args.limit <= args.rerank_candidates <= upper:
            raise UsageError(
                f"--rerank-candidates {args.rerank_candidates} must be between -k {args.limit} and the prefetch "
                f"limit {upper} (--prefetch-limit)"
            )
    if args.image is not None:
        _check_image(Path(args.image))
    filters = _parse_filters(args.filter)
    check_device(args.device)
    require_store(args)
    existing = existing_collection(args)
    if existing is None:
        raise CollectionNotFoundError(
            f"collection {args.collection!r} does not exist in the {describe_location(args)}; "
            "run `jv4 index PATH` first"
        )
    unknown = sorted(set(filters or ()) - set(existing.metadata_keys))
    if unknown:
        raise StoreError(
            f"--filter key(s) {unknown}: no item of collection {args.collection!r} has them; its items have "
            f"{list(existing.metadata_keys)}"
        )
    check_model_option(args, existing, "searching")
    if args.rerank_candidates is not None and not (existing.pooled_tokens or existing.quantized):
        print(
            f"jv4: note: collection {args.collection!r} has no pooled or quantized copy, so --rerank-candidates "
            "changes nothing: every prefetched candidate gets the exact MaxSim (index into a new collection with "
            "--pooled-tokens N for the middle stage)",
            file=sys.stderr,
        )
    encoder = load_encoder(pick_model(args, existing.model), args.device)
    query: Any = args.query
    if args.image is not None:
        image = Path(args.image)
        query = Mixed(args.query, [image]) if args.query is not None else image
    with open_collection(args, encoder=encoder, create=False) as collection:
        hits = collection.search(
            query,
            mode=args.mode,
            limit=args.limit,
            prefetch_limit=prefetch_limit,
            rerank_candidates=args.rerank_candidates,
            filter=_search_filter(filters),
        )
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
                f"collection {args.collection!r} does not exist in the {describe_location(args)}; it has "
                f"{names or 'no collections'}"
            )
        names = [args.collection]
    failed = 0
    for name in names:
        try:
            with open_collection(argparse.Namespace(**{**vars(args), "collection": name}), create=False) as collection:
                infos.append(collection.info())
        except StoreError as exc:  # e.g. held by another process: report it, show the others
            print(f"jv4: error: {exc}", file=sys.stderr)
            failed += 1
    print_info(describe_location(args), infos, as_json=args.json)
    return 1 if failed else 0
