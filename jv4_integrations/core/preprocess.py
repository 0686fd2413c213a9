"""Turning prepared items into token rows, and rows into padded model batches.

Rows are built on the caller's thread (tokenisation, image token counts from the processor's own
resize rule, so the batch planner knows every row's length before any forward). Pixel values are
computed only when a batch is collated.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .inputs import DeferredImage, PreparedItem, materialize

if TYPE_CHECKING:
    import torch
    from PIL import Image as PILImage
    from transformers import PreTrainedTokenizerBase

    from .config import JV4Settings

logger = logging.getLogger(__name__)

#: Role prefixes per task (format doc, section 3). text-matching is symmetric: "Query: " on both
#: sides, as documented on the model card (Jina's code gives "Passage: " unless a model attribute is set).
PREFIXES: dict[str, dict[str, str]] = {
    "retrieval": {"query": "Query: ", "passage": "Passage: "},
    "text-matching": {"query": "Query: ", "passage": "Query: "},
    "code": {"query": "Query: ", "passage": "Passage: "},
}
IMAGE_PROMPT_HEAD = "<|im_start|>user\n"
IMAGE_PROMPT_TAIL = "Describe the image.<|im_end|>\n"
MIXED_PROMPT_TAIL = "<|im_end|>\n"


@dataclass
class Row:
    """One sequence for the model.

    Attributes:
        input_ids: token ids, image pads expanded.
        pool_start: first pooled position.
        pool_end: one past the last pooled position.
        images: the row's RGB images, in sequence order.
        grids: the ``(t, h, w)`` patch grid of each image.
        task: the LoRA adapter to use.
        truncated: the text was cut at ``max_length``.
    """

    input_ids: list[int]
    pool_start: int
    pool_end: int
    images: list[PILImage.Image | DeferredImage] = field(default_factory=list)
    grids: list[tuple[int, int, int]] = field(default_factory=list)
    task: str = "retrieval"
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class ImageSizing:
    """The processor's resize rule, for counting image tokens before processing pixels."""

    patch_size: int
    merge_size: int
    min_pixels: int
    max_pixels: int

    def grid(self, width: int, height: int) -> tuple[int, int, int]:
        """Patch grid ``(1, h, w)`` the processor will produce (its own ``smart_resize`` rule)."""
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        h_bar, w_bar = smart_resize(
            height,
            width,
            factor=self.patch_size * self.merge_size,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
        )
        return 1, h_bar // self.patch_size, w_bar // self.patch_size

    def tokens(self, grid: tuple[int, int, int]) -> int:
        """Merged image tokens for a grid."""
        return grid[0] * grid[1] * grid[2] // (self.merge_size**2)


