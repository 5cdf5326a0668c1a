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


def seed_summary_lines(results: dict, keys=("r2", "rmse", "mrmse"),
                       headers=("R²", "RMSE g/kg", "MRMSE %"), method_width: int = 9) -> list[str]:
    """Text table of multi-seed results ``{set: {method: {key: mean_sd(...)}}}``: one line per
    (set, method), each cell ``mean ± sd`` or ``—`` where the key is absent or not finite."""
    lines = [f"{'set':18s} {'method':{method_width}s} " + " ".join(f"{h:>16s}" for h in headers)]
    for name, res in results.items():
        for who, r in res.items():
            cells = []
            for k in keys:
                v = r.get(k)
                cells.append("—".rjust(16) if v is None or not np.isfinite(v["mean"])
                             else f"{v['mean']:.3f} ± {v['sd']:.3f}".rjust(16))
            lines.append(f"{name:18s} {who:{method_width}s} " + " ".join(cells))
    return lines
