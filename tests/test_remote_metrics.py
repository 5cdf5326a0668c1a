"""Metrics agree with scikit-learn and with known concordance / calibration values."""
import numpy as np
import pytest
from sklearn import metrics as skm

from socspec.remote import metrics as M


def test_match_sklearn(rng):
    y = rng.gamma(2.0, 10.0, 500)
    p = y + rng.normal(0, 5, 500)
    assert M.r2(y, p) == pytest.approx(skm.r2_score(y, p), rel=1e-12)
    assert M.rmse(y, p) == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)), rel=1e-12)
    assert M.mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    assert M.mape(y, p) == pytest.approx(100 * skm.mean_absolute_percentage_error(y, p), rel=1e-10)


def test_ccc_known_values(rng):
    y = rng.normal(10, 2, 1000)
    assert M.ccc(y, y) == pytest.approx(1.0)
    assert M.ccc(y, -y + 2 * y.mean()) == pytest.approx(-1.0)
    # a constant shift c: CCC = 2 var / (2 var + c²)
    v = y.var()
    assert M.ccc(y, y + 3.0) == pytest.approx(2 * v / (2 * v + 9.0))
    # a scale change b about the mean: CCC = 2 b var / (var + b² var)
    b = 0.5
    assert M.ccc(y, y.mean() + b * (y - y.mean())) == pytest.approx(2 * b / (1 + b * b))
    # hand example: y = [1,2,3], p = [2,2,2] → cov 0 → 0
    assert M.ccc([1, 2, 3], [2, 2, 2]) == pytest.approx(0.0)


def test_coverage_and_ece_for_calibrated_and_overconfident(rng):
    n = 20000
    mu = rng.normal(0, 1, n)
    sd = rng.uniform(0.5, 2.0, n)
    y = mu + sd * rng.standard_normal(n)
    assert M.interval_coverage(y, mu, sd, 0.9) == pytest.approx(0.9, abs=0.01)
    assert M.regression_ece(y, mu, sd) < 0.01
    # claiming half the spread: coverage collapses and ECE grows
    assert M.interval_coverage(y, mu, sd / 2, 0.9) < 0.65
    assert M.regression_ece(y, mu, sd / 2) > 0.1


def test_residual_moran_detects_structure(rng):
    lat = rng.uniform(40, 50, 400)
    lon = rng.uniform(0, 10, 400)
    y = np.sin(lat) * 5 + np.cos(lon / 2) * 5
    smooth = M.residual_morans_i(y, np.zeros_like(y), lat, lon)
    white = M.residual_morans_i(rng.normal(size=400), np.zeros(400), lat, lon)
    assert smooth["I"] > 0.5 and smooth["p_sim"] <= 0.02
    assert abs(white["I"]) < 0.1


def test_bad_inputs():
    with pytest.raises(ValueError, match="y_pred"):
        M.r2([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="std"):
        M.regression_ece([1.0], [1.0], [0.0])
