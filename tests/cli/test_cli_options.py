"""``jv4`` options: usage errors before the model loads, settings the collection keeps, overlapping
paths, files of other types, the model loaded only when something needs encoding."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import EXAMPLES, index, run

from jv4_integrations.core.encoder import JV4Encoder
from jv4_integrations.qdrant import MultiVectorCollection

LOADING = "jv4: loading"


def test_overlapping_paths_index_each_file_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, tiny_checkpoint: Path
) -> None:
    store = tmp_path / "store"
    (data / "link.md").symlink_to(data / "about.md")
    code, out, err = index(capsys, store, tiny_checkpoint, data, data / "images", data / "faq.md", data / "faq.md")
    assert code == 0, err
    assert "indexed 8 file(s)" in out and "(9 item(s) written)" in out and "holds 9 item(s)" in out


def test_files_of_other_types(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, tiny_checkpoint: Path
) -> None:
    store = tmp_path / "store"
    (data / "table.csv").write_text("a,b\n1,2\n")
    (data / "images" / "meta.json").write_text("{}")
    code, out, err = index(capsys, store, tiny_checkpoint, data)  # inside folders: passed over, counted
    assert code == 0 and "2 of other types ignored (.csv .json)" in out and "skipped" not in err
    code, out, err = index(capsys, tmp_path / "store2", tiny_checkpoint, data / "table.csv")  # named: refused
    assert code == 1 and "skipped" in err and "unsupported file type .csv" in err and "nothing to index" in err
    assert LOADING not in err and not (tmp_path / "store2").exists()
    code, out, err = index(capsys, store, tiny_checkpoint, data / "about.md", data / "table.csv")
    assert code == 1 and f"skipped {data / 'table.csv'}: unsupported file type .csv" in err and "1 unchanged" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["index", "X", "--chunk-chars", "0"], "--chunk-chars must be >= 1, got 0"),
        (["index", "X", "--batch-size", "0"], "--batch-size must be >= 1, got 0"),
        (["index", "X", "--device", "banana"], "--device 'banana' is not a device; use cpu, cuda, cuda:N or mps"),
        (["index", "X", "--device", "cuda:99"], "--device cuda:99: this machine has"),
        (["search", "q", "-k", "0"], "-k must be >= 1, got 0"),
        (["search", "q", "--filter", "kindpdf"], "--filter expects KEY=VALUE (e.g. kind=pdf-page), got 'kindpdf'"),
        (["search", "q", "--image", "nope.png"], "--image nope.png: no such file"),
        (["search", "q", "--image", str(EXAMPLES)], f"--image {EXAMPLES}: not a file"),
        (["search", "q", "--image", str(EXAMPLES / "about.md")], "about.md: not a readable image"),
        (["search", "   "], "the query is empty"),
        (["info", "--qdrant-url", "http://127.0.0.1:9", "--store", "S"], "--store S and --qdrant-url"),
        (["info", "--api-key", "k"], "--api-key is for a Qdrant server: give --qdrant-url"),
        (["index", "X", "--qdrant-url", "localhost:6333"], "--qdrant-url 'localhost:6333' is not a URL"),
        (["index", "X", "--collection", "a/b"], "--collection: collection name 'a/b' must be 1-128 characters"),
    ],
)
def test_usage_errors_exit_2_before_anything_loads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    argv = [str(EXAMPLES / "about.md") if a == "X" else a for a in argv]  # X: a file to index
    store = ["--store", str(tmp_path / "s")] if "--store" not in argv and "--qdrant-url" not in argv else []
    code, out, err = run(capsys, *argv, *store)
    command = argv[0]
    assert code == 2 and err.startswith(f"jv4 {command}: error: ") and message in err, err
    assert LOADING not in err and out == "" and not (tmp_path / "s").exists()


def test_settings_the_collection_keeps(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, tiny_checkpoint: Path
) -> None:
    store = tmp_path / "store"
    long_text = "\n\n".join(f"Paragraph {i}. " + "Some words here. " * 12 for i in range(3))
    (data / "faq.md").write_text(long_text)
    code, out, err = index(capsys, store, tiny_checkpoint, data, extra=("--chunk-chars", "300", "--prefetch", "mean"))
    assert code == 0 and LOADING in err
    written = int(re.search(r"\((\d+) item\(s\) written\)", out).group(1))  # type: ignore[union-attr]
    code, out, err = index(capsys, store, tiny_checkpoint, data)  # nothing changed: the model never loads
    assert code == 0 and "8 unchanged" in out and LOADING not in err
    assert f"holds {written} item(s)" in out
    (data / "new.md").write_text(long_text)  # a new file takes the collection's chunk size
    code, out, err = index(capsys, store, tiny_checkpoint, data)
    assert code == 0 and "1 new or changed" in out
    with MultiVectorCollection(str(store), create=False) as col:
        assert col.get([f"{(data / 'new.md').resolve()}#chunk=0"])[0].metadata["chunk_chars"] == 300
    code, out, err = index(capsys, store, tiny_checkpoint, data / "faq.md", extra=("--chunk-chars", "1000"))
    assert "1 new or changed" in out and "stale item(s) removed" in out and LOADING in err  # re-chunked
    for extra, message in [
        (("--prefetch", "dense"), "was created with --prefetch mean; it keeps it"),
        (("--dim", "32"), "holds dense vectors of size 64; --dim 32 needs a new collection"),
        (("--task", "code"), "was indexed with --task retrieval, not code"),
        (("--model", "demo"), "--model demo would mix two models' vectors in one collection"),
    ]:
        code, out, err = index(capsys, store, tiny_checkpoint, data, extra=extra)
        assert code == 2 and message in err and LOADING not in err, (extra, err)
    code, _, err = run(capsys, "search", "q", "--store", str(store), "--model", "demo")
    assert code == 2 and "--model demo would compare its query with another model's vectors" in err
    assert LOADING not in err
    code, out, err = run(capsys, "search", "q", "--store", str(store), "--model", str(tiny_checkpoint), "--json")
    assert code == 0 and len(json.loads(out)) >= 1, err  # naming the collection's own model is fine
    code, out, _ = run(capsys, "info", "--store", str(store))
    assert "hybrid prefetch: mean" in out


def test_task_is_used_for_encoding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path, encoder: JV4Encoder
) -> None:
    store = tmp_path / "store"
    code, _, err = index(capsys, store, tiny_checkpoint, EXAMPLES / "about.md", extra=("--task", "code"))
    assert code == 0, err
    with MultiVectorCollection(str(store), create=False) as col:
        assert col.task == "code"
        point = next(iter(col.scroll(with_vectors=True)))
    text = point.text
    assert text is not None and point.dense is not None
    code_vec = encoder.encode_documents([text], task="code", truncate_dim=64).dense[0]
    retrieval_vec = encoder.encode_documents([text], task="retrieval", truncate_dim=64).dense[0]
    np.testing.assert_allclose(point.dense, code_vec, atol=1e-5)
    assert not np.allclose(point.dense, retrieval_vec, atol=1e-3)


def test_info_for_one_collection_and_verbose_after_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_main = importlib.import_module("jv4_integrations.cli.main")  # the module (the package exports main())
    levels: list[int] = []
    monkeypatch.setattr(cli_main, "_setup_logging", levels.append)
    store = tmp_path / "store"
    code, _, err = index(capsys, store, tiny_checkpoint, EXAMPLES / "about.md", extra=("-v",))
    assert code == 0 and levels == [1], err  # -v after the command works like before it
    assert run(capsys, "-v", "info", "--store", str(store), "-vv")[0] == 0 and levels[-1] == 3
    index(capsys, store, tiny_checkpoint, EXAMPLES / "faq.md", extra=("--collection", "other"))
    code, out, _ = run(capsys, "info", "--store", str(store), "--collection", "other", "--json")
    assert code == 0 and [c["collection"] for c in json.loads(out)["collections"]] == ["other"]
    code, _, err = run(capsys, "info", "--store", str(store), "--collection", "nope")
    assert code == 1 and "collection 'nope' does not exist" in err and "['jv4', 'other']" in err


def test_search_filter_keys_are_checked_before_the_model_loads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path
) -> None:
    store = tmp_path / "store"
    index(capsys, store, tiny_checkpoint, EXAMPLES / "about.md")
    code, _, err = run(capsys, "search", "q", "--store", str(store), "--filter", "modality=image")
    assert code == 1 and "--filter key(s) ['modality']: no item of collection 'jv4' has them" in err
    assert "'kind'" in err and "'path'" in err and LOADING not in err


def test_a_demo_collection_survives_a_moved_cache(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JV4_CACHE", str(tmp_path / "cache-a"))
    store = tmp_path / "store"
    code, _, _ = run(
        capsys, "index", str(EXAMPLES / "about.md"), "--store", str(store), "--model", "demo", "--no-progress"
    )
    assert code == 0
    shutil.rmtree(tmp_path / "cache-a")
    monkeypatch.setenv("JV4_CACHE", str(tmp_path / "cache-b"))
    code, out, err = run(capsys, "search", "about", "--store", str(store))
    assert code == 0 and "RANDOM weights" in err and "about.md" in out


def test_result_paths_and_path_filters_work_from_any_directory(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    data: Path,
    tiny_checkpoint: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = tmp_path / "store"
    monkeypatch.chdir(tmp_path)
    assert index(capsys, store, tiny_checkpoint, Path("data"))[0] == 0  # indexed by a relative path
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, _ = run(capsys, "search", "warranty", "--store", str(store), "--json", "-k", "9")
    assert code == 0 and str(data / "warranty.txt") in {r["path"] for r in json.loads(out)}  # absolute
    code, out, _ = run(
        capsys, "search", "warranty", "--store", str(store), "--filter", "path=../data/warranty.txt", "--json"
    )
    assert code == 0 and [r["path"] for r in json.loads(out)] == [str(data / "warranty.txt")]
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "search", "warranty", "--store", str(store), "-k", "9")
    assert code == 0 and "  data/warranty.txt  (chunk 0)" in out and str(tmp_path) not in out


def test_emptied_files_mistyped_prune_paths_and_per_file_chunk_sizes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, tiny_checkpoint: Path
) -> None:
    store = tmp_path / "store"
    code, out, err = index(capsys, tmp_path / "none", tiny_checkpoint, tmp_path / "never", extra=("--prune",))
    assert code == 1 and "nothing to index" in err and not (tmp_path / "none").exists()  # no collection made
    index(capsys, store, tiny_checkpoint, data)
    (data / "faq.md").write_text("\n\n".join(f"Part {i}. " + "Words in a sentence. " * 10 for i in range(3)))
    code, out, err = index(capsys, store, tiny_checkpoint, data / "faq.md", extra=("--chunk-chars", "300"))
    assert code == 0 and "(3 item(s) written)" in out
    code, out, err = index(capsys, store, tiny_checkpoint, data)  # each file keeps its own chunk size
    assert code == 0 and "8 unchanged" in out and LOADING not in err
    (data / "warranty.txt").write_text("")  # emptied: its old text must not stay searchable
    code, out, err = index(capsys, store, tiny_checkpoint, data)
    assert code == 0 and "1 new or changed" in out and "1 stale item(s) removed" in out and "skipped" not in err
    code, out, _ = run(capsys, "search", "warranty", "--store", str(store), "--json", "-k", "20")
    assert str(data / "warranty.txt") not in {r["path"] for r in json.loads(out)}
    code, out, err = index(capsys, store, tiny_checkpoint, tmp_path / "typo", extra=("--prune",))
    assert code == 1 and f"skipped {tmp_path / 'typo'}: no such file or folder (and nothing indexed under it)" in err


def test_info_reports_a_collection_it_cannot_open_and_shows_the_others(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jv4_integrations.errors import StoreError

    store = tmp_path / "store"
    index(capsys, store, tiny_checkpoint, EXAMPLES / "about.md")
    index(capsys, store, tiny_checkpoint, EXAMPLES / "faq.md", extra=("--collection", "busy"))
    commands = importlib.import_module("jv4_integrations.cli.commands")
    real_open = commands.open_collection

    def open_or_fail(args: Any, **kwargs: Any) -> Any:
        if args.collection == "busy":
            raise StoreError("collection folder 'busy' is in use by another process")
        return real_open(args, **kwargs)

    monkeypatch.setattr(commands, "open_collection", open_or_fail)
    code, out, err = run(capsys, "info", "--store", str(store))
    assert code == 1 and "collection 'jv4' (edge): 1 item(s)" in out and "'busy' is in use" in err


def test_a_moved_model_folder_can_be_named_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path
) -> None:
    first = tmp_path / "model-a"
    shutil.copytree(tiny_checkpoint, first)
    store = tmp_path / "store"
    assert index(capsys, store, first, EXAMPLES / "about.md")[0] == 0
    moved = tmp_path / "model-b"
    first.rename(moved)
    for wrong in ("demo", str(tmp_path / "typo")):  # not a new place of the model: refused, nothing recorded
        code, _, err = run(capsys, "index", str(EXAMPLES / "about.md"), "--store", str(store), "--model", wrong)
        assert code == 2 and "is not a folder that could be its new place" in err, err
    with MultiVectorCollection(str(store), create=False) as col:
        assert col.model_record is not None and col.model_record.model == str(first)
    code, out, err = index(capsys, store, moved, EXAMPLES / "faq.md")  # the recorded folder is gone
    assert code == 0 and f"the collection's model folder {first} is gone; indexing with {moved}" in err
    assert "holds 2 item(s)" in out and f"collection 'jv4' now records model {moved}" in err
    code, out, err = run(capsys, "index", str(EXAMPLES / "warranty.txt"), "--store", str(store), "--no-progress")
    assert code == 0 and f"using the collection's model {moved}" in err and "is gone" not in err
    again = tmp_path / "model-c"
    moved.rename(again)  # moved once more; this time no file changed: the model is still loaded and checked
    code, out, err = index(capsys, store, again, EXAMPLES / "about.md")
    assert code == 0 and LOADING in err and f"now records model {again}" in err and "1 unchanged" in out
    code, out, err = run(capsys, "search", "battery", "--store", str(store), "--json")
    assert code == 0 and {hit["path"] for hit in json.loads(out)} == {
        str((EXAMPLES / name).resolve()) for name in ("about.md", "faq.md", "warranty.txt")
    }


def test_progress_off_a_terminal_is_a_line_every_so_often(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    progress = importlib.import_module("jv4_integrations.cli.progress")
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)  # a line at every file but the last
    store, model = str(tmp_path / "store"), str(tiny_checkpoint)
    argv = ["index", str(EXAMPLES), "--store", store, "--model", model, "--batch-size", "1"]  # a flush per file
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    files = int(re.search(r"indexed (\d+) file\(s\)", out).group(1))  # type: ignore[union-attr]
    lines = [line for line in err.splitlines() if line.startswith("jv4: indexing: ")]
    done = [int(re.match(r"jv4: indexing: (\d+)/(\d+)", line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert done == sorted(done) and 0 < len(done) <= files - 1 and max(done) < files
    assert all(f"/{files} file(s)" in line for line in lines) and "\r" not in err  # no bar frames in the log
    code, _, err = run(capsys, *argv, "--no-progress", "--prune")
    assert code == 0 and "jv4: indexing: " not in err


def test_a_relative_model_folder_is_recorded_absolute(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(tiny_checkpoint, tmp_path / "models" / "jv4")
    store = tmp_path / "store"
    monkeypatch.chdir(tmp_path / "models")
    argv = ("index", str(EXAMPLES / "about.md"), "--store", str(store), "--model", "jv4", "--no-progress")
    assert run(capsys, *argv)[0] == 0
    with MultiVectorCollection(str(store), create=False) as col:
        assert col.model_record is not None and col.model_record.model == str(tmp_path / "models" / "jv4")
    monkeypatch.chdir(tmp_path)  # "jv4" means nothing here: the record still finds the model
    code, out, err = run(capsys, "search", "phone", "--store", str(store), "--json")
    assert code == 0 and len(json.loads(out)) == 1, err


def test_missing_extras_are_named_before_the_model_loads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    optional = importlib.import_module("jv4_integrations._optional")
    store = tmp_path / "store"
    pdf = EXAMPLES / "spec-sheet.pdf"
    monkeypatch.setitem(sys.modules, "pypdfium2", None)  # the pdf extra is not installed
    optional.is_available.cache_clear()
    try:
        code, _, err = index(capsys, store, tiny_checkpoint, pdf)  # only a PDF: nothing to write
        assert code == 1 and "pip install 'jv4-integrations[pdf]'" in err and LOADING not in err
        assert "every file was skipped; nothing was written" in err and not store.exists()
        code, out, err = index(capsys, store, tiny_checkpoint, EXAMPLES)  # the others are indexed
        assert code == 1 and f"skipped {pdf}: PDF files need 'pypdfium2'" in err
        with MultiVectorCollection(str(store), create=False) as col:
            kinds = {p.metadata["kind"] for p in col.scroll()}
        assert kinds == {"text", "image"} and "7 new or changed" in out
    finally:
        optional.is_available.cache_clear()
    monkeypatch.setitem(sys.modules, "qdrant_edge", None)  # the qdrant extra is not installed
    for argv in (
        ("index", str(EXAMPLES), "--store", str(tmp_path / "other"), "--model", str(tiny_checkpoint)),
        ("search", "battery", "--store", str(store)),
        ("info", "--store", str(store)),
    ):
        code, _, err = run(capsys, *argv)
        assert code == 1 and "pip install 'jv4-integrations[qdrant]'" in err and LOADING not in err, (argv, err)
    assert not (tmp_path / "other").exists()


def test_pooled_copy_and_three_stage_search(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tiny_checkpoint: Path,
    encoder: JV4Encoder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = tmp_path / "store"
    code, _, err = index(capsys, store, tiny_checkpoint, EXAMPLES, extra=("--pooled-tokens", "4"))
    assert code == 0, err
    code, out, _ = run(capsys, "info", "--store", str(store))
    assert "pooled copy: 4 tokens" in out
    argv = ("search", "battery warranty", "--store", str(store), "-k", "3", "--json")
    seen: list[dict[str, Any]] = []
    real_search = MultiVectorCollection.search

    def spy(self: MultiVectorCollection, query: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real_search(self, query, **kwargs)

    monkeypatch.setattr(MultiVectorCollection, "search", spy)
    code, out, err = run(capsys, *argv, "--prefetch-limit", "8", "--rerank-candidates", "5")
    assert code == 0 and "changes nothing" not in err, err
    assert (seen[-1]["prefetch_limit"], seen[-1]["rerank_candidates"]) == (8, 5)  # what the search was given
    monkeypatch.undo()
    with MultiVectorCollection(str(store), create=False, encoder=encoder) as col:
        assert col.schema.pooled_tokens == 4
        want = col.search("battery warranty", limit=3, prefetch_limit=8, rerank_candidates=5)
    got = json.loads(out)
    assert [h["id"] for h in got] == [h.item_id for h in want]
    np.testing.assert_allclose([h["score"] for h in got], [h.score for h in want], atol=1e-5)
    code, _, err = run(capsys, *argv, "--rerank-candidates", "2")
    assert code == 2 and "--rerank-candidates 2 must be between -k 3 and the prefetch limit 100" in err
    code, _, err = run(capsys, *argv, "--prefetch-limit", "2")
    assert code == 2 and "--prefetch-limit 2 must be >= -k 3" in err
    code, _, err = index(capsys, store, tiny_checkpoint, EXAMPLES, extra=("--pooled-tokens", "8"))
    assert code == 2 and "pools to 4 tokens; --pooled-tokens 8 needs a new collection" in err
    code, _, err = run(capsys, *argv, "--mode", "dense", "--prefetch-limit", "8")
    assert code == 2 and "--prefetch-limit and --rerank-candidates are for --mode hybrid, not dense" in err
    plain = tmp_path / "plain"  # no pooled or quantized copy: the middle stage cannot run, and it says so
    assert index(capsys, plain, tiny_checkpoint, EXAMPLES / "about.md")[0] == 0
    code, _, err = run(capsys, "search", "q", "--store", str(plain), "--rerank-candidates", "10")
    assert code == 0 and "has no pooled or quantized copy, so --rerank-candidates changes nothing" in err
