"""The encode API: input kinds, mixed batches, results, options, concurrency and bad input."""

from __future__ import annotations

import base64
import http.server
import io
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from jv4_integrations import ImageLimits, ImageRef, InputError, JV4Encoder, Mixed
from jv4_integrations.core.inputs import to_rgb


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


# -- input kinds ----------------------------------------------------------------------------------


def test_every_image_kind_gives_the_same_vectors(encoder: JV4Encoder, image_factory: Any, tmp_path: Path) -> None:
    image = image_factory(10, (70, 56))
    data = _png(image)
    path = tmp_path / "img.png"
    path.write_bytes(data)
    kinds = [
        image,
        path,
        data,
        bytearray(data),
        memoryview(data),
        io.BytesIO(data),
        ImageRef(str(path)),
        ImageRef(path.as_uri()),
        ImageRef("data:image/png;base64," + base64.b64encode(data).decode()),
    ]
    result = encoder.encode_documents(kinds)
    for i in range(1, len(kinds)):
        np.testing.assert_array_equal(result.dense[i], result.dense[0])
        np.testing.assert_array_equal(result.multivector[i], result.multivector[0])


def test_a_plain_string_is_always_text(encoder: JV4Encoder, image_factory: Any, tmp_path: Path) -> None:
    path = tmp_path / "looks-like-a-path.png"
    path.write_bytes(_png(image_factory(11)))
    as_text = encoder.encode_documents([str(path)])
    as_image = encoder.encode_documents([path])
    assert as_text.n_tokens[0] != as_image.n_tokens[0]
    assert not np.allclose(as_text.dense, as_image.dense)


def test_mixed_batch_equals_separate_calls(encoder: JV4Encoder, image_factory: Any) -> None:
    texts = ["first text", "the second text is longer than the first one by a few words"]
    images = [image_factory(12, (56, 56)), image_factory(13, (84, 140))]
    mixed = encoder.encode_documents([texts[0], images[0], texts[1], images[1]])
    t = encoder.encode_documents(texts)
    i = encoder.encode_documents(images)
    for got, want in [(0, (t, 0)), (1, (i, 0)), (2, (t, 1)), (3, (i, 1))]:
        np.testing.assert_allclose(mixed.dense[got], want[0].dense[want[1]], atol=1e-5)
        np.testing.assert_allclose(mixed.multivector[got], want[0].multivector[want[1]], atol=1e-5)


def test_text_plus_image_item(encoder: JV4Encoder, image_factory: Any) -> None:
    page, figure = image_factory(14, (56, 84)), image_factory(15)
    one = encoder.encode_documents([Mixed("Figure 3: revenue by region", page)])
    two = encoder.encode_documents([Mixed("Figure 3: revenue by region", [page, figure])])
    text_only = encoder.encode_documents(["Figure 3: revenue by region"])
    image_only = encoder.encode_documents([page])
    assert one.n_tokens[0] > text_only.n_tokens[0]
    assert two.n_tokens[0] == one.n_tokens[0] + 2 + 4  # a second block: start, 4 image tokens, end
    for other in (text_only, image_only, two):
        assert np.abs(one.dense[0] - other.dense[0]).max() > 1e-4
    assert one.multivector[0].shape == (one.n_tokens[0], 128)


def test_order_is_restored_after_length_sorting(encoder: JV4Encoder) -> None:
    texts = [f"text number {i} " + "padding words " * ((7 * i) % 11) for i in range(12)]
    together = encoder.encode_queries(texts, batch_size=4)
    assert list(together.n_tokens) != sorted(together.n_tokens, reverse=True)  # input was not pre-sorted
    for i, text in enumerate(texts):
        alone = encoder.encode_queries([text])
        np.testing.assert_allclose(together.dense[i], alone.dense[0], atol=1e-5)
        assert together.n_tokens[i] == alone.n_tokens[0]


def test_queries_and_documents_use_their_prefixes(encoder: JV4Encoder) -> None:
    q = encoder.encode_queries(["what is maxsim"])
    d = encoder.encode_documents(["what is maxsim"])
    g = encoder.encode(["what is maxsim"], prompt="passage")
    assert q.prompt == "query" and d.prompt == "passage"
    np.testing.assert_array_equal(d.dense, g.dense)
    assert d.n_tokens[0] == q.n_tokens[0] + 1  # "Passage:" is one token longer than "Query:"
    assert np.abs(q.dense - d.dense).max() > 1e-3


