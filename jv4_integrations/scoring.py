"""Late-interaction (MaxSim) scoring on ragged lists or padded arrays, in numpy or torch.

``maxsim(q, d)`` is the ColBERT / jina-embeddings-v4 multi-vector score: for every query token,
the largest dot product with any document token, summed over the query tokens. For L2-normalised
token vectors this is exactly what Qdrant computes for a ``MAX_SIM`` multi-vector with ``COSINE``
distance, so the numbers here can be compared with (and stand in for) the server's.

Inputs are accepted in two equivalent layouts that give identical scores:

* ragged: a list of ``(n_tokens_i, dim)`` arrays (numpy or torch);
* padded: one ``(n, max_tokens, dim)`` array plus an optional ``(n, max_tokens)`` boolean mask
  (``True`` = a real token). Without a mask every row counts.

A single ``(n_tokens, dim)`` array is one item. The result is numpy ``float32`` unless an input is a
torch tensor, in which case it is a CPU or device torch ``float32`` tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["maxsim", "mean_token", "pool_tokens"]

#: Documents scored per block, bounding the temporary (queries x tokens x block x tokens) array.
_BLOCK = 256


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "dim")


def _any_torch(value: Any) -> bool:
    if _is_torch(value):
        return True
    if isinstance(value, (list, tuple)):
        return any(_is_torch(v) for v in value)
    return False


def _pad_numpy(items: Any, mask: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``items`` as a padded ``(n, t, d)`` float32 array and its ``(n, t)`` boolean mask."""
    if isinstance(items, np.ndarray):
        if items.ndim == 2:
            items = items[None]
        if items.ndim != 3:
            raise ValueError(
                f"{what} must be (n_tokens, dim), (n, max_tokens, dim) or a list of (n_tokens, dim); "
                f"got an array of shape {items.shape}"
            )
        padded = items.astype(np.float32, copy=False)
        if mask is None:
            return padded, np.ones(padded.shape[:2], dtype=bool)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != padded.shape[:2]:
            raise ValueError(f"{what} mask has shape {mask.shape}; expected {padded.shape[:2]}")
        return padded, mask
    if mask is not None:
        raise ValueError(f"a mask is only accepted with a padded {what} array, not with a list")
    rows = [np.asarray(item, dtype=np.float32) for item in items]
    for i, row in enumerate(rows):
        if row.ndim != 2:
            raise ValueError(f"{what}[{i}] must be 2-D (n_tokens, dim), got shape {row.shape}")
    dims = {row.shape[1] for row in rows}
    if len(dims) > 1:
        raise ValueError(f"{what} mix token widths {sorted(dims)}")
    dim = dims.pop() if dims else 0
    longest = max((row.shape[0] for row in rows), default=0)
    padded = np.zeros((len(rows), longest, dim), dtype=np.float32)
    out_mask = np.zeros((len(rows), longest), dtype=bool)
    for i, row in enumerate(rows):
        padded[i, : row.shape[0]] = row
        out_mask[i, : row.shape[0]] = True
    return padded, out_mask


