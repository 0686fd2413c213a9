"""maxsim: ragged lists and padded arrays agree, numpy and torch agree, and both equal a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jv4_integrations import maxsim


def _ragged(seed: int, n: int, dim: int = 8) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(rng.integers(1, 7)), dim)).astype(np.float32) for _ in range(n)]


def _pad(items: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    longest = max(len(x) for x in items)
    padded = np.full((len(items), longest, items[0].shape[1]), 7.0, dtype=np.float32)  # junk in the padding
    mask = np.zeros((len(items), longest), dtype=bool)
    for i, x in enumerate(items):
        padded[i, : len(x)] = x
        mask[i, : len(x)] = True
    return padded, mask


def test_hand_computed_values() -> None:
    q = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.6, 0.8]])]
    d = [np.array([[1.0, 0.0]]), np.array([[0.6, 0.8], [0.0, 1.0]]), np.array([[-1.0, 0.0], [0.0, -1.0]])]
    # q0 = tokens (1,0), (0,1): d0 -> 1 + 0 = 1.0; d1 -> max(.6, 0) + max(.8, 1) = 1.6;
    #                           d2 -> max(-1, 0) + max(0, -1) = 0
    # q1 = token (.6,.8):       d0 -> .6; d1 -> max(1.0, .8) = 1.0; d2 -> max(-.6, -.8) = -.6
    expected = np.array([[1.0, 1.6, 0.0], [0.6, 1.0, -0.6]], dtype=np.float32)
    np.testing.assert_allclose(maxsim(q, d), expected, atol=1e-6)


def test_ragged_equals_padded_with_junk_padding() -> None:
    queries, docs = _ragged(1, 3), _ragged(2, 40)
    qp, qm = _pad(queries)
    dp, dm = _pad(docs)
    ragged = maxsim(queries, docs)
    padded = maxsim(qp, dp, queries_mask=qm, documents_mask=dm)
    assert isinstance(ragged, np.ndarray) and ragged.shape == (3, 40)
    np.testing.assert_allclose(ragged, padded, rtol=1e-6, atol=1e-5)
    # and both equal the definition computed pair by pair
    for i, q in enumerate(queries):
        for j, d in enumerate(docs):
            assert ragged[i, j] == pytest.approx(float((q @ d.T).max(axis=1).sum()), rel=1e-5, abs=1e-5)


def test_torch_equals_numpy_and_returns_torch() -> None:
    queries, docs = _ragged(3, 2), _ragged(4, 300)  # more than one scoring block
    reference = maxsim(queries, docs)
    as_torch = maxsim([torch.from_numpy(q) for q in queries], [torch.from_numpy(d) for d in docs])
    assert isinstance(as_torch, torch.Tensor)
    np.testing.assert_allclose(as_torch.numpy(), reference, rtol=1e-5, atol=1e-5)
    dp, dm = _pad(docs)
    padded_torch = maxsim(
        torch.from_numpy(_pad(queries)[0]),
        torch.from_numpy(dp),
        queries_mask=torch.from_numpy(_pad(queries)[1]),
        documents_mask=torch.from_numpy(dm),
    )
    np.testing.assert_allclose(padded_torch.numpy(), reference, rtol=1e-5, atol=1e-5)


def test_single_item_and_float16() -> None:
    q = _ragged(5, 1)[0]
    docs = _ragged(6, 5)
    single = maxsim(q, docs)
    np.testing.assert_allclose(single, maxsim([q], docs))
    half = maxsim(q.astype(np.float16), [d.astype(np.float16) for d in docs])
    np.testing.assert_allclose(half, single, atol=2e-2)


def test_no_unmasked_padding_counts() -> None:
    docs = [np.zeros((0, 4), np.float32), np.ones((2, 4), np.float32)]
    scores = maxsim([np.ones((1, 4), np.float32)], docs)
    assert scores.tolist() == [[0.0, 4.0]]


@pytest.mark.parametrize(
    ("queries", "documents", "kwargs", "message"),
    [
        ([np.ones((2, 4))], [np.ones((2, 5))], {}, "token widths differ"),
        ([np.ones(4)], [np.ones((2, 4))], {}, "must be 2-D"),
        (np.ones((1, 2, 4)), np.ones((3, 2, 4)), {"documents_mask": np.ones((3, 5), bool)}, "mask has shape"),
        ([np.ones((2, 4))], [np.ones((2, 4))], {"queries_mask": np.ones((1, 2), bool)}, "only accepted with a padded"),
    ],
)
def test_bad_shapes_raise(queries: object, documents: object, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        maxsim(queries, documents, **kwargs)  # type: ignore[arg-type]
