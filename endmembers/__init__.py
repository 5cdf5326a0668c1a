"""The embedded default endmember library (data files only; the code is socspec.endmembers).

* ``minerals.csv`` — mineral facts: density (g/cm³), cell parameters, unit-cell volume V (nm³),
  size r = V^(1/3) (nm), sources.
* ``continuum.csv`` — per mineral: brightness, slope and the UV/charge-transfer edge of the continuum.
* ``features.csv`` — absorption bands: mineral, centre (nm), FWHM (nm), depth, assignment, source.
* ``usgs_v7_5nm.csv`` + ``usgs_v7_minerals.csv`` — the MEASURED default library of the physics
  decoder: 55 USGS Spectral Library v7 mineral records at 5 nm with density and cell volume
  (built by ``scripts/build_usgs_library.py``).
* ``water_absorption.csv`` — liquid water absorption coefficient (Hale & Querry 1973 + band maxima).
* ``PROVENANCE.md`` — what every source key means and how the spectra are synthesised.
"""
from pathlib import Path


def data_dir() -> Path:
    """Folder holding the embedded library's CSV files."""
    return Path(__file__).resolve().parent
