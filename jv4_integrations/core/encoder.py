"""``JV4Encoder``: the one public entry point of the model core.

Every adapter (LangChain, LlamaIndex, Qdrant, the command line) calls :meth:`JV4Encoder.encode`
or its two role wrappers, and asks :meth:`JV4Encoder.shared` for the instance so that one set of
weights serves the whole process.
"""

from __future__ import annotations

import logging
import operator
import os
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Literal

from ..errors import UnsupportedOutputError
from .config import PROMPTS, TASKS, JV4Settings
from .hub import DEFAULT_MODEL
from .inputs import ImageLimits, prepare_items
from .results import EncodeResult

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import torch
    from torch import nn

    from .device import Placement
    from .engine import Engine
    from .preprocess import RowBuilder

logger = logging.getLogger(__name__)

Output = Literal["dense", "multivector", "both"]
OUTPUTS: tuple[str, ...] = ("dense", "multivector", "both")
#: Longest text the model reads (tokens); longer texts are cut with a warning.
MAX_LENGTH = 32768
_MIN_IMAGE_PIXELS = 28 * 28


class JV4Encoder:
    """jina-embeddings-v4 in process: text, images and text+image items to dense and multi-vectors.

    Build one with :meth:`from_pretrained` (a new instance) or :meth:`shared` (one instance per
    checkpoint, device, dtype and precision in the process). Instances are thread-safe: concurrent
    calls are batched together and the model runs one batch at a time.

    Example:
        >>> enc = JV4Encoder.shared("jinaai/jina-embeddings-v4")  # doctest: +SKIP
        >>> q = enc.encode_queries(["which chart shows revenue by region?"])  # doctest: +SKIP
        >>> d = enc.encode_documents(["Revenue grew in EMEA.", ImageRef("chart.png")])  # doctest: +SKIP
        >>> scores = q.dense @ d.dense.T  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        name_or_path: str,
        path: os.PathLike[str] | str,
        model: nn.Module,
        settings: JV4Settings,
        builder: RowBuilder,
        engine: Engine,
        placement: Placement,
    ) -> None:
        self.name_or_path = name_or_path
        self.path = os.fspath(path)
        self.model = model
        self.settings = settings
        self.placement = placement
        self._builder = builder
        self._engine = engine
        #: image safety limits used when a call passes none
        self.image_limits = ImageLimits()

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool | None = None,
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        precision: Literal["auto", "reference"] = "auto",
        merged_task: str | None = None,
    ) -> JV4Encoder:
        """Load a checkpoint with stock transformers + peft (never remote code, safetensors only).

        Args:
            name_or_path: a local directory or a Hub repository id.
            revision: Hub branch, tag or commit.
            cache_dir: Hugging Face cache directory.
            local_files_only: use only the cache (``None`` follows ``HF_HUB_OFFLINE``).
            device: ``None`` picks cuda, then mps, then cpu.
            dtype: ``None`` picks bfloat16 on CUDA, float32 elsewhere.
            precision: ``"auto"``, or ``"reference"`` for Jina's recipe (bf16 weights, forward and
                pooling under bf16 autocast, LoRA unmerged).
            merged_task: for the merged single-task variants (``…-vllm-<task>``), their task when
                the name does not tell.

        Returns:
            A new encoder.

        Raises:
            CheckpointError: unreachable, malformed or incomplete checkpoints (every missing,
                unexpected or mis-shaped tensor is named).
        """
        from .device import resolve_placement
        from .hub import resolve_checkpoint_dir

        placement = resolve_placement(device, dtype, precision)
        name = os.fspath(name_or_path)
        root = resolve_checkpoint_dir(name, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
        return cls._load(name, root, placement, merged_task)

    @classmethod
    def _load(cls, name: str, root: Path, placement: Placement, merged_task: str | None) -> JV4Encoder:
        """Load the checkpoint in the local directory ``root`` (``name`` is what the caller asked for)."""
        from .checkpoint import load_checkpoint
        from .engine import Engine
        from .model import Numerics
        from .preprocess import RowBuilder

        loaded = load_checkpoint(root, placement, merged_task=merged_task, name=name)
        builder = RowBuilder(loaded.tokenizer, loaded.settings, loaded.image_processor)
        numerics = Numerics(reference=placement.precision == "reference", device_type=placement.device_type)
        engine = Engine(loaded.model, builder, placement.device, numerics, uses_adapters=bool(loaded.settings.tasks))
        return cls(
            name_or_path=name,
            path=root,
            model=loaded.model,
            settings=loaded.settings,
            builder=builder,
            engine=engine,
            placement=placement,
        )

    @classmethod
    def shared(
        cls,
        name_or_path: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool | None = None,
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        precision: Literal["auto", "reference"] = "auto",
        merged_task: str | None = None,
    ) -> JV4Encoder:
        """The process-wide instance for a checkpoint, device, dtype and precision (loaded once).

        Takes the same arguments as :meth:`from_pretrained`. Concurrent first calls load once.
        """
        from .registry import shared_encoder

        return shared_encoder(
            cls,
            name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            device=device,
            dtype=dtype,
            precision=precision,
            merged_task=merged_task,
        )

    # -- facts --------------------------------------------------------------------------------

    @property
    def dims(self) -> tuple[int, ...]:
        """Allowed dense sizes (Matryoshka), ascending; the last is the full size."""
        return self.settings.matryoshka_dims

    @property
    def dim(self) -> int:
        """The full dense size (2048 for the published model)."""
        return self.settings.hidden_size

    @property
    def multivector_dim(self) -> int:
        """Width of a multi-vector token (128), or 0 for merged variants."""
        return self.settings.multivector_dim

    @property
    def tasks(self) -> tuple[str, ...]:
        """Tasks this checkpoint serves."""
        return self.settings.available_tasks

    @property
    def default_task(self) -> str:
        """``"retrieval"``, or the merged variant's task."""
        return self.settings.merged_task or ("retrieval" if "retrieval" in self.tasks else self.tasks[0])

    @property
    def supports_multivector(self) -> bool:
        """Whether multi-vectors can be asked for."""
        return self.settings.has_multivector

    @property
    def device(self) -> str:
        """Where the model runs."""
        return self.placement.device

    @property
    def forward_calls(self) -> int:
        """Number of model forward passes run so far by this instance."""
        return self._engine.forward_calls

    def __repr__(self) -> str:
        return (
            f"JV4Encoder({self.name_or_path!r}, device={self.placement.device!r}, dtype={self.placement.dtype!r}, "
            f"precision={self.placement.precision!r}, tasks={list(self.tasks)})"
        )

    # -- encoding -----------------------------------------------------------------------------

    def check_options(
        self,
        *,
        prompt: str,
        task: str | None,
        output: str,
        truncate_dim: int | None,
    ) -> str:
        """Validate call options (``ValueError`` listing the valid values); returns the task."""
        if prompt not in PROMPTS:
            raise ValueError(f"unknown prompt {prompt!r}; expected one of {list(PROMPTS)}")
        task = self.default_task if task is None else task
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
        if task not in self.tasks:
            raise UnsupportedOutputError(
                f"task {task!r} is not available in {self.name_or_path!r} (a merged single-task variant); "
                f"it serves {list(self.tasks)}"
            )
        if output not in OUTPUTS:
            raise ValueError(f"unknown output {output!r}; expected one of {list(OUTPUTS)}")
        if output != "dense" and not self.supports_multivector:
            raise UnsupportedOutputError(
                f"{self.name_or_path!r} has no multi-vector projector (a merged variant); use output='dense' or load "
                f"{DEFAULT_MODEL!r}"
            )
        if truncate_dim is not None and (not hasattr(type(truncate_dim), "__index__") or truncate_dim not in self.dims):
            raise ValueError(f"unsupported truncate_dim {truncate_dim!r}; expected None or one of {list(self.dims)}")
        return task

    def encode(
        self,
        inputs: Sequence[Any] | Iterable[Any],
        *,
        prompt: Literal["query", "passage"] = "query",
        task: str | None = None,
        output: Output = "both",
        truncate_dim: int | None = None,
        batch_size: int | None = None,
        max_tokens_per_batch: int | None = None,
        max_length: int | None = None,
        max_pixels: int | None = None,
        show_progress: bool = False,
        return_tensors: bool = False,
        allow_urls: bool = False,
        image_limits: ImageLimits | None = None,
    ) -> EncodeResult:
        """Encode text, images and text+image items; dense and multi-vectors from one forward pass.

        Args:
            inputs: items: ``str`` (text), images (``PIL.Image.Image``, ``pathlib.Path``, ``bytes``,
                binary file objects, :class:`~jv4_integrations.ImageRef`) and
                :class:`~jv4_integrations.Mixed` (text + images as one sequence). Any mix.
            prompt: ``"query"`` or ``"passage"``: selects the text prefix (images have one prompt).
            task: ``"retrieval"``, ``"text-matching"`` or ``"code"`` (default: retrieval, or a
                merged variant's task).
            output: ``"dense"``, ``"multivector"`` or ``"both"``.
            truncate_dim: Matryoshka size of the dense vectors (one of :attr:`dims`).
            batch_size: most rows per forward (default 64).
            max_tokens_per_batch: most padded tokens per forward (default 2048 on the CPU, 16384 on
                a GPU).
            max_length: text token limit (default 32768); longer texts are cut with one warning.
            max_pixels: image pixel budget (default: the checkpoint's, 602112 = 768 image tokens).
            show_progress: show a tqdm bar.
            return_tensors: return CPU torch tensors instead of numpy arrays.
            allow_urls: fetch ``ImageRef("http(s)://…")`` items (size and time limits apply).
            image_limits: image safety limits (default :attr:`image_limits`).

        Returns:
            An :class:`~jv4_integrations.EncodeResult`: ``dense`` ``(n, d)`` float32 and
            ``multivector`` a list of ``(n_tokens_i, 128)`` float32, in input order.

        Raises:
            ValueError: an unknown prompt, task, output or truncate_dim (the message lists the
                valid ones).
            InputError: one or more bad items, each named by index and reason; nothing is computed.
        """
        from .batching import DEFAULT_BATCH_SIZE, default_max_tokens
        from .engine import Job

        task = self.check_options(prompt=prompt, task=task, output=output, truncate_dim=truncate_dim)
        max_length = _positive("max_length", MAX_LENGTH if max_length is None else max_length)
        batch_size = _positive("batch_size", DEFAULT_BATCH_SIZE if batch_size is None else batch_size)
        max_tokens = default_max_tokens(self.device) if max_tokens_per_batch is None else max_tokens_per_batch
        max_tokens = _positive("max_tokens_per_batch", max_tokens)
        if max_pixels is not None:
            pixels = _as_int(max_pixels)
            if pixels is None or pixels < _MIN_IMAGE_PIXELS:
                raise ValueError(
                    f"max_pixels must be an int >= {_MIN_IMAGE_PIXELS} (one 28x28 image token), got {max_pixels!r}"
                )
            max_pixels = pixels
        items = prepare_items(_as_list(inputs), allow_urls=allow_urls, limits=image_limits or self.image_limits)
        rows = self._builder.build(items, prompt=prompt, task=task, max_length=max_length, max_pixels=max_pixels)
        cut = sum(r.truncated for r in rows)
        if cut:
            logger.warning(
                "%d of %d input(s) exceeded max_length=%d tokens and were truncated", cut, len(rows), max_length
            )
        progress = None
        if show_progress and rows:
            from tqdm.auto import tqdm

            progress = tqdm(total=len(rows), desc="encoding", unit="item")
        job = Job(
            rows=rows,
            truncate_dim=truncate_dim,
            want_dense=output != "multivector",
            want_multivector=output != "dense",
            max_pixels=max_pixels,
            batch_size=batch_size,
            max_tokens=max_tokens,
            progress=progress,
        )
        try:
            self._engine.run(job)
        finally:
            if progress is not None:
                progress.close()
        return self._result(job, task=task, prompt=prompt, truncate_dim=truncate_dim, return_tensors=return_tensors)

    def encode_queries(self, inputs: Sequence[Any] | Iterable[Any], **kwargs: Any) -> EncodeResult:
        """:meth:`encode` with ``prompt="query"`` (search queries; text-matching uses it for both sides)."""
        return self.encode(inputs, prompt="query", **kwargs)

    def encode_documents(self, inputs: Sequence[Any] | Iterable[Any], **kwargs: Any) -> EncodeResult:
        """:meth:`encode` with ``prompt="passage"`` (the documents to search)."""
        return self.encode(inputs, prompt="passage", **kwargs)

    def _result(
        self, job: Any, *, task: str, prompt: str, truncate_dim: int | None, return_tensors: bool
    ) -> EncodeResult:
        import torch

        width = truncate_dim or self.dim
        dense: np.ndarray | torch.Tensor | None = None
        multivector: list[Any] | None = None
        if job.want_dense:
            stacked = torch.stack(job.dense) if job.dense else torch.zeros((0, width), dtype=torch.float32)
            dense = stacked if return_tensors else stacked.numpy()
        if job.want_multivector:
            multivector = list(job.multivector) if return_tensors else [t.numpy() for t in job.multivector]
        return EncodeResult(
            dense=dense,
            multivector=multivector,
            n_tokens=tuple(len(r) for r in job.rows),
            task=task,
            prompt=prompt,
            truncate_dim=truncate_dim,
        )


def _as_int(value: Any) -> int | None:
    """``value`` as an int when it is an integer (numpy integers included; bools and floats are not)."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _positive(name: str, value: Any) -> int:
    number = _as_int(value)
    if number is None or number < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return number


def _as_list(inputs: Any) -> Any:
    """Materialise iterables (generators) into a list; sequences and bad types pass through.

    Raises:
        TypeError: a mapping or a set (no defined order to give results in).
    """
    if isinstance(inputs, (Mapping, AbstractSet)):
        raise TypeError(
            f"inputs must be a list (or another ordered iterable) of items, got a {type(inputs).__name__}: "
            "results come back in input order, which a mapping or a set does not have"
        )
    if isinstance(inputs, (Sequence, str, bytes)) or not isinstance(inputs, Iterable):
        return inputs
    from PIL import Image

    if isinstance(inputs, Image.Image):
        return inputs
    return list(inputs)