def test_generators_are_accepted(encoder: JV4Encoder) -> None:
    def gen() -> Iterator[str]:
        yield from ("a", "b")

    np.testing.assert_array_equal(encoder.encode_queries(gen()).dense, encoder.encode_queries(["a", "b"]).dense)


# -- results and options --------------------------------------------------------------------------


def test_output_types_and_dtypes(encoder: JV4Encoder) -> None:
    both = encoder.encode_queries(["x", "yy"])
    assert isinstance(both.dense, np.ndarray) and both.dense.dtype == np.float32 and both.dense.shape == (2, 64)
    assert all(isinstance(m, np.ndarray) and m.dtype == np.float32 and m.shape[1] == 128 for m in both.multivector)
    np.testing.assert_allclose(np.linalg.norm(both.dense, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(both.multivector[1], axis=1), 1.0, rtol=1e-5)
    dense = encoder.encode_queries(["x", "yy"], output="dense")
    assert dense.multivector is None
    np.testing.assert_array_equal(dense.dense, both.dense)
    mv = encoder.encode_queries(["x", "yy"], output="multivector")
    assert mv.dense is None
    np.testing.assert_array_equal(mv.multivector[1], both.multivector[1])
    tensors = encoder.encode_queries(["x", "yy"], return_tensors=True)
    assert isinstance(tensors.dense, torch.Tensor) and tensors.dense.dtype == torch.float32
    assert tensors.dense.device.type == "cpu" and isinstance(tensors.multivector[0], torch.Tensor)
    np.testing.assert_array_equal(tensors.dense.numpy(), both.dense)
    assert both.dense_list()[0] == [float(v) for v in both.dense[0]] and isinstance(both.dense_list()[0][0], float)
    with pytest.raises(ValueError, match="no dense vectors"):
        mv.dense_list()


@pytest.mark.parametrize("dim", [4, 8, 16, 32, 64])
def test_matryoshka_dims(encoder: JV4Encoder, dim: int) -> None:
    full = encoder.encode_documents(["matryoshka truncation", "keeps the first d values"]).dense
    cut = encoder.encode_documents(["matryoshka truncation", "keeps the first d values"], truncate_dim=dim)
    want = full[:, :dim] / np.linalg.norm(full[:, :dim], axis=1, keepdims=True)
    np.testing.assert_allclose(cut.dense, want, atol=1e-6)
    assert cut.truncate_dim == dim and cut.dense.shape == (2, dim)


def test_empty_input_gives_an_empty_result(encoder: JV4Encoder) -> None:
    before = encoder.forward_calls
    result = encoder.encode_queries([], truncate_dim=16)
    assert result.dense.shape == (0, 16) and result.multivector == [] and len(result) == 0
    assert encoder.forward_calls == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "search"}, r"unknown task 'search'; expected one of \['retrieval', 'text-matching', 'code'\]"),
        ({"prompt": "document"}, r"unknown prompt 'document'; expected one of \['query', 'passage'\]"),
        ({"output": "sparse"}, r"unknown output 'sparse'; expected one of \['dense', 'multivector', 'both'\]"),
        ({"truncate_dim": 100}, r"unsupported truncate_dim 100; expected None or one of \[4, 8, 16, 32, 64\]"),
        ({"truncate_dim": 16.0}, r"unsupported truncate_dim 16\.0; expected None or one of \[4, 8, 16, 32, 64\]"),
        ({"batch_size": 0}, r"batch_size must be a positive int, got 0"),
        ({"max_length": -1}, r"max_length must be a positive int, got -1"),
        ({"max_pixels": 10}, r"max_pixels must be an int >= 784"),
    ],
)
def test_invalid_options_list_the_valid_values(encoder: JV4Encoder, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encoder.encode(["x"], **kwargs)


def test_long_text_is_truncated_with_one_warning(encoder: JV4Encoder, caplog: pytest.LogCaptureFixture) -> None:
    texts = ["word " * 50, "short", "word " * 80]
    with caplog.at_level(logging.WARNING, logger="jv4_integrations"):
        result = encoder.encode_documents(texts, max_length=20)
    warnings = [r for r in caplog.records if "truncated" in r.getMessage()]
    assert len(warnings) == 1 and "2 of 3 input(s) exceeded max_length=20" in warnings[0].getMessage()
    assert result.n_tokens[0] == result.n_tokens[2] == 20
    np.testing.assert_allclose(result.dense[0], result.dense[2], atol=1e-6)  # same first 20 tokens


def test_a_mixed_item_whose_images_fill_max_length_says_its_text_is_left_out(
    encoder: JV4Encoder, image_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    image = image_factory(23, (56, 56))
    with caplog.at_level(logging.WARNING, logger="jv4_integrations"):
        short = encoder.encode_documents(["fits", Mixed("a caption that cannot fit", [image])], max_length=5)
    assert "item 1: its images take" in caplog.text and "leaves no room for its text" in caplog.text
    bare = encoder.encode_documents([Mixed("", [image])], max_length=5)  # the same row without text
    np.testing.assert_allclose(short.dense[1], bare.dense[0], atol=1e-5)


def test_max_pixels_changes_the_image_token_count(encoder: JV4Encoder, image_factory: Any) -> None:
    big = image_factory(16, (224, 224))
    default = encoder.encode_documents([big])  # tiny preset: at most 16 image tokens
    small = encoder.encode_documents([big], max_pixels=56 * 56)
    assert default.n_tokens[0] - small.n_tokens[0] == 16 - 4


def test_progress_bar_is_off_by_default(encoder: JV4Encoder, capsys: pytest.CaptureFixture[str]) -> None:
    encoder.encode_queries(["quiet"])
    assert capsys.readouterr().err == ""
    encoder.encode_queries(["loud", "er"], show_progress=True)
    assert "2/2" in capsys.readouterr().err


# -- images in every mode -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "L", "1", "CMYK", "I;16", "I", "F", "YCbCr"])
def test_any_pil_mode_is_encoded(encoder: JV4Encoder, image_factory: Any, mode: str) -> None:
    base = image_factory(17, (56, 56))
    image = base.convert("L").convert(mode) if mode in ("I;16", "I", "F") else base.convert(mode)
    result = encoder.encode_documents([image])
    assert result.dense.shape == (1, 64) and np.isfinite(result.dense).all()
    assert to_rgb(image).mode == "RGB"


def test_transparency_is_composited_on_white(encoder: JV4Encoder) -> None:
    rgba = Image.new("RGBA", (56, 56), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 28, 56))
    white = Image.new("RGB", (56, 56), (255, 255, 255))
    white.paste((0, 0, 255), (0, 0, 28, 56))
    result = encoder.encode_documents([rgba, white])
    np.testing.assert_array_equal(result.dense[0], result.dense[1])


def test_sixteen_bit_images_are_scaled_not_clipped() -> None:
    arr = np.array([[0, 32768, 65535, 65535]], dtype=np.uint16)
    rgb = to_rgb(Image.frombytes("I;16", (4, 1), arr.tobytes()))
    assert list(np.asarray(rgb)[0, :, 0]) == [0, 128, 255, 255]


def _gray(rgb: Image.Image) -> list[int]:
    return [int(v) for v in np.asarray(rgb)[0, :, 0]]


def test_wide_grayscale_modes_are_read_by_value_range() -> None:
    dark16 = np.array([[0, 257, 514, 1000]], dtype=np.uint16)  # 16-bit data: /257, in any mode
    as_i16 = _gray(to_rgb(Image.frombytes("I;16", (4, 1), dark16.tobytes())))
    as_i = _gray(to_rgb(Image.fromarray(dark16.astype(np.int32), mode="I")))
    assert as_i16 == as_i == [0, 1, 2, 4]
    eight = np.array([[0, 64, 128, 255]], dtype=np.int32)  # 8-bit data in an int or float image: kept
    assert _gray(to_rgb(Image.fromarray(eight, mode="I"))) == [0, 64, 128, 255]
    assert _gray(to_rgb(Image.fromarray(eight.astype(np.float32), mode="F"))) == [0, 64, 128, 255]
    unit = np.array([[0.0, 0.25, 0.5, 1.0]], dtype=np.float32)  # floats in [0, 1]: scaled by 255
    assert _gray(to_rgb(Image.fromarray(unit, mode="F"))) == [0, 64, 128, 255]
    flat = np.full((1, 4), 128, dtype=np.int32)  # a uniform image keeps its value (it was black)
    assert _gray(to_rgb(Image.fromarray(flat, mode="I"))) == [128] * 4
    signed = np.array([[-100, 0, 104, 410]], dtype=np.int32)  # outside every range: stretched
    assert _gray(to_rgb(Image.fromarray(signed, mode="I"))) == [0, 50, 102, 255]


def test_premultiplied_modes_are_converted(encoder: JV4Encoder, image_factory: Any) -> None:
    la = image_factory(22, (56, 56)).convert("LA")
    result = encoder.encode_documents([la.convert("La"), la])
    assert result.dense.shape == (2, 64) and np.isfinite(result.dense).all()
    np.testing.assert_allclose(result.dense[0], result.dense[1], atol=0.05)  # alpha is 255: the same pixels


def test_a_callers_animated_image_keeps_its_frame(encoder: JV4Encoder, image_factory: Any, tmp_path: Path) -> None:
    frames = [image_factory(30 + k, (56, 56)) for k in range(3)]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    opened = Image.open(gif)
    opened.seek(2)
    third = opened.convert("RGB")
    first = Image.open(gif).convert("RGB")
    got = encoder.encode_documents([opened, third, gif, first])
    assert opened.tell() == 2  # the caller's object is left on its frame
    np.testing.assert_allclose(got.dense[0], got.dense[1], atol=1e-5)  # ... and that frame is what is encoded
    np.testing.assert_allclose(got.dense[2], got.dense[3], atol=1e-5)  # a file: its first frame
    assert not np.allclose(got.dense[0], got.dense[2], atol=1e-3)


def test_exif_rotation_is_applied(encoder: JV4Encoder, image_factory: Any) -> None:
    upright = image_factory(18, (56, 112))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera writes, with orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, format="PNG", exif=exif.tobytes())
    result = encoder.encode_documents([buf.getvalue(), upright])
    np.testing.assert_array_equal(result.dense[0], result.dense[1])


