"""Haversine kNN / radius search against scikit-learn BallTree(metric="haversine") and scipy."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree
from sklearn.neighbors import BallTree

from socspec.kernels import EARTH_RADIUS_KM, haversine_knn, haversine_radius, latlon_to_unit


def _sphere_points(rng, n):
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))  # uniform on the sphere
    lon = rng.uniform(-180, 180, n)
    return lat, lon


def _balltree_knn(lat, lon, k, qlat=None, qlon=None):
    tree = BallTree(np.radians(np.c_[lat, lon]), metric="haversine")
    if qlat is None:
        d, i = tree.query(np.radians(np.c_[lat, lon]), k=k + 1)
        return i[:, 1:], d[:, 1:] * EARTH_RADIUS_KM
    d, i = tree.query(np.radians(np.c_[qlat, qlon]), k=k)
    return i, d * EARTH_RADIUS_KM


@pytest.mark.parametrize("n,k", [(50, 1), (500, 8), (20000, 8), (3000, 30)])
def test_knn_matches_balltree_on_sphere(rng, n, k):
    lat, lon = _sphere_points(rng, n)
    idx, dist = haversine_knn(lat, lon, k)
    ref_i, ref_d = _balltree_knn(lat, lon, k)
    assert idx.shape == (n, k) and idx.dtype == np.int64
    assert np.array_equal(idx, ref_i)  # continuous random points: no ties, same order too
    np.testing.assert_allclose(dist, ref_d, rtol=1e-9, atol=1e-9)
    assert not np.any(idx == np.arange(n)[:, None])  # self excluded


def test_knn_clustered_regional_points_and_poles(rng):
    # a dense cluster, a sparse scatter, points near both poles and across the dateline
    lat = np.concatenate([rng.normal(48, 0.05, 3000), rng.uniform(-89.9, 89.9, 300), [89.99, -89.99, 0, 0]])
    lon = np.concatenate([rng.normal(8, 0.05, 3000), rng.uniform(-180, 180, 300), [10, -170, 179.999, -179.999]])
    idx, dist = haversine_knn(lat, lon, 5)
    ref_i, ref_d = _balltree_knn(lat, lon, 5)
    assert np.array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-9, atol=1e-9)
    # the two dateline points are each other's nearest neighbour (~0.2 km apart)
    assert idx[-2, 0] == lat.size - 1 and dist[-2, 0] < 0.3


def test_knn_separate_queries_keep_self(rng):
    lat, lon = _sphere_points(rng, 2000)
    qlat, qlon = _sphere_points(rng, 300)
    qlat[:10], qlon[:10] = lat[:10], lon[:10]  # queries that coincide with data points
    idx, dist = haversine_knn(lat, lon, 6, query_lat=qlat, query_lon=qlon)
    ref_i, ref_d = _balltree_knn(lat, lon, 6, qlat, qlon)
    assert np.array_equal(idx, ref_i)
    assert np.array_equal(idx[:10, 0], np.arange(10)) and np.all(dist[:10, 0] == 0)


def test_knn_matches_ckdtree_on_unit_vectors(rng):
    lat, lon = _sphere_points(rng, 30000)
    idx, _ = haversine_knn(lat, lon, 8)
    xyz = latlon_to_unit(lat, lon)
    _, ref = cKDTree(xyz).query(xyz, k=9)
    assert np.array_equal(idx, ref[:, 1:])


def test_knn_ties_broken_by_index():
    # four points at exactly the same distance from the origin point: lower indices win
    lat = np.array([0.0, 1.0, -1.0, 0.0, 0.0])
    lon = np.array([0.0, 0.0, 0.0, 1.0, -1.0])
    idx, dist = haversine_knn(lat, lon, 2)
    assert list(idx[0]) == [1, 2]
    np.testing.assert_allclose(dist[0], [111.19508, 111.19508], rtol=1e-6)


def test_radius_matches_balltree(rng):
    lat = rng.uniform(35, 70, 4000)
    lon = rng.uniform(-10, 30, 4000)
    r_km = 75.0
    indptr, idx, dist = haversine_radius(lat, lon, r_km)
    tree = BallTree(np.radians(np.c_[lat, lon]), metric="haversine")
    ref_i, ref_d = tree.query_radius(np.radians(np.c_[lat, lon]), r_km / EARTH_RADIUS_KM, return_distance=True,
                                     sort_results=True)
    assert indptr.shape == (4001,)
    for i in range(4000):
        mine = idx[indptr[i]:indptr[i + 1]]
        ref = ref_i[i][ref_i[i] != i]
        assert np.array_equal(mine, ref), i
        np.testing.assert_allclose(dist[indptr[i]:indptr[i + 1]], ref_d[i][ref_i[i] != i] * EARTH_RADIUS_KM,
                                   rtol=1e-9, atol=1e-9)


def test_knn_on_lucas_points_identical_to_balltree(shared_dir):
    pd = pytest.importorskip("pandas")
    f = shared_dir / "data" / "remote" / "lucas2015_europe" / "lucas2015_topsoil.csv"
    if not f.is_file():
        pytest.skip(f"{f} not found")
    df = pd.read_csv(f, usecols=["lat", "long"]).iloc[:4000]
    lat, lon = df["lat"].to_numpy(), df["long"].to_numpy()
    k = 8
    idx, dist = haversine_knn(lat, lon, k)
    tree = BallTree(np.radians(np.c_[lat, lon]), metric="haversine")
    ref_d, ref_i = tree.query(np.radians(np.c_[lat, lon]), k=k + 2)
    ref_d *= EARTH_RADIUS_KM
    for i in range(lat.size):
        keep = ref_i[i] != i
        ri, rd = ref_i[i][keep][:k], ref_d[i][keep][:k]
        np.testing.assert_allclose(dist[i], rd, rtol=1e-9, atol=1e-9)
        # sets must agree unless the k-th distance is an exact tie with the next candidate
        tie = np.isclose(ref_d[i][keep][k - 1], ref_d[i][keep][k], rtol=0, atol=1e-9) if keep.sum() > k else False
        if not tie:
            assert set(idx[i]) == set(ri), i


@pytest.mark.parametrize(
    "lat,lon,k,match",
    [
        ([], [], 1, "empty"),
        ([1.0, 2.0], [1.0], 1, "lengths must match"),
        ([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], 1, "NaN"),
        ([91.0, 2.0, 3.0], [1.0, 2.0, 3.0], 1, "latitude 91.0"),
        ([1.0, 2.0, 3.0], [1.0, 200.0, 3.0], 1, "longitude 200.0"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 3, "k=3"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0, "k=0"),
    ],
)
def test_knn_bad_input_raises(lat, lon, k, match):
    with pytest.raises(ValueError, match=match):
        haversine_knn(lat, lon, k)


def test_radius_bad_input_raises():
    with pytest.raises(ValueError, match="radius_km"):
        haversine_radius([0.0, 1.0], [0.0, 1.0], -1.0)
    with pytest.raises(ValueError, match="query_lat and query_lon"):
        haversine_radius([0.0, 1.0], [0.0, 1.0], 1.0, query_lat=[0.0])
