"""Regression and reconstruction figures as seed 003 reports them (appendix C)."""
from __future__ import annotations

import numpy as np


def regression_metrics(observed, predicted) -> dict:
    """r2, rmse, bias (mean predicted − observed), mae — in the unit of the inputs (g/kg here).
    Rows where either side is NaN are ignored; ``n`` says how many were used."""
    o = np.asarray(observed, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    ok = np.isfinite(o) & np.isfinite(p)
    o, p = o[ok], p[ok]
    if o.size == 0:
        return {"n": 0, "r2": float("nan"), "rmse": float("nan"), "bias": float("nan"), "mae": float("nan")}
    err = p - o
    ss_res = float(np.sum(err ** 2))
    ss_tot = float(np.sum((o - o.mean()) ** 2))
    return {"n": int(o.size), "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
            "rmse": float(np.sqrt(np.mean(err ** 2))), "bias": float(err.mean()),
            "mae": float(np.mean(np.abs(err)))}


def per_spectrum_rmse(reflectance, reconstruction) -> np.ndarray:
    """RMSE_i = sqrt(mean_j (R_ij − R̂_ij)²), reflectance fraction, shape (n,)."""
    d = np.asarray(reflectance, dtype=np.float64) - np.asarray(reconstruction, dtype=np.float64)
    return np.sqrt(np.mean(d * d, axis=1))


def mrmse_percent(reflectance, reconstruction) -> float:
    """Mean per-spectrum reconstruction RMSE in reflectance percent (the paper's MRMSE)."""
    return float(100.0 * per_spectrum_rmse(reflectance, reconstruction).mean())


def mean_sd(values) -> dict:
    """Multi-seed summary: {"mean", "sd", "n"} (sd with ddof=1, as in the paper's ± figures)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    return {"mean": float(v.mean()) if v.size else float("nan"),
            "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}