# -- bad input --------------------------------------------------------------------------------------


def test_every_bad_item_is_named_and_nothing_is_computed(
    encoder: JV4Encoder, image_factory: Any, tmp_path: Path
) -> None:
    png = _png(image_factory(19, (56, 56)))
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    items: list[Any] = [
        "fine",
        None,
        42,
        Image.new("RGB", (0, 0)),
        b"\x00not an image at all",
        png[: len(png) // 2],
        tmp_path / "missing.png",
        ImageRef("https://example.com/a.png"),
        open(text_file, encoding="utf-8"),  # noqa: SIM115 - closed below
        Image.new("RGB", (10, 3000)),
        b"",
        Mixed("caption", [None]),
        {"text": "dict"},
        "lone \ud800 surrogate",
        np.zeros((4, 4, 3), dtype=np.uint8),
    ]
    before = encoder.forward_calls
    try:
        with pytest.raises(InputError) as err:
            encoder.encode_documents(items)
    finally:
        items[8].close()
    assert encoder.forward_calls == before
    problems = {p.index: p.reason for p in err.value.problems}
    assert sorted(problems) == list(range(1, len(items)))
    assert "None is not a valid input" in problems[1]
    assert "unsupported input type int" in problems[2]
    assert "zero size" in problems[3]
    assert "not a readable image" in problems[4]
    assert "truncated or corrupt" in problems[5]
    assert "does not exist" in problems[6] and "missing.png" in problems[6]
    assert "allow_urls=True" in problems[7]
    assert "text-mode file object" in problems[8]
    assert "aspect ratio 300:1" in problems[9]
    assert "empty image bytes" in problems[10]
    assert "image 0 of the Mixed item: None is not an image" in problems[11]
    assert "unsupported input type dict" in problems[12]
    assert "text is not valid Unicode: surrogates not allowed at character 5" in problems[13]
    assert "unsupported input type ndarray" in problems[14] and "\n" not in problems[14]
    assert str(err.value).startswith("14 invalid inputs: item 1: None")


def test_decompression_bombs_are_refused_before_decoding(encoder: JV4Encoder, image_factory: Any) -> None:
    data = _png(image_factory(20, (200, 200)))
    with pytest.raises(InputError, match=r"item 0: image of 200x200 pixels exceeds max_image_pixels=10000"):
        encoder.encode_documents([data], image_limits=ImageLimits(max_image_pixels=10_000))


def test_a_bare_item_must_be_wrapped_in_a_list(encoder: JV4Encoder) -> None:
    with pytest.raises(TypeError, match=r"inputs must be a list .* got str; wrap a single item in a list"):
        encoder.encode_queries("just one string")  # type: ignore[arg-type]
    for unordered in ({"k1": 1, "k2": 2}, {"a", "b"}):
        with pytest.raises(TypeError, match=r"got a (dict|set): results come back in input order"):
            encoder.encode_queries(unordered)  # type: ignore[arg-type]


def test_numpy_integers_are_integers(encoder: JV4Encoder) -> None:
    want = encoder.encode_queries(["one", "two", "three"], batch_size=2, max_length=8, truncate_dim=16)
    got = encoder.encode_queries(
        ["one", "two", "three"], batch_size=np.int64(2), max_length=np.int32(8), truncate_dim=np.int64(16)
    )
    np.testing.assert_array_equal(got.dense, want.dense)
    for bad in (True, 2.0, np.float64(2)):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            encoder.encode_queries(["x"], batch_size=bad)  # type: ignore[arg-type]


@pytest.fixture()
def image_server(image_factory: Any) -> Iterator[tuple[str, bytes]]:
    data = _png(image_factory(21, (56, 56)))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/img.png", data
    server.shutdown()


def test_urls_are_fetched_only_on_opt_in_and_within_limits(
    encoder: JV4Encoder, image_server: tuple[str, bytes]
) -> None:
    url, data = image_server
    fetched = encoder.encode_documents([ImageRef(url)], allow_urls=True)
    np.testing.assert_array_equal(fetched.dense, encoder.encode_documents([data]).dense)
    with pytest.raises(InputError, match="larger than url_max_bytes=100"):
        encoder.encode_documents([ImageRef(url)], allow_urls=True, image_limits=ImageLimits(url_max_bytes=100))


# -- sharing and threads ----------------------------------------------------------------------------


def test_shared_returns_one_instance(encoder: JV4Encoder, tiny_checkpoint: Path) -> None:
    assert JV4Encoder.shared(str(tiny_checkpoint), device="cpu") is encoder
    assert JV4Encoder.shared(tiny_checkpoint, device="cpu", dtype="float32") is encoder
    results: list[JV4Encoder] = []
    threads = [
        threading.Thread(target=lambda: results.append(JV4Encoder.shared(str(tiny_checkpoint), device="cpu")))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is encoder for r in results)


def test_a_second_copy_in_another_dtype_is_announced(
    tiny_checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    copy = Path(shutil.copytree(tiny_checkpoint, tmp_path / "jv4-tiny"))
    first = JV4Encoder.shared(copy, device="cpu")
    with caplog.at_level(logging.WARNING, logger="jv4_integrations.core.registry"):
        again = JV4Encoder.shared(copy, device="cpu", dtype="float32")
    assert again is first and "second copy" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="jv4_integrations.core.registry"):
        half = JV4Encoder.shared(copy, device="cpu", dtype="bfloat16")
    assert half is not first and f"loading a second copy of {copy.resolve()}" in caplog.text
    assert (
        "(device cpu, dtype bfloat16, precision auto) beside the one(s) already loaded with cpu/float32/auto"
        in caplog.text
    )


def test_eight_threads_get_the_serial_results_and_share_batches(
    encoder: JV4Encoder, image_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = [[f"thread {t} text {i} " + "x " * (t + i) for i in range(5)] + [image_factory(30 + t)] for t in range(8)]
    serial = [encoder.encode_documents(items) for items in calls]
    engine = encoder._engine
    original = engine._forward
    gate = threading.Event()

    def slow_first(rows: Any, owners: Any) -> None:
        gate.wait(timeout=5)  # hold the first batch until every thread has submitted
        original(rows, owners)

    monkeypatch.setattr(engine, "_forward", slow_first)
    results: list[Any] = [None] * 8
    before = encoder.forward_calls

    def work(t: int) -> None:
        results[t] = encoder.encode_documents(calls[t])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait until 7 jobs are queued behind the running one
        with engine._cond:
            if len(engine._pending) == 7:
                break
        time.sleep(0.001)
    gate.set()
    for t in threads:
        t.join()
    for got, want in zip(results, serial, strict=False):
        np.testing.assert_allclose(got.dense, want.dense, atol=1e-5)
        for a, b in zip(got.multivector, want.multivector, strict=False):
            np.testing.assert_allclose(a, b, atol=1e-5)
    assert encoder.forward_calls - before == 2  # the first call's batch, then all seven others in one batch


def test_an_error_in_the_model_reaches_every_waiting_caller(
    encoder: JV4Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(rows: Any, owners: Any) -> None:
        raise RuntimeError("device lost")

    monkeypatch.setattr(encoder._engine, "_forward", boom)
    with pytest.raises(RuntimeError, match="device lost"):
        encoder.encode_queries(["x"])
    monkeypatch.undo()
    assert encoder.encode_queries(["x"]).dense.shape == (1, 64)  # the engine recovers


def test_one_callers_failing_rows_fail_only_that_caller(
    encoder: JV4Encoder, image_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    good_items: list[Any] = ["a good text", image_factory(31)]
    bad_items = ["poison " * 60]  # the only row this long: the patched forward fails on it
    want = encoder.encode_documents(good_items)
    engine = encoder._engine
    original = engine._forward
    gate = threading.Event()

    def forward(rows: Any, owners: Any) -> None:
        gate.wait(timeout=120)  # hold the first call until the other two are queued behind it
        if any(len(row) > 50 for row in rows):
            raise RuntimeError("bad row")
        original(rows, owners)

    monkeypatch.setattr(engine, "_forward", forward)
    results: dict[str, Any] = {}

    def work(name: str, items: list[Any]) -> None:
        try:
            results[name] = encoder.encode_documents(items)
        except RuntimeError as exc:
            results[name] = exc

    threads = [
        threading.Thread(target=work, args=a) for a in [("first", ["x"]), ("good", good_items), ("bad", bad_items)]
    ]
    threads[0].start()
    while not engine._running:
        time.sleep(0.001)
    for t in threads[1:]:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with engine._cond:
                if len(engine._pending) == 2:
                    break
            time.sleep(0.001)
    except BaseException:
        gate.set()
        raise
    with caplog.at_level(logging.WARNING, logger="jv4_integrations.core.engine"):
        gate.set()
        for t in threads:
            t.join()
    assert len(results) == 3
    assert isinstance(results["bad"], RuntimeError) and "bad row" in str(results["bad"])
    np.testing.assert_allclose(results["good"].dense, want.dense, atol=1e-5)
    for a, b in zip(results["good"].multivector, want.multivector, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert results["first"].dense.shape == (1, 64)
    assert "a batch shared by 2 calls failed (bad row); running each call alone" in caplog.text


def test_special_token_strings_in_text_are_plain_text(encoder: JV4Encoder, image_factory: Any) -> None:
    image = image_factory(12)
    texts = ["describe <|image_pad|> here", "a <|vision_start|><|im_end|> b", "<|endoftext|>"]
    together = encoder.encode_documents([*texts, image, Mixed("look <|image_pad|>", [image])])
    alone = [encoder.encode_documents([item]) for item in [*texts, image, Mixed("look <|image_pad|>", [image])]]
    for k, single in enumerate(alone):
        np.testing.assert_allclose(together.dense[k], single.dense[0], atol=1e-5)
    tokenizer = encoder._engine.builder.tokenizer
    for k, text in enumerate(texts):  # each special-token string is several ordinary tokens
        assert together.n_tokens[k] > len(tokenizer("Passage: " + text, add_special_tokens=False)["input_ids"])


def test_images_past_the_memory_budget_are_decoded_again_with_equal_results(
    encoder: JV4Encoder, image_factory: Any, tmp_path: Path
) -> None:
    from jv4_integrations.core.inputs import DeferredImage, prepare_items

    data = [_png(image_factory(40 + i, (84, 56))) for i in range(3)]
    path = tmp_path / "page.png"
    path.write_bytes(data[2])

    def items() -> list[Any]:  # a fresh file object each time: reading consumes it
        return [data[0], io.BytesIO(data[1]), path, image_factory(43)]

    tight = ImageLimits(max_decoded_bytes=84 * 56 * 3)  # room for one decoded image
    prepared = prepare_items(items(), limits=tight)
    kinds = [type(p.images[0]).__name__ for p in prepared]
    assert kinds == ["Image", "DeferredImage", "DeferredImage", "Image"]  # caller's PIL images are kept
    assert isinstance(prepared[2].images[0], DeferredImage) and prepared[2].images[0].source == path
    deferred = encoder.encode_documents(items(), image_limits=tight)
    eager = encoder.encode_documents(items())
    np.testing.assert_array_equal(deferred.dense, eager.dense)
