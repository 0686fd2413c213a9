"""Turning files and folders into indexable items: text chunks, images and rendered PDF pages.

Every file becomes zero or more :class:`SourceItem` objects, or a :class:`SourceFailure` saying why it
was skipped; a bad file never stops the walk.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._optional import is_available, require
from ..errors import InputError, MissingDependencyError
from .chunking import chunk_text

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".rst"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".tif", ".tiff", ".bmp"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | IMAGE_SUFFIXES | PDF_SUFFIXES
#: Why a PDF is skipped when the ``pdf`` extra is not installed.
PDF_NEEDS_EXTRA = "PDF files need 'pypdfium2', which is not installed: pip install 'jv4-integrations[pdf]'"
#: PDF pages are rendered to about this many pixels (the model's image budget, 768 image tokens).
PDF_TARGET_PIXELS = 602_112
PDF_MAX_SCALE = 4.0
#: The reason given for a path that does not exist.
MISSING = "no such file or folder"


@dataclass
class SourceItem:
    """One item to embed, with where it came from.

    Attributes:
        item_id: stable id (path + position), so re-indexing updates instead of duplicating.
        doc_id: the file it belongs to (absolute path).
        content: what the encoder gets (a ``str`` or a decoded PIL image).
        text: text kept in the payload (the chunk, or a PDF page's text layer).
        source: the file path (for images and pages).
        metadata: path, kind, chunk / page position, file hash.
    """

    item_id: str
    doc_id: str
    content: Any
    text: str | None
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceFailure:
    """A file that was skipped, and why."""

    path: str
    reason: str


@dataclass
class SourceFile:
    """All items of one file (empty when it failed), with its content hash."""

    path: Path
    sha256: str
    items: list[SourceItem]
    failure: SourceFailure | None = None


def iter_files(
    paths: Sequence[str | os.PathLike[str]], *, ignored: list[Path] | None = None
) -> Iterator[Path | SourceFailure]:
    """Files under the given paths (folders walked recursively, sorted, hidden entries skipped).

    A file reached twice (overlapping paths such as ``docs`` and ``docs/sub``, the same file named
    twice, or a symlink to a file already seen) is yielded once. A file named directly with an
    unsupported suffix is a :class:`SourceFailure`; inside folders such files are passed over and
    appended to ``ignored``.
    """
    seen: set[Path] = set()

    def first_time(path: Path) -> bool:
        try:
            key = path.resolve()
        except OSError:
            key = path.absolute()
        if key in seen:
            return False
        seen.add(key)
        return True

    def readable(path: Path) -> Path | SourceFailure:
        if path.suffix.lower() in PDF_SUFFIXES and not is_available("pypdfium2"):
            return SourceFailure(str(path), PDF_NEEDS_EXTRA)  # said before anything loads
        return path

    for raw in paths:
        path = Path(raw)
        if not path.exists():
            yield SourceFailure(str(path), MISSING)
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                yield SourceFailure(str(path), _unsupported(path))
            elif first_time(path):
                yield readable(path)
        else:
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    entry = Path(root) / name
                    if entry.suffix.lower() not in SUPPORTED_SUFFIXES:
                        if ignored is not None and first_time(entry):
                            ignored.append(entry)
                    elif first_time(entry):
                        yield readable(entry)


def _unsupported(path: Path) -> str:
    return f"unsupported file type {path.suffix.lower() or '(none)'}; expected one of {sorted(SUPPORTED_SUFFIXES)}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if b"\x00" in data[:4096]:
            raise ValueError("binary data in a text file") from None
        logger.warning("%s is not UTF-8; read as Latin-1", path)
        return data.decode("latin-1")


def _text_items(path: Path, base: dict[str, Any], chunk_chars: int) -> list[SourceItem]:
    text = _read_text(path)
    chunks = chunk_text(text, max_chars=chunk_chars)  # none for an empty file: its old items go
    doc = str(path.resolve())
    return [
        SourceItem(
            item_id=f"{doc}#chunk={c.index}",
            doc_id=doc,
            content=c.text,
            text=c.text,
            source=str(path),
            metadata={
                **base,
                "kind": "text",
                "chunk": c.index,
                "lines": [c.first_line, c.last_line],
                "chunk_chars": chunk_chars,
            },
        )
        for c in chunks
    ]


def _image_items(path: Path, base: dict[str, Any]) -> list[SourceItem]:
    from ..core.inputs import prepare_items

    try:
        image = prepare_items([path])[0].images[0]
    except InputError as exc:
        raise ValueError(exc.problems[0].reason) from None
    doc = str(path.resolve())
    meta = {**base, "kind": "image", "width": image.width, "height": image.height}
    return [SourceItem(item_id=doc, doc_id=doc, content=image, text=None, source=str(path), metadata=meta)]


def _pdf_items(path: Path, base: dict[str, Any]) -> list[SourceItem]:
    pdfium = require("pypdfium2", purpose="indexing PDF files")
    try:
        document = pdfium.PdfDocument(str(path))
    except Exception as exc:  # pypdfium2 raises PdfiumError for broken files
        raise ValueError(f"cannot open the PDF: {exc}") from None
    doc = str(path.resolve())
    items: list[SourceItem] = []
    try:
        if len(document) == 0:
            raise ValueError("the PDF has no pages")
        for number in range(len(document)):
            page = document[number]
            try:
                width, height = page.get_size()
                scale = min(PDF_MAX_SCALE, (PDF_TARGET_PIXELS / max(width * height, 1.0)) ** 0.5)
                image = page.render(scale=scale).to_pil().convert("RGB")
                textpage = page.get_textpage()
                text = textpage.get_text_range().replace("\r\n", "\n").strip()
                textpage.close()
            except Exception as exc:
                raise ValueError(f"cannot render page {number + 1}: {exc}") from None
            finally:
                page.close()
            items.append(
                SourceItem(
                    item_id=f"{doc}#page={number + 1}",
                    doc_id=doc,
                    content=image,
                    text=text or None,
                    source=str(path),
                    metadata={**base, "kind": "pdf-page", "page": number + 1, "pages": len(document)},
                )
            )
    finally:
        document.close()
    return items


def load_file(path: Path, *, chunk_chars: int = 1500) -> SourceFile:
    """Read one file into items, or a failure with its reason (never raises for a bad file).

    Args:
        path: the file.
        chunk_chars: longest text chunk, in characters.

    Returns:
        The file's items and hash, or its failure.
    """
    suffix = path.suffix.lower()
    try:
        sha = _sha256(path)
    except OSError as exc:
        return SourceFile(path, "", [], SourceFailure(str(path), f"cannot read: {exc.strerror or exc}"))
    base = {"path": str(path), "sha256": sha}
    try:
        if suffix in TEXT_SUFFIXES:
            items = _text_items(path, base, chunk_chars)
        elif suffix in IMAGE_SUFFIXES:
            items = _image_items(path, base)
        elif suffix in PDF_SUFFIXES:
            items = _pdf_items(path, base)
        else:
            raise ValueError(_unsupported(path))
    except (ValueError, OSError, MissingDependencyError) as exc:
        return SourceFile(path, sha, [], SourceFailure(str(path), str(exc)))
    return SourceFile(path, sha, items)
