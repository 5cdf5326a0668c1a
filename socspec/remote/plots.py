"""PNG figures for remote runs (:mod:`socspec.plotting`: Figure + Agg canvas, no pyplot):
predicted vs observed, residual map, CV folds, prediction map."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..metrics import r2, rmse
from ..plotting import save_png, subplots


def pred_vs_obs(y_true, preds: dict, path, *, unit: str = "g/kg", title: str = "") -> Path:
    """Scatter of out-of-fold prediction vs observation, one panel per model, 1:1 line."""
    y = np.asarray(y_true, float)
    names = list(preds)
    fig, axes = subplots(1, len(names), figsize=(4.2 * len(names), 4.2), squeeze=False)
    hi = float(np.nanmax([y.max(), *[np.nanmax(p) for p in preds.values()]]))
    for ax, name in zip(axes[0], names):
        p = np.asarray(preds[name], float)
        ax.scatter(y, p, s=4, alpha=0.35, lw=0)
        ax.plot([0, hi], [0, hi], "k--", lw=1)
        ax.set_title(f"{name}  R²={r2(y, p):.3f}  RMSE={rmse(y, p):.2f}")
        ax.set_xlabel(f"observed SOC ({unit})")
        ax.set_ylabel(f"predicted SOC ({unit})")
        ax.set_xlim(0, hi)
        ax.set_ylim(0, hi)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path, tight=False)


def residual_map(lat_deg, lon_deg, residual, path, *, unit: str = "g/kg", title: str = "") -> Path:
    """Map of residuals (observed − predicted) at the points, diverging colours centred on 0."""
    r = np.asarray(residual, float)
    lim = float(np.nanpercentile(np.abs(r), 95)) or 1.0
    fig, ax = subplots(figsize=(6.5, 5.5))
    sc = ax.scatter(lon_deg, lat_deg, c=r, s=5, cmap="RdBu_r", vmin=-lim, vmax=lim, lw=0)
    fig.colorbar(sc, ax=ax, label=f"residual, observed − predicted ({unit})")
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_aspect(1.0 / max(np.cos(np.radians(np.nanmean(lat_deg))), 0.2))
    ax.set_title(title or "residual map")
    fig.tight_layout()
    return save_png(fig, path, tight=False)


def folds_map(lat_deg, lon_deg, folds, path, title: str = "CV folds") -> Path:
    """Which fold each point is tested in (spatial blocks show as patches)."""
    fig, ax = subplots(figsize=(6.5, 5.5))
    ax.scatter(lon_deg, lat_deg, c=folds, s=4, cmap="tab10", lw=0)
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_aspect(1.0 / max(np.cos(np.radians(np.nanmean(lat_deg))), 0.2))
    ax.set_title(title)
    fig.tight_layout()
    return save_png(fig, path, tight=False)


def prediction_map(lat_deg, lon_deg, soc_pred, soc_sd, path, *, unit: str = "g/kg",
                   title: str = "") -> Path:
    """Two maps side by side: predicted SOC and its predictive standard deviation at the points."""
    lat, lon = np.asarray(lat_deg, float), np.asarray(lon_deg, float)
    fig, axes = subplots(1, 2, figsize=(12, 5.2))
    size = float(np.clip(3000.0 / max(lat.size, 1), 3, 30))
    for ax, vals, label, cmap in ((axes[0], soc_pred, f"predicted SOC ({unit})", "YlOrBr"),
                                  (axes[1], soc_sd, f"predictive sd ({unit})", "viridis")):
        v = np.asarray(vals, float)
        hi = float(np.nanpercentile(v, 98)) if np.isfinite(v).any() else 1.0
        sc = ax.scatter(lon, lat, c=v, s=size, cmap=cmap, vmin=float(np.nanmin(v)), vmax=hi, lw=0)
        fig.colorbar(sc, ax=ax, label=label)
        ax.set_xlabel("longitude (°)")
        ax.set_ylabel("latitude (°)")
        ax.set_aspect(1.0 / max(np.cos(np.radians(np.nanmean(lat))), 0.2))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path, tight=False)