class RowBuilder:
    """Tokenises prepared items into :class:`Row` objects for one checkpoint.

    Args:
        tokenizer: the checkpoint's Qwen2 tokenizer.
        settings: the checkpoint's settings (special token ids).
        image_processor: the checkpoint's Qwen2-VL image processor.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, settings: JV4Settings, image_processor: Any) -> None:
        self.tokenizer = tokenizer
        self.settings = settings
        self.image_processor = image_processor
        size = getattr(image_processor, "size", None) or {}
        self.default_max_pixels = int(_get(size, "longest_edge", getattr(image_processor, "max_pixels", 602112)))
        self.min_pixels = int(_get(size, "shortest_edge", getattr(image_processor, "min_pixels", 3136)))
        self.patch_size = int(image_processor.patch_size)
        self.merge_size = int(image_processor.merge_size)
        encode = self._encode
        self._head = encode(IMAGE_PROMPT_HEAD)
        self._tail = encode(IMAGE_PROMPT_TAIL)
        self._mixed_tail = encode(MIXED_PROMPT_TAIL)

    def _encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def sizing(self, max_pixels: int | None) -> ImageSizing:
        """The resize rule for a call (``max_pixels=None``: the checkpoint's)."""
        top = self.default_max_pixels if max_pixels is None else max_pixels
        return ImageSizing(self.patch_size, self.merge_size, min(self.min_pixels, top), top)

    def _image_block(
        self, image: PILImage.Image | DeferredImage, sizing: ImageSizing
    ) -> tuple[list[int], tuple[int, int, int]]:
        grid = sizing.grid(image.width, image.height)
        s = self.settings
        ids = [s.vision_start_token_id] + [s.image_token_id] * sizing.tokens(grid) + [s.vision_end_token_id]
        return ids, grid

    def build(
        self,
        items: Sequence[PreparedItem],
        *,
        prompt: str,
        task: str,
        max_length: int,
        max_pixels: int | None,
    ) -> list[Row]:
        """Tokenise every item.

        Args:
            items: validated items.
            prompt: ``"query"`` or ``"passage"`` (selects the text prefix).
            task: the task (selects the prefix table and the adapter).
            max_length: text is cut to this many tokens (images are never cut).
            max_pixels: image pixel budget for this call.

        Returns:
            One row per item, in order.
        """
        prefix = PREFIXES[task][prompt]
        sizing = self.sizing(max_pixels)
        texts = [prefix + it.text for it in items if it.text is not None]
        # split_special_tokens: a text that contains "<|image_pad|>" or "<|im_end|>" is read as plain
        # characters, never as control tokens (which would break image rows and the pooling window);
        # verbose=False: cutting to max_length is ours, with our own warning
        encoded = (
            iter(self.tokenizer(texts, add_special_tokens=False, split_special_tokens=True, verbose=False)["input_ids"])
            if texts
            else iter(())
        )
        rows: list[Row] = []
        for index, item in enumerate(items):
            text_ids: list[int] = next(encoded) if item.text is not None else []
            if item.kind == "text":
                truncated = len(text_ids) > max_length
                ids = text_ids[:max_length]
                rows.append(Row(ids, 0, len(ids), task=task, truncated=truncated))
                continue
            ids = list(self._head)
            start = len(ids)
            grids = []
            for image in item.images:
                block, grid = self._image_block(image, sizing)
                ids.extend(block)
                grids.append(grid)
            truncated = False
            if item.kind == "image":
                end = len(ids)
                ids.extend(self._tail)
            else:
                room = max(0, max_length - len(ids) - len(self._mixed_tail))
                truncated = len(text_ids) > room
                if room == 0:
                    logger.warning(
                        "item %d: its images take %d tokens, max_length=%d leaves no room for its text, which is "
                        "left out (images are never cut: raise max_length, or lower max_pixels)",
                        index,
                        len(ids),
                        max_length,
                    )
                ids.extend(text_ids[:room])
                end = len(ids)
                ids.extend(self._mixed_tail)
            rows.append(Row(ids, start, end, list(item.images), grids, task=task, truncated=truncated))
        return rows


def _get(mapping: Any, key: str, default: Any) -> Any:
    if isinstance(mapping, dict):
        return mapping.get(key, default)
    value = getattr(mapping, key, None)
    return default if value is None else value


@dataclass
class Batch:
    """Padded tensors for one forward pass.

    Attributes:
        input_ids: ``(B, T)`` long.
        attention_mask: ``(B, T)`` long.
        pool_mask: ``(B, T)`` bool, the positions averaged for the dense vector.
        pixel_values: ``(n_patches, 1176)`` or ``None``.
        image_grid_thw: ``(n_images, 3)`` or ``None``.
        mm_token_type_ids: ``(B, T)`` int, 1 on image tokens, or ``None``.
        tasks: adapter name per row.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    pool_mask: torch.Tensor
    pixel_values: torch.Tensor | None
    image_grid_thw: torch.Tensor | None
    mm_token_type_ids: torch.Tensor | None
    tasks: list[str]


def collate(rows: Sequence[Row], builder: RowBuilder, max_pixels: Sequence[int | None], device: str) -> Batch:
    """Pad rows (right padding) and process their images.

    Args:
        rows: the batch's rows.
        builder: the row builder (tokenizer, settings, image processor).
        max_pixels: the pixel budget each row was sized with.
        device: target device.

    Returns:
        The batch, on ``device``.
    """
    import torch

    width = max(len(r) for r in rows)
    pad = builder.settings.pad_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    pool = torch.zeros((len(rows), width), dtype=torch.bool)
    pixels: list[torch.Tensor] = []
    grids: list[torch.Tensor] = []
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row.input_ids, dtype=torch.long)
        attention[i, : len(row)] = 1
        pool[i, row.pool_start : row.pool_end] = True
        if row.images:
            options: dict[str, Any] = {}
            if max_pixels[i] is not None:  # otherwise the processor's own configured size applies
                sizing = builder.sizing(max_pixels[i])
                options["size"] = {"shortest_edge": sizing.min_pixels, "longest_edge": sizing.max_pixels}
            images = [materialize(image) for image in row.images]
            out = builder.image_processor(images=images, return_tensors="pt", **options)
            got = [tuple(int(v) for v in g) for g in out["image_grid_thw"]]
            if got != row.grids:  # pragma: no cover - guards a processor resize change
                raise RuntimeError(f"image processor produced grids {got}, expected {row.grids}")
            pixels.append(out["pixel_values"])
            grids.append(out["image_grid_thw"])
    pixel_values = image_grid = mm_types = None
    if pixels:
        pixel_values = torch.cat(pixels).to(device)
        image_grid = torch.cat(grids).to(device)
        mm_types = (ids == builder.settings.image_token_id).to(torch.int32).to(device)
    return Batch(
        input_ids=ids.to(device),
        attention_mask=attention.to(device),
        pool_mask=pool.to(device),
        pixel_values=pixel_values,
        image_grid_thw=image_grid,
        mm_token_type_ids=mm_types,
        tasks=[r.task for r in rows],
    )
