"""Preprocessing of spectra: trim, resample, sensor bands, kind conversion, smoothing, SNV, merging.

Three layers, one implementation underneath:

* functions on :class:`~socspec.spectra.SpectralTable` — :func:`trim`, :func:`resample`,
  :func:`resample_to_sensor`, :func:`to_absorbance`, :func:`to_reflectance`, :func:`savgol`,
  :func:`snv`, :func:`common_grid`, :func:`merge_libraries`;
* scikit-learn transformers for Pipelines of numpy arrays — :class:`Trim`, :class:`Resample`,
  :class:`ToAbsorbance`, :class:`ToReflectance`, :class:`SavitzkyGolay`, :class:`SNV`;
* :class:`SpectralPreprocessor`, a fitted chain that is saved with models as JSON
  (``to_dict``/``from_dict``) and refuses spectra that do not cover its window.

**How wavelengths flow through a Pipeline of numpy arrays.** Only :class:`Trim` and
:class:`Resample` need to know the input grid; they take it as the hyper-parameter
``wavelength_nm`` (shape (m,)) and expose the grid they produce as ``wavelength_nm_out_`` after
``fit`` (and statically through ``output_wavelength_nm(wavelength_nm)``).
:func:`make_spectral_pipeline` fills ``wavelength_nm`` of each step from the previous step's
output grid, so the user names the input grid once. Every transformer also accepts a
SpectralTable directly (its own grid is used and a SpectralTable comes back).

Resampling uses :class:`spectral.BandResampler` (each target band a Gaussian of the given FWHM,
source bands as boxes of their spacing) whenever the target is as coarse as the source or has
explicit FWHMs (sensor bands). Band integration cannot add detail, so upsampling to a finer grid
uses linear interpolation instead (BandResampler would return a staircase there).
"""
from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse
from scipy.signal import savgol_filter
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data

from .errors import SocspecInputError
from .spectra import REFLECTANCE_FLOOR, SpectralTable, absorbance_to_reflectance, reflectance_to_absorbance

__all__ = [
    "DEFAULT_WL_MIN_NM", "DEFAULT_WL_MAX_NM", "SENSORS",
    "trim", "resample", "resample_values", "window_grid", "median_step_nm", "check_window", "normalise_sensor",
    "common_grid", "merge_libraries", "sensor_bands",
    "resample_to_sensor", "savgol", "snv", "to_absorbance", "to_reflectance",
    "Trim", "Resample", "ToAbsorbance", "ToReflectance", "SavitzkyGolay", "SNV",
    "make_spectral_pipeline", "SpectralPreprocessor",
]

# Seed 003 keeps 365–2500 nm (the ASD detector is noisy below 365 nm).
DEFAULT_WL_MIN_NM = 365.0
DEFAULT_WL_MAX_NM = 2500.0

# Sensor band models: centre (nm), FWHM (nm) of a Gaussian response, band name.
# Sentinel-2A MSI, ESA "Sentinel-2 Spectral Response Functions" (S2-SRF, COPE-GSEG-EOPG-TN-15-0007),
# the 12 bands of the L2A product (B10 cirrus is not delivered in L2A).
SENSORS: dict[str, dict[str, list]] = {
    "sentinel2": {
        "band_names": ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"],
        "center_nm": [442.7, 492.4, 559.8, 664.6, 704.1, 740.5, 782.8, 832.8, 864.7, 945.1, 1613.7, 2202.4],
        "fwhm_nm": [21.0, 66.0, 36.0, 31.0, 15.0, 15.0, 20.0, 106.0, 21.0, 20.0, 91.0, 175.0],
    },
}
_SENSOR_ALIASES = {"s2": "sentinel2", "sentinel-2": "sentinel2", "sentinel_2": "sentinel2",
                   "s2_msi": "sentinel2", "sentinel2_msi": "sentinel2"}


# =========================================================================== core numerics
def _as_grid(wavelength_nm, what="wavelength_nm") -> np.ndarray:
    wl = np.asarray(wavelength_nm, dtype=np.float64).reshape(-1)
    if wl.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.all(np.isfinite(wl)):
        raise ValueError(f"{what} contains NaN or inf")
    if wl.size > 1 and np.any(np.diff(wl) <= 0):
        raise ValueError(f"{what} must be strictly increasing")
    return wl


def median_step_nm(wl: np.ndarray) -> float:
    return float(np.median(np.diff(wl))) if wl.size > 1 else 1.0


def _window_text(wl) -> str:
    return f"{float(wl[0]):g}–{float(wl[-1]):g} nm"


def window_grid(wavelength_nm, wl_min_nm=None, wl_max_nm=None, step_nm=None, aligned: bool = True) -> np.ndarray:
    """The regular grid every resampling target and every model grid is built by.

    The window is ``[wl_min_nm, wl_max_nm]`` clipped to the data's ``wavelength_nm``; the step is
    ``step_nm`` (default: the data's median step). ``aligned=True``: the grid points are the
    multiples of the step inside the window, so grids of different libraries at one step line up;
    ``aligned=False``: the grid starts at the window's start (a model grid starting at exactly
    ``wl_min_nm``, e.g. seed 003's 365 nm). Returns a float64 array (empty when the window holds
    no grid point).
    """
    wl = _as_grid(wavelength_nm)
    step = float(step_nm or median_step_nm(wl))
    if not step > 0:
        raise ValueError(f"step_nm must be > 0, got {step_nm!r}")
    lo = max(float(wl[0] if wl_min_nm is None else wl_min_nm), float(wl[0]))
    hi = min(float(wl[-1] if wl_max_nm is None else wl_max_nm), float(wl[-1]))
    start = math.ceil(lo / step - 1e-9) * step if aligned else lo
    n = int(math.floor((hi - start) / step + 1e-9)) + 1
    return start + step * np.arange(max(n, 0))


