"""Regression metrics for SOC maps (all in the target's unit, g/kg, unless said otherwise).

* R² = 1 − Σ(y−ŷ)² / Σ(y−ȳ)²;  RMSE = √mean((y−ŷ)²);  MAE = mean|y−ŷ|
* MAPE (%) = 100·mean(|y−ŷ| / |y|) over y ≠ 0
* Lin's CCC = 2·cov(y, ŷ) / (var y + var ŷ + (ȳ − mean ŷ)²) (population moments)
* Moran's I of residuals y−ŷ on kNN weights (socspec.kernels) — spatial structure left unexplained
* For Gaussian predictive distributions N(μ, σ²): central-interval ``coverage`` at a level, and
  the regression calibration error of Kuleshov et al. (2018): with p_i = Φ((y_i−μ_i)/σ_i),
  ECE = mean over levels τ_j of |τ_j − mean(p_i ≤ τ_j)|.
"""
from __future__ import annotations

import numpy as np
from scipy import stats


def _pair(y_true, y_pred):
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values, y_pred {p.size}")
    if y.size == 0:
        raise ValueError("no values to score")
    return y, p


def r2(y_true, y_pred) -> float:
    y, p = _pair(y_true, y_pred)
    ss_tot = np.sum((y - y.mean()) ** 2)
    return float(1.0 - np.sum((y - p) ** 2) / ss_tot) if ss_tot > 0 else float("nan")


def rmse(y_true, y_pred) -> float:
    y, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mae(y_true, y_pred) -> float:
    y, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y - p)))


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error in %, over the points with y ≠ 0."""
    y, p = _pair(y_true, y_pred)
    nz = y != 0
    return float(100.0 * np.mean(np.abs(y[nz] - p[nz]) / np.abs(y[nz]))) if nz.any() else float("nan")


def ccc(y_true, y_pred) -> float:
    """Lin's concordance correlation coefficient (1 = perfect agreement, 0 = none)."""
    y, p = _pair(y_true, y_pred)
    my, mp = y.mean(), p.mean()
    vy, vp = y.var(), p.var()
    cov = np.mean((y - my) * (p - mp))
    denom = vy + vp + (my - mp) ** 2
    return float(2.0 * cov / denom) if denom > 0 else float("nan")


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


def regression_ece(y_true, mean, std, n_levels: int = 20) -> float:
    """Kuleshov et al. (2018) calibration error for Gaussian predictions (0 = calibrated)."""
    y, m = _pair(y_true, mean)
    s = np.asarray(std, dtype=np.float64).ravel()
    if np.any(s <= 0):
        raise ValueError("std must be > 0")
    pit = stats.norm.cdf((y - m) / s)
    levels = (np.arange(n_levels) + 0.5) / n_levels
    empirical = (pit[None, :] <= levels[:, None]).mean(axis=1)
    return float(np.mean(np.abs(empirical - levels)))


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
        out["coverage_90"] = interval_coverage(y_true, y_pred, std, 0.9)
        out["ece"] = regression_ece(y_true, y_pred, std)
    return out
