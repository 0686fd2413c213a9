"""Input items: what the encode API accepts, validated and turned into text or RGB images.

A ``str`` is always text. Images are ``PIL.Image.Image``, ``pathlib.Path``, ``bytes`` (or
``bytearray`` / ``memoryview``), a binary file object, or an explicit :class:`ImageRef` for a path or
URI given as a string: a plain string is never guessed to be a path. :class:`Mixed` holds one text
and one or more images encoded as a single sequence.

Every item is checked before any model computation; all problems are reported together in one
:class:`~jv4_integrations.errors.InputError` naming each item's index and reason.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import urllib.parse
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ..errors import InputError, InputProblem

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["ImageRef", "Mixed", "ImageLimits", "PreparedItem", "prepare_items", "InputItem", "ImageInput"]

#: PIL's own decompression-bomb threshold, used as our default.
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
_SCHEMES_REMOTE = ("http", "https")
_SUPPORTED = "str (text), PIL.Image.Image, pathlib.Path, bytes, a binary file object, ImageRef or Mixed"


@dataclass(frozen=True)
class ImageRef:
    """An explicit reference to an image: a local path or a URI.

    Accepted forms: a filesystem path, ``file://…``, ``data:image/…;base64,…`` and (only when the
    call opts in with ``allow_urls=True``) ``http(s)://…``.

    Example:
        >>> ImageRef("scans/page-001.png")
        ImageRef(ref='scans/page-001.png')
    """

    ref: str

    def __init__(self, ref: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "ref", os.fspath(ref))

    @property
    def is_remote(self) -> bool:
        """Whether this is an http(s) URL."""
        return urllib.parse.urlsplit(self.ref).scheme.lower() in _SCHEMES_REMOTE


@dataclass(frozen=True)
class Mixed:
    """One input made of a text and one or more images, encoded as a single sequence.

    The sequence is the image prompt's chat wrapper holding every image block, then the role's
    prefix and the text: ``<|im_start|>user\\n<|vision_start|>…<|vision_end|>…Passage: {text}<|im_end|>\\n``.
    The dense vector is the mean over the image blocks and the prefixed text (the wrapper tokens
    are excluded, like the image rule); the multi-vector keeps every token.

    Example:
        >>> from pathlib import Path
        >>> Mixed("Quarterly revenue by region", [Path("chart.png")]).text
        'Quarterly revenue by region'
    """

    text: str
    images: tuple[Any, ...] = field(default_factory=tuple)

    def __init__(self, text: str, images: Sequence[Any] | Any) -> None:
        if not isinstance(images, (list, tuple)):
            images = (images,)
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "images", tuple(images))


ImageInput = Union["PILImage.Image", Path, bytes, bytearray, memoryview, ImageRef, io.IOBase]
InputItem = Union[str, ImageInput, Mixed]  # noqa: UP007 - runtime aliases must work on Python 3.10


@dataclass(frozen=True)
class ImageLimits:
    """Safety limits for reading images.

    Attributes:
        max_image_pixels: larger images are rejected as decompression bombs (before decoding).
        url_timeout: seconds allowed for fetching one URL.
        url_max_bytes: larger downloads are rejected.
        max_aspect_ratio: the Qwen2-VL processor rejects longer or thinner images.
        max_decoded_bytes: decoded pixels one call keeps in memory after validation; beyond it, images
            read from files, bytes or URLs are decoded again when their batch runs (PIL images
            given by the caller are always kept).
    """

    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    url_timeout: float = 10.0
    url_max_bytes: int = 32 * 1024 * 1024
    max_aspect_ratio: float = 200.0
    max_decoded_bytes: int = 1 << 30


@dataclass(frozen=True)
class DeferredImage:
    """A validated image whose pixels are decoded again when its batch runs (bounded memory).

    Attributes:
        source: the file or the encoded bytes it was read from.
        width: width after EXIF rotation.
        height: height after EXIF rotation.
        limits: the limits it was validated with.
    """

    source: Path | bytes
    width: int
    height: int
    limits: ImageLimits

    def load(self) -> PILImage.Image:
        """Decode the image (RGB, EXIF-rotated), exactly as validation did."""
        try:
            return _decode(self.source if isinstance(self.source, Path) else io.BytesIO(self.source), self.limits)
        except _Reject as exc:  # the file changed after validation
            raise OSError(
                f"image {self.source if isinstance(self.source, Path) else '(bytes)'} changed: {exc}"
            ) from None


def materialize(image: PILImage.Image | DeferredImage) -> PILImage.Image:
    """The decoded image of a prepared item."""
    return image.load() if isinstance(image, DeferredImage) else image


@dataclass
class PreparedItem:
    """A validated item: text, images (RGB, EXIF-rotated), or both.

    Attributes:
        kind: ``"text"``, ``"image"`` or ``"mixed"``.
        text: the text (``None`` for a pure image).
        images: decoded RGB images (or :class:`DeferredImage` beyond the call's memory budget).
    """

    kind: str
    text: str | None
    images: list[PILImage.Image | DeferredImage]


class _Reject(Exception):
    """Internal: one item's reason for rejection."""


def _describe(value: Any) -> str:
    text = " ".join(repr(value).split())  # one line, whatever the repr (arrays print several)
    return text if len(text) <= 60 else text[:57] + "..."


def _fetch(url: str, limits: ImageLimits) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "jv4-integrations"})
    try:
        with urllib.request.urlopen(request, timeout=limits.url_timeout) as response:
            data: bytes = response.read(limits.url_max_bytes + 1)
    except Exception as exc:  # urllib raises URLError, HTTPError, TimeoutError, ValueError…
        raise _Reject(f"cannot fetch {url!r}: {exc}") from None
    if len(data) > limits.url_max_bytes:
        raise _Reject(f"{url!r} is larger than url_max_bytes={limits.url_max_bytes}")
    return data


