"""Printing search hits and store information, for people (a ranked list) or scripts (``--json``)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

SNIPPET_CHARS = 160
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def snippet(text: str | None, limit: int = SNIPPET_CHARS) -> str:
    """The text on one line, cut to ``limit`` characters."""
    if not text:
        return ""
    flat = " ".join(_CONTROL.sub(" ", text).split())  # no terminal escape sequences from file contents
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _file_of(hit: Any) -> str | None:
    """The hit's file as an absolute path (``jv4 index`` makes it the document id), else as stored."""
    doc = hit.doc_id
    if isinstance(doc, str) and os.path.isabs(doc):
        return doc
    path = dict(hit.metadata).get("path", hit.source)
    return str(path) if path is not None else None


def shown(path: str | os.PathLike[str]) -> str:
    """A path for one line of output: control characters (a newline in a file name) escaped, and
    bytes that are not UTF-8 shown as ``\\xNN``."""
    text = os.fspath(path)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that was not UTF-8 (surrogate-escaped)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ascii(ch)[1:-1])  # \n, \t, \x1b, ...
    return "".join(out)


def shown_path(path: str | None) -> str:
    """A path for people: relative to the working directory when it lies under it, else absolute."""
    if path is None:
        return "?"
    if os.path.isabs(path):
        try:
            relative = os.path.relpath(path)
        except ValueError:  # another drive (Windows)
            return shown(path)
        return shown(path if relative.startswith("..") else relative)
    return shown(path)


def hit_record(rank: int, hit: Any) -> dict[str, Any]:
    """One search hit as a JSON-friendly dict (``path`` absolute, whatever the working directory)."""
    meta = dict(hit.metadata)
    return {
        "rank": rank,
        "score": round(float(hit.score), 6),
        "path": _file_of(hit),
        "kind": meta.get("kind", hit.modality),
        "page": meta.get("page"),
        "chunk": meta.get("chunk"),
        "lines": meta.get("lines"),
        "snippet": snippet(hit.text),
        "id": hit.item_id,
    }


def print_hits(hits: Sequence[Any], *, as_json: bool) -> None:
    """Print ranked hits."""
    records = [hit_record(rank, hit) for rank, hit in enumerate(hits, start=1)]
    if as_json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return
    if not records:
        print("no results")
        return
    for r in records:
        where = (
            f"page {r['page']}"
            if r["page"] is not None
            else f"chunk {r['chunk']}"
            if r["chunk"] is not None
            else r["kind"]
        )
        print(f"{r['rank']:>3}. {r['score']:8.4f}  {shown_path(r['path'])}  ({where})")
        if r["snippet"]:
            print(f"       {r['snippet']}")


def _info_record(info: Any) -> dict[str, Any]:
    model = info.model
    return {
        "collection": info.name,
        "backend": info.backend,
        "points": info.points,
        "model": model.model if model else None,
        "task": model.task if model else None,
        "dense_size": info.schema.dense_size,
        "multivector_size": info.schema.multivector_size,
        "multivector_datatype": info.schema.multivector_datatype,
        "prefetch": info.schema.prefetch_vector,
        "pooled_tokens": info.schema.pooled_tokens,
        "metadata_fields": dict(info.metadata_fields),
        "schema": asdict(info.schema),
    }


def print_info(location: str, infos: Sequence[Any], *, as_json: bool) -> None:
    """Print the store and its collections."""
    records = [_info_record(info) for info in infos]
    if as_json:
        print(json.dumps({"store": location, "collections": records}, indent=2, default=str))
        return
    print(f"store: {location}")
    if not records:
        print("no collections yet: run `jv4 index PATH`")
    for r in records:
        print(f"collection {r['collection']!r} ({r['backend']}): {r['points']} item(s)")
        print(f"  model: {r['model']}  task: {r['task']}")
        print(
            f"  vectors: dense {r['dense_size']} (cosine), multi-vector {r['multivector_size']} x tokens "
            f"(MaxSim, {r['multivector_datatype']}); hybrid prefetch: {r['prefetch']}"
            + (f"; pooled copy: {r['pooled_tokens']} tokens" if r["pooled_tokens"] else "")
        )
        if r["metadata_fields"]:
            print(f"  metadata keys: {', '.join(sorted(r['metadata_fields']))}")