def check_window(source_wl, target_wl, path=None, what="spectra", tol_nm=None):
    """Target band centres must lie inside the source window (± half a source step)."""
    tol = 0.5 * median_step_nm(source_wl) if tol_nm is None else tol_nm
    if target_wl[0] < source_wl[0] - tol or target_wl[-1] > source_wl[-1] + tol:
        raise SocspecInputError(
            f"target window {_window_text(target_wl)} lies outside the {what} window "
            f"{_window_text(source_wl)}", path=path,
            hint="choose a target grid inside the measured window (or trim it first)")


def _build_fwhm(wl: np.ndarray) -> np.ndarray:
    """Half the distance between neighbours (spectral's default band width for unspecified FWHM)."""
    if wl.size == 1:
        return np.ones(1)
    f = np.empty_like(wl)
    f[0], f[-1] = wl[1] - wl[0], wl[-1] - wl[-2]
    f[1:-1] = (wl[2:] - wl[:-2]) / 2.0
    return f


class _Resampler:
    """Maps (n, m_in) → (n, m_out) on fixed grids with one sparse (m_out, m_in) matrix, built once.

    ``auto`` decides per target band: band integration (spectral.BandResampler) where the target
    band is at least as wide as the local source spacing, linear interpolation where it is finer
    (irregular instruments such as 1–5 nm steps, or upsampling) — band integration cannot add
    detail and would return a staircase there."""

    def __init__(self, source_wl, target_wl, target_fwhm=None, method="auto"):
        self.source_wl = source_wl
        self.target_wl = target_wl
        if method not in ("auto", "band", "linear"):
            raise ValueError(f"method must be 'auto', 'band' or 'linear', got {method!r}")
        n_t, n_s = target_wl.size, source_wl.size
        fwhm_t = (_build_fwhm(target_wl) if target_fwhm is None and n_t > 1 else
                  np.broadcast_to(np.asarray(median_step_nm(source_wl) if target_fwhm is None else target_fwhm,
                                             dtype=np.float64), target_wl.shape).copy())
        if method == "linear":
            use_band = np.zeros(n_t, dtype=bool)
        elif method == "band":
            use_band = np.ones(n_t, dtype=bool)
        else:
            local_src = np.interp(target_wl, source_wl, _build_fwhm(source_wl))
            use_band = fwhm_t >= 0.99 * local_src if target_fwhm is None else np.ones(n_t, dtype=bool)
        rows = []
        if use_band.any():
            from spectral import BandResampler
            # python floats: spectral loops over these element by element
            m = BandResampler(source_wl.tolist(), target_wl.tolist(), _build_fwhm(source_wl).tolist(),
                              fwhm_t.tolist()).matrix
            bad = use_band & ~np.all(np.isfinite(m), axis=1)
            if bad.any() and method == "band":
                raise SocspecInputError(
                    f"no source band overlaps target band(s) at "
                    f"{', '.join(f'{x:g}' for x in target_wl[bad][:5])} nm",
                    hint="the source grid has a gap there; choose a coarser target or method='auto'")
            use_band &= ~bad  # a gap in the source: interpolate across it instead
            m[~use_band] = 0.0
            rows.append(scipy.sparse.csr_matrix(m))
        if (~use_band).any():
            j = np.clip(np.searchsorted(source_wl, target_wl) - 1, 0, max(n_s - 2, 0))
            if n_s == 1:
                i0 = i1 = np.zeros(n_t, dtype=np.int64)
                w = np.zeros(n_t)
            else:
                i0, i1 = j, j + 1
                w = np.clip((target_wl - source_wl[i0]) / (source_wl[i1] - source_wl[i0]), 0.0, 1.0)
            r = np.flatnonzero(~use_band)
            lin = scipy.sparse.csr_matrix(
                (np.concatenate([1.0 - w[r], w[r]]), (np.concatenate([r, r]), np.concatenate([i0[r], i1[r]]))),
                shape=(n_t, n_s))
            rows.append(lin)
        self.matrix = rows[0] if len(rows) == 1 else (rows[0] + rows[1]).tocsr()
        self.method = "band" if use_band.all() else ("linear" if not use_band.any() else "band+linear")

    def __call__(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=np.float64)
        return np.asarray((self.matrix @ x.T).T)


_CACHE: "OrderedDict[tuple, _Resampler]" = OrderedDict()


def _resampler(source_wl, target_wl, target_fwhm=None, method="auto") -> _Resampler:
    fw = None if target_fwhm is None else np.asarray(target_fwhm, dtype=np.float64).tobytes()
    key = (source_wl.tobytes(), target_wl.tobytes(), fw, method)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    r = _Resampler(source_wl, target_wl, target_fwhm, method)
    _CACHE[key] = r
    if len(_CACHE) > 32:
        _CACHE.popitem(last=False)
    return r


def resample_values(values, source_wavelength_nm, target_wavelength_nm, target_fwhm_nm=None,
                    method: str = "auto", path=None, what: str = "spectra", tol_nm=None) -> np.ndarray:
    """Resample an (n, m_in) array from one grid to another → (n, m_out) float64.

    ``method``: ``"band"`` = :class:`spectral.BandResampler` (target band i is a Gaussian of FWHM
    ``target_fwhm_nm[i]``, default half the distance to its neighbours, truncated at ±FWHM/2;
    source bands are boxes of their spacing), ``"linear"`` = linear interpolation, ``"auto"`` =
    per target band: band where it is at least as wide as the local source spacing (always when
    ``target_fwhm_nm`` is given), linear where it is finer (upsampling, irregular 1–5 nm grids).
    Raises :class:`SocspecInputError` when the target window lies outside the source window
    (± ``tol_nm``, default half a source step; edge values are held inside that tolerance).
    """
    src = _as_grid(source_wavelength_nm, "source wavelength_nm")
    tgt = _as_grid(target_wavelength_nm, "target wavelength_nm")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != src.size:
        raise ValueError(f"values must have shape (n, {src.size}), got {x.shape}")
    check_window(src, tgt, path=path, what=what, tol_nm=tol_nm)
    if method == "linear" and src.shape == tgt.shape and np.array_equal(src, tgt):
        return x.copy() if x is values else x  # interpolation onto the same grid is the identity
    return _resampler(src, tgt, target_fwhm_nm, method)(x)


