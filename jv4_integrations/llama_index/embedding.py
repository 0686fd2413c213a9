"""``JV4Embedding``: jina-embeddings-v4 as a LlamaIndex multimodal embedding and node transformation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

from llama_index.core.base.embeddings.base import Embedding, mean_agg
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator
from llama_index.core.callbacks.schema import CBEventType, EventPayload
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]  # re-exported
from llama_index.core.schema import BaseNode, ImageType

from ..core.config import TASKS
from ..core.encoder import JV4Encoder, Output
from ..core.hub import DEFAULT_MODEL
from ..core.inputs import ImageInput
from ..core.results import EncodeResult
from ..errors import InputError
from .capture import MultivectorCapture
from .loading import EncoderSlot, check_encode_kwargs, check_model_kwargs
from .nodes import ImageNodeText, image_items, labels, name_nodes, node_items, text_items

__all__ = ["JV4Embedding", "NODES_PER_CALL"]

logger = logging.getLogger(__name__)
dispatcher = get_dispatcher(__name__)

#: The transformation encodes at most this many nodes per encode call (bounds decoded-image memory).
NODES_PER_CALL = 256


class JV4Embedding(MultiModalEmbedding):
    """jina-embeddings-v4 in process for LlamaIndex: queries, passages and images in one vector space.

    Queries get the query prompt, texts the passage prompt; images are encoded as documents. As a
    transformation (in an ``IngestionPipeline`` or called on nodes) it embeds image nodes from their
    image and every other node from its ``MetadataMode.EMBED`` text, all in one encode call, in
    order. The model is loaded on first use through :meth:`JV4Encoder.shared`, so every adapter in
    the process shares one set of weights; it is not a pydantic field, so the pipeline cache key
    depends only on the settings below.

    Args:
        encoder: an already loaded :class:`~jv4_integrations.JV4Encoder` to use instead of loading
            ``model_name`` (then ``model_name``, ``device``, ``dtype`` and ``precision`` are the
            encoder's). :meth:`from_encoder` does the same.
        **data: the settings below, by name.

    Attributes:
        model_name: Hub repository id or local directory of the checkpoint.
        task: ``"retrieval"``, ``"text-matching"`` or ``"code"`` (``None``: the checkpoint's default,
            retrieval for the published model).
        dimensions: Matryoshka size of the vectors (one of the encoder's ``dims``; ``None`` = full).
        device: ``None`` picks cuda, then mps, then cpu.
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (``None``: bfloat16 on CUDA, float32
            elsewhere).
        precision: ``"auto"``, or ``"reference"`` for Jina's bf16 recipe.
        embed_batch_size: most items per forward pass (and per LlamaIndex batch).
        allow_urls: fetch ``http(s)`` images (image URLs of nodes and image methods); off by default.
        image_node_text: ``"ignore"`` (default): an image node is embedded from its image alone, the
            same vector ``MultiModalVectorStoreIndex`` stores for it; ``"mixed"``: an image node that
            has text is embedded as one text+image sequence (``Mixed``).
        model_kwargs: more loading options of :meth:`JV4Encoder.shared`: ``revision``,
            ``cache_dir``, ``local_files_only``, ``merged_task``.
        encode_kwargs: more encode options: ``max_length``, ``max_tokens_per_batch``, ``max_pixels``.

    Example:
        >>> from llama_index.core.ingestion import IngestionPipeline  # doctest: +SKIP
        >>> from llama_index.core.schema import ImageNode, TextNode  # doctest: +SKIP
        >>> embed = JV4Embedding(dimensions=512)  # doctest: +SKIP
        >>> nodes = IngestionPipeline(transformations=[embed]).run(  # doctest: +SKIP
        ...     nodes=[TextNode(text="Revenue grew 12% in EMEA."), ImageNode(image_path="chart.png")])
        >>> len(nodes[1].embedding), len(embed.get_query_embedding("revenue by region"))  # doctest: +SKIP
        (512, 512)
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), populate_by_name=True)

    model_name: str = Field(default=DEFAULT_MODEL, description="Hub repository id or local checkpoint directory.")
    task: str | None = Field(default=None, description="retrieval, text-matching or code (None: the default).")
    dimensions: int | None = Field(default=None, gt=0, description="Matryoshka size of the vectors (None: full).")
    device: str | None = Field(default=None, description="Where the model runs (None: cuda, mps, then cpu).")
    dtype: str | None = Field(default=None, description="float32, bfloat16 or float16 (None: by device).")
    precision: Literal["auto", "reference"] = Field(default="auto", description="'reference': Jina's bf16 recipe.")
    embed_batch_size: int = Field(default=64, gt=0, le=2048, description="Most items per forward pass.")
    allow_urls: bool = Field(default=False, description="Fetch http(s) images.")
    image_node_text: ImageNodeText = Field(
        default="ignore", description="Embed an image node's text with its image ('mixed') or not ('ignore')."
    )
    model_kwargs: dict[str, Any] = Field(default_factory=dict, description="More JV4Encoder.shared options.")
    encode_kwargs: dict[str, Any] = Field(default_factory=dict, description="More encode options.")

    _slot: EncoderSlot = PrivateAttr(default_factory=EncoderSlot)
    # multi-vectors for an attached JV4QdrantVectorStore (inactive until one attaches; never pickled)
    _capture: MultivectorCapture = PrivateAttr(default_factory=MultivectorCapture)

    def __init__(self, *, encoder: JV4Encoder | None = None, **data: Any) -> None:
        if encoder is not None:
            if not isinstance(encoder, JV4Encoder):
                raise TypeError(f"encoder must be a JV4Encoder, got {type(encoder).__name__}")
            placement = encoder.placement
            fixed = {
                "model_name": encoder.name_or_path,
                "device": placement.device,
                "dtype": placement.dtype,
                "precision": placement.precision,
            }
            for key, value in fixed.items():
                given = data.setdefault(key, value)
                if given != value:
                    raise ValueError(f"{key}={given!r} conflicts with the encoder's {value!r}; pass one or the other")
        super().__init__(**data)
        if encoder is not None:
            self._check_dimensions(encoder)
            self._slot.encoder = encoder

    @classmethod
    def from_encoder(cls, encoder: JV4Encoder, **fields: Any) -> JV4Embedding:
        """Wrap an encoder you already hold (e.g. one built with ``JV4Encoder.from_pretrained``).

        Args:
            encoder: the encoder to use for every call.
            **fields: the other fields (``task``, ``dimensions``, ``embed_batch_size``…); the model
                fields (``model_name``, ``device``, ``dtype``, ``precision``) are the encoder's.

        Returns:
            An embedding bound to ``encoder`` (copies keep the same encoder).

        Example:
            >>> enc = JV4Encoder.from_pretrained("./jina-embeddings-v4", device="cuda:1")  # doctest: +SKIP
            >>> embed = JV4Embedding.from_encoder(enc, dimensions=512)  # doctest: +SKIP
        """
        return cls(encoder=encoder, **fields)

    @classmethod
    def class_name(cls) -> str:
        return "JV4Embedding"

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str | None) -> str | None:
        if value is not None and value not in TASKS:
            raise ValueError(f"unknown task {value!r}; expected None or one of {list(TASKS)}")
        return value

    @field_validator("model_kwargs")
    @classmethod
    def _plain_model_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_model_kwargs(value)

    @field_validator("encode_kwargs")
    @classmethod
    def _plain_encode_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_encode_kwargs(value)

    @model_validator(mode="after")
    def _no_embeddings_cache(self) -> JV4Embedding:
        if self.embeddings_cache is not None:
            raise ValueError(
                "JV4Embedding does not take embeddings_cache: LlamaIndex keys it by the raw string only, so a "
                "query and a passage with the same text (encoded differently) would share one vector; cache "
                "ingestion with IngestionPipeline(cache=...) instead"
            )
        return self

    # -- the model ----------------------------------------------------------------------------

    @property
    def encoder(self) -> JV4Encoder:
        """The shared :class:`~jv4_integrations.JV4Encoder`, loaded on first use."""
        encoder = self._slot.encoder
        if encoder is None:
            logger.debug("JV4Embedding: getting the shared encoder for %r", self.model_name)
            encoder = JV4Encoder.shared(
                self.model_name, device=self.device, dtype=self.dtype, precision=self.precision, **self.model_kwargs
            )
            self._check_dimensions(encoder)
            self._slot.encoder = encoder
        return encoder

    def _check_dimensions(self, encoder: JV4Encoder) -> None:
        if self.dimensions is not None and self.dimensions not in encoder.dims:
            raise ValueError(
                f"dimensions={self.dimensions!r} is not a Matryoshka size of {encoder.name_or_path!r}; "
                f"expected None or one of {list(encoder.dims)}"
            )

    def _encode(
        self,
        items: list[Any],
        *,
        prompt: Literal["query", "passage"],
        output: Output = "dense",
        show_progress: bool = False,
    ) -> EncodeResult:
        return self.encoder.encode(
            items,
            prompt=prompt,
            task=self.task,
            output=output,
            truncate_dim=self.dimensions,
            batch_size=self.embed_batch_size,
            allow_urls=self.allow_urls,
            show_progress=show_progress,
            **self.encode_kwargs,
        )

    def vector_settings(self) -> tuple[Any, ...]:
        """Everything besides the input that determines a passage vector (the key of captured multi-vectors)."""
        return (
            self.model_name,
            self.device,
            self.dtype,
            self.precision,
            self.task,
            self.dimensions,
            self.image_node_text,
            tuple(sorted((k, v) for k, v in self.encode_kwargs.items() if k != "max_tokens_per_batch")),
        )

    def _encode_passages(self, items: list[Any], encode: Callable[[Output], EncodeResult]) -> list[Embedding]:
        """Dense vectors of passages; with a store attached, multi-vectors from the same pass are captured."""
        if not self._capture.active:
            return encode("dense").dense_list()
        result = encode("both")
        assert result.dense is not None and result.multivector is not None
        self._capture.put(self.vector_settings(), items, result.dense, result.multivector)
        return result.dense_list()

    def _vectors(self, items: list[Any], prompt: Literal["query", "passage"]) -> list[Embedding]:
        if not items:
            return []
        if prompt == "passage":
            return self._encode_passages(items, lambda output: self._encode(items, prompt=prompt, output=output))
        return self._encode(items, prompt=prompt).dense_list()

    def _with_events(self, items: Sequence[Any], compute: Callable[[], list[Embedding]]) -> list[Embedding]:
        """Run ``compute`` inside LlamaIndex's embedding callback and instrumentation events."""
        from llama_index.core.instrumentation.events.embedding import EmbeddingEndEvent, EmbeddingStartEvent

        model_dict = self.to_payload()
        dispatcher.event(EmbeddingStartEvent(model_dict=model_dict))
        with self.callback_manager.event(CBEventType.EMBEDDING, payload={EventPayload.SERIALIZED: model_dict}) as ev:
            vectors = compute()
            chunks = labels(items)
            ev.on_end(payload={EventPayload.CHUNKS: chunks, EventPayload.EMBEDDINGS: vectors})
        dispatcher.event(EmbeddingEndEvent(chunks=chunks, embeddings=vectors))
        return vectors

    # -- queries, texts and images (LlamaIndex's private hooks) ------------------------------

    def _get_query_embeddings(self, queries: Sequence[Any]) -> list[Embedding]:
        return self._vectors(text_items(queries, what="query"), "query")

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._get_query_embeddings([query])[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await asyncio.to_thread(self._get_query_embeddings, [query]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._vectors(text_items(texts, what="text"), "passage")

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_image_embeddings(self, img_file_paths: Sequence[ImageType | ImageInput]) -> list[Embedding]:
        return self._vectors(image_items(img_file_paths), "passage")

    def _get_image_embedding(self, img_file_path: ImageType | ImageInput) -> Embedding:
        return self._get_image_embeddings([img_file_path])[0]

    async def _aget_image_embeddings(self, img_file_paths: Sequence[ImageType | ImageInput]) -> list[Embedding]:
        return await asyncio.to_thread(self._get_image_embeddings, img_file_paths)

    async def _aget_image_embedding(self, img_file_path: ImageType | ImageInput) -> Embedding:
        return (await self._aget_image_embeddings([img_file_path]))[0]

    def get_agg_embedding_from_queries(
        self, queries: list[str], agg_fn: Callable[..., Embedding] | None = None
    ) -> Embedding:
        """Aggregate (default: mean) of the query embeddings, encoded in one call."""
        vectors = self._with_events(queries, lambda: self._get_query_embeddings(queries))
        return (agg_fn or mean_agg)(vectors)

    async def aget_agg_embedding_from_queries(
        self, queries: list[str], agg_fn: Callable[..., Embedding] | None = None
    ) -> Embedding:
        """Async :meth:`get_agg_embedding_from_queries` (the model runs in a worker thread)."""
        return await asyncio.to_thread(self.get_agg_embedding_from_queries, queries, agg_fn)

    def encode_queries(self, queries: Sequence[str], *, output: Output = "dense") -> EncodeResult:
        """Encode queries with the query prompt and these settings, and return the core's result.

        Args:
            queries: query strings.
            output: ``"dense"``, ``"multivector"`` or ``"both"`` (one forward pass gives both).

        Returns:
            An :class:`~jv4_integrations.EncodeResult` in query order.

        Example:
            >>> res = JV4Embedding().encode_queries(["revenue by region"], output="both")  # doctest: +SKIP
            >>> res.dense.shape, res.multivector[0].shape[1]  # doctest: +SKIP
            ((1, 2048), 128)
        """
        return self._encode(text_items(queries, what="query"), prompt="query", output=output)

    # -- nodes ----------------------------------------------------------------------------------

    def encode_nodes(
        self, nodes: Sequence[BaseNode], *, output: Output = "dense", show_progress: bool = False
    ) -> EncodeResult:
        """Encode nodes as the transformation does, in one encode call, and return the core's result.

        For code that needs more than ``node.embedding`` (e.g. multi-vectors for late interaction:
        ``output="both"`` gives dense and multi-vectors from one forward pass).

        Args:
            nodes: text and image nodes, in any mix.
            output: ``"dense"``, ``"multivector"`` or ``"both"``.
            show_progress: show a tqdm bar.

        Returns:
            An :class:`~jv4_integrations.EncodeResult` in node order.

        Raises:
            InputError: nodes without a usable image or with unreadable images, named by node id.

        Example:
            >>> res = JV4Embedding().encode_nodes([TextNode(text="hello")], output="both")  # doctest: +SKIP
            >>> res.dense.shape, res.multivector[0].shape[1]  # doctest: +SKIP
            ((1, 2048), 128)
        """
        items = node_items(nodes, image_node_text=self.image_node_text, allow_urls=self.allow_urls)
        return self._encode_node_items(items, nodes, output=output, show_progress=show_progress)

    def _encode_node_items(
        self,
        items: list[Any],
        nodes: Sequence[BaseNode],
        *,
        output: Output = "dense",
        show_progress: bool = False,
        offset: int = 0,
    ) -> EncodeResult:
        try:
            return self._encode(items, prompt="passage", output=output, show_progress=show_progress)
        except InputError as exc:
            raise name_nodes(exc, nodes, offset=offset) from None

    def _embed_window(
        self, items: list[Any], nodes: Sequence[BaseNode], offset: int, show_progress: bool
    ) -> list[Embedding]:
        window, owners = items[offset : offset + NODES_PER_CALL], nodes[offset : offset + NODES_PER_CALL]

        def encode(output: Output) -> EncodeResult:
            return self._encode_node_items(window, owners, output=output, show_progress=show_progress, offset=offset)

        return self._with_events(window, lambda: self._encode_passages(window, encode))

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Set ``node.embedding`` on every node: image nodes from their image, others from their text.

        All nodes are checked before anything is encoded; vectors are assigned once all are computed.
        """
        items = node_items(nodes, image_node_text=self.image_node_text, allow_urls=self.allow_urls)
        show_progress = bool(kwargs.get("show_progress", False))
        vectors: list[Embedding] = []
        for start in range(0, len(items), NODES_PER_CALL):
            vectors += self._embed_window(items, nodes, start, show_progress)
        for node, vector in zip(nodes, vectors, strict=True):
            node.embedding = vector
        return nodes

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Async :meth:`__call__`: the model runs in a worker thread, the event loop stays free."""
        return await asyncio.to_thread(self.__call__, nodes, **kwargs)
