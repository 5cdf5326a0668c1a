"""A small synthetic lab library and table, and a fast LabSOCModel on them (shared by lab tests)."""
from __future__ import annotations

import warnings

import numpy as np

from socspec.lab.estimator import LabSOCModel
from socspec.lab.simulate import simulate_lab_spectra, synthetic_library


def small_library_and_table(wavelength_nm: np.ndarray, n: int, seed: int):
    """``(library, table)``: 5 synthetic minerals (seed 3) and ``n`` scans of 2 regions."""
    lib = synthetic_library(wavelength_nm, n_minerals=5, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = simulate_lab_spectra(n=n, regions=2, seed=seed, wavelength_nm=wavelength_nm, endmembers=lib)
    return lib, tab


def small_physics_model(library, **params) -> LabSOCModel:
    """An unfitted default (physics) model, 16 wide, on CPU, windowed to 400–2440 nm, one network
    (``soc_blend="none"``: the default's 5-member committee would cost 5 trainings per test)."""
    kw = dict(hidden=16, progress=False, endmembers=library, device="cpu", wl_min_nm=400, wl_max_nm=2440,
              soc_blend="none")
    return LabSOCModel(**{**kw, **params})