# =========================================================================== table functions
def _record(table: SpectralTable, step: str, **params) -> SpectralTable:
    det = table.detection
    det.setdefault("preprocessing", [])
    det["preprocessing"] = list(det["preprocessing"]) + [{"step": step, **params}]
    return table


def trim(table: SpectralTable, wl_min_nm: float = DEFAULT_WL_MIN_NM,
         wl_max_nm: float = DEFAULT_WL_MAX_NM) -> SpectralTable:
    """Keep wavelengths with ``wl_min_nm ≤ λ ≤ wl_max_nm`` (nm); error when none remain."""
    if not wl_min_nm < wl_max_nm:
        raise ValueError(f"wl_min_nm ({wl_min_nm}) must be < wl_max_nm ({wl_max_nm})")
    wl = table.wavelength_nm
    keep = (wl >= wl_min_nm - 1e-9) & (wl <= wl_max_nm + 1e-9)
    if keep.sum() == 0:
        raise SocspecInputError(
            f"no wavelengths inside {wl_min_nm:g}–{wl_max_nm:g} nm (spectra cover {_window_text(wl)})",
            path=table.source, hint="choose a trim window inside the measured range")
    out = table.with_values(table.values[:, keep], wavelength_nm=wl[keep])
    return _record(out, "trim", wl_min_nm=float(wl_min_nm), wl_max_nm=float(wl_max_nm))


def resample(table: SpectralTable, target_wavelength_nm, target_fwhm_nm=None,
             method: str = "auto") -> SpectralTable:
    """Resample a table onto ``target_wavelength_nm`` (nm) — see :func:`resample_values`."""
    tgt = _as_grid(target_wavelength_nm, "target_wavelength_nm")
    vals = resample_values(table.values, table.wavelength_nm, tgt, target_fwhm_nm, method,
                           path=table.source)
    out = table.with_values(vals, wavelength_nm=tgt)
    return _record(out, "resample", n_wavelengths=int(tgt.size), window_nm=[float(tgt[0]), float(tgt[-1])],
                   fwhm=target_fwhm_nm is not None)


def normalise_sensor(sensor: str) -> str:
    key = str(sensor).strip().lower()
    key = _SENSOR_ALIASES.get(key, key)
    if key not in SENSORS:
        raise SocspecInputError(f"unknown sensor {sensor!r}", column="sensor",
                                hint=f"choose one of {sorted(SENSORS)}")
    return key


def sensor_bands(sensor: str = "sentinel2") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(centre_nm (B,), fwhm_nm (B,), band_names) of a sensor's Gaussian band model.

    ``"sentinel2"``: the 12 L2A bands of Sentinel-2A MSI, B1…B9, B11, B12 (no B10)."""
    s = SENSORS[normalise_sensor(sensor)]
    return (np.array(s["center_nm"], dtype=np.float64), np.array(s["fwhm_nm"], dtype=np.float64),
            list(s["band_names"]))


def resample_to_sensor(table: SpectralTable, sensor: str = "sentinel2") -> SpectralTable:
    """Convolve each spectrum with the sensor's Gaussian band responses → (n, B) on band centres.

    Works in reflectance (band averages of absorbance are not absorbance of band averages)."""
    centre, fwhm, names = sensor_bands(sensor)
    refl = table.as_reflectance()
    lo, hi = centre - fwhm / 2, centre + fwhm / 2
    wl = refl.wavelength_nm
    if wl[0] > lo.min() + 0.5 * median_step_nm(wl) or wl[-1] < hi.max() - 0.5 * median_step_nm(wl):
        raise SocspecInputError(
            f"{normalise_sensor(sensor)} bands span {lo.min():g}–{hi.max():g} nm but the spectra "
            f"cover {_window_text(wl)}", path=table.source,
            hint="sensor band convolution needs spectra over the whole band range")
    vals = resample_values(refl.values, wl, centre, fwhm, "band", path=table.source)
    out = refl.with_values(vals, wavelength_nm=centre)
    out.detection["band_names"] = names
    out.detection["sensor"] = normalise_sensor(sensor)
    return _record(out, "resample_to_sensor", sensor=normalise_sensor(sensor))


def to_absorbance(table: SpectralTable) -> SpectralTable:
    """A = log10(1/R), R floored at ``socspec.spectra.REFLECTANCE_FLOOR``."""
    return table.as_absorbance()


def to_reflectance(table: SpectralTable) -> SpectralTable:
    """R = 10^(−A)."""
    return table.as_reflectance()


def _uniform_step(wl: np.ndarray, path=None) -> float:
    if wl.size < 2:
        return 1.0
    d = np.diff(wl)
    step = float(np.median(d))
    if np.max(np.abs(d - step)) > 1e-3 * step + 1e-9:
        raise SocspecInputError(
            f"Savitzky–Golay needs an evenly spaced grid; steps range {d.min():g}–{d.max():g} nm",
            path=path, hint="resample to a regular grid first (preprocess.resample)")
    return step


def _savgol_array(x, window_length, polyorder, deriv, delta_nm):
    x = np.asarray(x, dtype=np.float64)
    if window_length > x.shape[1]:
        raise ValueError(f"window_length {window_length} needs as many wavelengths, got n_features = {x.shape[1]}")
    # mode="interp" fits the polynomial to the edge windows (no padding artefacts).
    return savgol_filter(x, window_length, polyorder, deriv=deriv, delta=delta_nm, axis=1, mode="interp")


def savgol(table: SpectralTable, window_length: int = 11, polyorder: int = 2, deriv: int = 0) -> SpectralTable:
    """Savitzky–Golay smoothing (deriv=0) or derivative d^k/dλ^k per nm (deriv=k) along wavelength.

    Uses :func:`scipy.signal.savgol_filter` with ``delta`` = grid step in nm, so derivatives are
    per nanometre. Needs an evenly spaced grid."""
    step = _uniform_step(table.wavelength_nm, table.source)
    out = table.with_values(_savgol_array(table.values, window_length, polyorder, deriv, step))
    return _record(out, "savgol", window_length=int(window_length), polyorder=int(polyorder),
                   deriv=int(deriv))


def snv_values(x) -> np.ndarray:
    """SNV of an (n, m) array of spectra (rows): (x − row mean) / row sd (ddof=1); a constant row is an error."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=1, ddof=1, keepdims=True)
    if np.any(sd == 0):
        raise ValueError("SNV of a constant spectrum (standard deviation 0)")
    return (x - x.mean(axis=1, keepdims=True)) / sd


