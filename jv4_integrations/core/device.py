"""Device, dtype and precision resolution (auto: cuda, then mps, then cpu)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

Precision = Literal["auto", "reference"]
PRECISIONS: tuple[str, ...] = ("auto", "reference")
_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}


@dataclass(frozen=True)
class Placement:
    """Where and how the model runs.

    Attributes:
        device: the torch device string (``"cpu"``, ``"cuda:0"``, ``"mps"``).
        dtype: the weight dtype name (``"float32"``, ``"bfloat16"`` or ``"float16"``).
        precision: ``"auto"`` (plain forward in ``dtype``, pooling in float32) or ``"reference"``
            (Jina's recipe: bf16 weights, forward, pooling and truncation under bf16 autocast).
    """

    device: str
    dtype: str
    precision: Precision

    @property
    def torch_dtype(self) -> torch.dtype:
        """The weight dtype as a ``torch.dtype``."""
        import torch

        return getattr(torch, self.dtype)  # type: ignore[no-any-return]

    @property
    def device_type(self) -> str:
        """``"cpu"``, ``"cuda"`` or ``"mps"`` (for ``torch.autocast``)."""
        return self.device.split(":", 1)[0]


def resolve_placement(device: str | None, dtype: str | torch.dtype | None, precision: str) -> Placement:
    """Resolve the user's device / dtype / precision choice.

    Args:
        device: ``None`` picks cuda, then mps, then cpu; otherwise any torch device string.
        dtype: ``None`` picks bfloat16 on CUDA and float32 elsewhere (bfloat16 under ``"reference"``).
        precision: ``"auto"`` or ``"reference"``.

    Returns:
        The placement.
    """
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {list(PRECISIONS)}")
    if device is None:
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"invalid device {device!r}: {exc}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available; use device='cpu'")
    device_str = str(resolved) if resolved.type != "cuda" or resolved.index is not None else "cuda"
    if dtype is None:
        name = "bfloat16" if precision == "reference" or resolved.type == "cuda" else "float32"
    else:
        key = str(dtype).removeprefix("torch.")
        if key not in _DTYPES:
            raise ValueError(f"unsupported dtype {dtype!r}; expected one of {sorted(set(_DTYPES.values()))}")
        name = _DTYPES[key]
    if precision == "reference" and name != "bfloat16":
        raise ValueError(f"precision='reference' runs in bfloat16 (Jina's recipe); got dtype {name!r}")
    return Placement(device=device_str, dtype=name, precision=precision)  # type: ignore[arg-type]