def _pad_torch(items: Any, mask: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    if _is_torch(items) or isinstance(items, np.ndarray):
        tensor = torch.as_tensor(items)
        if tensor.dim() == 2:
            tensor = tensor.unsqueeze(0)
        if tensor.dim() != 3:
            raise ValueError(
                f"{what} must be (n_tokens, dim), (n, max_tokens, dim) or a list of (n_tokens, dim); "
                f"got a tensor of shape {tuple(tensor.shape)}"
            )
        tensor = tensor.float()
        if mask is None:
            return tensor, torch.ones(tensor.shape[:2], dtype=torch.bool, device=tensor.device)
        mask_t = torch.as_tensor(mask, device=tensor.device).bool()
        if tuple(mask_t.shape) != tuple(tensor.shape[:2]):
            raise ValueError(f"{what} mask has shape {tuple(mask_t.shape)}; expected {tuple(tensor.shape[:2])}")
        return tensor, mask_t
    if mask is not None:
        raise ValueError(f"a mask is only accepted with a padded {what} tensor, not with a list")
    rows = [torch.as_tensor(item).float() for item in items]
    for i, row in enumerate(rows):
        if row.dim() != 2:
            raise ValueError(f"{what}[{i}] must be 2-D (n_tokens, dim), got shape {tuple(row.shape)}")
    if not rows:
        return torch.zeros((0, 0, 0)), torch.zeros((0, 0), dtype=torch.bool)
    padded = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
    lengths = torch.tensor([row.shape[0] for row in rows], device=padded.device)
    out_mask = torch.arange(padded.shape[1], device=padded.device)[None, :] < lengths[:, None]
    return padded, out_mask


def _scores_numpy(q: np.ndarray, qm: np.ndarray, d: np.ndarray, dm: np.ndarray) -> np.ndarray:
    n_q, t_q, _ = q.shape
    n_d, t_d, _ = d.shape
    out = np.zeros((n_q, n_d), dtype=np.float32)
    if n_q == 0 or n_d == 0 or t_q == 0 or t_d == 0:
        return out
    flat_q = q.reshape(n_q * t_q, -1)
    weights = qm.astype(np.float32)
    for start in range(0, n_d, _BLOCK):
        block = d[start : start + _BLOCK]
        bm = dm[start : start + _BLOCK]
        sim = (flat_q @ block.reshape(-1, block.shape[-1]).T).reshape(n_q, t_q, len(block), t_d)
        sim = np.where(bm[None, None, :, :], sim, -np.inf)
        best = sim.max(axis=-1)  # (n_q, t_q, block)
        best = np.where(np.isfinite(best), best, 0.0)  # a document with no tokens scores 0
        out[:, start : start + len(block)] = np.einsum("qtb,qt->qb", best, weights)
    return out


def _scores_torch(q: torch.Tensor, qm: torch.Tensor, d: torch.Tensor, dm: torch.Tensor) -> torch.Tensor:
    import torch

    d = d.to(q.device)
    dm = dm.to(q.device)
    n_q, t_q, _ = q.shape
    n_d, t_d, _ = d.shape
    out = torch.zeros((n_q, n_d), dtype=torch.float32, device=q.device)
    if n_q == 0 or n_d == 0 or t_q == 0 or t_d == 0:
        return out
    weights = qm.float()
    for start in range(0, n_d, _BLOCK):
        block = d[start : start + _BLOCK]
        bm = dm[start : start + _BLOCK]
        sim = torch.einsum("qtk,bsk->qtbs", q, block)
        sim = sim.masked_fill(~bm[None, None, :, :], float("-inf"))
        best = sim.max(dim=-1).values
        best = torch.where(torch.isfinite(best), best, torch.zeros_like(best))
        out[:, start : start + len(block)] = torch.einsum("qtb,qt->qb", best, weights)
    return out


def maxsim(
    queries: Sequence[Any] | np.ndarray | torch.Tensor,
    documents: Sequence[Any] | np.ndarray | torch.Tensor,
    *,
    queries_mask: np.ndarray | torch.Tensor | None = None,
    documents_mask: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray | torch.Tensor:
    """MaxSim scores of every query against every document.

    ``score(q, d) = sum_i max_j <q_i, d_j>`` over the query's real tokens ``i`` and the document's
    real tokens ``j``. Vectors are used as given: pass L2-normalised tokens (what the encoder
    returns) to get cosine MaxSim, Qdrant's ``MAX_SIM`` + ``COSINE`` score.

    Args:
        queries: a list of ``(n_tokens_i, dim)`` arrays or tensors, a padded ``(n_q, t, dim)``
            array or tensor, or one ``(n_tokens, dim)`` item.
        documents: the same layouts, ``n_d`` documents of the same ``dim``.
        queries_mask: ``(n_q, t)`` booleans for a padded ``queries`` (``True`` = real token).
        documents_mask: ``(n_d, t)`` booleans for a padded ``documents``.

    Returns:
        ``(n_q, n_d)`` float32 scores: numpy, or a torch tensor when any input is a torch tensor.
        A document without tokens scores 0.

    Raises:
        ValueError: wrong ranks, mismatched token widths, masks that do not fit, or a mask given
            with a ragged list.

    Example:
        >>> import numpy as np
        >>> q = [np.array([[1.0, 0.0], [0.0, 1.0]])]
        >>> d = [np.array([[1.0, 0.0]]), np.array([[0.6, 0.8], [0.0, 1.0]])]
        >>> maxsim(q, d).round(2).tolist()
        [[1.0, 1.6]]
    """
    if _any_torch(queries) or _any_torch(documents):
        tq, tqm = _pad_torch(queries, queries_mask, "queries")
        td, tdm = _pad_torch(documents, documents_mask, "documents")
        if tq.shape[0] and td.shape[0] and tq.shape[-1] != td.shape[-1]:
            raise ValueError(f"token widths differ: queries {tq.shape[-1]}, documents {td.shape[-1]}")
        return _scores_torch(tq, tqm, td, tdm)
    q, qm = _pad_numpy(queries, queries_mask, "queries")
    d, dm = _pad_numpy(documents, documents_mask, "documents")
    if q.shape[0] and d.shape[0] and q.shape[-1] != d.shape[-1]:
        raise ValueError(f"token widths differ: queries {q.shape[-1]}, documents {d.shape[-1]}")
    return _scores_numpy(q, qm, d, dm)


def mean_token(tokens: Any) -> np.ndarray | None:
    """The normalised mean of L2-normalised token vectors: a one-vector summary of a multi-vector.

    Its dot product with a query's ``mean_token`` is the mean of all query-token x document-token
    cosines, divided by the lengths of the two unnormalised means: a cheap predictor of MaxSim (used
    as the ``prefetch_vector="mean"`` of a collection).

    Args:
        tokens: ``(n_tokens, dim)`` array (numpy or torch), ``n_tokens >= 1``.

    Returns:
        ``(dim,)`` float32 unit vector, or ``None`` when the tokens average to zero.
    """
    arr = np.asarray(tokens.detach().cpu().numpy() if _is_torch(tokens) else tokens, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    mean = (arr / np.maximum(norms, 1e-12)).mean(axis=0)
    size = float(np.linalg.norm(mean))
    if not np.isfinite(size) or size < 1e-6:
        return None
    out: np.ndarray = (mean / size).astype(np.float32)
    return out


def pool_tokens(tokens: Any, k: int, *, iterations: int = 8) -> np.ndarray:
    """Pool a multi-vector to at most ``k`` tokens: spherical k-means of its L2-normalised tokens.

    Deterministic: the centroids start at ``k`` evenly spaced token positions (neighbouring tokens
    of real text are alike, so this spreads them over the item), then ``iterations`` rounds assign
    each token to its nearest centroid and set each centroid to the normalised sum of its tokens.
    MaxSim on the pooled tokens approximates MaxSim on all of them at ``k / n_tokens`` of the cost
    (the hybrid middle stage of ``CollectionSchema(pooled_tokens=k)``).

    Args:
        tokens: ``(n_tokens, dim)`` array (numpy or torch), ``n_tokens >= 1``.
        k: most tokens kept (``>= 1``).
        iterations: k-means rounds.

    Returns:
        ``(min(k, n_tokens), dim)`` float32 unit vectors (the normalised tokens themselves when
        ``n_tokens <= k``).
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    arr = np.asarray(tokens.detach().cpu().numpy() if _is_torch(tokens) else tokens, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"tokens must be a (n_tokens >= 1, dim) array, got shape {arr.shape}")
    unit: np.ndarray = arr / np.maximum(np.linalg.norm(arr, axis=-1, keepdims=True), 1e-12)
    if len(unit) <= k:
        return unit
    centroids = unit[np.linspace(0, len(unit) - 1, k).round().astype(int)]
    for _ in range(iterations):
        assign = (unit @ centroids.T).argmax(axis=1)
        sums = np.eye(k, dtype=np.float32)[assign].T @ unit  # the tokens of each centroid, summed
        norms = np.linalg.norm(sums, axis=-1, keepdims=True)
        centroids = np.where(norms > 1e-12, sums / np.maximum(norms, 1e-12), centroids)
    out: np.ndarray = centroids.astype(np.float32)
    return out