def snv(table: SpectralTable) -> SpectralTable:
    """Standard normal variate (Barnes et al. 1989): x_ij ← (x_ij − mean_i) / sd_i, sd with ddof=1."""
    return _record(table.with_values(snv_values(table.values)), "snv")


# =========================================================================== merging
def _instrument(table: SpectralTable) -> str | None:
    det = table.detection or {}
    for key in ("instrument", "sensor", "spectrometer"):
        if det.get(key):
            return str(det[key])
    if "instrument" in table.meta:
        vals = table.meta["instrument"].dropna().astype(str).unique()
        return ", ".join(vals[:3]) if len(vals) else None
    return None


def common_grid(tables: Sequence[SpectralTable], step_nm: float | None = None,
                names: Sequence[str] | None = None) -> tuple[np.ndarray, dict]:
    """The grid every table can be resampled onto: the intersection of their windows at
    ``step_nm`` (default: the coarsest median step among them, so no library is upsampled).

    Returns (wavelength_nm (m,), report) with report = {window_nm, step_nm, n_wavelengths,
    libraries: [{name, source, n_samples, wl_min_nm, wl_max_nm, step_nm, kind, instrument}]}."""
    tables = list(tables)
    if not tables:
        raise ValueError("common_grid needs at least one table")
    names = _library_names(tables, names)
    lo = max(float(t.wavelength_nm[0]) for t in tables)
    hi = min(float(t.wavelength_nm[-1]) for t in tables)
    libs = [{"name": n, "source": t.source, "n_samples": t.n_samples,
             "wl_min_nm": float(t.wavelength_nm[0]), "wl_max_nm": float(t.wavelength_nm[-1]),
             "step_nm": t.step_nm(), "n_wavelengths": t.n_wavelengths, "kind": t.kind,
             "percent": bool((t.detection or {}).get("percent", False)),
             "instrument": _instrument(t)} for n, t in zip(names, tables)]
    if not lo < hi:
        spans = "; ".join(f"{x['name']}: {x['wl_min_nm']:g}–{x['wl_max_nm']:g} nm" for x in libs)
        raise SocspecInputError(f"the libraries share no wavelength window ({spans})",
                                hint="merge only libraries whose ranges overlap")
    if step_nm is None:
        step_nm = max((s["step_nm"] or 1.0) for s in libs)
    if not step_nm > 0:
        raise ValueError(f"step_nm must be positive, got {step_nm}")
    # Grid on whole multiples of the step, inside the common window.
    start = math.ceil(lo / step_nm - 1e-9) * step_nm
    n = int(math.floor((hi - start) / step_nm + 1e-9)) + 1
    wl = start + step_nm * np.arange(n)
    report = {"window_nm": [float(wl[0]), float(wl[-1])], "overlap_nm": [lo, hi],
              "step_nm": float(step_nm), "n_wavelengths": int(n), "libraries": libs}
    return wl, report


def _library_names(tables, names):
    if names is None:
        names = []
        for i, t in enumerate(tables):
            from pathlib import Path
            names.append(Path(t.source).stem if t.source else f"library{i + 1}")
    names = [str(n) for n in names]
    if len(names) != len(tables):
        raise ValueError(f"{len(names)} names for {len(tables)} tables")
    if len(set(names)) != len(names):  # two files with the same stem
        names = [f"{n}_{i + 1}" for i, n in enumerate(names)]
    return names


