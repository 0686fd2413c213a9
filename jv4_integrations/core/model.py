"""The torch module and the forward numerics of jina-embeddings-v4 (format doc, sections 3-4).

One forward pass of the inner Qwen2.5-VL model (no vocabulary projection) yields the last hidden
state; the dense vector (mean pooling) and the multi-vector (per-token projector) both come from it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from transformers import Qwen2_5_VLConfig

#: L2-normalisation epsilon (``torch.nn.functional.normalize``'s default, as in Jina's code).
NORM_EPS = 1e-12


class JV4Module(nn.Module):
    """Qwen2.5-VL backbone plus the multi-vector projector, laid out like the published checkpoint.

    The attribute names give the module tree the checkpoint's runtime key names:
    ``model.language_model.…``, ``model.visual.…`` and ``multi_vector_projector.…``, so the adapter
    bundle's ``base_model.model.<module>`` keys match a peft wrapper of this module exactly.

    Args:
        config: the stock Qwen2.5-VL config.
        projector_dim: multi-vector width; 0 builds no projector (merged single-task variants).
        dtype: parameter dtype.
    """

    def __init__(self, config: Qwen2_5_VLConfig, projector_dim: int, dtype: torch.dtype) -> None:
        super().__init__()
        from transformers import Qwen2_5_VLModel
        from transformers.initialization import no_init_weights

        with no_init_weights():  # weights are loaded right after; skip the random init
            self.model = Qwen2_5_VLModel._from_config(config, dtype=dtype, attn_implementation="sdpa")
        hidden = int(config.text_config.hidden_size)
        self.multi_vector_projector: nn.Linear | None = (
            nn.Linear(hidden, projector_dim, dtype=dtype) if projector_dim > 0 else None
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        image_grid_thw: torch.Tensor | None = None,
        mm_token_type_ids: torch.Tensor | None = None,
        with_projection: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the backbone once.

        Args:
            input_ids: ``(B, T)`` token ids, right padded.
            attention_mask: ``(B, T)`` 1 for real tokens.
            pixel_values: ``(n_patches, 3 * 2 * 14 * 14)`` for every image of the batch, in row order.
            image_grid_thw: ``(n_images, 3)`` patch grids.
            mm_token_type_ids: ``(B, T)`` 1 on image tokens (needed for the 3-D image positions).
            with_projection: also run the multi-vector projector.

        Returns:
            ``(hidden, projected)``: the last hidden state ``(B, T, H)`` and the projector output
            ``(B, T, 128)`` (``None`` when not asked for or absent).
        """
        kwargs: dict[str, Any] = {}
        if pixel_values is not None:
            kwargs.update(pixel_values=pixel_values, image_grid_thw=image_grid_thw, mm_token_type_ids=mm_token_type_ids)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **kwargs)
        hidden = out.last_hidden_state
        projected = None
        if with_projection and self.multi_vector_projector is not None:
            projected = self.multi_vector_projector(hidden)
        return hidden, projected


@dataclass(frozen=True)
class Numerics:
    """How the pooling arithmetic runs.

    Attributes:
        reference: Jina's recipe (everything under bf16 autocast, in Jina's operation order).
        device_type: for ``torch.autocast``.
    """

    reference: bool
    device_type: str

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        """Autocast to bf16 in reference mode; nothing otherwise."""
        if self.reference:
            with torch.autocast(self.device_type, dtype=torch.bfloat16):
                yield
        else:
            yield


def mean_pool(hidden: torch.Tensor, pool_mask: torch.Tensor, *, reference: bool) -> torch.Tensor:
    """Masked mean over the sequence.

    Args:
        hidden: ``(B, T, H)`` last hidden state.
        pool_mask: ``(B, T)`` 1 (or True) on the tokens to average.
        reference: keep Jina's dtypes (the model dtype, summed then divided by an integer count);
            otherwise compute in float32.

    Returns:
        ``(B, H)`` pooled vectors, not normalised.
    """
    if reference:
        mask = pool_mask.to(torch.long)
        return torch.sum(hidden * mask.unsqueeze(-1), dim=1) / torch.sum(mask, dim=1, keepdim=True)
    mask32 = pool_mask.to(torch.float32)
    summed = torch.einsum("bth,bt->bh", hidden.to(torch.float32), mask32)
    return summed / mask32.sum(dim=1, keepdim=True).clamp_min(1.0)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """L2-normalise the last dimension (eps ``1e-12``)."""
    return nn.functional.normalize(x, p=2.0, dim=-1, eps=NORM_EPS)


def matryoshka(dense: torch.Tensor, dim: int | None) -> torch.Tensor:
    """Keep the first ``dim`` values and L2-normalise again (``None`` or the full size: unchanged).

    Args:
        dense: ``(B, H)`` normalised vectors.
        dim: target size.

    Returns:
        ``(B, dim)``.
    """
    if dim is None or dim == dense.shape[-1]:
        return dense
    return normalize(dense[..., :dim])


def token_vectors(projected: torch.Tensor, attention_mask: torch.Tensor, *, reference: bool) -> torch.Tensor:
    """L2-normalise every token's projection.

    Args:
        projected: ``(B, T, D)`` projector output.
        attention_mask: ``(B, T)`` 1 for real tokens.
        reference: normalise in the autocast dtype and multiply by the mask, as Jina does;
            otherwise normalise in float32.

    Returns:
        ``(B, T, D)``; padding rows are zero in reference mode and dropped by :func:`unpad`.
    """
    if reference:
        return normalize(projected) * attention_mask.unsqueeze(-1)
    return normalize(projected.to(torch.float32))


def unpad(vectors: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
    """Split ``(B, T, D)`` into ``B`` tensors of shape ``(n_tokens_i, D)`` without padding rows."""
    keep = attention_mask.to(device=vectors.device, dtype=torch.bool)
    return [vectors[i][keep[i]] for i in range(vectors.shape[0])]
