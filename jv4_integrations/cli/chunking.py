"""Splitting text files into chunks that keep their position (chunk index and line range)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """A piece of a text file.

    Attributes:
        index: 0-based position among the file's chunks.
        text: the chunk's text (paragraphs joined by blank lines).
        first_line: 1-based first line.
        last_line: 1-based last line.
    """

    index: int
    text: str
    first_line: int
    last_line: int


def _paragraphs(text: str) -> list[tuple[str, int, int]]:
    """Paragraphs (blocks separated by blank lines) with their 1-based line ranges."""
    out: list[tuple[str, int, int]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not current:
                start = number
            current.append(line.rstrip())
        elif current:
            out.append(("\n".join(current), start, number - 1))
            current = []
    if current:
        out.append(("\n".join(current), start, start + len(current) - 1))
    return out


_SENTENCE_ENDS = (". ", "! ", "? ", "; ", ": ")


def _split_line(line: str, max_chars: int) -> list[str]:
    """Cut a line longer than ``max_chars``: after a sentence end in the second half of the window,
    else at the last space, else (one unbroken word) at ``max_chars``. Cuts drop the space they fall on."""
    parts: list[str] = []
    rest = line
    while len(rest) > max_chars:
        window = rest[: max_chars + 1]  # a space just past the limit is a clean cut too
        cut = max(window.rfind(end, max_chars // 2) for end in _SENTENCE_ENDS)
        cut = cut + 1 if cut >= 0 else window.rfind(" ")
        if cut <= 0:
            cut = max_chars
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def chunk_text(text: str, *, max_chars: int = 1500) -> list[Chunk]:
    """Group paragraphs into chunks of at most ``max_chars`` characters.

    A paragraph longer than ``max_chars`` is split at line boundaries, and a single line longer than
    that after a sentence end, else at a space (a word longer than ``max_chars`` is cut). Blank-only
    text gives no chunks.

    Args:
        text: the file's text.
        max_chars: longest chunk.

    Returns:
        The chunks, in order.

    Example:
        >>> [c.text for c in chunk_text("a\\n\\nb", max_chars=10)]
        ['a\\n\\nb']
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    pieces: list[tuple[str, int, int]] = []
    for para, first, last in _paragraphs(text):
        if len(para) <= max_chars:
            pieces.append((para, first, last))
            continue
        for offset, line in enumerate(para.split("\n")):
            number = first + offset
            pieces.extend((part, number, number) for part in _split_line(line, max_chars))
    chunks: list[Chunk] = []
    buffer: list[str] = []
    first = last = 0
    for piece, p_first, p_last in pieces:
        joined = len("\n\n".join([*buffer, piece]))
        if buffer and joined > max_chars:
            chunks.append(Chunk(len(chunks), "\n\n".join(buffer), first, last))
            buffer = []
        if not buffer:
            first = p_first
        buffer.append(piece)
        last = p_last
    if buffer:
        chunks.append(Chunk(len(chunks), "\n\n".join(buffer), first, last))
    return chunks
