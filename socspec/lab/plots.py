"""PNG figures of a fit-lab run (:mod:`socspec.plotting`: Figure + Agg canvas, no pyplot).

Each ``plot_*`` writes its PNG and returns the Figure, so callers (and tests) can read what was
drawn from its artists.
"""
from __future__ import annotations

import numpy as np

from ..plotting import save_png, subplots
from ..spectra import WATER_BANDS_NM

# Shaded on the f_SOC plot beside the water bands (seed 003 fig. 3): the 2200+ nm features
LONG_SWIR_NM = (2200.0, 2500.0)


def plot_pred_vs_obs(path, panels):
    """panels: list of (title, observed, predicted, metrics dict) — one scatter per panel (g/kg)."""
    fig, axes = subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4), squeeze=False)
    for ax, (title, obs, pred, met) in zip(axes[0], panels):
        obs, pred = np.asarray(obs, float), np.asarray(pred, float)
        ax.scatter(obs, pred, s=10, alpha=0.6)
        lo = np.nanmin(np.r_[obs, pred]) if obs.size else 0.0
        hi = np.nanmax(np.r_[obs, pred]) if obs.size else 1.0
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel("observed SOC (g/kg)")
        ax.set_ylabel("predicted SOC (g/kg)")
        r2, rmse = met.get("r2", float("nan")), met.get("rmse", float("nan"))
        ax.set_title(f"{title}\nR² = {r2:.3f}, RMSE = {rmse:.2f} g/kg")
    save_png(fig, path)
    return fig


def plot_reconstructions(path, wavelength_nm, reflectance, reconstruction, ids, n: int = 4):
    fig, ax = subplots(figsize=(8, 4.5))
    k = min(n, len(reflectance))
    for i in range(k):
        line, = ax.plot(wavelength_nm, reflectance[i], lw=1.2, label=f"{ids[i]} measured")
        ax.plot(wavelength_nm, reconstruction[i], "--", lw=1.2, color=line.get_color(), label=f"{ids[i]} reconstructed")
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("reflectance (0–1)")
    ax.set_title("Example test spectra and their reconstructions")
    ax.legend(fontsize=7, ncol=2)
    save_png(fig, path)
    return fig


def continuum_removed(wavelength_nm, spectrum) -> np.ndarray:
    """spectrum / its upper convex hull (the continuum), (M,): 1 on the hull, < 1 inside absorption
    features — the usual way to compare band depths on a sloping spectrum (Clark & Roush 1984)."""
    from scipy.spatial import ConvexHull, QhullError
    wl = np.asarray(wavelength_nm, dtype=np.float64).reshape(-1)
    f = np.asarray(spectrum, dtype=np.float64).reshape(-1)
    pts = np.column_stack([wl, f])
    try:
        hull = ConvexHull(np.vstack([pts, [[wl[0], f.min() - 1.0], [wl[-1], f.min() - 1.0]]]))
    except QhullError:  # degenerate input: the spectrum is its own continuum
        return np.ones_like(f)
    v = hull.vertices[hull.vertices < len(wl)]  # the two added points close the hull from below
    v = np.sort(v)
    cont = np.interp(wl, wl[v], f[v])
    return np.where(cont > 0, f / np.where(cont > 0, cont, 1.0), 1.0)


def spectrum_troughs(wavelength_nm, spectrum, max_troughs: int = 8, min_depth: float = 0.005,
                     min_width_nm: float = 10.0, max_width_nm: float = 200.0) -> np.ndarray:
    """Wavelengths (nm, ascending) of the absorption troughs of ``spectrum`` (M,) on ``wavelength_nm`` (M,):
    minima of the continuum-removed spectrum (:func:`continuum_removed`) at least ``min_depth``
    deep (band depth, 0.005 = 0.5 %) and ``min_width_nm``–``max_width_nm`` wide at half depth
    (:func:`scipy.signal.find_peaks`; wider dips are curvature of the continuum, not bands),
    the ``max_troughs`` deepest."""
    from scipy.signal import find_peaks
    wl = np.asarray(wavelength_nm, dtype=np.float64).reshape(-1)
    f = np.asarray(spectrum, dtype=np.float64).reshape(-1)
    if wl.shape != f.shape or wl.size < 3:
        raise ValueError(f"wavelength_nm and spectrum must be (M,) with M ≥ 3, got {wl.shape} and {f.shape}")
    if not np.all(np.isfinite(f)) or np.ptp(f) <= 0:
        return np.zeros(0)
    cr = continuum_removed(wl, f)
    step = float(np.median(np.diff(wl)))
    idx, props = find_peaks(-cr, prominence=min_depth, width=(max(1.0, min_width_nm / step), max_width_nm / step))
    keep = idx[np.argsort(props["prominences"])[::-1][:max_troughs]]
    return np.sort(wl[keep])


def plot_f_soc(path, wavelength_nm, f_soc, rho_r_soc=None, extra=None, troughs: bool = True):
    """The learned SOC spectrum with the water troughs and the 2200+ nm region shaded and, with
    ``troughs``, its own absorption troughs (:func:`spectrum_troughs`) marked and labelled in nm.
    ``extra``: optional list of (label, f) to overlay (e.g. the planted spectrum).
    Returns the Figure: line 0 is f_SOC, the ``"troughs"`` line the marked minima."""
    fig, ax = subplots(figsize=(8, 4))
    for lo, hi in WATER_BANDS_NM:
        ax.axvspan(lo, hi, color="tab:blue", alpha=0.12)
    ax.axvspan(*LONG_SWIR_NM, color="tab:red", alpha=0.10)
    ax.plot(wavelength_nm, f_soc, color="k", lw=1.5, label="learned f_SOC(λ)")
    if troughs:
        wl = np.asarray(wavelength_nm, dtype=np.float64)
        at = spectrum_troughs(wl, f_soc)
        f_at = np.interp(at, wl, np.asarray(f_soc, dtype=np.float64))
        ax.plot(at, f_at, "v", color="tab:orange", ms=7, gid="troughs",
                label=f"troughs ({len(at)})" if len(at) else "troughs (none)")
        for x, y in zip(at, f_at):
            ax.annotate(f"{x:.0f}", (x, y), textcoords="offset points", xytext=(0, -13), ha="center",
                        fontsize=7, color="tab:orange")
    for label, f in extra or []:
        ax.plot(wavelength_nm, f, "--", lw=1.2, label=label)
    for lo, hi in WATER_BANDS_NM:
        ax.text(0.5 * (lo + hi), ax.get_ylim()[1], "H₂O", ha="center", va="top", fontsize=8, color="tab:blue")
    ax.text(2350, ax.get_ylim()[1], "2200+ nm", ha="center", va="top", fontsize=8, color="tab:red")
    title = "Learned SOC spectrum (physics decoder)"
    if rho_r_soc is not None:
        title += f"; (ρ·r)_SOC = {rho_r_soc:.3g} mg m⁻²"
    ax.set_title(title)
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("reflectance (0–1)")
    ax.legend(fontsize=8)
    save_png(fig, path)
    return fig


def plot_training_curves(path, history):
    fig, ax = subplots(figsize=(7, 4))
    ep = [h["epoch"] for h in history]
    for key, style in (("loss", "-"), ("val_loss", "--"), ("soc", ":"), ("rec", "-.")):
        if history and key in history[0]:
            ax.plot(ep, [h.get(key, np.nan) for h in history], style, label=key)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("eq. 1 loss")
    ax.legend(fontsize=8)
    ax.set_title("Training curves (soc / rec = the two terms of eq. 1, training split)")
    save_png(fig, path)
    return fig
