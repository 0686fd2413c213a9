"""``jv4``: index folders of text, images and PDFs into a store, and search them.

    jv4 index PATH... [--store DIR | --qdrant-url URL] [--collection NAME] [--model NAME_OR_PATH] ...
    jv4 search QUERY [--image PATH] [--mode hybrid|dense|multivector] [-k 10] [--filter KEY=VALUE] [--json]
    jv4 info

The store defaults to ``./jv4-data`` (Qdrant's embedded engine); ``--qdrant-url`` uses a Qdrant
server or cluster with the same commands. ``--model demo`` runs everything offline on a tiny random
checkpoint (meaningless rankings).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import JV4Error

DEFAULT_STORE = "./jv4-data"
DEFAULT_COLLECTION = "jv4"


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("store")
    where.add_argument(
        "--store",
        metavar="DIR",
        default=None,
        help=f"embedded store directory (default {DEFAULT_STORE}, or $JV4_STORE)",
    )
    where.add_argument(
        "--qdrant-url",
        metavar="URL",
        default=os.environ.get("JV4_QDRANT_URL"),
        help="use a Qdrant server or cluster instead (or $JV4_QDRANT_URL)",
    )
    where.add_argument(
        "--api-key", metavar="KEY", default=None, help="API key of the Qdrant server (or $QDRANT_API_KEY)"
    )
    where.add_argument(
        "--collection",
        metavar="NAME",
        default=DEFAULT_COLLECTION,
        help=f"collection name (default {DEFAULT_COLLECTION!r})",
    )


def _add_model_options(parser: argparse.ArgumentParser, *, for_search: bool) -> None:
    model = parser.add_argument_group("model")
    default_help = (
        "the model recorded in the collection"
        if for_search
        else "jinaai/jina-embeddings-v4, or the model already recorded in the collection"
    )
    model.add_argument(
        "--model",
        metavar="NAME_OR_PATH",
        default=None,
        help=f"Hub id, local checkpoint folder, or 'demo' (offline random model); default: {default_help}",
    )
    model.add_argument(
        "--device", default=None, help="torch device: cpu, cuda, cuda:N or mps (default: cuda, then mps, then cpu)"
    )
    if not for_search:
        model.add_argument(
            "--task",
            choices=["retrieval", "text-matching", "code"],
            default=None,
            help="embedding task (default retrieval)",
        )
        model.add_argument(
            "--dim", type=int, default=None, help="dense (Matryoshka) size: 128, 256, 512, 1024 or 2048 (default: full)"
        )


def build_parser() -> argparse.ArgumentParser:
    """The ``jv4`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="jv4",
        description="Index folders of text, images and PDFs with jina-embeddings-v4 and search them "
        "(dense + late-interaction multi-vectors in Qdrant).",
    )
    parser.add_argument("--version", action="version", version=f"jv4-integrations {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v", "--verbose", dest="sub_verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    index = commands.add_parser(
        "index",
        parents=[verbose],
        help="index files and folders (text, images, PDFs)",
        description="Walk files and folders and index text files (.txt .md .markdown .rst) in chunks, images "
        "(.png .jpg .jpeg .webp .gif .tif .tiff .bmp) and PDF pages. Running it again only indexes what changed.",
    )
    index.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    _add_store_options(index)
    _add_model_options(index, for_search=False)
    index.add_argument("--batch-size", type=int, default=16, help="items encoded per batch (default 16)")
    index.add_argument(
        "--chunk-chars",
        type=int,
        default=None,
        help="longest text chunk in characters (default: what the collection was indexed with, else 1500)",
    )
    index.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    index.add_argument(
        "--pooled-tokens",
        type=int,
        default=None,
        metavar="N",
        help="set when the collection is created: also store each item pooled to N tokens, for a cheaper "
        "middle stage of hybrid search (jv4 search --prefetch-limit K --rerank-candidates K2; e.g. N=16)",
    )
    index.add_argument(
        "--max-image-pixels",
        type=int,
        default=None,
        metavar="N",
        help="images with more pixels are skipped as decompression bombs before they are decoded "
        "(default 89,478,485, PIL's guard; raise it for very large scans)",
    )
    index.add_argument(
        "--exclude",
        action="append",
        metavar="GLOB",
        help="leave out files and folders whose name or path below PATH matches (repeatable; e.g. "
        "--exclude node_modules --exclude '*.log' --exclude 'drafts/*'); hidden ones are always left out",
    )
    index.add_argument(
        "--prefetch",
        choices=["dense", "mean"],
        default=None,
        help="what hybrid search prefetches with, set when the collection is created: the dense vector "
        "(default) or the mean multi-vector token (a third vector; see docs/qdrant.md)",
    )
    index.add_argument(
        "--prune",
        action="store_true",
        help="also remove the items of files indexed earlier under these PATHs that are gone "
        "(deleted, renamed, hidden or excluded); files that fail to load keep their items",
    )

    search = commands.add_parser(
        "search",
        parents=[verbose],
        help="search the index with text and/or an image",
        description="Search a collection with a text, an image, or both (one text+image query).",
    )
    search.add_argument("query", nargs="?", default=None, help="the text query")
    search.add_argument("--image", metavar="PATH", default=None, help="an image query (with QUERY: text + image)")
    search.add_argument(
        "--mode",
        choices=["hybrid", "dense", "multivector"],
        default="hybrid",
        help="hybrid: dense prefetch + MaxSim rerank (default); dense; multivector: exact MaxSim",
    )
    search.add_argument("-k", "--limit", type=int, default=10, help="number of results (default 10)")
    search.add_argument(
        "--prefetch-limit",
        type=int,
        default=None,
        metavar="K",
        help="hybrid: candidates prefetched for the MaxSim rerank (default 100; more = better recall, slower)",
    )
    search.add_argument(
        "--rerank-candidates",
        type=int,
        default=None,
        metavar="K2",
        help="hybrid, on collections indexed with --pooled-tokens (or a quantized copy): a cheaper MaxSim on "
        "the pooled tokens keeps K2 of the K candidates for the exact rerank (see docs/qdrant.md)",
    )
    search.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keep results whose metadata KEY equals VALUE (repeatable), e.g. kind=pdf-page",
    )
    search.add_argument("--json", action="store_true", help="print JSON for scripts")
    _add_store_options(search)
    _add_model_options(search, for_search=True)

    info = commands.add_parser(
        "info",
        parents=[verbose],
        help="show the store, its collections, counts and model",
        description="Show the store's collections (or the one --collection names): item count, model, task, "
        "vector settings, prefetch vector and metadata keys.",
    )
    info.add_argument("--json", action="store_true", help="print JSON")
    _add_store_options(info)
    info.set_defaults(collection=None)
    return parser


class UsageError(Exception):
    """A command line that cannot work as given (exit status 2, like argparse's own errors)."""


def _check_store_options(args: argparse.Namespace) -> None:
    if args.store is not None and args.qdrant_url:
        source = "--qdrant-url" if any(a.startswith("--qdrant-url") for a in args.argv) else "$JV4_QDRANT_URL"
        raise UsageError(f"--store {args.store} and {source} {args.qdrant_url} name two stores; give one of them")
    if args.api_key is not None and not args.qdrant_url:
        raise UsageError("--api-key is for a Qdrant server: give --qdrant-url (or $JV4_QDRANT_URL) too")
    if args.qdrant_url and not args.qdrant_url.lower().startswith(("http://", "https://")):
        raise UsageError(f"--qdrant-url {args.qdrant_url!r} is not a URL; give one such as http://localhost:6333")
    if args.collection is not None and not args.qdrant_url:
        from ..qdrant.backends.edge import collection_dir

        try:
            collection_dir(".", args.collection)
        except ValueError as exc:
            raise UsageError(f"--collection: {exc}") from None
    if args.api_key is None:
        args.api_key = os.environ.get("QDRANT_API_KEY")


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbosity == 0:
        logging.getLogger("jv4_integrations").setLevel(logging.WARNING)
        for noisy in ("transformers", "httpx", "huggingface_hub"):
            logging.getLogger(noisy).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``jv4``; returns the exit status (0 ok, 1 failure, 2 usage error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    _setup_logging(args.verbose + args.sub_verbose)
    from . import commands, indexing

    try:
        _check_store_options(args)
        if args.store is None:
            args.store = os.environ.get("JV4_STORE", DEFAULT_STORE)
        if args.command == "index":
            return indexing.run_index(args)
        if args.command == "search":
            return commands.run_search(args)
        return commands.run_info(args)
    except UsageError as exc:
        print(f"jv4 {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except JV4Error as exc:
        print(f"jv4: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jv4: interrupted; run the same command again to resume (finished items are kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
