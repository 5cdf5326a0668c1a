"""Mixing physics of the lab physics decoder: linear (seed 003) and intimate (Hapke) mixing,
the reflectance ↔ single-scattering albedo conversion, and liquid-water absorption.

Every function here works on numpy arrays and on torch tensors alike (only +, −, ×, ÷, ** and
the array's own ``exp``/``clip``), so the decoder trains through the same maths the tests check.

Mixing variants (``MIXING``):

* ``"linear"`` — seed 003 eq. 2, areal (checkerboard) mixing of reflectances:
  R̂(λ) = Σ_k α_k f_k(λ),  α_k = (m_k/ρ_k r_k) / Σ_l (m_l/ρ_l r_l).
* ``"hapke"`` — intimate mixing of particulate media (Hapke 1981, J. Geophys. Res. 86:3039;
  Mustard & Pieters 1989, J. Geophys. Res. 94:13619): each endmember's reflectance f_k is
  converted to its single-scattering albedo w_k, the albedos mix with the same cross-section
  weights (Hapke's M_k/(ρ_k d_k) with d = seed 003's size r), and the mixture's albedo is turned
  back into reflectance:  w̄(λ) = Σ_k α_k w_k(λ),  R̂(λ) = REFF(w̄(λ)).

Reflectance model (``hapke_reflectance``): Hapke's bidirectional reflectance for isotropic
scatterers without opposition effect, with his H-function approximation, written as the
reflectance factor REFF (reflectance relative to a perfect Lambertian surface, what lab
spectrometers report against Spectralon):

    REFF(w) = w / (4 (μ₀ + μ)) · H(μ₀) · H(μ),   H(x) = (1 + 2x) / (1 + 2γx),   γ = √(1 − w),

with μ₀ = cos i, μ = cos e. Default geometry i = 30°, e = 0° (Mustard & Pieters 1989's
laboratory geometry). The inverse (``hapke_albedo``) is closed-form: with
a = 4(μ₀ + μ)·REFF / ((1 + 2μ₀)(1 + 2μ)), γ solves
(1 + 4aμ₀μ) γ² + 2a(μ₀ + μ) γ + (a − 1) = 0, so
γ = [−a(μ₀+μ) + √(a²(μ₀+μ)² − (1 + 4aμ₀μ)(a − 1))] / (1 + 4aμ₀μ),  w = 1 − γ².

Liquid water (``water_absorption_per_cm``): absorption coefficient κ(λ) = 4πk(λ)/λ of liquid
water from a coarse table in ``endmembers/water_absorption.csv`` — Hale & Querry (1973, Appl. Opt.
12:555, Table I) imaginary index k at their nodes (25 nm steps to 1 µm, 200 nm beyond), plus the
band maxima at 1450 nm (≈ 26 cm⁻¹) and 1940 nm (≈ 114 cm⁻¹) after Curcio & Petty (1951,
J. Opt. Soc. Am. 41:302), which Hale & Querry's 200 nm steps skip; log-linear interpolation
between nodes. Coarse (±20 % away from the nodes), which is enough for a water term whose
amplitude is fitted per scan. Transmission through an effective liquid-water path d (µm), both
ways through a film (Beer–Lambert):  T_w(λ) = exp(−2 κ(λ) d).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

MIXING = ("linear", "hapke")
DEFAULT_INCIDENCE_DEG = 30.0
DEFAULT_EMISSION_DEG = 0.0
_UM_PER_CM = 1e4


def _cosines(incidence_deg: float, emission_deg: float) -> tuple[float, float]:
    if not (0.0 <= incidence_deg < 90.0 and 0.0 <= emission_deg < 90.0):
        raise ValueError(f"incidence and emission angles must be in [0, 90) degrees, "
                         f"got {incidence_deg}, {emission_deg}")
    return math.cos(math.radians(incidence_deg)), math.cos(math.radians(emission_deg))


def _clip(x, lo, hi):
    return x.clamp(lo, hi) if hasattr(x, "clamp") else np.clip(x, lo, hi)


def hapke_max_reflectance(incidence_deg: float = DEFAULT_INCIDENCE_DEG,
                          emission_deg: float = DEFAULT_EMISSION_DEG) -> float:
    """REFF of a perfectly scattering (w = 1) isotropic medium at this geometry (the model's ceiling)."""
    mu0, mu = _cosines(incidence_deg, emission_deg)
    return (1 + 2 * mu0) * (1 + 2 * mu) / (4 * (mu0 + mu))


def hapke_reflectance(w, incidence_deg: float = DEFAULT_INCIDENCE_DEG, emission_deg: float = DEFAULT_EMISSION_DEG):
    """Reflectance factor REFF from single-scattering albedo w ∈ [0, 1] (any shape; numpy or torch)."""
    mu0, mu = _cosines(incidence_deg, emission_deg)
    w = _clip(w, 0.0, 1.0)
    gamma = (1.0 - w + 1e-12) ** 0.5  # +1e-12: finite gradient at w = 1
    h0 = (1 + 2 * mu0) / (1 + 2 * gamma * mu0)
    h = (1 + 2 * mu) / (1 + 2 * gamma * mu)
    return w / (4 * (mu0 + mu)) * h0 * h


def hapke_albedo(reflectance, incidence_deg: float = DEFAULT_INCIDENCE_DEG, emission_deg: float = DEFAULT_EMISSION_DEG):
    """Single-scattering albedo w from reflectance factor REFF (closed-form inverse of
    :func:`hapke_reflectance`; REFF is clipped to [0, REFF(w=1)])."""
    mu0, mu = _cosines(incidence_deg, emission_deg)
    r = _clip(reflectance, 0.0, hapke_max_reflectance(incidence_deg, emission_deg))
    s = mu0 + mu
    a = 4 * s * r / ((1 + 2 * mu0) * (1 + 2 * mu))
    q = 1 + 4 * a * mu0 * mu
    disc = _clip(a * a * s * s - q * (a - 1), 0.0, None)
    gamma = (-a * s + disc ** 0.5) / q
    return _clip(1 - gamma * gamma, 0.0, 1.0)


# ------------------------------------------------------------------------------------- water
@lru_cache(maxsize=1)
def _water_table() -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    from socspec_endmembers import data_dir
    t = pd.read_csv(data_dir() / "water_absorption.csv").sort_values("wavelength_nm")
    return t["wavelength_nm"].to_numpy(np.float64), t["absorption_per_cm"].to_numpy(np.float64)


def water_absorption_per_cm(wavelength_nm) -> np.ndarray:
    """Absorption coefficient κ(λ) of liquid water in cm⁻¹ (log-linear interpolation of the
    table above; held constant beyond its ends, 345–2600 nm)."""
    wl_tab, a_tab = _water_table()
    wl = np.asarray(wavelength_nm, dtype=np.float64)
    return np.exp(np.interp(wl, wl_tab, np.log(a_tab)))


def water_transmission(wavelength_nm, path_um):
    """T_w(λ) = exp(−2 κ(λ) d) for an effective liquid-water path ``path_um`` d (µm; scalar or (n, 1))."""
    k_per_um = water_absorption_per_cm(wavelength_nm) / _UM_PER_CM
    return np.exp(-2.0 * k_per_um * np.asarray(path_um, dtype=np.float64))


# ------------------------------------------------------------------------------------ mixing
def area_fractions(mass_fractions, rho_r, alpha_conversion: bool = True):
    """α (n, K) = (m_k/ρ_k r_k) / Σ_l (m_l/ρ_l r_l) (seed 003 eq. 2; Hapke's cross-section weights);
    ``alpha_conversion=False``: α = m normalised."""
    w = mass_fractions / rho_r if alpha_conversion else mass_fractions
    return w / w.sum(-1, keepdims=True) if isinstance(w, np.ndarray) else w / w.sum(-1, keepdim=True)


def mix_spectra(alpha, spectra, mixing: str = "linear", incidence_deg: float = DEFAULT_INCIDENCE_DEG,
                emission_deg: float = DEFAULT_EMISSION_DEG):
    """Mixture reflectance (n, M) from area fractions α (n, K) and endmember reflectances (K, M).

    ``linear``: α @ F.  ``hapke``: REFF(α @ w(F)) (see the module docstring)."""
    if mixing == "linear":
        return alpha @ spectra
    if mixing == "hapke":
        w_mix = alpha @ hapke_albedo(spectra, incidence_deg, emission_deg)
        return hapke_reflectance(w_mix, incidence_deg, emission_deg)
    raise ValueError(f"mixing must be one of {MIXING}, got {mixing!r}")


def apply_scan_terms(reflectance, wavelength_nm, scale=None, water_path_um=None):
    """Per-scan extras on a mixture (numpy): R·s·exp(−2κ(λ)d). ``scale`` and ``water_path_um``
    scalars or (n, 1)."""
    r = np.asarray(reflectance, dtype=np.float64)
    if scale is not None:
        r = r * np.asarray(scale, dtype=np.float64)
    if water_path_um is not None:
        r = r * water_transmission(wavelength_nm, water_path_um)
    return r


def fit_scan_terms(reflectance, mixture, wavelength_nm, photometric: bool = True, water: bool = True,
                   nonnegative: bool = True):
    """Least-squares s (n,) and d (n,) µm with R ≈ s·mixture·exp(−2κd), fitted in log space
    (log R − log mixture = log s − 2κd, linear in (log s, d); with ``nonnegative`` d ≥ 0 is
    enforced by refitting without water where it comes out negative; without, d is the plain
    least-squares value, negative where the scan is drier than its mixture — a continuous OOD
    feature). A numpy reference for tests and diagnostics, and the OOD score's water feature."""
    y = np.log(np.clip(np.asarray(reflectance, np.float64), 1e-6, None)) - \
        np.log(np.clip(np.asarray(mixture, np.float64), 1e-6, None))
    k2 = 2.0 * water_absorption_per_cm(wavelength_nm) / _UM_PER_CM
    cols = ([np.ones_like(k2)] if photometric else []) + ([-k2] if water else [])
    if not cols:
        raise ValueError("fit at least one of photometric / water")
    a = np.stack(cols, axis=1)
    coef, *_ = np.linalg.lstsq(a, y.T, rcond=None)
    s = np.exp(coef[0]) if photometric else np.ones(y.shape[0])
    d = coef[-1] if water else np.zeros(y.shape[0])
    if water and nonnegative and np.any(d < 0):
        d = np.clip(d, 0.0, None)
        if photometric:
            s = np.exp((y + k2[None, :] * d[:, None]).mean(axis=1))
    return s, d
