"""SpectralTable: the one container every path reads and writes.

Contract (every reader returns it, every model and writer takes it):

* ``wavelength_nm`` — float64, shape (m,), strictly increasing, in nanometres.
* ``values`` — float32, shape (n, m); reflectance as a fraction 0–1 or absorbance log10(1/R).
* ``kind`` — ``"reflectance"`` or ``"absorbance"``.
* ``meta`` — pandas DataFrame with n rows. Reserved column names (all optional):
  ``id`` (str; replicate scans of one sample share it), ``soc_g_kg`` (float, canonical unit, see :mod:`socspec.units`),
  ``region`` (str), ``lat``/``lon`` (degrees), ``date``; any other columns are kept as read.
* ``source`` — where the table came from (a path), used in error messages.
* ``detection`` — what the reader detected (layout, units, column roles), for ``socspec inspect``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from .errors import SocspecInputError

KINDS = ("reflectance", "absorbance")
# Reserved meta columns, in the order readers write them.
META_ROLES = ("id", "soc_g_kg", "region", "lat", "lon", "date")
# Reflectance above this is physically implausible for soil (allows fluorescence/calibration overshoot).
MAX_REFLECTANCE = 1.5
# Smallest reflectance used when converting to absorbance (avoids log of zero): A ≤ 6.
REFLECTANCE_FLOOR = 1e-6
# Soil water absorption (seed 003 fig. 3), (start, end) in nm: the O–H overtone near 1400 nm and
# the H–O–H combination band near 1900 nm, each widened towards longer λ by liquid water.
WATER_BANDS_NM = ((1350.0, 1450.0), (1850.0, 1960.0))


def reflectance_to_absorbance(reflectance, floor: float = REFLECTANCE_FLOOR) -> np.ndarray:
    """A = log10(1/R) = −log10(max(R, floor)), float64, any shape (R a fraction 0–1)."""
    return -np.log10(np.clip(np.asarray(reflectance, dtype=np.float64), floor, None))


def absorbance_to_reflectance(absorbance) -> np.ndarray:
    """R = 10^(−A), float64, any shape."""
    return np.power(10.0, -np.asarray(absorbance, dtype=np.float64))


@dataclass
class SpectralTable:
    wavelength_nm: np.ndarray
    values: np.ndarray
    kind: str = "reflectance"
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)
    source: str | None = None
    detection: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        wl = np.asarray(self.wavelength_nm, dtype=np.float64)
        vals = np.asarray(self.values, dtype=np.float32)
        if wl.ndim != 1:
            raise SocspecInputError(f"wavelength_nm must be 1-D, got shape {wl.shape}", path=self.source)
        if vals.ndim != 2 or vals.shape[1] != wl.shape[0]:
            raise SocspecInputError(
                f"values must have shape (n_samples, {wl.shape[0]}), got {vals.shape}", path=self.source)
        if wl.size and not np.all(np.isfinite(wl)):
            raise SocspecInputError("wavelengths contain NaN or inf", path=self.source)
        if wl.size > 1:
            d = np.diff(wl)
            if np.any(d <= 0):
                i = int(np.argmax(d <= 0))
                what = "duplicated" if d[i] == 0 else "not increasing"
                raise SocspecInputError(
                    f"wavelengths are {what} at {wl[i]:g} nm → {wl[i + 1]:g} nm",
                    path=self.source, hint="wavelengths must be strictly increasing")
        if self.kind not in KINDS:
            raise SocspecInputError(f"kind must be one of {KINDS}, got {self.kind!r}", path=self.source)
        meta = self.meta if self.meta is not None else pd.DataFrame()
        if len(meta.columns) == 0 and len(meta) == 0:
            meta = pd.DataFrame(index=pd.RangeIndex(vals.shape[0]))
        if len(meta) != vals.shape[0]:
            raise SocspecInputError(
                f"meta has {len(meta)} rows but values has {vals.shape[0]}", path=self.source)
        self.wavelength_nm = wl
        self.values = vals
        self.meta = meta.reset_index(drop=True)

    # ------------------------------------------------------------------ basics
    @property
    def n_samples(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_wavelengths(self) -> int:
        return int(self.wavelength_nm.shape[0])

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        wl = self.wavelength_nm
        span = f"{wl[0]:g}–{wl[-1]:g} nm" if wl.size else "no wavelengths"
        return (f"SpectralTable({self.n_samples} samples × {self.n_wavelengths} wavelengths, "
                f"{span}, {self.kind}, meta={list(self.meta.columns)})")

    @property
    def ids(self) -> np.ndarray:
        if "id" in self.meta:
            return self.meta["id"].astype(str).to_numpy()
        return np.array([f"row{i + 1}" for i in range(self.n_samples)])

    @property
    def soc_g_kg(self) -> np.ndarray | None:
        """SOC in g/kg (NaN where unknown), or None when the table has no carbon column."""
        if "soc_g_kg" not in self.meta:
            return None
        return self.meta["soc_g_kg"].to_numpy(dtype=np.float64)

    @property
    def has_soc(self) -> bool:
        return "soc_g_kg" in self.meta

    def labelled_mask(self) -> np.ndarray:
        soc = self.soc_g_kg
        if soc is None:
            return np.zeros(self.n_samples, dtype=bool)
        return np.isfinite(soc)

    def copy(self) -> "SpectralTable":
        return replace(self, wavelength_nm=self.wavelength_nm.copy(), values=self.values.copy(),
                       meta=self.meta.copy(), detection=dict(self.detection))

    def subset(self, rows) -> "SpectralTable":
        """Rows selected by a boolean mask or integer indices."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return replace(self, values=self.values[rows], meta=self.meta.iloc[rows].reset_index(drop=True),
                       detection=dict(self.detection))

    def with_values(self, values, wavelength_nm=None, kind=None) -> "SpectralTable":
        """Same samples and meta, new spectra (e.g. after preprocessing)."""
        return replace(self, values=np.asarray(values, dtype=np.float32),
                       wavelength_nm=self.wavelength_nm if wavelength_nm is None else wavelength_nm,
                       kind=self.kind if kind is None else kind, meta=self.meta.copy(),
                       detection=dict(self.detection))

    # ---------------------------------------------------------- kind conversion
    def as_reflectance(self) -> "SpectralTable":
        """Reflectance 0–1 (absorbance A converted as R = 10^(−A))."""
        if self.kind == "reflectance":
            return self
        return self.with_values(absorbance_to_reflectance(self.values), kind="reflectance")

    def as_absorbance(self) -> "SpectralTable":
        """Absorbance log10(1/R); reflectance is floored at ``REFLECTANCE_FLOOR`` first."""
        if self.kind == "absorbance":
            return self
        return self.with_values(reflectance_to_absorbance(self.values), kind="absorbance")

    # ---------------------------------------------------------------- windows
    def covers(self, wl_min_nm: float, wl_max_nm: float, tol_nm: float = 0.5) -> bool:
        wl = self.wavelength_nm
        return bool(wl.size) and wl[0] <= wl_min_nm + tol_nm and wl[-1] >= wl_max_nm - tol_nm

    def region_column(self, region_col: str = "region") -> str:
        """The meta column holding the regions the user named ``region_col``: readers rename the
        user's region column (``read_spectra(region_col=...)``) to ``region``. Raises
        SocspecInputError naming the file and the columns there are when there is none."""
        cols = self.meta.columns
        if region_col in cols:
            return region_col
        if "region" in cols and (self.detection or {}).get("region_column") == region_col:
            return "region"
        raise SocspecInputError(
            f"no region column {region_col!r} (columns: {', '.join(map(str, cols))})", path=self.source,
            column=region_col, hint="name the column that gives each scan's region (region_col)")

    def region_labels(self, region_col: str = "region") -> np.ndarray:
        """Each scan's region as a str array (n,), from :meth:`region_column`; a scan without a
        region is a SocspecInputError naming its row (1-based, header = row 1)."""
        col = self.region_column(region_col)
        reg = self.meta[col]
        if reg.isna().any():
            row = int(np.flatnonzero(reg.isna().to_numpy())[0])
            raise SocspecInputError("region is empty", path=self.source, row=row + 2, column=region_col,
                                    hint="every scan needs a region")
        return reg.astype(str).to_numpy()

    def step_nm(self) -> float | None:
        """Median wavelength step (nm)."""
        if self.n_wavelengths < 2:
            return None
        return float(np.median(np.diff(self.wavelength_nm)))
