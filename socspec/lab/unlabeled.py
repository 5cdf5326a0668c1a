"""Real unlabelled soil spectra for the reconstruction term (seed 003: N′ ≫ N helps).

``earthlib`` (MIT; installed with the ``remote`` extra) ships the ICRAF-ISRIC world soil spectral
library inside its endmember library: 4,168 measured soil spectra (``SOURCE ==
"icraf-isric-soil-database"``), 400–2450 nm at 10 nm, with lat/lon, as an ENVI spectral library
(``earthlib/data/spectra.sli``; reflectance 0–1). earthlib removed the atmospheric water bands
(1360–1450 and 1800–1950 nm are absent), so the library has 180 channels.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import SocspecInputError
from ..spectra import SpectralTable

EARTHLIB_SOIL_SOURCE = "icraf-isric-soil-database"
UNLABELED_SOURCES = ("earthlib",)


def earthlib_library() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """earthlib's whole spectral library: (wavelength_nm (180,), reflectance (7261, 180) 0–1,
    metadata with NAME, LEVEL_1..4, LAT, LON, SOURCE), read from ``earthlib/data/spectra.sli``
    (ENVI, via ``spectral``) and ``earthlib.config.full_metadata`` — the files earthlib itself loads."""
    try:
        import spectral
        from earthlib.config import full_endmember_path, full_metadata
    except ImportError as exc:
        raise SocspecInputError(f"earthlib spectra need the earthlib package ({exc})",
                                hint='pip install earthlib (or pip install -e ".[remote]")') from None
    lib = spectral.open_image(full_endmember_path + ".hdr")  # ENVI spectral library (spectral.io.envi)
    wl = np.asarray(lib.bands.centers, dtype=np.float64)
    wl = wl * 1000.0 if wl.max() < 100 else wl  # µm → nm
    return wl, np.asarray(lib.spectra, dtype=np.float64), full_metadata


def earthlib_soil_spectra(fill_water_bands: bool = True, step_nm: float = 10.0) -> SpectralTable:
    """The ICRAF-ISRIC soil spectra shipped by earthlib as an unlabelled :class:`SpectralTable`.

    ``fill_water_bands=True``: linear interpolation across earthlib's two removed water-band gaps
    onto a regular grid (400–2450 nm at ``step_nm``) — the lab model needs a regular grid; the
    interpolated channels carry no information, so compare models on the same treatment of both
    labelled and unlabelled scans (``detection["water_band_gaps_nm"]`` lists the gaps).
    ``False``: earthlib's own 180 channels. meta: ``id``, ``lat``, ``lon``, ``region`` = "ICRAF-ISRIC".
    """
    wl, r, full_metadata = earthlib_library()
    keep = (full_metadata["SOURCE"] == EARTHLIB_SOIL_SOURCE).to_numpy()
    r = r[keep]
    meta = pd.DataFrame({"id": full_metadata.loc[keep, "NAME"].astype(str).to_numpy(),
                         "lat": full_metadata.loc[keep, "LAT"].to_numpy(float),
                         "lon": full_metadata.loc[keep, "LON"].to_numpy(float), "region": "ICRAF-ISRIC"})
    steps = np.diff(wl)
    gaps = [(float(wl[i]), float(wl[i + 1])) for i in np.flatnonzero(steps > 1.5 * np.median(steps))]
    det = {"source": "earthlib ICRAF-ISRIC soil spectra", "water_band_gaps_nm": gaps}
    if fill_water_bands:
        grid = np.arange(wl[0], wl[-1] + 1e-9, float(step_nm))
        r = np.vstack([np.interp(grid, wl, row) for row in r])
        wl = grid
        det["filled"] = "linear interpolation across the water-band gaps"
    ok = np.all(np.isfinite(r), axis=1) & np.all(r > 0, axis=1)
    return SpectralTable(wl, r[ok].astype(np.float32), "reflectance", meta[ok].reset_index(drop=True),
                         source="earthlib:" + EARTHLIB_SOIL_SOURCE, detection=det)


def fill_gaps_like(table: SpectralTable, gaps_nm, step_nm: float = 10.0, window_nm=(400.0, 2450.0)) -> SpectralTable:
    """``table`` on a regular grid at ``step_nm`` inside ``window_nm`` ∩ the table's range, with the
    channels inside ``gaps_nm`` (list of (lo, hi) nm, exclusive) replaced by linear interpolation
    across each gap — the treatment :func:`earthlib_soil_spectra` gives its own scans, so labelled
    and unlabelled scans agree channel for channel."""
    from ..preprocess import resample_values
    wl = table.wavelength_nm
    lo = float(np.ceil(max(window_nm[0], wl[0]) / step_nm) * step_nm)
    hi = float(np.floor(min(window_nm[1], wl[-1]) / step_nm) * step_nm)
    if hi - lo < 10 * step_nm:
        raise SocspecInputError(f"spectra cover {wl[0]:g}–{wl[-1]:g} nm, which hardly overlaps "
                                f"{window_nm[0]:g}–{window_nm[1]:g} nm", path=table.source)
    grid = np.arange(lo, hi + 1e-9, float(step_nm))
    x = resample_values(np.asarray(table.as_reflectance().values, dtype=np.float64), wl, grid, None, "auto")
    inside = np.zeros(grid.size, dtype=bool)
    for g_lo, g_hi in gaps_nm:
        inside |= (grid > g_lo) & (grid < g_hi)
    x = np.vstack([np.interp(grid, grid[~inside], row[~inside]) for row in x])
    return SpectralTable(grid, x.astype(np.float32), "reflectance", table.meta.copy(), source=table.source,
                         detection={**dict(table.detection), "water_band_gaps_filled_nm": list(gaps_nm)})


def with_earthlib(table: SpectralTable, step_nm: float = 10.0, n: int | None = None, seed: int = 0):
    """(``table`` on earthlib's grid, earthlib's soils as unlabelled scans): both on the common
    window at ``step_nm`` with earthlib's water-band gaps interpolated in both, so the model grid
    adapts to what the two have in common (``--unlabeled earthlib``). ``n``: a random subset."""
    unl = earthlib_soil_spectra(step_nm=step_nm)
    gaps = unl.detection["water_band_gaps_nm"]
    if n is not None and n < len(unl):
        unl = unl.subset(np.sort(np.random.default_rng(seed).choice(len(unl), int(n), replace=False)))
    return fill_gaps_like(table, gaps, step_nm), unl
