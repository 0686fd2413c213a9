"""The ``jv4`` command end to end on the bundled example data (tiny checkpoint, embedded store)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import EXAMPLES, index, run


def test_index_then_search_finds_each_file_by_its_text(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, tiny_checkpoint: Path
) -> None:
    store = tmp_path / "store"
    code, out, _ = index(capsys, store, tiny_checkpoint, data)
    assert code == 0
    assert "indexed 8 file(s)" in out and "8 new or changed (9 item(s) written)" in out and "holds 9 item(s)" in out
    for name in ("warranty.txt", "about.md", "faq.md", "battery-care.txt"):
        text = (data / name).read_text()
        code, out, _ = run(capsys, "search", text, "--store", str(store), "--json", "-k", "3")
        results = json.loads(out)
        assert code == 0 and results[0]["path"] == str(data / name), (name, results)
        assert results[0]["kind"] == "text" and results[0]["chunk"] == 0 and results[0]["rank"] == 1
        assert results[0]["score"] >= results[1]["score"] >= results[2]["score"]


def test_second_run_adds_nothing_and_changes_are_picked_up(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, tiny_checkpoint: Path
) -> None:
    store = tmp_path / "store"
    index(capsys, store, tiny_checkpoint, data)
    code, out, _ = index(capsys, store, tiny_checkpoint, data)
    assert code == 0 and "0 new or changed (0 item(s) written), 8 unchanged" in out and "holds 9 item(s)" in out
    # a file that grows to three chunks, then shrinks back to one: no stale chunk survives
    (data / "faq.md").write_text("\n\n".join(f"paragraph {i} " + "words " * 40 for i in range(3)))
    code, out, _ = index(capsys, store, tiny_checkpoint, data)
    assert "1 new or changed (1 item(s) written), 7 unchanged" in out and "holds 9 item(s)" in out
    code, out, _ = index(capsys, store, tiny_checkpoint, data / "faq.md", extra=("--chunk-chars", "300"))
    assert "1 new or changed (3 item(s) written)" in out and "holds 11 item(s)" in out
    (data / "faq.md").write_text("one short paragraph now")
    code, out, _ = index(capsys, store, tiny_checkpoint, data / "faq.md", extra=("--chunk-chars", "300"))
    assert "1 new or changed (1 item(s) written)" in out and "2 stale item(s) removed" in out
    assert "holds 9 item(s)" in out


def test_index_builds_the_search_layout_only_after_a_write(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    data: Path,
    tiny_checkpoint: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jv4_integrations.qdrant import MultiVectorCollection

    calls: list[int] = []
    real = MultiVectorCollection.optimize

    def counted(self: MultiVectorCollection) -> None:
        calls.append(self.count())
        real(self)

    monkeypatch.setattr(MultiVectorCollection, "optimize", counted)
    store = tmp_path / "store"
    assert index(capsys, store, tiny_checkpoint, data)[0] == 0
    assert calls == [9]  # once, after every item is written
    assert index(capsys, store, tiny_checkpoint, data)[0] == 0
    assert calls == [9]  # nothing changed: nothing to build
    (data / "faq.md").unlink()
    code, out, _ = index(capsys, store, tiny_checkpoint, data, extra=("--prune",))
    assert code == 0 and "holds 8 item(s)" in out and calls == [9, 8]


def test_prune_removes_the_items_of_files_that_are_gone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, tiny_checkpoint: Path
) -> None:
    store = tmp_path / "store"
    other = tmp_path / "other.txt"
    other.write_text("a file outside the indexed folder")
    index(capsys, store, tiny_checkpoint, data, other)  # 9 items + 1
    (data / "warranty.txt").unlink()
    (data / "images" / "logo.jpg").rename(data / "images" / "brand.jpg")
    (data / "spec-sheet.pdf").write_bytes(b"%PDF-1.4 broken")  # fails to load: its items are kept
    code, out, _ = index(capsys, store, tiny_checkpoint, data)  # without --prune nothing is removed
    assert "1 new or changed (1 item(s) written)" in out and "holds 11 item(s)" in out and "pruned" not in out
    code, out, _ = index(capsys, store, tiny_checkpoint, data, extra=("--prune",))
    assert code == 1  # the broken PDF is reported
    assert "2 item(s) of 2 file(s) that are gone pruned" in out and "holds 9 item(s)" in out
    code, out, _ = run(capsys, "search", "anything", "--store", str(store), "--json", "-k", "20")
    paths = {r["path"] for r in json.loads(out)}
    assert str(data / "warranty.txt") not in paths and str(data / "images" / "logo.jpg") not in paths
    assert {str(data / "images" / "brand.jpg"), str(data / "spec-sheet.pdf"), str(other)} <= paths
    other.unlink()  # an explicit file path that is gone
    code, out, _ = index(capsys, store, tiny_checkpoint, other, extra=("--prune",))
    assert "1 item(s) of 1 file(s) that are gone pruned" in out and "holds 8 item(s)" in out
    shutil.rmtree(data)  # a whole folder that is gone: --prune still runs, empties it out, and succeeds
    code, out, err = index(capsys, store, tiny_checkpoint, data, extra=("--prune",))
    assert code == 0 and "nothing indexed under it" not in err and "nothing to index" not in err
    assert "0 skipped" in out and "8 item(s) of 7 file(s) that are gone pruned" in out and "holds 0 item(s)" in out


def test_bad_files_are_reported_and_skipped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, tiny_checkpoint: Path
) -> None:
    (data / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (data / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj garbage")
    store = tmp_path / "store"
    code, out, err = index(capsys, store, tiny_checkpoint, data)
    assert code == 1
    assert "10 file(s)" in out and "2 skipped" in out and "holds 9 item(s)" in out
    assert f"skipped {data / 'broken.pdf'}: cannot open the PDF" in err
    assert f"skipped {data / 'images' / 'corrupt.png'}:" in err


def test_info_counts_match(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, tiny_checkpoint: Path
) -> None:
    store = tmp_path / "store"
    index(capsys, store, tiny_checkpoint, data / "about.md", data / "images")
    code, out, _ = run(capsys, "info", "--store", str(store), "--json")
    info = json.loads(out)
    assert code == 0 and [c["collection"] for c in info["collections"]] == ["jv4"]
    collection = info["collections"][0]
    assert collection["points"] == 4 and collection["model"] == str(tiny_checkpoint)
    assert collection["dense_size"] == 64 and collection["multivector_size"] == 128
    code, out, _ = run(capsys, "info", "--store", str(store))
    assert "collection 'jv4' (edge): 4 item(s)" in out


def test_search_modes_filters_images_and_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, tiny_checkpoint: Path
) -> None:
    store = tmp_path / "store"
    index(capsys, store, tiny_checkpoint, data, extra=("--dim", "32"))
    logo = data / "images" / "logo.jpg"
    code, out, _ = run(capsys, "search", "--image", str(logo), "--store", str(store), "--json", "-k", "2")
    assert code == 0 and json.loads(out)[0]["path"] == str(logo)
    code, out, _ = run(capsys, "search", "charging", "--filter", "kind=pdf-page", "--store", str(store), "--json")
    pages = json.loads(out)
    assert [p["page"] for p in sorted(pages, key=lambda p: p["page"])] == [1, 2]
    assert "Wall charger" in " ".join(p["snippet"] for p in pages)
    scores = {}
    for mode in ("dense", "multivector", "hybrid"):
        code, out, _ = run(capsys, "search", "battery", "--mode", mode, "--store", str(store), "--json", "-k", "9")
        scores[mode] = {r["id"]: r["score"] for r in json.loads(out)}
    assert scores["hybrid"] == pytest.approx(scores["multivector"], rel=1e-4)  # K=100 covers all 9 items
    assert scores["dense"] != scores["hybrid"]
    code, out, _ = run(capsys, "search", "battery", "--store", str(store), "-k", "1")
    assert code == 0 and out.startswith("  1.")


def test_errors_are_clear(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path) -> None:
    code, _, err = run(capsys, "search", "anything", "--store", str(tmp_path / "empty"))
    assert code == 1 and "collection 'jv4' does not exist" in err and "jv4 index PATH" in err
    code, _, err = run(capsys, "search", "--store", str(tmp_path))
    assert code == 2 and err.strip() == "jv4 search: error: give a QUERY, an --image PATH, or both"
    code, _out, err = index(capsys, tmp_path / "store", tiny_checkpoint, tmp_path / "nope")
    assert code == 1 and f"skipped {tmp_path / 'nope'}: no such file or folder" in err
    assert "nothing to index" in err and ".pdf" in err and "nothing was written" in err
    assert not (tmp_path / "store").exists()  # no collection created for nothing
    unsupported = tmp_path / "unsupported"
    unsupported.mkdir()
    (unsupported / "notes.docx").write_bytes(b"PK")
    code, _out, err = index(capsys, tmp_path / "store", tiny_checkpoint, unsupported)
    assert code == 1 and f"nothing to index in {unsupported}: no file with a supported suffix" in err
    assert not (tmp_path / "store").exists()
    code, _, err = index(capsys, tmp_path / "store2", tiny_checkpoint, EXAMPLES / "about.md", extra=("--dim", "100"))
    assert code == 2 and "--dim 100 is not a size of" in err and "choose one of [4, 8, 16, 32, 64]" in err
    assert "jv4: loading" not in err and not (tmp_path / "store2").exists()  # read from config.json, not loaded


def test_demo_model_is_written_on_demand_and_labelled(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JV4_CACHE", str(tmp_path / "cache"))
    store = tmp_path / "store"
    code, out, err = run(
        capsys, "index", str(EXAMPLES / "warranty.txt"), "--store", str(store), "--model", "demo", "--no-progress"
    )
    assert code == 0 and "RANDOM weights" in err and "rankings are meaningless" in err
    assert (tmp_path / "cache" / "demo-model-v1" / "config.json").is_file()
    code, out, err = run(capsys, "search", "warranty", "--store", str(store))
    assert code == 0 and "RANDOM weights" in err and "warranty.txt" in out


def test_an_unreachable_server_is_not_reported_as_a_missing_collection(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "search", "anything", "--qdrant-url", "http://127.0.0.1:9")
    assert code == 1 and "does not exist" not in err
    assert "jv4: error: cannot reach the Qdrant server at http://127.0.0.1:9" in err


def test_unreachable_hub_says_how_to_use_a_local_copy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    code, _, err = run(capsys, "index", str(EXAMPLES / "about.md"), "--store", str(tmp_path / "s"), "--no-progress")
    assert code == 1
    assert "'jinaai/jina-embeddings-v4' is not in the local cache" in err
    assert "`jv4 ... --model ./jina-embeddings-v4`" in err and "hf download jinaai/jina-embeddings-v4" in err


def test_python_dash_m_runs_the_command_line() -> None:
    import subprocess
    import sys

    from jv4_integrations import __version__

    done = subprocess.run(
        [sys.executable, "-m", "jv4_integrations", "--version"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == f"jv4-integrations {__version__}", done.stderr
