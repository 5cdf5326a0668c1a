"""Regression and reconstruction figures as seed 003 reports them (appendix C)."""
from __future__ import annotations

import numpy as np

from ..metrics import regression_metrics  # noqa: F401 — the one definition, re-exported for the lab path


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
