"""Metrics of SOC maps (all in the target's unit, g/kg, unless said otherwise).

* R², RMSE, MAE, MAPE, Lin's CCC: defined once in :mod:`socspec.metrics`, re-exported here
* Moran's I of residuals y−ŷ on kNN weights (socspec.kernels) — spatial structure left unexplained
* For Gaussian predictive distributions N(μ, σ²): central-interval ``coverage`` at a level, and
  ECE = the mean absolute calibration error over central intervals, as uncertainty-toolbox's
  ``mean_absolute_calibration_error(..., prop_type="interval")``: for the 100 levels
  τ_j = linspace(0, 1, 100), ECE = mean_j |τ_j − fraction of |y−μ|/σ inside Φ⁻¹(0.5 ± τ_j/2)|.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from ..metrics import ccc, mae, mape, paired_values, r2, rmse  # noqa: F401 — one definition, re-exported here

_pair = paired_values  # the shared argument check of socspec.metrics


def residual_morans_i(y_true, y_pred, lat_deg, lon_deg, k: int = 8, permutations: int = 99,
                      seed: int = 0) -> dict:
    """Moran's I of residuals on row-standardised kNN (haversine) weights: ``{"I", "p_sim", "k"}``."""
    from ..kernels import knn_weights, morans_i

    y, p = _pair(y_true, y_pred)
    if y.size <= k + 1:
        return {"I": float("nan"), "p_sim": float("nan"), "k": k}
    w = knn_weights(np.asarray(lat_deg, float), np.asarray(lon_deg, float), k=k)
    res = morans_i(y - p, w, permutations=permutations, seed=seed)
    return {"I": float(res.I), "p_sim": float(res.p_sim), "k": k}


def interval_coverage(y_true, mean, std, level: float = 0.9) -> float:
    """Fraction of y inside the central ``level`` Gaussian interval μ ± z·σ."""
    y, m = _pair(y_true, mean)
    s = np.asarray(std, dtype=np.float64).ravel()
    if np.any(s <= 0):
        raise ValueError("std must be > 0")
    z = stats.norm.ppf(0.5 + level / 2.0)
    return float(np.mean(np.abs(y - m) <= z * s))


def regression_ece(y_true, mean, std, num_bins: int = 100) -> float:
    """Mean absolute calibration error over central Gaussian intervals (0 = calibrated).

    The definition of uncertainty-toolbox's ``mean_absolute_calibration_error(y_pred, y_std,
    y_true, num_bins=100, prop_type="interval")`` (tested equal to it), vectorised:
    expected proportions τ_j = linspace(0, 1, num_bins); observed = fraction of standardised
    residuals (μ−y)/σ within [Φ⁻¹(0.5 − τ_j/2), Φ⁻¹(0.5 + τ_j/2)], ends included.
    """
    y, m = _pair(y_true, mean)
    s = np.asarray(std, dtype=np.float64).ravel()
    if s.shape != y.shape:
        raise ValueError(f"std has {s.size} values, y_true {y.size}")
    if np.any(s <= 0):
        raise ValueError("std must be > 0")
    if num_bins < 2:
        raise ValueError(f"num_bins must be >= 2, got {num_bins}")
    expected = np.linspace(0.0, 1.0, num_bins)
    lower, upper = stats.norm.ppf(0.5 - expected / 2.0), stats.norm.ppf(0.5 + expected / 2.0)
    # sorted residuals + searchsorted: O((n + bins) log n) instead of an (n, bins) table
    z = np.sort((m - y) / s)
    inside = np.searchsorted(z, upper, side="right") - np.searchsorted(z, lower, side="left")
    return float(np.mean(np.abs(expected - inside / z.size)))


def regression_report(y_true, y_pred, *, lat_deg=None, lon_deg=None, std=None,
                      moran_k: int = 8, moran_permutations: int = 99) -> dict:
    """All point metrics in one dict (Moran's I when coordinates, coverage/ECE when ``std``)."""
    out = {"n": int(np.asarray(y_true).size), "r2": r2(y_true, y_pred), "rmse": rmse(y_true, y_pred),
           "mae": mae(y_true, y_pred), "mape": mape(y_true, y_pred), "ccc": ccc(y_true, y_pred)}
    if lat_deg is not None and lon_deg is not None:
        m = residual_morans_i(y_true, y_pred, lat_deg, lon_deg, k=moran_k,
                              permutations=moran_permutations)
        out["moran_i_residuals"] = m["I"]
        out["moran_p_sim"] = m["p_sim"]
    if std is not None:
        out["coverage90"] = interval_coverage(y_true, y_pred, std, 0.9)
        out["ece"] = regression_ece(y_true, y_pred, std)
    return out