def merge_libraries(tables: Sequence[SpectralTable], step_nm: float | None = None,
                    names: Sequence[str] | None = None) -> tuple[SpectralTable, dict]:
    """Put spectral libraries from different instruments on one grid, in reflectance 0–1.

    Each table → reflectance → resampled onto :func:`common_grid` → stacked. Meta columns are
    concatenated (union); a ``library`` column names the source library, ``region`` is kept and,
    where a library has none, filled with the library name (reported). Ids repeated across
    libraries are prefixed with ``<library>:``. Returns (merged table, report) where the report is
    common_grid's plus ``n_samples``, ``region_filled_from_library`` and ``ids_prefixed``."""
    tables = list(tables)
    names = _library_names(tables, names)
    wl, report = common_grid(tables, step_nm, names)
    parts, metas = [], []
    filled = []
    for name, t, lib in zip(names, tables, report["libraries"]):
        r = t.as_reflectance()
        vals = resample_values(r.values, r.wavelength_nm, wl, None, "auto", path=t.source)
        lib["resample_method"] = _resampler(r.wavelength_nm, wl, None, "auto").method
        parts.append(vals)
        meta = r.meta.copy()
        meta["library"] = name
        if "region" not in meta or meta["region"].isna().all():
            meta["region"] = name
            filled.append(name)
        else:
            meta["region"] = meta["region"].where(meta["region"].notna(), name)
        lib["converted_from_absorbance"] = t.kind == "absorbance"
        lib["cut_nm"] = [max(0.0, wl[0] - lib["wl_min_nm"]), max(0.0, lib["wl_max_nm"] - wl[-1])]
        metas.append(meta)
    meta = pd.concat(metas, ignore_index=True, sort=False)
    prefixed = False
    if "id" in meta:
        ids = meta["id"].astype(str)
        if ids.duplicated().any():
            meta["id"] = meta["library"].astype(str) + ":" + ids
            prefixed = True
    merged = SpectralTable(wl, np.vstack(parts), kind="reflectance", meta=meta,
                           source="+".join(str(t.source) for t in tables),
                           detection={"merged": names})
    report.update(n_samples=merged.n_samples, region_filled_from_library=filled, ids_prefixed=prefixed)
    merged.detection["merge_report"] = report
    return merged, report


# =========================================================================== sklearn transformers
def _is_table(X) -> bool:
    return isinstance(X, SpectralTable)


class _SpectralTransformer(TransformerMixin, BaseEstimator):
    """Base: numpy (n, m) in → numpy out; SpectralTable in → SpectralTable out.

    numpy input is checked by scikit-learn's ``validate_data`` (2-D, numeric, dense; NaN allowed —
    a missing channel stays missing); a fitted transformer refuses another number of columns.
    The per-spectrum transformers (ToAbsorbance, ToReflectance, SavitzkyGolay, SNV) learn nothing
    and may transform without ``fit`` (tag ``requires_fit=False``)."""

    _stateless = True
    _allow_nan = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allow_nan
        tags.requires_fit = not self._stateless
        return tags

    def _validate(self, X, reset: bool):
        return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32],
                             ensure_all_finite="allow-nan" if self._allow_nan else True)

    def output_wavelength_nm(self, wavelength_nm):
        """Grid produced from input grid ``wavelength_nm`` (unchanged unless overridden)."""
        return None if wavelength_nm is None else _as_grid(wavelength_nm)

    def fit(self, X, y=None):
        if _is_table(X):
            self.n_features_in_ = X.n_wavelengths
            self.wavelength_nm_out_ = X.wavelength_nm
        else:
            self._validate(X, reset=True)
            wl = getattr(self, "wavelength_nm", None)
            self.wavelength_nm_out_ = self.output_wavelength_nm(wl) if wl is not None else None
        return self

    def _check_width(self, X):
        n = X.n_wavelengths if _is_table(X) else np.asarray(X).shape[1]
        if hasattr(self, "n_features_in_") and n != self.n_features_in_:
            raise ValueError(f"{type(self).__name__} was fitted on {self.n_features_in_} wavelengths, "
                             f"got {n}")


class Trim(_SpectralTransformer):
    """Keep columns with wl_min_nm ≤ λ ≤ wl_max_nm. ``wavelength_nm`` (m,): the input grid
    (not needed when X is a SpectralTable). Learned: ``mask_`` (m,), ``wavelength_nm_out_``."""

    _stateless = False

    def __init__(self, wavelength_nm=None, wl_min_nm=DEFAULT_WL_MIN_NM, wl_max_nm=DEFAULT_WL_MAX_NM):
        self.wavelength_nm = wavelength_nm
        self.wl_min_nm = wl_min_nm
        self.wl_max_nm = wl_max_nm

    def _mask(self, wl):
        return (wl >= self.wl_min_nm - 1e-9) & (wl <= self.wl_max_nm + 1e-9)

    def output_wavelength_nm(self, wavelength_nm):
        wl = _as_grid(wavelength_nm)
        return wl[self._mask(wl)]

    def fit(self, X, y=None):
        wl = X.wavelength_nm if _is_table(X) else self.wavelength_nm
        if wl is None:
            raise ValueError("Trim needs wavelength_nm (the input grid) when X is a numpy array")
        wl = _as_grid(wl)
        n = X.n_wavelengths if _is_table(X) else np.asarray(X).shape[1]
        if n != wl.size:
            raise ValueError(f"X has {n} columns but wavelength_nm has {wl.size}")
        self.mask_ = self._mask(wl)
        if not self.mask_.any():
            raise SocspecInputError(f"no wavelengths inside {self.wl_min_nm:g}–{self.wl_max_nm:g} nm "
                                    f"(input covers {_window_text(wl)})")
        self.n_features_in_ = wl.size
        self.wavelength_nm_out_ = wl[self.mask_]
        return self

    def transform(self, X):
        check_is_fitted(self, "mask_")
        self._check_width(X)
        if _is_table(X):
            return trim(X, self.wl_min_nm, self.wl_max_nm)
        return self._validate(X, reset=False)[:, self.mask_]


