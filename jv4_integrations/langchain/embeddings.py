"""``JV4Embeddings``: jina-embeddings-v4 as a LangChain ``Embeddings``, in process.

Construction is cheap: the model is loaded on first use through :meth:`JV4Encoder.shared`, so every
instance for the same checkpoint (and the LlamaIndex and Qdrant parts) shares one set of weights.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .._optional import require
from ..core.hub import DEFAULT_MODEL
from ..errors import InputError, InputProblem

try:
    from langchain_core.embeddings import Embeddings
    from langchain_core.runnables.config import run_in_executor
    from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator
except ImportError:  # pragma: no cover - exercised by a test that hides langchain_core
    require("langchain_core", purpose="JV4Embeddings")  # raises MissingDependencyError naming the extra
    raise

if TYPE_CHECKING:
    from ..core.encoder import JV4Encoder

__all__ = ["JV4Embeddings"]

#: ``JV4Encoder.shared`` options accepted in ``model_kwargs`` (device, dtype, precision are fields).
_MODEL_KWARGS: tuple[str, ...] = ("revision", "cache_dir", "local_files_only", "merged_task")
#: ``encode`` options accepted in ``encode_kwargs`` / ``query_encode_kwargs``.
_ENCODE_KWARGS: tuple[str, ...] = ("max_length", "max_tokens_per_batch", "max_pixels", "show_progress", "image_limits")
#: encode options that have a field of their own (option -> field).
_OWN_FIELD = {"task": "task", "truncate_dim": "dimensions", "batch_size": "batch_size", "allow_urls": "allow_urls"}


class JV4Embeddings(BaseModel, Embeddings):
    """jina-embeddings-v4 dense embeddings for LangChain: text (query/passage prompts) and images.

    The model loads lazily on first use and is shared process-wide; results are lists of Python
    floats of size ``dimensions`` (2048 for the published model by default). Images are documents:
    embed them with :meth:`embed_image` and search them with :meth:`embed_query`.

    Example:
        >>> from jv4_integrations.langchain import JV4Embeddings
        >>> emb = JV4Embeddings(dimensions=512)  # cheap: nothing is loaded yet
        >>> vectors = emb.embed_documents(["Qdrant stores vectors."])  # doctest: +SKIP
        >>> query = emb.embed_query("which database stores vectors?")  # doctest: +SKIP
        >>> pages = emb.embed_image(["scans/page-001.png"])  # doctest: +SKIP
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), populate_by_name=True)

    model_name: str = Field(default=DEFAULT_MODEL, alias="model")
    """Hub repository id or local directory of the checkpoint."""
    task: Literal["retrieval", "text-matching", "code"] | None = None
    """LoRA task; ``None``: retrieval (or a merged variant's own task)."""
    dimensions: int | None = Field(default=None, ge=1)
    """Matryoshka size of the vectors (one of the checkpoint's ``dims``); ``None``: full size."""
    batch_size: int | None = Field(default=None, ge=1)
    """Most items per forward pass; ``None``: the core's default (64)."""
    device: str | None = None
    """Torch device; ``None``: cuda, then mps, then cpu."""
    dtype: str | None = None
    """``"float32"``, ``"bfloat16"`` or ``"float16"``; ``None``: bfloat16 on CUDA, float32 elsewhere."""
    precision: Literal["auto", "reference"] = "auto"
    """``"reference"`` reproduces Jina's bf16 recipe."""
    allow_urls: bool = False
    """Let :meth:`embed_image` fetch ``http(s)://`` URIs."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """More ``JV4Encoder.shared`` options: ``revision``, ``cache_dir``, ``local_files_only``, ``merged_task``."""
    encode_kwargs: dict[str, Any] = Field(default_factory=dict)
    """More encode options for every call: ``max_length``, ``max_tokens_per_batch``, ``max_pixels``, …"""
    query_encode_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Encode options for queries only; they update ``encode_kwargs``."""

    _encoder: JV4Encoder | None = PrivateAttr(default=None)

    @field_validator("model_kwargs")
    @classmethod
    def _check_model_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_keys(value, _MODEL_KWARGS, "model_kwargs", {"device": "device", "dtype": "dtype"})

    @field_validator("encode_kwargs", "query_encode_kwargs")
    @classmethod
    def _check_encode_kwargs(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return _check_keys(value, _ENCODE_KWARGS, str(info.field_name), _OWN_FIELD)

    @classmethod
    def from_encoder(cls, encoder: JV4Encoder, **fields: Any) -> JV4Embeddings:
        """Wrap an encoder you already hold (e.g. one built with ``JV4Encoder.from_pretrained``).

        Args:
            encoder: the encoder to use for every call.
            **fields: other fields (``task``, ``dimensions``, ``batch_size``, ``encode_kwargs``…);
                the model fields are taken from the encoder.

        Returns:
            Embeddings bound to ``encoder`` (copies keep the same encoder).

        Example:
            >>> enc = JV4Encoder.shared("jinaai/jina-embeddings-v4")  # doctest: +SKIP
            >>> emb = JV4Embeddings.from_encoder(enc, dimensions=128)  # doctest: +SKIP
        """
        from ..core.encoder import JV4Encoder

        if not isinstance(encoder, JV4Encoder):
            raise TypeError(f"encoder must be a JV4Encoder, got {type(encoder).__name__}")
        fixed = sorted({"model", "model_name", "device", "dtype", "precision", "model_kwargs"} & fields.keys())
        if fixed:
            raise ValueError(f"{fixed} are taken from the encoder; pass only the other fields")
        placement = encoder.placement
        embeddings = cls(
            model=encoder.name_or_path,
            device=placement.device,
            dtype=placement.dtype,
            precision=placement.precision,
            **fields,
        )
        embeddings._encoder = encoder
        embeddings._options(encoder, query=False)  # reject a bad task or dimensions now
        return embeddings

    @property
    def encoder(self) -> JV4Encoder:
        """The encoder in use: the process-wide shared one (loaded on first access) or the one given."""
        if self._encoder is not None:
            return self._encoder
        from ..core.encoder import JV4Encoder

        return JV4Encoder.shared(
            self.model_name, device=self.device, dtype=self.dtype, precision=self.precision, **self.model_kwargs
        )

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> JV4Embeddings:
        memo = {} if memo is None else memo
        if self._encoder is not None:
            memo[id(self._encoder)] = self._encoder  # copies share the model, never duplicate it
        return super().__deepcopy__(memo)

    # -- LangChain API ----------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents with the passage prompt; returns ``len(texts)`` lists of floats."""
        return self._embed(_texts(texts), query=False)

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query with the query prompt; returns one list of floats."""
        if not isinstance(text, str):
            raise InputError([InputProblem(0, _not_text(text))], what="query")
        return self._embed([text], query=True)[0]

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """Embed images as documents: paths, ``file:``/``data:`` URIs, ``http(s)`` with ``allow_urls``.

        ``pathlib.Path``, PIL images, ``bytes`` and :class:`~jv4_integrations.ImageRef` are accepted
        too. Unreadable images raise :class:`~jv4_integrations.InputError` naming each by index.
        """
        return self._embed(_images(uris), query=False)

    def embed_images(self, uris: list[str]) -> list[list[float]]:
        """Same as :meth:`embed_image` (the name some LangChain integrations call)."""
        return self.embed_image(uris)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """:meth:`embed_documents` in a worker thread: the event loop keeps running."""
        return await run_in_executor(None, self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """:meth:`embed_query` in a worker thread: the event loop keeps running."""
        return await run_in_executor(None, self.embed_query, text)

    async def aembed_image(self, uris: list[str]) -> list[list[float]]:
        """:meth:`embed_image` in a worker thread: the event loop keeps running."""
        return await run_in_executor(None, self.embed_image, uris)

    async def aembed_images(self, uris: list[str]) -> list[list[float]]:
        """:meth:`embed_images` in a worker thread: the event loop keeps running."""
        return await run_in_executor(None, self.embed_image, uris)

    # -- internals ----------------------------------------------------------------------------

    def _embed(self, items: list[Any], *, query: bool) -> list[list[float]]:
        if not items:
            return []
        encoder = self.encoder
        options = self._options(encoder, query=query)
        encode = encoder.encode_queries if query else encoder.encode_documents
        return encode(items, output="dense", **options).dense_list()

    def _options(self, encoder: JV4Encoder, *, query: bool) -> dict[str, Any]:
        if self.task is not None and self.task not in encoder.tasks:
            raise ValueError(
                f"task {self.task!r} is not served by {encoder.name_or_path!r}; expected one of {list(encoder.tasks)}"
            )
        if self.dimensions is not None and self.dimensions not in encoder.dims:
            raise ValueError(
                f"dimensions={self.dimensions!r} is not a Matryoshka size of {encoder.name_or_path!r}; "
                f"expected None or one of {list(encoder.dims)}"
            )
        options = {**self.encode_kwargs, **self.query_encode_kwargs} if query else dict(self.encode_kwargs)
        options.update(
            task=self.task, truncate_dim=self.dimensions, batch_size=self.batch_size, allow_urls=self.allow_urls
        )
        return options


def _check_keys(value: dict[str, Any], allowed: tuple[str, ...], name: str, own: dict[str, str]) -> dict[str, Any]:
    for key in value:
        if key in own:
            raise ValueError(f"{name} key {key!r}: use the {own[key]!r} field instead")
        if key not in allowed:
            raise ValueError(f"unknown {name} key {key!r}; expected one of {list(allowed)}")
    return value


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _not_text(value: Any) -> str:
    if value is None:
        return "None is not a text; expected str"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"{type(value).__name__} is not a text (expected str); embed images with embed_image()"
    return f"expected str, got {type(value).__name__} ({_describe(value)})"


def _sequence(values: Any, what: str) -> list[Any]:
    if isinstance(values, (str, bytes, os.PathLike)) or not isinstance(values, Iterable):
        raise TypeError(f"{what} must be a list, got {type(values).__name__}; wrap a single item in a list")
    return list(values) if not isinstance(values, list) else values


def _texts(texts: Sequence[Any] | Iterable[Any], *, allow_empty: bool = True) -> list[str]:
    """Check every text at once (``allow_empty=False``: stores, where an empty text is no document)."""
    items = _sequence(texts, "texts")
    problems = [
        InputProblem(i, _not_text(t) if not isinstance(t, str) else f"empty text {t!r}")
        for i, t in enumerate(items)
        if not isinstance(t, str) or (not allow_empty and not t.strip())
    ]
    if problems:
        raise InputError(problems, what="text")
    return items


def _images(uris: Sequence[Any] | Iterable[Any]) -> list[Any]:
    """Strings and paths become ``ImageRef``; image objects go to the core, which reads and checks them."""
    from PIL import Image

    from ..core.inputs import ImageRef

    items = _sequence(uris, "uris")
    image_types = (str, os.PathLike, ImageRef, Image.Image, bytes, bytearray, memoryview)
    problems = [
        InputProblem(i, f"expected an image path or URI (str), got {type(u).__name__} ({_describe(u)})")
        for i, u in enumerate(items)
        if not (isinstance(u, image_types) or hasattr(u, "read"))
    ]
    if problems:
        raise InputError(problems, what="image")
    return [ImageRef(u) if isinstance(u, (str, os.PathLike)) else u for u in items]
