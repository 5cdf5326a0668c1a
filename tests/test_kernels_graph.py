"""Graph builders: spatial, elevation and spectral edges against brute-force / scikit-learn references."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import BallTree, NearestNeighbors

from socspec.kernels import (
    EARTH_RADIUS_KM,
    elevation_edges,
    haversine_knn,
    haversine_radius,
    knn_weights,
    reliability_from_error,
    spatial_edges,
    spectral_edges,
    spectral_knn,
)


def _pts(rng, n):
    return rng.uniform(45, 47, n), rng.uniform(5, 8, n)


def _pairs(ei):
    return set(zip(ei[0].tolist(), ei[1].tolist()))


def test_spatial_knn_edges_directed_and_symmetric(rng):
    lat, lon = _pts(rng, 300)
    idx, dist = haversine_knn(lat, lon, 5)
    ei, d = spatial_edges(lat, lon, k=5, symmetric=False)
    expected = {(int(j), i) for i in range(300) for j in idx[i]}  # source = neighbour, target = focal
    assert _pairs(ei) == expected and ei.dtype == np.int64
    # sorted by (target, source), distances aligned with the pair
    assert np.all(np.diff(ei[1] * 300 + ei[0]) > 0)
    ref = BallTree(np.radians(np.c_[lat, lon]), metric="haversine")
    for (_, i), dk in zip(ei.T[:50], d[:50]):
        dd = ref.query(np.radians([[lat[i], lon[i]]]), k=6)[0][0]
        assert np.isclose(dk, dd[1:] * EARTH_RADIUS_KM, rtol=1e-9).any()
    eis, ds = spatial_edges(lat, lon, k=5, symmetric=True)
    ps = _pairs(eis)
    assert ps == expected | {(i, j) for j, i in expected}
    assert all((i, j) in ps for j, i in ps)
    eil, dl = spatial_edges(lat, lon, k=5, symmetric=False, self_loops=True)
    assert _pairs(eil) == expected | {(i, i) for i in range(300)}
    assert np.all(dl[eil[0] == eil[1]] == 0)


def test_spatial_radius_edges_match_radius_query(rng):
    lat, lon = _pts(rng, 400)
    indptr, idx, _ = haversine_radius(lat, lon, 20.0)
    ei, d = spatial_edges(lat, lon, radius_km=20.0, symmetric=False)
    assert _pairs(ei) == {(int(idx[e]), i) for i in range(400) for e in range(indptr[i], indptr[i + 1])}
    assert d.max() <= 20.0


def test_elevation_edges_threshold_and_knn(rng):
    lat, lon = _pts(rng, 300)
    elev = rng.uniform(0, 400, 300)
    idx, _ = haversine_knn(lat, lon, 10)
    ei, diff = elevation_edges(lat, lon, elev, k_spatial=10, max_diff_m=40.0, symmetric=False)
    expected = {(int(j), i) for i in range(300) for j in idx[i] if abs(elev[i] - elev[j]) <= 40.0}
    assert _pairs(ei) == expected
    np.testing.assert_allclose(diff, np.abs(elev[ei[0]] - elev[ei[1]]))
    ei2, diff2 = elevation_edges(lat, lon, elev, k_spatial=10, max_diff_m=None, k=3, symmetric=False)
    for i in range(0, 300, 7):
        src = ei2[0][ei2[1] == i]
        best = idx[i][np.argsort(np.abs(elev[idx[i]] - elev[i]), kind="stable")[:3]]
        assert set(src) == set(best)
    with pytest.raises(ValueError, match="elevation_m has 299 values"):
        elevation_edges(lat, lon, elev[:-1])
    bad = elev.copy()
    bad[4] = np.nan
    with pytest.raises(ValueError, match="index 4"):
        elevation_edges(lat, lon, bad)


@pytest.mark.parametrize("n,d,k", [(200, 5, 3), (3000, 32, 8)])
def test_spectral_knn_equals_sklearn_brute_cosine(rng, n, d, k):
    x = rng.normal(size=(n, d))
    idx, sim = spectral_knn(x, k, block_rows=512)
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="cosine").fit(x)
    dist, ref = nn.kneighbors(x)
    assert np.array_equal(idx, ref[:, 1:])
    np.testing.assert_allclose(sim, 1 - dist[:, 1:], atol=1e-12)


def test_spectral_edges_sam_candidates_and_reliability(rng):
    n = 500
    lat, lon = _pts(rng, n)
    x = np.abs(rng.normal(size=(n, 12))) + 0.1  # reflectance-like, non-negative
    indptr, cand, _ = haversine_radius(lat, lon, 25.0)
    ei, s = spectral_edges(x, k=3, metric="sam", candidates=(indptr, cand), symmetric=False)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    for i in range(0, n, 11):
        c = cand[indptr[i]:indptr[i + 1]]
        ang = np.arccos(np.clip(u[c] @ u[i], -1, 1))
        best = c[np.argsort(ang, kind="stable")[:3]]
        got = ei[0][ei[1] == i]
        assert set(got) == set(best)
        np.testing.assert_allclose(np.sort(s[ei[1] == i]), np.sort(1 - ang[np.argsort(ang)[:3]] / np.pi), atol=1e-12)
    # (n, m) candidate array form == CSR form
    kidx, _ = haversine_knn(lat, lon, 6)
    a = spectral_edges(x, k=2, candidates=kidx, symmetric=False)
    b = spectral_edges(x, k=2, candidates=(np.arange(0, 6 * n + 1, 6), kidx.ravel()), symmetric=False)
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])
    # reliability scales each edge by sqrt(r_i r_j); symmetric graph keeps one value per pair
    r = reliability_from_error(rng.uniform(0, 2, n))
    e0, s0 = spectral_edges(x, k=4, symmetric=True)
    e1, s1 = spectral_edges(x, k=4, symmetric=True, reliability=r)
    assert np.array_equal(e0, e1)
    np.testing.assert_allclose(s1, s0 * np.sqrt(r[e0[0]] * r[e0[1]]))
    e2, s2 = spectral_edges(x, k=4, self_loops=True, reliability=r)
    loops = e2[0] == e2[1]
    assert loops.sum() == n and np.allclose(s2[loops], r[e2[0][loops]])


def test_to_edge_index_layout(rng):
    lat, lon = _pts(rng, 100)
    w = knn_weights(lat, lon, k=4)
    ei, ew = w.to_edge_index()
    dense = w.to_scipy().toarray()
    assert np.allclose(dense[ei[1], ei[0]], ew)  # w_ij at (target i, source j)


def test_spectral_bad_input(rng):
    x = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match="k=10"):
        spectral_knn(x, 10)
    x[3] = 0
    with pytest.raises(ValueError, match="row 3 is all zeros"):
        spectral_edges(x, 2)
    with pytest.raises(ValueError, match="metric"):
        spectral_edges(rng.normal(size=(10, 3)), 2, metric="euclid")
    with pytest.raises(ValueError, match="reliability"):
        spectral_edges(rng.normal(size=(10, 3)), 2, reliability=-np.ones(10))
