"""ENVI spectral libraries (``.sli`` + ``.hdr``), read with the ``spectral`` package."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .common import input_error
from .detect import SpectralColumns
from .raw import RawTable


def read_envi(path: Path) -> RawTable:
    from spectral.io import envi

    if path.suffix.lower() == ".hdr":
        hdr = path
        data_candidates = [path.with_suffix(".sli"), path.with_suffix(".SLI"), path.with_suffix("")]
    else:
        hdr = None
        for cand in (path.with_suffix(".hdr"), Path(str(path) + ".hdr"), path.with_suffix(".HDR")):
            if cand.exists():
                hdr = cand
                break
        if hdr is None:
            raise input_error("ENVI spectral library without its .hdr header file", path,
                              hint=f"put {path.with_suffix('.hdr').name} beside it")
        data_candidates = [path]
    data = next((c for c in data_candidates if c.exists() and c != hdr), None)
    if data is None:
        raise input_error("ENVI header without its .sli data file", path,
                          hint=f"put {path.with_suffix('.sli').name} beside it")
    try:
        header = envi.read_envi_header(str(hdr))
        lib = envi.open(str(hdr), str(data))
    except Exception as exc:  # noqa: BLE001 — spectral raises several exception types for malformed headers
        raise input_error(f"not a readable ENVI spectral library ({exc})", path,
                          hint="check the .hdr (samples, lines, wavelength) and .sli files") from None
    if not hasattr(lib, "spectra"):
        raise input_error("ENVI file is an image, not a spectral library (.sli)", path,
                          hint="export the spectra as a spectral library or a CSV")
    raw = RawTable()
    centers = list(lib.bands.centers or [])
    spectra = np.asarray(lib.spectra, dtype=np.float32)
    if not centers:
        raise input_error("ENVI header has no 'wavelength' list", hdr, hint="add the band centres to the header")
    unit = str(header.get("wavelength units", "") or "").strip().lower()
    raw.info.update(format="envi", encoding=None, separator=None, decimal_point=None,
                    envi_wavelength_units=unit or None)
    envi_unit = ""
    if unit in ("micrometers", "micrometer", "microns", "micron", "um", "µm"):
        envi_unit = raw.info["envi_unit"] = "um"
    elif unit in ("nanometers", "nanometer", "nm"):
        envi_unit = raw.info["envi_unit"] = "nm"
    scale = header.get("reflectance scale factor")
    if scale not in (None, ""):
        spectra = spectra / np.float32(float(scale))
        raw.info["envi_reflectance_scale_factor"] = float(scale)
        raw.kind_hint = "reflectance"
    wl = np.array([float(c) for c in centers], dtype=np.float64)
    raw.columns = SpectralColumns("", envi_unit, wl, np.arange(wl.size))
    raw.spectral_idx = list(range(wl.size))
    raw.values = spectra
    names = list(getattr(lib, "names", None) or [])
    raw.meta = pd.DataFrame({"spectra names": names} if len(names) == spectra.shape[0] else {},
                            index=pd.RangeIndex(spectra.shape[0]))
    raw.names = [repr(float(c)) for c in centers] + list(raw.meta.columns)
    return raw