def _open_ref(ref: ImageRef, allow_urls: bool, limits: ImageLimits) -> Any:
    parts = urllib.parse.urlsplit(ref.ref)
    scheme = parts.scheme.lower()
    if scheme in _SCHEMES_REMOTE:
        if not allow_urls:
            raise _Reject(
                f"URL {ref.ref!r} is not fetched: fetching URLs is off; turn it on with allow_urls=True where "
                "you set options: encode(...), MultiVectorCollection.add(...), JV4Embeddings(...) for LangChain, "
                "JV4Embedding(...) for LlamaIndex"
            )
        return io.BytesIO(_fetch(ref.ref, limits))
    if scheme == "data":
        header, _, payload = ref.ref.partition(",")
        if ";base64" not in header:
            raise _Reject("data: URI must be base64-encoded")
        try:
            return io.BytesIO(base64.b64decode(payload, validate=True))
        except (binascii.Error, ValueError):
            raise _Reject("data: URI holds invalid base64") from None
    if scheme == "file":
        return Path(urllib.request.url2pathname(parts.path))
    if scheme and len(scheme) > 1:  # one letter is a Windows drive
        raise _Reject(f"unsupported URI scheme {scheme!r} in {ref.ref!r}; expected a path, file:, data: or http(s):")
    return Path(ref.ref)


def to_rgb(image: PILImage.Image) -> PILImage.Image:
    """Convert any PIL mode to RGB: transparency over white, 16-bit and float scaled to 8 bits.

    Args:
        image: a decoded image in any mode (RGBA, LA, P, L, 1, CMYK, I;16, I, F, …).

    Returns:
        An RGB image of the same size.
    """
    import numpy as np
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        arr = arr / 257.0 if mode.startswith("I;16") else _wide_to_8bit(arr, is_float=mode == "F")
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L").convert("RGB")
    if mode == "La":  # premultiplied alpha: PIL converts it only to LA
        image, mode = image.convert("LA"), "LA"
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _wide_to_8bit(arr: Any, *, is_float: bool) -> Any:
    """0-255 values of a 32-bit integer (``I``) or float (``F``) grayscale image, by the range its
    values fit: floats in [0, 1] are scaled by 255; values in [0, 255] are kept (8-bit data); values
    up to 65535 are 16-bit data, scaled like ``I;16``; anything else is stretched from its minimum
    to its maximum. 16-bit data above 255 thus gives the pixels ``I;16`` gives."""
    lo, hi = float(arr.min()), float(arr.max())
    if is_float and lo >= 0.0 and hi <= 1.0:
        return arr * 255.0
    if lo >= 0.0 and hi <= 255.0:
        return arr
    if lo >= 0.0 and hi <= 65535.0:
        return arr / 257.0
    return (arr - lo) * (255.0 / (hi - lo))


def _decode(source: Any, limits: ImageLimits) -> PILImage.Image:
    """Open, size-check, fully decode and normalise one image."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(source, Image.Image):
        image = source
        if image.width == 0 or image.height == 0:
            raise _Reject(f"image has zero size {image.size}")
        if image.width * image.height > limits.max_image_pixels:
            raise _Reject(
                f"image of {image.width}x{image.height} pixels exceeds max_image_pixels={limits.max_image_pixels}"
            )
        try:
            image.load()
        except Exception as exc:
            raise _Reject(f"cannot decode the image: {exc}") from None
    else:
        if isinstance(source, Path):
            if not source.exists():
                raise _Reject(f"image file {str(source)!r} does not exist")
            if not source.is_file():
                raise _Reject(f"{str(source)!r} is not a file")
        elif isinstance(source, (bytes, bytearray, memoryview)):
            if len(source) == 0:
                raise _Reject("empty image bytes")
            source = io.BytesIO(bytes(source))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(source)
            if image.width == 0 or image.height == 0:
                raise _Reject(f"image has zero size {image.size}")
            if image.width * image.height > limits.max_image_pixels:
                raise _Reject(
                    f"image of {image.width}x{image.height} pixels exceeds max_image_pixels={limits.max_image_pixels} "
                    "(decompression-bomb guard; raise the limit for very large scans)"
                )
            image.load()
        except _Reject:
            raise
        except Image.DecompressionBombError as exc:
            raise _Reject(f"decompression bomb: {exc}") from None
        except UnidentifiedImageError:
            raise _Reject("not a readable image (unknown or corrupt format)") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise _Reject(f"cannot decode the image (truncated or corrupt): {exc}") from None
    if getattr(image, "n_frames", 1) > 1 and not isinstance(source, Image.Image):
        image.seek(0)  # a file of several frames: its first; a caller's image keeps the frame it is on
    image = ImageOps.exif_transpose(image) or image
    ratio = max(image.width, image.height) / min(image.width, image.height)
    if ratio > limits.max_aspect_ratio:
        raise _Reject(
            f"aspect ratio {ratio:.0f}:1 of a {image.width}x{image.height} image "
            f"exceeds {limits.max_aspect_ratio:.0f}:1"
        )
    try:
        return to_rgb(image)
    except (ValueError, OSError) as exc:
        raise _Reject(f"cannot convert an image of mode {image.mode!r} to RGB: {exc}") from None


class _Budget:
    """Decoded bytes kept so far in one call; images past the budget are deferred."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def keep(self, image: PILImage.Image, source: Path | bytes | None, limits: ImageLimits) -> Any:
        size = image.width * image.height * 3
        if source is None or self.used + size <= self.limit:
            self.used += size
            return image
        deferred = DeferredImage(source, image.width, image.height, limits)
        image.close()
        return deferred


