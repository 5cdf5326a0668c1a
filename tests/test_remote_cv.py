"""Random and spatial-block K-fold: blocks are never split, folds cover every point once."""
import numpy as np
import pytest

from socspec.remote.cv import block_ids, group_folds, make_folds, random_folds, spatial_block_folds


@pytest.fixture
def points(rng):
    # clustered points so blocks have unequal sizes
    centres = rng.uniform([35, -10], [65, 30], size=(25, 2))
    pts = np.concatenate([c + rng.normal(0, 1.5, size=(rng.integers(5, 80), 2)) for c in centres])
    return pts[:, 0], pts[:, 1]


@pytest.mark.parametrize("kw", [{"block_deg": 1.0}, {"block_deg": 2.5}, {"block_km": 100.0}])
@pytest.mark.parametrize("seed", [0, 1])
def test_blocks_whole_in_one_fold_and_folds_partition(points, kw, seed):
    lat, lon = points
    folds, blocks = spatial_block_folds(lat, lon, 5, seed=seed, **kw)
    assert folds.shape == lat.shape and set(np.unique(folds)) == set(range(5))
    for b in np.unique(blocks):
        assert np.unique(folds[blocks == b]).size == 1
    # every point tested exactly once: folds are a partition
    assert sum((folds == k).sum() for k in range(5)) == lat.size
    # greedy balancing: no fold is more than the largest block away from the mean size
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= np.bincount(blocks).max()


def test_block_deg_cells_are_grid_cells():
    lat = np.array([45.1, 45.9, 46.1, 45.5, -0.5, 0.5])
    lon = np.array([10.2, 10.8, 10.5, 11.2, 0.0, 0.0])
    b = block_ids(lat, lon, block_deg=1.0)
    assert b[0] == b[1] and b[0] != b[2] and b[0] != b[3] and b[4] != b[5]


def test_block_km_width_constant_towards_pole():
    # two points 80 km apart east-west are in one 100 km block only if the cell widens in degrees
    for lat0 in (0.0, 60.0):
        dlon = np.degrees(80.0 / (6371.0088 * np.cos(np.radians(lat0))))
        lon = np.array([0.05, 0.05 + dlon]) - 180.0 + 1e-9  # start at a cell edge
        b = block_ids(np.array([lat0 + 0.01] * 2), lon, block_km=100.0)
        assert b[0] == b[1]


def test_folds_are_seeded():
    lat = np.linspace(30, 60, 300)
    lon = np.linspace(-5, 25, 300)
    a1, _ = make_folds(lat, lon, scheme="spatial", seed=3)
    a2, _ = make_folds(lat, lon, scheme="spatial", seed=3)
    a3, _ = make_folds(lat, lon, scheme="spatial", seed=4)
    assert np.array_equal(a1, a2) and not np.array_equal(a1, a3)
    r = random_folds(103, 5, seed=0)
    assert np.bincount(r).tolist() == [21, 21, 21, 20, 20]


def test_bad_arguments():
    with pytest.raises(ValueError, match="blocks"):
        group_folds([1, 1, 2], n_folds=5)
    with pytest.raises(ValueError, match="exactly one"):
        block_ids([0.0], [0.0], block_deg=1.0, block_km=10.0)
    with pytest.raises(ValueError, match="scheme"):
        make_folds([0.0, 1.0], [0.0, 1.0], scheme="loo")