class Resample(_SpectralTransformer):
    """Resample columns from grid ``wavelength_nm`` to ``target_wavelength_nm`` (nm), optional
    Gaussian ``target_fwhm_nm``; see :func:`resample_values`. Learned: ``wavelength_nm_out_``."""

    _stateless = False

    def __init__(self, wavelength_nm=None, target_wavelength_nm=None, target_fwhm_nm=None, method="auto"):
        self.wavelength_nm = wavelength_nm
        self.target_wavelength_nm = target_wavelength_nm
        self.target_fwhm_nm = target_fwhm_nm
        self.method = method

    def output_wavelength_nm(self, wavelength_nm):
        return _as_grid(self.target_wavelength_nm, "target_wavelength_nm")

    def fit(self, X, y=None):
        if self.target_wavelength_nm is None:
            raise ValueError("Resample needs target_wavelength_nm")
        src = X.wavelength_nm if _is_table(X) else self.wavelength_nm
        if src is None:
            raise ValueError("Resample needs wavelength_nm (the input grid) when X is a numpy array")
        src = _as_grid(src)
        n = X.n_wavelengths if _is_table(X) else np.asarray(X).shape[1]
        if n != src.size:
            raise ValueError(f"X has {n} columns but wavelength_nm has {src.size}")
        tgt = _as_grid(self.target_wavelength_nm, "target_wavelength_nm")
        check_window(src, tgt)
        self.n_features_in_ = src.size
        self.wavelength_nm_in_ = src
        self.wavelength_nm_out_ = tgt
        return self

    def transform(self, X):
        check_is_fitted(self, "wavelength_nm_in_")
        self._check_width(X)
        if _is_table(X):
            return resample(X, self.wavelength_nm_out_, self.target_fwhm_nm, self.method)
        return resample_values(X, self.wavelength_nm_in_, self.wavelength_nm_out_,
                               self.target_fwhm_nm, self.method)


class ToAbsorbance(_SpectralTransformer):
    """Reflectance R (0–1) → absorbance log10(1/R); R floored at ``floor``."""

    def __init__(self, floor=REFLECTANCE_FLOOR):
        self.floor = floor

    def transform(self, X):
        if _is_table(X):
            return X.as_absorbance()
        return reflectance_to_absorbance(self._validate(X, reset=False), self.floor)

    def inverse_transform(self, X):
        return absorbance_to_reflectance(X)


class ToReflectance(_SpectralTransformer):
    """Absorbance A → reflectance 10^(−A)."""

    def transform(self, X):
        if _is_table(X):
            return X.as_reflectance()
        return absorbance_to_reflectance(self._validate(X, reset=False))

    def inverse_transform(self, X):
        return reflectance_to_absorbance(X)


class SavitzkyGolay(_SpectralTransformer):
    """Savitzky–Golay filter along wavelength (scipy.signal.savgol_filter, mode='interp').
    ``delta_nm``: grid step for derivatives per nm (taken from the table when X is one).
    NaN is refused: the local polynomial fits cannot skip a missing channel."""

    _allow_nan = False

    def __init__(self, window_length=11, polyorder=2, deriv=0, delta_nm=1.0):
        self.window_length = window_length
        self.polyorder = polyorder
        self.deriv = deriv
        self.delta_nm = delta_nm

    def transform(self, X):
        if _is_table(X):
            return savgol(X, self.window_length, self.polyorder, self.deriv)
        return _savgol_array(self._validate(X, reset=False), self.window_length, self.polyorder, self.deriv,
                             self.delta_nm)


class SNV(_SpectralTransformer):
    """Standard normal variate per spectrum (row): (x − mean) / sd (ddof=1). Stateless."""

    def transform(self, X):
        if _is_table(X):
            return snv(X)
        return snv_values(self._validate(X, reset=False))


def make_spectral_pipeline(wavelength_nm, *steps, memory=None) -> Pipeline:
    """``Pipeline`` of ``steps`` where each grid-aware step (Trim, Resample, SavitzkyGolay's
    ``delta_nm``) gets the grid produced by the steps before it, starting from ``wavelength_nm``.
    The last step may be any estimator (e.g. ``PLSRegression``). Steps are used as given (set_params)."""
    wl = _as_grid(wavelength_nm)
    named = []
    for i, step in enumerate(steps):
        if isinstance(step, (Trim, Resample)):
            step.set_params(wavelength_nm=wl)
        if isinstance(step, SavitzkyGolay):
            step.set_params(delta_nm=_uniform_step(wl))
        if isinstance(step, _SpectralTransformer):
            wl = step.output_wavelength_nm(wl)
        named.append((f"{type(step).__name__.lower()}{i}", step))
    return Pipeline(named, memory=memory)


# =========================================================================== coverage
class SpectralResolutionWarning(UserWarning):
    """The input spectra are coarser than the grid they are interpolated onto."""


GAP_MIN_NM = 20.0  # holes up to this width are bridged by the resampling without comment


def gap_threshold_nm(source_step_nm: float, target_step_nm: float | None = None) -> float:
    """Largest spacing between neighbouring input wavelengths that is not a gap:
    max(3 × the input's median step, 3 × the target step, ``GAP_MIN_NM``)."""
    return max(3.0 * float(source_step_nm), 3.0 * float(target_step_nm or 0.0), GAP_MIN_NM)


