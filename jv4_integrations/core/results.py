"""The typed result of an encode call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass(frozen=True)
class EncodeResult:
    """Embeddings of one encode call, in input order.

    Attributes:
        dense: ``(n, d)`` float32 L2-normalised vectors (numpy, or a CPU torch tensor with
            ``return_tensors=True``); ``None`` when ``output="multivector"``.
        multivector: ``n`` arrays of shape ``(n_tokens_i, 128)`` float32, each row L2-normalised;
            ``None`` when ``output="dense"``.
        n_tokens: sequence length of each input (prefix, image and special tokens included).
        task: the task used.
        prompt: the prompt role used (``"query"`` or ``"passage"``).
        truncate_dim: the dense size (``None`` = full).
    """

    dense: np.ndarray | torch.Tensor | None
    multivector: list[np.ndarray] | list[torch.Tensor] | None
    n_tokens: tuple[int, ...]
    task: str
    prompt: str
    truncate_dim: int | None

    def __len__(self) -> int:
        return len(self.n_tokens)

    def dense_list(self) -> list[list[float]]:
        """The dense vectors as lists of Python floats (the LangChain / LlamaIndex contract)."""
        if self.dense is None:
            raise ValueError("this result has no dense vectors (it was encoded with output='multivector')")
        values: list[list[float]] = self.dense.tolist()
        return values
