"""SYNTHETIC lab Vis-NIR spectra for the demo, tests and examples (clearly not measurements).

Each sample is a linear mixture (seed 003 eq. 2) of the endmember library's minerals plus a
planted SOC spectrum: mass fractions m (SOC first, then minerals; Σ m = 1) → area fractions
α_k = (m_k/ρ_k r_k)/Σ_l(m_l/ρ_l r_l) → R(λ) = Σ_k α_k f_k(λ) + noise. Regions differ in which
minerals dominate and in their SOC level.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..endmembers import EndmemberLibrary, GridEndmembers
from ..spectra import SpectralTable

SIMULATED_SOURCE = "SIMULATED lab spectra (socspec.lab.simulate)"
PLANTED_RHO_R_SOC = 2.5  # mg m⁻², close to seed 003's regressed (ρ·r)_SOC = 2.471


def default_f_soc(wavelength_nm) -> np.ndarray:
    """Planted SOC reflectance: dark (Munsell black, ~0.04→0.14 rising with λ) with troughs
    near 1400, 1900 and 2450–2500 nm (seed 003 figure 3)."""
    wl = np.asarray(wavelength_nm, dtype=np.float64)
    base = 0.04 + 0.10 * np.clip((wl - 350.0) / 2150.0, 0, 1)
    trough = lambda c, w, d: d * np.exp(-0.5 * ((wl - c) / w) ** 2)  # noqa: E731
    return np.clip(base - trough(1420, 35, 0.03) - trough(1920, 45, 0.045) - trough(2480, 50, 0.04), 0.005, 1)


def synthetic_library(wavelength_nm=None, n_minerals: int = 12, seed: int = 7):
    """A small library of smooth mineral-like spectra (bright continuum with Gaussian absorption
    features), for tests that want a small random library instead of the embedded one. Returns a
    :class:`~socspec.endmembers.GridEndmembers` (names, wavelength_nm, spectra (n, m), rho_r (n,))."""
    wl = np.arange(350.0, 2501.0, 1.0) if wavelength_nm is None else np.asarray(wavelength_nm, float)
    rng = np.random.default_rng(seed)
    t = (wl - wl[0]) / max(wl[-1] - wl[0], 1.0)
    spectra = []
    for _ in range(n_minerals):
        s = rng.uniform(0.25, 0.7) + rng.uniform(-0.15, 0.25) * np.sqrt(t)
        for _ in range(rng.integers(2, 5)):
            c, w, d = rng.uniform(400, 2450), rng.uniform(15, 120), rng.uniform(0.03, 0.25)
            s = s - d * np.exp(-0.5 * ((wl - c) / w) ** 2)
        spectra.append(np.clip(s, 0.02, 0.98))
    rho_r = rng.uniform(1.5, 4.0, n_minerals)
    return GridEndmembers([f"synthetic_mineral_{i}" for i in range(n_minerals)], wl, np.array(spectra), rho_r)


def _library_on(wl, endmembers):
    return GridEndmembers.from_library(EndmemberLibrary.default() if endmembers is None else endmembers, wl)


def mix(mass_fractions, spectra, rho_r, alpha_conversion: bool = True) -> np.ndarray:
    """Seed 003 eq. 2 in numpy: m (n, K), F (K, m), ρr (K,) → R (n, m)."""
    m = np.asarray(mass_fractions, dtype=np.float64)
    w = m / np.asarray(rho_r, dtype=np.float64) if alpha_conversion else m
    alpha = w / w.sum(axis=1, keepdims=True)
    return alpha @ np.asarray(spectra, dtype=np.float64)


def simulate_lab_spectra(n: int = 300, n_unlabelled: int = 0, regions: int = 3, seed: int = 0,
                         wavelength_nm=None, endmembers=None, f_soc=None, shift=None,
                         rho_r_soc: float = PLANTED_RHO_R_SOC, noise_sd: float = 0.002,
                         n_dominant: int = 6, soc_median_range=(0.008, 0.03)) -> SpectralTable:
    """Generate ``n`` labelled + ``n_unlabelled`` unlabelled SYNTHETIC spectra (reflectance 0–1).

    * ``wavelength_nm``: grid (default 350–2500 nm at 5 nm).
    * ``regions``: number of regions (``region_A``, ``region_B``…); each has its own dominant
      ``n_dominant`` minerals (Dirichlet weights) and median SOC.
    * ``f_soc``: planted SOC spectrum on the grid (default :func:`default_f_soc`); ``rho_r_soc`` its ρ·r.
    * ``soc_median_range``: range of the regions' median SOC mass fraction.
    * ``shift``: None, or a reflectance offset added to every spectrum (a simple OOD shift).
    * meta: ``id``, ``soc_g_kg`` (NaN for unlabelled rows), ``region``, ``labelled``;
      ``detection["truth"]`` holds the mass fractions, the planted f_SOC and ρ·r.
    """
    if n < 0 or n_unlabelled < 0 or regions < 1:
        raise ValueError(f"need n ≥ 0, n_unlabelled ≥ 0, regions ≥ 1; got {n}, {n_unlabelled}, {regions}")
    rng = np.random.default_rng(seed)
    wl = np.arange(350.0, 2501.0, 5.0) if wavelength_nm is None else np.asarray(wavelength_nm, dtype=np.float64)
    lib = _library_on(wl, endmembers)
    f = default_f_soc(wl) if f_soc is None else np.asarray(f_soc, dtype=np.float64)
    n_min = len(lib.names)
    total = n + n_unlabelled
    region_of = rng.integers(0, regions, total)
    conc = np.full((regions, n_min), 0.05)
    lo, hi = soc_median_range  # regional median SOC mass fraction (default 0.8–3 %)
    soc_median = np.exp(rng.uniform(np.log(lo), np.log(hi), regions))
    for r in range(regions):
        dom = rng.choice(n_min, min(n_dominant, n_min), replace=False)
        conc[r, dom] = rng.uniform(1.0, 4.0, len(dom))
    minerals = np.stack([rng.dirichlet(conc[r]) for r in region_of])
    soc = np.clip(soc_median[region_of] * np.exp(rng.normal(0, 0.6, total)), 0.001, 0.15)
    m = np.column_stack([soc, (1 - soc)[:, None] * minerals])
    F = np.vstack([f[None, :], lib.spectra])
    rr = np.concatenate([[rho_r_soc], lib.rho_r])
    R = mix(m, F, rr) + rng.normal(0, noise_sd, (total, len(wl)))
    if shift is not None:
        R = R + float(shift)
    R = np.clip(R, 0.001, 1.0)
    labelled = np.arange(total) < n
    names = [f"region_{chr(65 + r)}" if r < 26 else f"region_{r}" for r in range(regions)]
    meta = pd.DataFrame({"id": [f"sim{i + 1:05d}" for i in range(total)],
                         "soc_g_kg": np.where(labelled, soc * 1000.0, np.nan),
                         "region": [names[r] for r in region_of], "labelled": labelled})
    return SpectralTable(wl, R.astype(np.float32), "reflectance", meta, source=SIMULATED_SOURCE,
                         detection={"synthetic": True, "truth": {
                             "mass_fractions": m, "f_soc": f, "rho_r_soc": rho_r_soc,
                             "mineral_names": lib.names, "mineral_rho_r": lib.rho_r}})