def check_coverage(table: SpectralTable, lo_nm: float, hi_nm: float, *, target_step_nm: float | None = None,
                   what: str = "the model") -> None:
    """The one coverage rule for spectra read into a fitted window ``[lo_nm, hi_nm]`` (nm).

    Raises :class:`SocspecInputError` (file named) when the spectra

    * do not span the window (tolerance: half the input's median step, at least 0.5 nm);
    * have a **gap** inside it: neighbouring wavelengths further apart than :func:`gap_threshold_nm`
      (e.g. 1800–2000 nm removed) — interpolating across it would invent the missing bands;
    * hold missing values inside it in some scans (the message names how many and the first ids).

    Warns (:class:`SpectralResolutionWarning`, naming both steps) when the input step is more than
    1.5 × ``target_step_nm``: the scans are interpolated onto a finer grid than they were measured on.
    """
    wl = table.wavelength_nm
    step = median_step_nm(wl) if wl.size > 1 else 0.0
    tol = max(0.5, 0.5 * step)
    if not wl.size or wl[0] > lo_nm + tol or wl[-1] < hi_nm - tol:
        span = _window_text(wl) if wl.size else "no wavelengths"
        raise SocspecInputError(
            f"spectra cover {span} but {what} needs {lo_nm:g}–{hi_nm:g} nm", path=table.source,
            hint="supply spectra measured over the whole window (or retrain on a window both cover, "
                 "e.g. with --wl-min/--wl-max)")
    gap_max = gap_threshold_nm(step, target_step_nm)
    d = np.diff(wl)
    inside = (wl[1:] > lo_nm) & (wl[:-1] < hi_nm)
    gaps = np.flatnonzero(inside & (d > gap_max))
    if gaps.size:
        spans = ", ".join(f"{wl[i]:g}–{wl[i + 1]:g} nm" for i in gaps[:3]) + (" …" if gaps.size > 3 else "")
        raise SocspecInputError(
            f"spectra have no wavelengths between {spans} (a gap inside the {lo_nm:g}–{hi_nm:g} nm window "
            f"{what} needs; gaps wider than {gap_max:g} nm are not interpolated)", path=table.source,
            hint="supply the full spectra, or retrain on a window without the gap "
                 "(wl_min_nm / wl_max_nm; --wl-min / --wl-max on the command line)")
    cols = (wl >= lo_nm - step - 1e-9) & (wl <= hi_nm + step + 1e-9)
    bad = ~np.all(np.isfinite(table.values[:, cols]), axis=1)
    if bad.any():
        ids = [str(i) for i in np.asarray(table.ids)[bad][:5]]
        first = int(np.flatnonzero(bad)[0])
        raise SocspecInputError(
            f"{int(bad.sum())} of {len(bad)} spectra have missing values inside the {lo_nm:g}–{hi_nm:g} nm "
            f"window (ids {', '.join(ids)}{' …' if bad.sum() > 5 else ''})", path=table.source, row=first + 2,
            hint="fill or drop those rows (read_spectra(..., drop_bad_rows=True); --drop-bad-rows on the "
                 "command line)")
    if target_step_nm and step > 1.5 * float(target_step_nm):
        warnings.warn(f"{table.source or 'the spectra'}: measured every {step:g} nm but {what} works on a "
                      f"{float(target_step_nm):g} nm grid; the scans are interpolated onto it "
                      "(finer detail than the instrument measured is not real)",
                      SpectralResolutionWarning, stacklevel=3)


# =========================================================================== fitted chain
_STEP_ALIASES = {"trim": "trim", "resample": "resample", "sensor": "sensor", "resample_to_sensor": "sensor",
                 "absorbance": "absorbance", "to_absorbance": "absorbance",
                 "reflectance": "reflectance", "to_reflectance": "reflectance",
                 "savgol": "savgol", "savitzky_golay": "savgol", "snv": "snv"}
_STEP_PARAMS = {"trim": {"wl_min_nm", "wl_max_nm"},
                "resample": {"target_wavelength_nm", "step_nm", "wl_min_nm", "wl_max_nm", "fwhm_nm", "method"},
                "sensor": {"sensor"}, "absorbance": set(), "reflectance": set(),
                "savgol": {"window_length", "polyorder", "deriv"}, "snv": set()}
_FORMAT = "socspec.SpectralPreprocessor"


