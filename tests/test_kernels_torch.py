"""Differentiable Moran's I equals the numba value and has correct gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from socspec.kernels import distance_band_weights, knn_weights, moran_i_torch, moran_penalty, morans_i


def _data(rng, n=400):
    lat = rng.uniform(44, 48, n)
    lon = rng.uniform(2, 8, n)
    y = np.sin(2 * lat) + rng.normal(0, 0.5, n)
    return lat, lon, y


def test_torch_moran_equals_numba(rng):
    lat, lon, y = _data(rng)
    for w in (knn_weights(lat, lon, k=6), distance_band_weights(lat, lon, 40.0, binary=False)):
        ei, ew = w.to_edge_index()
        ref = morans_i(y, w, permutations=0).I
        got = moran_i_torch(torch.tensor(y), torch.tensor(ei), torch.tensor(ew))
        assert abs(got.item() - ref) < 1e-12
    # no weights: row-standardised over targets == knn_weights transform "r"
    w = knn_weights(lat, lon, k=6)
    ei, _ = w.to_edge_index()
    assert abs(moran_i_torch(torch.tensor(y), torch.tensor(ei)).item() - morans_i(y, w, 0).I) < 1e-12


def test_torch_moran_gradcheck(rng):
    lat, lon, y = _data(rng, 40)
    ei, ew = knn_weights(lat, lon, k=4).to_edge_index()
    r = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    ei_t, ew_t = torch.tensor(ei), torch.tensor(ew)
    assert torch.autograd.gradcheck(lambda v: moran_i_torch(v, ei_t, ew_t), (r,))
    assert torch.autograd.gradcheck(lambda v: moran_penalty(v, ei_t, ew_t, mode="square"), (r,))
    assert torch.autograd.gradcheck(lambda v: moran_penalty(v, ei_t), (r,))


def test_penalty_reduces_autocorrelation(rng):
    lat, lon, y = _data(rng, 200)
    ei, ew = knn_weights(lat, lon, k=5).to_edge_index()
    ei_t, ew_t = torch.tensor(ei), torch.tensor(ew)
    r = torch.tensor(y, requires_grad=True)
    i0 = moran_i_torch(r, ei_t, ew_t).item()
    opt = torch.optim.SGD([r], lr=5.0)
    for _ in range(50):
        opt.zero_grad()
        moran_penalty(r, ei_t, ew_t).backward()
        opt.step()
    assert i0 > 0.3 and abs(moran_i_torch(r, ei_t, ew_t).item()) < 0.1 * i0
    relu = moran_penalty(-torch.tensor(y), ei_t, ew_t, mode="relu")
    assert relu.item() == pytest.approx(i0)  # I is invariant to the sign of the residuals


def test_torch_moran_bad_input():
    with pytest.raises(ValueError, match="1-D"):
        moran_i_torch(torch.zeros(3, 2), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(2, E\)"):
        moran_i_torch(torch.zeros(3), torch.zeros(3, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="edge_weight"):
        moran_i_torch(torch.zeros(3), torch.zeros(2, 2, dtype=torch.long), torch.ones(3))
    with pytest.raises(ValueError, match="mode"):
        moran_penalty(torch.arange(3.0), torch.tensor([[0, 1], [1, 0]]), mode="abs")
    assert moran_i_torch(torch.ones(3), torch.tensor([[0, 1], [1, 0]])).item() == 0.0
