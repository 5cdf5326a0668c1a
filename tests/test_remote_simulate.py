"""The simulator's SOC field has the requested autocorrelation and a recoverable planted signal."""
import numpy as np
import pytest

from socspec.kernels import knn_weights, morans_i
from socspec.remote import make_folds, simulate_corpus
from socspec.remote.baselines import XGBoostBaseline, cross_validate


def _moran(c, values):
    return morans_i(np.asarray(values, float), knn_weights(c.lat, c.lon, k=8), permutations=99)


def test_long_range_field_is_strongly_autocorrelated():
    c = simulate_corpus(n=800, seed=1, chips=False, range_km=300.0, nugget=0.0)
    res = _moran(c, c.points["latent_soc_field"])
    assert res.I > 0.6 and res.p_sim <= 0.01
    # the SOC itself inherits it
    assert _moran(c, np.log(c.soc_g_kg)).I > 0.5


def test_nugget_only_field_has_no_autocorrelation():
    c = simulate_corpus(n=800, seed=2, chips=False, nugget=1.0)
    assert abs(_moran(c, c.points["latent_soc_field"]).I) < 0.06


@pytest.mark.parametrize("target", [0.25, 0.55])
def test_moran_target_is_reached(target):
    c = simulate_corpus(n=800, seed=3, chips=False, moran_target=target)
    assert _moran(c, c.points["latent_soc_field"]).I == pytest.approx(target, abs=0.08)


def test_planted_covariate_signal_is_recoverable_by_xgboost():
    c = simulate_corpus(n=600, seed=4, chips=False)
    X = c.feature_frame()  # lat, lon and the covariates; never the latent field
    assert "latent_soc_field" not in X.columns and str(X["land_cover"].dtype) == "category"
    folds, _ = make_folds(c.lat, c.lon, scheme="random", n_folds=3, seed=0)
    out = cross_validate(XGBoostBaseline(n_estimators=60), X, c.soc_g_kg, folds)
    assert out["metrics"]["r2"] > 0.5
    # shuffled target: nothing to learn
    y_shuf = np.random.default_rng(0).permutation(c.soc_g_kg)
    assert cross_validate(XGBoostBaseline(n_estimators=60), X, y_shuf, folds)["metrics"]["r2"] < 0.1


def test_chips_shapes_signal_and_synthetic_flag():
    c = simulate_corpus(n=200, seed=5, chip_size=6, regions=("north", "tropic"))
    assert c.chips["s2"].shape == (200, 12, 6, 6) and c.chips["s1"].shape == (200, 2, 6, 6)
    assert c.chips["dem"].shape == (200, 1, 6, 6) and c.band_spectra.shape == (200, 12)
    assert c.simulated and c.points["synthetic"].all()
    assert 0.0 <= c.chips["s2"].min() and c.chips["s2"].max() <= 1.0
    # SOC darkens the soil: among low-vegetation points, visible reflectance falls with SOC
    bare = c.points["ndvi"].to_numpy() < np.quantile(c.points["ndvi"], 0.5)
    vis = c.band_spectra[bare][:, 1:4].mean(1)
    assert np.corrcoef(vis, np.log(c.soc_g_kg[bare]))[0, 1] < -0.3
    # DEM chips are centred on the point's elevation
    assert np.allclose(c.chips["dem"].mean(axis=(1, 2, 3)), c.points["elevation_m"], atol=1.0)
    # regions are shifted: the tropic is warmer
    t = c.points.groupby("region")["temperature_c"].mean()
    assert t["tropic"] > t["north"] + 10


def test_seeded_and_validated():
    a = simulate_corpus(n=100, seed=9, chips=False)
    b = simulate_corpus(n=100, seed=9, chips=False)
    assert np.array_equal(a.soc_g_kg, b.soc_g_kg)
    with pytest.raises(ValueError, match="atlantis"):
        simulate_corpus(n=100, regions=("atlantis",))


def test_random_fourier_field_has_exponential_covariance():
    from socspec.remote.simulate import _unit_xyz_km, gaussian_random_field

    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(45, 52, 120), rng.uniform(0, 10, 120)
    draws = np.stack([gaussian_random_field(lat, lon, 150.0, rng, n_features=500, standardize=False)
                      for _ in range(400)])
    emp = draws.T @ draws / len(draws)
    x = _unit_xyz_km(lat, lon)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    for lo, hi in [(0, 60), (60, 150), (150, 400)]:
        sel = (d >= lo) & (d < hi)
        assert emp[sel].mean() == pytest.approx(np.exp(-d[sel] / 150.0).mean(), abs=0.06)
    assert np.diag(emp).mean() == pytest.approx(1.0, abs=0.1)


def test_cross_validate_in_parallel_processes_gives_the_same_predictions():
    from socspec.remote.baselines import RandomForestBaseline

    c = simulate_corpus(n=200, seed=3, chips=False)
    X = c.feature_frame(c.default_features())
    folds, _ = make_folds(c.lat, c.lon, scheme="spatial", n_folds=3, block_deg=1.0, seed=0)
    model = RandomForestBaseline(n_estimators=20, random_state=0)
    one = cross_validate(model, X, c.soc_g_kg, folds)
    two = cross_validate(model, X, c.soc_g_kg, folds, n_jobs=2)
    # the same forests; only the summation order of the tree average may differ (threads)
    np.testing.assert_allclose(one["pred"], two["pred"], rtol=1e-12, atol=0)
    np.testing.assert_allclose([f["rmse"] for f in one["metrics"]["folds"]],
                               [f["rmse"] for f in two["metrics"]["folds"]], rtol=1e-12)
    with pytest.raises(ValueError, match="n_jobs=0"):
        cross_validate(model, X, c.soc_g_kg, folds, n_jobs=0)