class SpectralPreprocessor:
    """A fitted, JSON-serialisable chain of preprocessing steps on SpectralTables.

    ``steps``: list of (name, params) with name in trim {wl_min_nm, wl_max_nm}; resample
    {target_wavelength_nm | step_nm [, wl_min_nm, wl_max_nm], fwhm_nm, method}; sensor {sensor};
    reflectance; absorbance; savgol {window_length, polyorder, deriv}; snv.

    ``fit(table)`` resolves what depends on the data — a resample given by ``step_nm`` gets its
    grid from the window of the table at that point — and records:

    * ``required_window_nm_`` (lo, hi): the input window the chain reads (the training window
      after trims / the resample target range). ``transform`` refuses tables not covering it with a
      :class:`SocspecInputError` naming the file and both windows;
    * ``wavelength_nm_in_`` — the training grid; a new table on another grid needs a resample step;
    * ``wavelength_nm_out_``, ``kind_out_``.
    """

    def __init__(self, steps=None):
        self.steps = [] if steps is None else [(str(n), dict(p or {})) for n, p in steps]
        for name, params in self.steps:
            key = _STEP_ALIASES.get(name.lower())
            if key is None:
                raise ValueError(f"unknown preprocessing step {name!r}; choose from {sorted(set(_STEP_ALIASES))}")
            extra = set(params) - _STEP_PARAMS[key]
            if extra:
                raise ValueError(f"step {name!r} has unknown parameter(s) {sorted(extra)}")

    @classmethod
    def lab_default(cls, wl_min_nm=DEFAULT_WL_MIN_NM, wl_max_nm=DEFAULT_WL_MAX_NM, step_nm=1.0):
        """Seed 003's input: reflectance, 365–2500 nm at 1 nm (the resample does the trimming, so a
        coarser instrument's channels just outside the window still inform the edge bands)."""
        return cls([("reflectance", {}),
                    ("resample", {"step_nm": step_nm, "wl_min_nm": wl_min_nm, "wl_max_nm": wl_max_nm})])

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "wavelength_nm_out_")

    def __repr__(self):
        return f"SpectralPreprocessor(steps={self.steps!r})"

    # ------------------------------------------------------------------ fit/transform
    def _resolve_resample(self, params, wl):
        if params.get("target_wavelength_nm") is not None:
            return _as_grid(params["target_wavelength_nm"], "target_wavelength_nm")
        return window_grid(wl, params.get("wl_min_nm"), params.get("wl_max_nm"), params.get("step_nm"))

    def _apply(self, table, grids):
        i_grid = 0
        for name, params in self.steps:
            key = _STEP_ALIASES[name.lower()]
            if key == "trim":
                table = trim(table, params.get("wl_min_nm", DEFAULT_WL_MIN_NM),
                             params.get("wl_max_nm", DEFAULT_WL_MAX_NM))
            elif key == "resample":
                if grids is None:
                    tgt = self._resolve_resample(params, table.wavelength_nm)
                    self._grids.append(tgt)
                    self._windows.append((float(tgt[0]), float(tgt[-1])))
                else:
                    tgt = grids[i_grid]
                i_grid += 1
                table = resample(table, tgt, params.get("fwhm_nm"), params.get("method", "auto"))
            elif key == "sensor":
                if grids is None:
                    c, w, _ = sensor_bands(params.get("sensor", "sentinel2"))
                    self._windows.append((float((c - w / 2).min()), float((c + w / 2).max())))
                table = resample_to_sensor(table, params.get("sensor", "sentinel2"))
            elif key == "absorbance":
                table = to_absorbance(table)
            elif key == "reflectance":
                table = to_reflectance(table)
            elif key == "savgol":
                table = savgol(table, params.get("window_length", 11), params.get("polyorder", 2),
                               params.get("deriv", 0))
            elif key == "snv":
                table = snv(table)
        return table

    def _required_window(self, wl):
        lo, hi = float(wl[0]), float(wl[-1])
        for name, params in self.steps:
            key = _STEP_ALIASES[name.lower()]
            if key == "trim":
                lo = max(lo, float(params.get("wl_min_nm", DEFAULT_WL_MIN_NM)))
                hi = min(hi, float(params.get("wl_max_nm", DEFAULT_WL_MAX_NM)))
            elif key in ("resample", "sensor"):
                break  # after the first resample the input grid no longer matters
        return lo, hi

    def fit(self, table: SpectralTable, y=None) -> "SpectralPreprocessor":
        self._grids, self._windows = [], []
        self.wavelength_nm_in_ = table.wavelength_nm.copy()
        lo, hi = self._required_window(table.wavelength_nm)
        wl = table.wavelength_nm
        inside = wl[(wl >= lo - 1e-9) & (wl <= hi + 1e-9)]  # the grid points actually read
        out = self._apply(table, None)
        if self._windows:  # the first resample / sensor step decides what the input must cover
            self.required_window_nm_ = self._windows[0]
        else:
            self.required_window_nm_ = (float(inside[0]), float(inside[-1])) if inside.size else (lo, hi)
        self.resample_grids_ = [g.copy() for g in self._grids]
        self.regrids_ = bool(self._windows)
        self.kind_in_ = table.kind
        self.kind_out_ = out.kind
        self.wavelength_nm_out_ = out.wavelength_nm.copy()
        del self._grids, self._windows
        return self

    def fit_transform(self, table: SpectralTable, y=None) -> SpectralTable:
        return self.fit(table).transform(table)

    def check_covers(self, table: SpectralTable) -> None:
        """Raise SocspecInputError unless ``table`` covers the window this chain was fitted on."""
        if not self.is_fitted:
            raise RuntimeError("SpectralPreprocessor is not fitted")
        lo, hi = self.required_window_nm_
        grid = self.resample_grids_[0] if self.resample_grids_ else None
        check_coverage(table, lo, hi, what="the model",
                       target_step_nm=median_step_nm(grid) if grid is not None and grid.size > 1 else None)
        if not self.regrids_:
            wl = table.wavelength_nm
            got = wl[(wl >= lo - 1e-9) & (wl <= hi + 1e-9)]
            ref = self.wavelength_nm_in_
            ref = ref[(ref >= lo - 1e-9) & (ref <= hi + 1e-9)]
            if got.shape != ref.shape or not np.allclose(got, ref, atol=1e-6):
                raise SocspecInputError(
                    f"spectra are on a different wavelength grid ({got.size} wavelengths, step "
                    f"{table.step_nm() or 0:g} nm) than the model ({ref.size} wavelengths)",
                    path=table.source, hint="add a 'resample' step to the preprocessing")

    def transform(self, table: SpectralTable) -> SpectralTable:
        """Apply the fitted chain; output grid is always ``wavelength_nm_out_``."""
        self.check_covers(table)
        if table.kind != self.kind_in_:  # e.g. absorbance file for a model fitted on reflectance
            table = table.as_reflectance() if self.kind_in_ == "reflectance" else table.as_absorbance()
        return self._apply(table, self.resample_grids_)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-able description; ``from_dict(to_dict())`` transforms identically."""
        d: dict[str, Any] = {"format": _FORMAT, "version": 1,
                             "steps": [[n, _plain(p)] for n, p in self.steps]}
        if self.is_fitted:
            d["fitted"] = {
                "wavelength_nm_in": self.wavelength_nm_in_.tolist(),
                "required_window_nm": list(self.required_window_nm_),
                "resample_grids": [g.tolist() for g in self.resample_grids_], "regrids": self.regrids_,
                "kind_in": self.kind_in_, "kind_out": self.kind_out_,
                "wavelength_nm_out": self.wavelength_nm_out_.tolist(),
            }
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SpectralPreprocessor":
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise SocspecInputError("not a socspec SpectralPreprocessor description",
                                    hint="the model artifact may be damaged or from another program")
        obj = cls([(n, p) for n, p in d["steps"]])
        f = d.get("fitted")
        if f:
            obj.wavelength_nm_in_ = np.asarray(f["wavelength_nm_in"], dtype=np.float64)
            obj.required_window_nm_ = tuple(float(x) for x in f["required_window_nm"])
            obj.resample_grids_ = [np.asarray(g, dtype=np.float64) for g in f["resample_grids"]]
            obj.regrids_ = bool(f.get("regrids", obj.resample_grids_))
            obj.kind_in_ = f["kind_in"]
            obj.kind_out_ = f["kind_out"]
            obj.wavelength_nm_out_ = np.asarray(f["wavelength_nm_out"], dtype=np.float64)
        return obj


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
