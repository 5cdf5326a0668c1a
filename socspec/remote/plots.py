"""PNG figures for remote runs (matplotlib, Agg): predicted vs observed, residual map."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..outputs import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def pred_vs_obs(y_true, preds: dict, path, *, unit: str = "g/kg", title: str = "") -> Path:
    """Scatter of out-of-fold prediction vs observation, one panel per model, 1:1 line."""
    plt = _plt()
    y = np.asarray(y_true, float)
    names = list(preds)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2), squeeze=False)
    hi = float(np.nanmax([y.max(), *[np.nanmax(p) for p in preds.values()]]))
    for ax, name in zip(axes[0], names):
        p = np.asarray(preds[name], float)
        ax.scatter(y, p, s=4, alpha=0.35, lw=0)
        ax.plot([0, hi], [0, hi], "k--", lw=1)
        ss = np.sum((y - y.mean()) ** 2)
        r2 = 1 - np.sum((y - p) ** 2) / ss if ss > 0 else float("nan")
        ax.set_title(f"{name}  R²={r2:.3f}  RMSE={np.sqrt(np.mean((y - p) ** 2)):.2f}")
        ax.set_xlabel(f"observed SOC ({unit})")
        ax.set_ylabel(f"predicted SOC ({unit})")
        ax.set_xlim(0, hi)
        ax.set_ylim(0, hi)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def residual_map(lat_deg, lon_deg, residual, path, *, unit: str = "g/kg", title: str = "") -> Path:
    """Map of residuals (observed − predicted) at the points, diverging colours centred on 0."""
    plt = _plt()
    r = np.asarray(residual, float)
    lim = float(np.nanpercentile(np.abs(r), 95)) or 1.0
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    sc = ax.scatter(lon_deg, lat_deg, c=r, s=5, cmap="RdBu_r", vmin=-lim, vmax=lim, lw=0)
    fig.colorbar(sc, ax=ax, label=f"residual, observed − predicted ({unit})")
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_aspect(1.0 / max(np.cos(np.radians(np.nanmean(lat_deg))), 0.2))
    ax.set_title(title or "residual map")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def folds_map(lat_deg, lon_deg, folds, path, title: str = "CV folds") -> Path:
    """Which fold each point is tested in (spatial blocks show as patches)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.scatter(lon_deg, lat_deg, c=folds, s=4, cmap="tab10", lw=0)
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_aspect(1.0 / max(np.cos(np.radians(np.nanmean(lat_deg))), 0.2))
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
