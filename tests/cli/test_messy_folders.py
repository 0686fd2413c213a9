"""``jv4 index`` on messy real-world folders: odd names, odd files, odd encodings; one bad file never
stops the others, and every skip is named once with its reason."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import EXAMPLES, index, run

from jv4_integrations.qdrant import MultiVectorCollection


def _texts(store: Path) -> dict[str, str]:
    """Stored text per file name (text items only)."""
    with MultiVectorCollection(str(store), create=False) as col:
        return {Path(p.metadata["path"]).name: p.text or "" for p in col.scroll() if p.metadata["kind"] == "text"}


def _summary_counts(out: str) -> tuple[int, int, int]:
    found = re.search(r"(\d+) new or changed .* (\d+) unchanged, (\d+) skipped", out)
    assert found is not None, out
    changed, unchanged, skipped = (int(x) for x in found.groups())
    return changed, unchanged, skipped


def test_odd_files_are_skipped_by_name_and_the_rest_indexed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path
) -> None:
    pdfium = pytest.importorskip("pypdfium2")
    folder = tmp_path / "messy"
    folder.mkdir()
    (folder / "good.txt").write_text("a perfectly ordinary note about batteries")
    try:  # what some filesystems refuse (APFS, ZFS utf8only, Windows): this test needs a POSIX one
        Path(os.fsdecode(os.fsencode(str(folder)) + b"/bad\xffname.txt")).write_text("the name is not UTF-8")
        os.mkfifo(folder / "pipe.txt")  # reading it would block the run forever
        os.symlink(folder / "nowhere.txt", folder / "dangling.txt")
        (folder / "new\nline.md").write_text("a file whose name has a newline")
    except (OSError, AttributeError, UnicodeError) as exc:
        pytest.skip(f"this filesystem cannot hold the odd names: {exc}")
    (folder / "empty.png").write_bytes(b"")
    thin = pdfium.PdfDocument.new()
    thin.new_page(612, 792)
    thin.new_page(100_000, 1)  # a page no encoder takes (aspect ratio far past 200:1)
    thin.save(str(folder / "thin.pdf"))
    store = tmp_path / "store"
    code, out, err = index(capsys, store, tiny_checkpoint, folder)
    assert code == 1 and "Traceback" not in err
    assert r"skipped " + str(folder) + r"/bad\xffname.txt: the file name is not valid UTF-8" in err
    assert f"skipped {folder}/pipe.txt: not a regular file" in err
    assert f"skipped {folder}/empty.png: empty file (0 bytes)" in err
    assert f"skipped {folder}/dangling.txt: broken symlink to {folder}/nowhere.txt" in err
    assert f"skipped {folder}/thin.pdf: page 2: aspect ratio" in err
    assert _summary_counts(out) == (2, 0, 5)
    assert set(_texts(store)) == {"good.txt", "new\nline.md"}
    code, out, _ = run(capsys, "search", "batteries", "--store", str(store), "-k", "5")
    assert code == 0 and r"new\nline.md" in out and "new\nline.md" not in out  # one line per result


def test_text_encodings(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path) -> None:
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "utf16.txt").write_bytes("Grüße aus Köln, “quoted”".encode("utf-16"))  # with its BOM
    (folder / "utf8-bom.md").write_bytes("\ufeffcafé".encode())
    (folder / "cp1252.txt").write_bytes("“smart quotes” and café".encode("cp1252"))
    (folder / "stray.txt").write_bytes("naïve text that is UTF-8 ".encode() * 20 + b"with one stray byte \x92 here")
    (folder / "letter.txt").write_bytes(("Dear René, " + "plain ASCII words. " * 20).encode("cp1252"))
    (folder / "noise.txt").write_bytes(b"\xff\xfe" + bytes(range(1, 32)) * 8)  # a UTF-16 BOM, then control bytes
    (folder / "random.md").write_bytes(bytes(range(128, 256)) * 40)  # no NUL, no BOM, nothing like text
    (folder / "short.txt").write_bytes("Café naïve 🎉 and one stray byte: don".encode() + b"\x92t")
    code, out, err = index(capsys, tmp_path / "store", tiny_checkpoint, folder)
    assert code == 1 and f"skipped {folder}/noise.txt: binary data in a text file (mostly unprintable" in err
    assert f"skipped {folder}/random.md: binary data in a text file (not UTF-8, and mostly bytes outside" in err
    texts = _texts(tmp_path / "store")
    assert texts["letter.txt"].startswith("Dear René, plain")  # only one-byte characters: cp1252, not UTF-8
    assert texts["short.txt"] == "Café naïve 🎉 and one stray byte: don\ufffdt"  # more valid than stray: UTF-8
    assert texts["utf16.txt"] == "Grüße aus Köln, “quoted”"
    assert texts["utf8-bom.md"] == "café"
    assert texts["cp1252.txt"] == "“smart quotes” and café"
    assert texts["stray.txt"].startswith("naïve text") and "stray byte \ufffd here" in texts["stray.txt"]
    assert f"jv4: note: {folder}/cp1252.txt: not UTF-8: read as Windows-1252" in err
    assert f"jv4: note: {folder}/stray.txt: 1 byte(s) that are not UTF-8 replaced" in err
    code, out, err = index(capsys, tmp_path / "store", tiny_checkpoint, folder)  # unchanged: no notes again
    assert "jv4: note" not in err and _summary_counts(out) == (0, 6, 2)


def test_an_unchanged_file_is_not_read_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    indexing = pytest.importorskip("jv4_integrations.cli.indexing")
    store = tmp_path / "store"
    assert index(capsys, store, tiny_checkpoint, EXAMPLES)[0] == 0
    loads: list[Path] = []
    real = indexing.load_file

    def counting(path: Path, **kwargs: Any) -> Any:
        loads.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(indexing, "load_file", counting)
    code, out, _ = index(capsys, store, tiny_checkpoint, EXAMPLES)
    assert code == 0 and _summary_counts(out) == (0, 8, 0) and loads == []  # hashes decide: no decoding
    code, out, _ = index(capsys, store, tiny_checkpoint, EXAMPLES, extra=("--chunk-chars", "200"))
    assert sorted(p.suffix for p in loads) == [".md", ".md", ".txt", ".txt"]  # only the text files are re-cut
    assert _summary_counts(out) == (4, 4, 0)


def test_empty_files_are_not_changed_on_every_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path
) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "empty.txt").write_text("")
    (folder / "blank.md").write_text("  \n\n ")
    (folder / "note.txt").write_text("something to index")
    for _ in range(2):
        code, out, _ = index(capsys, tmp_path / "store", tiny_checkpoint, folder)
        assert code == 0 and ", 2 empty" in out
    assert _summary_counts(out) == (0, 1, 0)


def test_unreadable_folders_are_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "f"
    (folder / "closed").mkdir(parents=True)
    (folder / "closed" / "a.txt").write_text("inside a folder we may not read")
    (folder / "open.txt").write_text("readable")
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:  # what a chmod 000 folder does (the tests may run as root)
        if Path(path).name == "closed":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, out, err = index(capsys, tmp_path / "store", tiny_checkpoint, folder)
    assert code == 1 and f"skipped {folder}/closed: cannot read folder: Permission denied" in err
    assert _summary_counts(out) == (1, 0, 1)


def test_exclude_leaves_out_names_and_paths(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path
) -> None:
    folder = tmp_path / "proj"
    for rel in ("README.md", "node_modules/pkg/README.md", "docs/guide.md", "docs/drafts/wip.md", "notes.log.txt"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(f"text of {rel}")
    store = tmp_path / "store"
    extra = ("--exclude", "node_modules/", "--exclude", "docs/drafts", "--exclude", "*.log.txt", "--exclude", "x*")
    code, out, err = index(capsys, store, tiny_checkpoint, folder, extra=extra)
    assert code == 0 and "jv4: note: --exclude 'x*' matched nothing" in err
    assert "3 file(s) or folder(s) excluded" in out
    with MultiVectorCollection(str(store), create=False) as col:
        stored = sorted(Path(p.metadata["path"]).relative_to(folder).as_posix() for p in col.scroll())
    assert stored == ["README.md", "docs/guide.md"]
    code, out, _ = index(capsys, store, tiny_checkpoint, folder, extra=("--exclude", "docs", "--prune"))
    assert code == 0 and "1 item(s) of 1 file(s) that are gone pruned" in out  # excluded now: pruned
    assert "holds 3 item(s)" in out  # README.md, node_modules/pkg/README.md, notes.log.txt
    code, _, err = index(capsys, tmp_path / "other", tiny_checkpoint, folder / "README.md", extra=("--exclude", "*.md"))
    assert code == 1 and "(1 file(s) or folder(s) excluded by --exclude)" in err  # a named file too
    assert not (tmp_path / "other").exists()


def test_prune_keeps_files_that_fail_to_load(
    capsys: pytest.CaptureFixture[str],
    data: Path,
    tmp_path: Path,
    tiny_checkpoint: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    optional = pytest.importorskip("jv4_integrations._optional")
    store = tmp_path / "store"
    assert index(capsys, store, tiny_checkpoint, data)[0] == 0
    monkeypatch.setitem(sys.modules, "pypdfium2", None)  # the pdf extra went away
    optional.is_available.cache_clear()
    try:
        code, out, err = index(capsys, store, tiny_checkpoint, data, extra=("--prune",))
    finally:
        optional.is_available.cache_clear()
    assert code == 1 and "PDF files need 'pypdfium2'" in err and "pruned" not in out
    code, out, _ = run(capsys, "search", "spec", "--store", str(store), "--filter", "kind=pdf-page", "--json")
    assert code == 0 and len(json.loads(out)) == 2  # its two pages are still there


def test_an_interrupted_recut_is_finished_by_the_next_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    indexing = pytest.importorskip("jv4_integrations.cli.indexing")
    doc = tmp_path / "long.txt"
    doc.write_text("\n\n".join(f"Paragraph {i}. " + "Some words in it. " * 15 for i in range(12)))
    store = tmp_path / "store"
    assert index(capsys, store, tiny_checkpoint, doc, extra=("--chunk-chars", "400"))[0] == 0
    real_write, calls = indexing.write, []

    def write_once_then_stop(*args: Any, **kwargs: Any) -> None:
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        real_write(*args, **kwargs)

    monkeypatch.setattr(indexing, "write", write_once_then_stop)
    code, _, err = index(capsys, store, tiny_checkpoint, doc, extra=("--chunk-chars", "2000", "--batch-size", "1"))
    assert code == 130, err
    monkeypatch.undo()
    with MultiVectorCollection(str(store), create=False) as col:
        assert {p.metadata["chunk_chars"] for p in col.scroll()} == {400, 2000}  # half re-cut
    code, out, _ = index(capsys, store, tiny_checkpoint, doc, extra=("--chunk-chars", "2000"))
    assert code == 0 and _summary_counts(out) == (1, 0, 0)  # not "unchanged": the cut is finished
    with MultiVectorCollection(str(store), create=False) as col:
        points = list(col.scroll())
    assert {p.metadata["chunk_chars"] for p in points} == {2000} and len(points) == points[0].metadata["chunks"]


def test_a_run_that_writes_nothing_creates_no_collection(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path
) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "empty.txt").write_text("\n")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    store = tmp_path / "store"
    code, out, err = index(capsys, store, tiny_checkpoint, folder)
    assert code == 1 and "skipped" in err and "broken.png" in err and "jv4: loading" not in err
    assert "1 empty" in out and "nothing to write, so collection 'jv4' was not created" in out
    code, out, _ = run(capsys, "info", "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["collections"] == []
    (folder / "note.md").write_text("now there is something")  # the first file with items creates it
    code, out, err = index(capsys, store, tiny_checkpoint, folder)
    assert code == 1 and "jv4: loading" in err and "holds 1 item(s)" in out


def test_items_of_an_older_reader_are_read_again_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = pytest.importorskip("jv4_integrations.cli.sources")
    stored = pytest.importorskip("jv4_integrations.cli.stored")
    store = tmp_path / "store"
    with monkeypatch.context() as old:  # what an earlier version of the reader wrote
        old.setattr(sources, "READER_VERSION", 1)
        old.setattr(stored, "READER_VERSION", 1)
        assert index(capsys, store, tiny_checkpoint, EXAMPLES)[0] == 0
    code, out, _ = index(capsys, store, tiny_checkpoint, EXAMPLES)
    assert code == 0 and _summary_counts(out) == (8, 0, 0)  # read and written again, in place
    code, out, _ = index(capsys, store, tiny_checkpoint, EXAMPLES)
    assert code == 0 and _summary_counts(out) == (0, 8, 0) and "holds 9 item(s)" in out


def test_an_item_the_encoder_refuses_skips_only_its_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    indexing = pytest.importorskip("jv4_integrations.cli.indexing")
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.txt").write_text("first note")
    Image.new("RGB", (40, 40), "red").save(folder / "b.png")
    (folder / "c.txt").write_text("second note")
    real = indexing.load_file

    def changed_under_us(path: Path, **kwargs: Any) -> Any:  # as if b.png was replaced after it was read
        source = real(path, **kwargs)
        if path.name == "b.png":
            source.items[0].content = Image.new("RGB", (10, 3000))
        return source

    monkeypatch.setattr(indexing, "load_file", changed_under_us)
    store = tmp_path / "store"
    code, out, err = index(capsys, store, tiny_checkpoint, folder)
    assert code == 1 and f"skipped {folder}/b.png: aspect ratio 300:1" in err
    assert _summary_counts(out) == (2, 0, 1) and "holds 2 item(s)" in out
    assert set(_texts(store)) == {"a.txt", "c.txt"}


def test_max_image_pixels_is_the_decompression_guard(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path
) -> None:
    from PIL import Image

    folder = tmp_path / "f"
    folder.mkdir()
    Image.new("RGB", (200, 200), "blue").save(folder / "scan.png")
    store = tmp_path / "store"
    code, out, err = index(capsys, store, tiny_checkpoint, folder, extra=("--max-image-pixels", "10000"))
    assert code == 1 and "exceeds max_image_pixels=10000" in err and "--max-image-pixels N raises it" in err
    code, out, err = index(capsys, store, tiny_checkpoint, folder, extra=("--max-image-pixels", "40000"))
    assert code == 0 and "1 new or changed" in out, err
    code, _, err = index(capsys, store, tiny_checkpoint, folder, extra=("--max-image-pixels", "0"))
    assert code == 2 and "--max-image-pixels must be >= 1" in err