def _load_image(value: Any, allow_urls: bool, limits: ImageLimits, budget: _Budget) -> Any:
    from PIL import Image

    if isinstance(value, ImageRef):
        opened = _open_ref(value, allow_urls, limits)
        source = opened if isinstance(opened, Path) else opened.getvalue()
        return budget.keep(_decode(opened, limits), source, limits)
    if isinstance(value, Image.Image):
        return budget.keep(_decode(value, limits), None, limits)
    if isinstance(value, Path):
        return budget.keep(_decode(value, limits), value, limits)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return budget.keep(_decode(value, limits), bytes(value), limits)
    if hasattr(value, "read"):
        if isinstance(value, io.TextIOBase):
            raise _Reject("a text-mode file object; open image files in binary mode ('rb')")
        data = value.read()
        return budget.keep(_decode(io.BytesIO(data), limits), data, limits)
    if value is None:
        raise _Reject("None is not an image")
    if isinstance(value, str):
        raise _Reject(f"a plain string {_describe(value)} is not an image; wrap paths and URLs in ImageRef(...)")
    raise _Reject(
        f"unsupported image type {type(value).__name__}; expected PIL.Image.Image, pathlib.Path, bytes, "
        "a binary file object or ImageRef"
    )


def _check_text(text: str) -> None:
    """Refuse text that is not valid Unicode (lone surrogates, e.g. from a bad decode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _Reject(
            f"text is not valid Unicode: {exc.reason} at character {exc.start} "
            "(decode the source with errors='replace' to keep it)"
        ) from None


def _prepare_one(item: Any, allow_urls: bool, limits: ImageLimits, budget: _Budget) -> PreparedItem:
    if isinstance(item, str):
        _check_text(item)
        return PreparedItem("text", item, [])
    if isinstance(item, Mixed):
        if not isinstance(item.text, str):
            raise _Reject(f"Mixed.text must be a str, got {type(item.text).__name__}")
        _check_text(item.text)
        if not item.images:
            raise _Reject("Mixed item has no images; pass the text as a plain str instead")
        images = []
        for j, image in enumerate(item.images):
            try:
                images.append(_load_image(image, allow_urls, limits, budget))
            except _Reject as exc:
                raise _Reject(f"image {j} of the Mixed item: {exc}") from None
        return PreparedItem("mixed", item.text, images)
    if item is None:
        raise _Reject(f"None is not a valid input; expected {_SUPPORTED}")
    from PIL import Image

    if isinstance(item, (ImageRef, Image.Image, Path, bytes, bytearray, memoryview)) or hasattr(item, "read"):
        return PreparedItem("image", None, [_load_image(item, allow_urls, limits, budget)])
    raise _Reject(f"unsupported input type {type(item).__name__} ({_describe(item)}); expected {_SUPPORTED}")


def prepare_items(
    inputs: Sequence[Any], *, allow_urls: bool = False, limits: ImageLimits | None = None
) -> list[PreparedItem]:
    """Validate and decode every item, or raise one :class:`InputError` listing all bad ones.

    Args:
        inputs: the items.
        allow_urls: fetch ``ImageRef("http(s)://…")`` items.
        limits: image safety limits.

    Returns:
        One :class:`PreparedItem` per input, in order.
    """
    if isinstance(inputs, (str, bytes, Mixed, ImageRef)) or not isinstance(inputs, Sequence):
        raise TypeError(
            f"inputs must be a list (or other sequence) of items, got {type(inputs).__name__}; "
            "wrap a single item in a list"
        )
    limits = limits or ImageLimits()
    prepared: list[PreparedItem] = []
    problems: list[InputProblem] = []
    budget = _Budget(limits.max_decoded_bytes)
    for index, item in enumerate(inputs):
        try:
            prepared.append(_prepare_one(item, allow_urls, limits, budget))
        except _Reject as exc:
            problems.append(InputProblem(index, str(exc)))
    if problems:
        raise InputError(problems)
    return prepared
