"""Regression metrics of SOC predictions, shared by the lab path, the OOD report and the remote path
(all in the target's unit, g/kg, unless said otherwise).

* R² = 1 − Σ(y−ŷ)² / Σ(y−ȳ)² (NaN when y is constant, e.g. a single value);
  RMSE = √mean((y−ŷ)²); MAE = mean|y−ŷ|; bias = mean(ŷ − y) (positive: over-prediction)
* MAPE (%) = 100·mean(|y−ŷ| / |y|) over y ≠ 0
* Lin's CCC = 2·cov(y, ŷ) / (var y + var ŷ + (ȳ − mean ŷ)²) (population moments)

The scalar functions take two equally long arrays with at least one value and raise ValueError
otherwise; :func:`regression_metrics` drops pairs where either side is NaN and reports ``n``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["paired_values", "r2", "rmse", "mae", "bias", "mape", "ccc", "regression_metrics"]


def paired_values(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """``(y, ŷ)`` as flat float64 arrays of one length ≥ 1 (ValueError otherwise)."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values, y_pred {p.size}")
    if y.size == 0:
        raise ValueError("no values to score")
    return y, p


def r2(y_true, y_pred) -> float:
    y, p = paired_values(y_true, y_pred)
    ss_tot = np.sum((y - y.mean()) ** 2)
    return float(1.0 - np.sum((y - p) ** 2) / ss_tot) if ss_tot > 0 else float("nan")


def rmse(y_true, y_pred) -> float:
    y, p = paired_values(y_true, y_pred)
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mae(y_true, y_pred) -> float:
    y, p = paired_values(y_true, y_pred)
    return float(np.mean(np.abs(y - p)))


def bias(y_true, y_pred) -> float:
    """mean(ŷ − y): positive when the predictions are too high."""
    y, p = paired_values(y_true, y_pred)
    return float(np.mean(p - y))


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error in %, over the points with y ≠ 0."""
    y, p = paired_values(y_true, y_pred)
    nz = y != 0
    return float(100.0 * np.mean(np.abs(y[nz] - p[nz]) / np.abs(y[nz]))) if nz.any() else float("nan")


def ccc(y_true, y_pred) -> float:
    """Lin's concordance correlation coefficient (1 = perfect agreement, 0 = none)."""
    y, p = paired_values(y_true, y_pred)
    my, mp = y.mean(), p.mean()
    vy, vp = y.var(), p.var()
    cov = np.mean((y - my) * (p - mp))
    denom = vy + vp + (my - mp) ** 2
    return float(2.0 * cov / denom) if denom > 0 else float("nan")


def regression_metrics(observed, predicted) -> dict:
    """``{"n", "r2", "rmse", "bias", "mae"}`` over the pairs where both sides are finite (``n`` of
    them; every figure NaN when there are none), in the unit of the inputs (g/kg here)."""
    o = np.asarray(observed, dtype=np.float64).ravel()
    p = np.asarray(predicted, dtype=np.float64).ravel()
    if o.shape != p.shape:
        raise ValueError(f"observed has {o.size} values, predicted {p.size}")
    ok = np.isfinite(o) & np.isfinite(p)
    if not ok.any():
        return {"n": 0, "r2": float("nan"), "rmse": float("nan"), "bias": float("nan"), "mae": float("nan")}
    o, p = o[ok], p[ok]
    return {"n": int(o.size), "r2": r2(o, p), "rmse": rmse(o, p), "bias": bias(o, p), "mae": mae(o, p)}
