"""Files to items: chunking with positions, images, PDF pages with their text layer, failures."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jv4_integrations.cli import sources
from jv4_integrations.cli.chunking import chunk_text
from jv4_integrations.cli.sources import load_file
from jv4_integrations.cli.walk import iter_files
from jv4_integrations.core.inputs import prepare_items

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"


def test_chunks_keep_paragraphs_and_line_ranges() -> None:
    text = "title\n\nfirst paragraph\nstill first\n\n\nsecond paragraph\n\nthird"
    chunks = chunk_text(text, max_chars=40)
    assert [c.text for c in chunks] == ["title\n\nfirst paragraph\nstill first", "second paragraph\n\nthird"]
    assert [(c.index, c.first_line, c.last_line) for c in chunks] == [(0, 1, 4), (1, 7, 9)]
    assert chunk_text("  \n\n \n") == []


def test_long_paragraphs_and_lines_are_split() -> None:
    line = "x" * 25
    chunks = chunk_text(f"{line}\n{line}\n{'y' * 50}", max_chars=30)
    assert all(len(c.text) <= 30 for c in chunks)
    assert "".join(c.text.replace("\n", "") for c in chunks) == line * 2 + "y" * 50
    assert [c.first_line for c in chunks] == [1, 2, 3, 3]
    with pytest.raises(ValueError, match="max_chars must be >= 1"):
        chunk_text("x", max_chars=0)


def test_long_lines_are_cut_after_a_sentence_or_at_a_space() -> None:
    line = "This is a long paragraph that has to be split somewhere. It goes on with words; and more words to pass."
    chunks = chunk_text(line, max_chars=60)
    assert [c.text for c in chunks] == [
        "This is a long paragraph that has to be split somewhere.",
        "It goes on with words; and more words to pass.",
    ]
    words = chunk_text("alpha beta gamma delta epsilon zeta eta theta", max_chars=20)
    assert [c.text for c in words] == ["alpha beta gamma", "delta epsilon zeta", "eta theta"]
    assert all(len(c.text) <= 20 for c in words)


def test_overlapping_paths_give_each_file_once(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub" / "b.txt").write_text("b")
    (tmp_path / "sub" / "c.json").write_text("{}")
    (tmp_path / "link.txt").symlink_to(tmp_path / "a.txt")
    ignored: list[Path] = []
    got = list(iter_files([tmp_path, tmp_path / "sub", tmp_path / "a.txt", tmp_path / "sub"], ignored=ignored))
    assert got == [tmp_path / "a.txt", tmp_path / "sub" / "b.txt"]  # the symlink is a.txt again
    assert ignored == [tmp_path / "sub" / "c.json"]
    named = list(iter_files([tmp_path / "sub" / "c.json"]))
    assert len(named) == 1 and not isinstance(named[0], Path)
    assert named[0].reason.startswith("unsupported file type .json; expected one of")


def test_example_folder_walk_is_sorted_and_complete() -> None:
    files = [p.relative_to(EXAMPLES).as_posix() for p in iter_files([EXAMPLES]) if isinstance(p, Path)]
    assert files == [
        "about.md",
        "battery-care.txt",
        "faq.md",
        "spec-sheet.pdf",
        "warranty.txt",
        "images/bike-diagram.png",
        "images/logo.jpg",
        "images/sales-chart.png",
    ]


def test_text_file_items_carry_their_position() -> None:
    source = load_file(EXAMPLES / "warranty.txt", chunk_chars=300)
    assert source.failure is None and len(source.items) >= 2
    first = source.items[0]
    assert first.item_id.endswith("warranty.txt#chunk=0") and first.doc_id == str((EXAMPLES / "warranty.txt").resolve())
    assert first.metadata["kind"] == "text" and first.metadata["chunk"] == 0 and first.metadata["lines"][0] == 1
    assert first.content == first.text and first.text.startswith("Helio Cycles warranty")
    assert len(source.sha256) == 64


def test_pdf_pages_are_rendered_with_their_text_layer() -> None:
    source = load_file(EXAMPLES / "spec-sheet.pdf")
    assert source.failure is None and [i.metadata["page"] for i in source.items] == [1, 2]
    page = source.items[0]
    assert isinstance(page.content, bytes)  # the rendered page as PNG: lossless, and small in memory
    image = Image.open(io.BytesIO(page.content))
    assert image.mode == "RGB" and 500_000 < image.width * image.height <= 602_112 * 1.01
    pdfium = pytest.importorskip("pypdfium2")
    rendered = pdfium.PdfDocument(str(EXAMPLES / "spec-sheet.pdf"))[0]
    width, height = rendered.get_size()
    scale = min(sources.PDF_MAX_SCALE, (sources.PDF_TARGET_PIXELS / (width * height)) ** 0.5)  # as the reader does
    again = rendered.render(scale=scale).to_pil().convert("RGB")
    assert again.size == image.size and np.array_equal(np.asarray(again), np.asarray(image))
    assert "Motor: 250 W rear hub motor" in page.text
    assert page.item_id.endswith("spec-sheet.pdf#page=1") and page.metadata["pages"] == 2


def test_gif_first_frame_and_tiff(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    Image.new("I;16", (30, 30)).save(tmp_path / "scan.tif")
    gif = load_file(tmp_path / "anim.gif")
    assert gif.failure is None
    assert gif.items[0].content == tmp_path / "anim.gif"  # decoded again when its batch is encoded
    assert tuple(np.asarray(prepare_items([gif.items[0].content])[0].images[0])[0, 0]) == (255, 0, 0)
    assert load_file(tmp_path / "scan.tif").failure is None


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.png", b"\x89PNG\r\n\x1a\nnot really", "truncated or corrupt"),
        ("broken.pdf", b"%PDF-1.4\nthis is not a pdf", "cannot open the PDF"),
        ("binary.txt", b"\x00\x01\xffbinary\x00", "binary data in a text file"),
        ("notes.docx", b"PK", "unsupported file type .docx"),
    ],
)
def test_bad_files_become_failures_with_reasons(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    (tmp_path / name).write_bytes(data)
    source = load_file(tmp_path / name)
    assert source.items == [] and source.failure is not None
    assert reason in source.failure.reason and source.failure.path.endswith(name)


def test_an_empty_text_file_has_no_items_and_is_no_failure(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"\n\n")
    source = load_file(tmp_path / "empty.txt")
    assert source.items == [] and source.failure is None  # `index` removes what the file had


def test_latin1_text_is_read() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "old.txt"
        path.write_bytes("caf\u00e9 cr\u00e8me".encode("latin-1"))
        assert load_file(path).items[0].text == "caf\u00e9 cr\u00e8me"


def test_missing_path_is_a_failure(tmp_path: Path) -> None:
    got = list(iter_files([tmp_path / "nope"]))
    assert len(got) == 1 and not isinstance(got[0], Path) and got[0].reason == "no such file or folder"


def test_snippets_drop_terminal_control_sequences() -> None:
    from jv4_integrations.cli.output import snippet

    assert snippet("red \x1b[31mALERT\x1b[0m done\x07 ok\n\tnext") == "red ALERT done ok next"
    assert snippet("x" * 200, limit=10) == "x" * 9 + "…"
