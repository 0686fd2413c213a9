"""Turning files and folders into indexable items: text chunks, images and rendered PDF pages.

Every file becomes zero or more :class:`SourceItem` objects, or a :class:`SourceFailure` saying why it
was skipped; a bad file never stops the walk.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._optional import require
from ..errors import InputError, MissingDependencyError
from .chunking import chunk_text

if TYPE_CHECKING:
    from ..core.inputs import ImageLimits

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
    #: things worth telling about a file that was read (e.g. the encoding it was decoded from)
    notes: list[str] = field(default_factory=list)


def unsupported(path: Path) -> str:
    return f"unsupported file type {path.suffix.lower() or '(none)'}; expected one of {sorted(SUPPORTED_SUFFIXES)}"


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Byte-order marks of the UTF-16 and UTF-32 files Windows tools write (the UTF-8 one is read as UTF-8).
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
#: Text read as Windows-1252 must be at least this share ASCII: real text in a one-byte encoding is,
#: random or compressed bytes are not.
_MIN_ASCII = 0.7
_NON_ASCII = bytes(range(128, 256))
#: How files are read into items; items written by an older reader are read and encoded again.
READER_VERSION = 2


def _printable_enough(text: str) -> bool:
    printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in text)
    return printable >= 0.95 * len(text)


def _read_text(path: Path, notes: list[str]) -> str:
    """The text of a file: UTF-8 (BOM or not), UTF-16/32 with a BOM, else mostly-UTF-8 or cp1252."""
    data = path.read_bytes()
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                raise ValueError(f"starts with a {codec.upper()} byte-order mark but is not {codec.upper()}") from None
            if not _printable_enough(text):
                raise ValueError(f"binary data in a text file (mostly unprintable as {codec.upper()})")
            return text
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:4096]:
        raise ValueError("binary data in a text file")
    text = data.decode("utf-8-sig", errors="replace")
    bad = text.count("\ufffd")
    valid_non_ascii = len(text) - len(text.encode("ascii", "ignore")) - bad
    # UTF-8 with stray bytes: it holds at least as many valid multi-byte characters as bad bytes (a
    # file whose non-ASCII bytes are mostly invalid UTF-8 is in a one-byte encoding: "René" in cp1252)
    if valid_non_ascii > 0 and valid_non_ascii >= bad:
        notes.append(f"{bad} byte(s) that are not UTF-8 replaced by \ufffd")
        return text
    if len(data.translate(None, _NON_ASCII)) < _MIN_ASCII * len(data):
        raise ValueError("binary data in a text file (not UTF-8, and mostly bytes outside ASCII)")
    text = data.decode("cp1252", errors="replace")
    if not _printable_enough(text):
        raise ValueError("binary data in a text file (mostly unprintable characters in any encoding)")
    notes.append("not UTF-8: read as Windows-1252")
    return text


def _text_items(path: Path, base: dict[str, Any], chunk_chars: int, notes: list[str]) -> list[SourceItem]:
    text = _read_text(path, notes)
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
                "chunks": len(chunks),
                "chunk_chars": chunk_chars,
            },
        )
        for c in chunks
    ]


def _image_items(path: Path, base: dict[str, Any], limits: ImageLimits | None) -> list[SourceItem]:
    from ..core.inputs import prepare_items

    try:
        image = prepare_items([path], limits=limits)[0].images[0]
    except InputError as exc:
        reason = exc.problems[0].reason
        if "max_image_pixels" in reason:
            reason += "; jv4 index --max-image-pixels N raises it"
        raise ValueError(reason) from None
    doc = str(path.resolve())
    meta = {**base, "kind": "image", "width": image.width, "height": image.height}
    # the encoder decodes the file again when its batch is written: a folder of large scans is not
    # held decoded in memory while the batch fills
    return [SourceItem(item_id=doc, doc_id=doc, content=path, text=None, source=str(path), metadata=meta)]


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _pdf_items(path: Path, base: dict[str, Any]) -> list[SourceItem]:
    from ..core.inputs import prepare_items

    pdfium = require("pypdfium2", purpose="indexing PDF files")
    try:
        document = pdfium.PdfDocument(str(path))
    except Exception as exc:  # pypdfium2 raises PdfiumError for broken files
        if "password" in str(exc).lower():
            raise ValueError("the PDF is password-protected (not supported: save an unprotected copy)") from None
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
            try:  # what the encoder would refuse (an extreme aspect ratio), said here, per file
                prepare_items([image])
            except InputError as exc:
                raise ValueError(f"page {number + 1}: {exc.problems[0].reason}") from None
            items.append(
                SourceItem(
                    item_id=f"{doc}#page={number + 1}",
                    doc_id=doc,
                    content=_png(image),  # lossless and small: a long PDF is not held decoded
                    text=text or None,
                    source=str(path),
                    metadata={**base, "kind": "pdf-page", "page": number + 1, "pages": len(document)},
                )
            )
    finally:
        document.close()
    return items


def load_file(
    path: Path, *, chunk_chars: int = 1500, sha256: str | None = None, image_limits: ImageLimits | None = None
) -> SourceFile:
    """Read one file into items, or a failure with its reason (never raises for a bad file).

    Args:
        path: the file.
        chunk_chars: longest text chunk, in characters.
        sha256: the file's hash, when the caller computed it already.
        image_limits: the limits images are checked with (the encoder's defaults when ``None``).

    Returns:
        The file's items and hash, or its failure.
    """
    suffix = path.suffix.lower()
    try:
        sha = file_sha256(path) if sha256 is None else sha256
        size = path.stat().st_size
    except OSError as exc:
        return SourceFile(path, "", [], SourceFailure(str(path), f"cannot read: {exc.strerror or exc}"))
    base = {"path": str(path), "sha256": sha, "reader": READER_VERSION}
    notes: list[str] = []
    try:
        if suffix in TEXT_SUFFIXES:
            items = _text_items(path, base, chunk_chars, notes)
        elif size == 0:
            raise ValueError("empty file (0 bytes)")
        elif suffix in IMAGE_SUFFIXES:
            items = _image_items(path, base, image_limits)
        elif suffix in PDF_SUFFIXES:
            items = _pdf_items(path, base)
        else:
            raise ValueError(unsupported(path))
    except (ValueError, OSError, MissingDependencyError) as exc:
        return SourceFile(path, sha, [], SourceFailure(str(path), str(exc)))
    return SourceFile(path, sha, items, notes=notes)
