"""Spectra files as labs write them, for the reader and CLI tests (helpers, not tests)."""
from __future__ import annotations

import numpy as np
import pandas as pd

WL = np.arange(350, 2501, 1.0)
WL10 = np.arange(350, 2501, 10.0)  # 216 bands: small files for most tests


def soil_reflectance(wl_nm, n, rng):
    """Soil-like reflectance (fraction): rises through the visible, dips at the 1400/1900/2200 nm
    OH/water bands — enough shape for the reader to tell reflectance from absorbance."""
    wl = np.asarray(wl_nm, dtype=float)
    base = 0.08 + 0.30 * (1 - np.exp(-(wl - 300) / 450))
    dips = (0.06 * np.exp(-((wl - 1915) / 45) ** 2) + 0.035 * np.exp(-((wl - 1412) / 30) ** 2)
            + 0.02 * np.exp(-((wl - 2205) / 20) ** 2))
    scale = rng.uniform(0.7, 1.3, size=(n, 1))
    return np.clip(scale * (base - dips) + rng.normal(0, 0.002, size=(n, wl.size)), 0.01, 0.95)


def wide_csv(path, wl_headers, spectra, meta: dict | None = None, meta_after=False, sep=",", **to_csv):
    spec = pd.DataFrame(spectra, columns=[str(h) for h in wl_headers])
    m = pd.DataFrame(meta or {})
    df = pd.concat([spec, m], axis=1) if meta_after else pd.concat([m, spec], axis=1)
    df.to_csv(path, index=False, sep=sep, **to_csv)
    return path
