"""Moran's I (global, local) and CSR weights against esda / libpysal."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from socspec.kernels import SpatialWeights, distance_band_weights, knn_weights, local_morans_i, morans_i

esda = pytest.importorskip("esda")
libpysal = pytest.importorskip("libpysal")


def _field(rng, n, smooth: bool):
    lat = rng.uniform(44, 48, n)
    lon = rng.uniform(2, 8, n)
    y = np.sin(lat * 2.0) + np.cos(lon * 1.5) if smooth else np.zeros(n)
    return lat, lon, y + rng.normal(0, 0.3 if smooth else 1.0, n)


def _libpysal_w(w: SpatialWeights):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = w.to_libpysal()
        W.transform = "r"
    return W


@pytest.mark.parametrize("builder", ["knn", "band", "band_idw"])
def test_global_moran_equals_esda(rng, builder):
    lat, lon, y = _field(rng, 800, smooth=True)
    if builder == "knn":
        w = knn_weights(lat, lon, k=8)
    elif builder == "band":
        w = distance_band_weights(lat, lon, threshold_km=40.0)
    else:
        w = distance_band_weights(lat, lon, threshold_km=60.0, binary=False)
    ours = morans_i(y, w, permutations=99, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = esda.Moran(y, _libpysal_w(w), permutations=0)
    for name in ("I", "EI", "VI_norm", "z_norm", "VI_rand", "z_rand"):
        assert abs(getattr(ours, name) - getattr(ref, name)) <= 1e-10 * max(1.0, abs(getattr(ref, name))), name
    assert ours.p_norm == pytest.approx(ref.p_norm, rel=1e-8, abs=1e-300)


def test_moments_match_libpysal(rng):
    lat, lon, _ = _field(rng, 300, smooth=False)
    w = distance_band_weights(lat, lon, threshold_km=50.0, binary=False)
    W = _libpysal_w(w)
    assert w.s0 == pytest.approx(W.s0, rel=1e-12)
    assert w.s1 == pytest.approx(W.s1, rel=1e-12)
    assert w.s2 == pytest.approx(W.s2, rel=1e-12)
    np.testing.assert_allclose(w.lag(np.arange(300.0)), libpysal.weights.lag_spatial(W, np.arange(300.0)))


def test_knn_weights_row_standardised_and_match_libpysal_arc_knn(rng):
    lat, lon, _ = _field(rng, 400, smooth=False)
    w = knn_weights(lat, lon, k=5)
    assert np.allclose(np.add.reduceat(w.weights, w.indptr[:-1]), 1.0)
    ref = libpysal.weights.KNN.from_array(np.c_[lon, lat], k=5, distance_metric="arc", radius=6371.0088)
    for i in range(400):
        assert set(w.indices[w.indptr[i]:w.indptr[i + 1]]) == set(ref.neighbors[i])


def test_p_sim_behaviour(rng):
    perms = 199
    lat, lon, y_smooth = _field(rng, 1500, smooth=True)
    w = knn_weights(lat, lon, k=8)
    strong = morans_i(y_smooth, w, permutations=perms, seed=3)
    assert strong.I > 0.3
    assert strong.p_sim == pytest.approx(1.0 / (perms + 1))  # no permutation reaches the observed I
    assert strong.z_sim > 10 and strong.sim.shape == (perms,)
    assert abs(strong.EI_sim - strong.EI) < 0.01
    # independent noise: pseudo p-values spread over (0, 0.5]; not all tiny
    ps = [morans_i(rng.normal(size=1500), w, permutations=perms, seed=s).p_sim for s in range(12)]
    assert max(ps) > 0.1 and min(ps) >= 1.0 / (perms + 1) and max(ps) <= 0.5 + 1e-12
    # a mean p over many null fields near 0.25 (uniform on (0, 0.5] after folding)
    assert 0.1 < np.mean(ps) < 0.4


def test_permutations_are_seeded_and_thread_independent(rng):
    import numba

    lat, lon, y = _field(rng, 500, smooth=False)
    w = knn_weights(lat, lon, k=4)
    a = morans_i(y, w, permutations=64, seed=7).sim
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        b = morans_i(y, w, permutations=64, seed=7).sim
    finally:
        numba.set_num_threads(old)
    c = morans_i(y, w, permutations=64, seed=8).sim
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_local_moran_equals_esda(rng):
    lat, lon, y = _field(rng, 600, smooth=True)
    w = knn_weights(lat, lon, k=6)
    ours = local_morans_i(y, w, permutations=199, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # esda's own conditional permutations take ~40 s to JIT here; Is and q need none
        ref = esda.Moran_Local(y, _libpysal_w(w), permutations=0)
    np.testing.assert_allclose(ours.Is, ref.Is, rtol=0, atol=1e-10)
    assert np.array_equal(ours.q, ref.q)
    assert ours.p_sim.min() >= 1 / 200 and ours.p_sim.max() <= 0.5 + 1e-12
    # strongest local clusters cannot be reached by conditional permutations
    top = np.argsort(-ours.Is)[:20]
    assert np.all(ours.p_sim[top] <= 2 / 200)


def test_local_p_sim_matches_bruteforce_conditional_permutation(rng):
    # reference: exact tail probability of I_i under drawing |N(i)| values from the other n-1
    # (estimated with many numpy draws); the numba pseudo p-value must agree within MC error
    lat, lon, y = _field(rng, 120, smooth=True)
    w = knn_weights(lat, lon, k=4)
    perms = 999
    ours = local_morans_i(y, w, permutations=perms, seed=5)
    z = y - y.mean()
    scale = (y.size - 1) / (z @ z)
    draw = np.random.default_rng(0)
    for i in range(0, 120, 15):
        others = np.delete(z, i)
        sims = np.array([others[draw.choice(119, 4, replace=False)].mean() for _ in range(4000)]) * z[i] * scale
        larger = np.mean(sims >= ours.Is[i])
        p_ref = min(larger, 1 - larger)
        assert abs(ours.p_sim[i] - p_ref) < 0.04, (i, ours.p_sim[i], p_ref)


def test_moran_bad_input(rng):
    lat, lon, y = _field(rng, 50, smooth=False)
    w = knn_weights(lat, lon, k=3)
    with pytest.raises(ValueError, match="49 values but the weights describe 50"):
        morans_i(y[:49], w)
    with pytest.raises(ValueError, match="constant"):
        morans_i(np.ones(50), w)
    bad = y.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match="index 7"):
        morans_i(bad, w)
    with pytest.raises(ValueError, match="transform"):
        SpatialWeights(w.indptr, w.indices, w.weights, 50, transform="x")
    with pytest.raises(ValueError, match="indptr"):
        SpatialWeights(w.indptr[:-1], w.indices, w.weights, 50)
    with pytest.raises(ValueError, match="radius_km"):
        distance_band_weights(lat, lon, threshold_km=-5.0)


@pytest.mark.parametrize("nbits", [0, 2])
def test_permutations_uniform(nbits):
    # Fisher-Yates (nbits=0) and the scatter shuffle (2^nbits buckets) give all 4! orders equally often
    import numba as nb
    from scipy.stats import chisquare

    from socspec.kernels.moran import _permute_into, _stream

    @nb.njit
    def draw(z, P, nbits, seed):
        n = z.shape[0]
        buf, bucket = np.empty(n), np.empty(n, np.int64)
        counts = np.empty((1 << nbits) + 1, np.int64)
        out = np.empty((P, n))
        for p in range(P):
            _permute_into(z, buf, bucket, counts, nbits, _stream(seed, p))
            out[p] = buf
        return out

    perms = draw(np.arange(4.0), 24000, nbits, 5).astype(int)
    codes = perms @ np.array([64, 16, 4, 1])
    counts = np.unique(codes, return_counts=True)[1]
    assert counts.size == 24
    assert chisquare(counts).pvalue > 1e-4


def test_weights_reject_self_and_duplicate_neighbours():
    with pytest.raises(ValueError, match="row 1 .* self-neighbour"):
        SpatialWeights(np.array([0, 1, 2]), np.array([1, 1]), np.ones(2), 2)
    with pytest.raises(ValueError, match="row 0 .* duplicate"):
        SpatialWeights(np.array([0, 2, 3]), np.array([1, 1, 0]), np.ones(3), 2)
