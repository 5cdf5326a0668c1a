"""Physically based wet-soil spectra from dry ones (for OOD checks; SIMULATED, not measurements).

Model (per wavelength λ, degree of saturation S ∈ [0, 1]):

    R(λ, S) = R_sat(λ) + (R_dry(λ) − R_sat(λ)) · exp(−c(λ) · S)               (1)
    R_sat(λ) = R_dry(λ) · g · exp(−2 κ_w(λ) L)                                 (2)

(1) is the exponential soil-moisture reflectance model of Lobell & Asner (2002, "Moisture effects
on soil reflectance", Soil Sci. Soc. Am. J. 66:722–727): reflectance falls from the dry value
towards the value at saturation, exponentially in the degree of saturation, and saturates at
lower moisture in the VNIR than in the SWIR (larger c there). We take c(λ) falling linearly in λ
from ``c_vnir`` at 400 nm to ``c_swir`` at 2500 nm (their fitted c span roughly that range; the
defaults are illustrative, not their per-soil values).
(2) is the reflectance at saturation: a broadband darkening g < 1 (liquid water replacing air
between grains lowers the refractive-index contrast, so less light is scattered back — Ångström
1925; Lekner & Dorf 1988, Appl. Opt. 27:1278) times Beer–Lambert absorption through an effective
liquid-water path L (µm), both ways, with liquid water's absorption coefficient κ_w(λ)
(:func:`socspec.lab.mixing.water_absorption_per_cm`: Hale & Querry 1973 + band maxima at
1450 / 1940 nm). Wet soils therefore darken everywhere and deepen the 1450 and 1940 nm bands
(and the weak 970 and 1200 nm bands), as measured wet soils do.
"""
from __future__ import annotations

import numpy as np

from .mixing import water_absorption_per_cm

__all__ = ["moisten", "moisture_shape_c"]


def moisture_shape_c(wavelength_nm, c_vnir: float = 8.0, c_swir: float = 3.0) -> np.ndarray:
    """c(λ) (M,): linear from ``c_vnir`` at 400 nm to ``c_swir`` at 2500 nm (held beyond)."""
    wl = np.asarray(wavelength_nm, dtype=np.float64)
    t = np.clip((wl - 400.0) / 2100.0, 0.0, 1.0)
    return c_vnir + (c_swir - c_vnir) * t


def moisten(reflectance, wavelength_nm, saturation, darkening_at_saturation=0.5, water_path_um=60.0,
            c_vnir: float = 8.0, c_swir: float = 3.0) -> np.ndarray:
    """Wet-soil reflectance (n, M) from dry reflectance (n, M) by eqs. (1)–(2) of the module.

    ``saturation`` S, ``darkening_at_saturation`` g (the broadband factor at S = 1, in (0, 1]) and
    ``water_path_um`` L: scalars or (n,) / (n, 1) arrays (one value per scan). S = 0 returns the
    dry spectra unchanged.
    """
    r = np.asarray(reflectance, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"reflectance must be (n, M), got shape {r.shape}")
    wl = np.asarray(wavelength_nm, dtype=np.float64).reshape(-1)
    if wl.shape != (r.shape[1],):
        raise ValueError(f"wavelength_nm must have shape ({r.shape[1]},), got {wl.shape}")

    def per_scan(v, what, lo, hi):
        a = np.asarray(v, dtype=np.float64)
        a = a.reshape(-1, 1) if a.ndim else np.full((r.shape[0], 1), float(a))
        if a.shape[0] != r.shape[0]:
            raise ValueError(f"{what} needs one value per scan ({r.shape[0]}), got {a.shape[0]}")
        if np.any(a < lo) or np.any(a > hi):
            raise ValueError(f"{what} must lie in [{lo}, {hi}]")
        return a

    s = per_scan(saturation, "saturation", 0.0, 1.0)
    g = per_scan(darkening_at_saturation, "darkening_at_saturation", 0.0, 1.0)
    path = per_scan(water_path_um, "water_path_um", 0.0, np.inf)
    kappa_per_um = water_absorption_per_cm(wl) / 1e4
    r_sat = r * g * np.exp(-2.0 * kappa_per_um[None, :] * path)
    # eq. (1) written as R − (R − R_sat)(1 − e^{−cS}) so that S = 0 returns R bit for bit
    return r - (r - r_sat) * -np.expm1(-moisture_shape_c(wl, c_vnir, c_swir)[None, :] * s)
