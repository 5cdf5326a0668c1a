"""Readers and writers for spectral tables: wide CSV/TSV/TXT, Parquet, ENVI spectral libraries.

:func:`read_spectra` turns a file into a :class:`~socspec.spectra.SpectralTable` and records in
``table.detection`` what it found, so that ``socspec inspect`` can print it:

* **layout** — wide (one row per sample; the usual case) or transposed (first column named
  ``wavelength``/``wl``/``nm``, then one column per sample, as ASD ViewSpec exports).
* **wavelength columns** — numeric headers in nm or µm (``350``, ``0.35``) or prefixed/suffixed ones
  (``wl_350``, ``X350``, ``nm350``, ``R350``, ``350nm``); every other column is metadata, wherever
  it sits (RaCA files put ``rcapid, hzname, bd, soc, soc_sd`` *after* 2,151 spectral columns).
* **kind** — reflectance (fraction 0–1 or percent) or absorbance A = log10(1/R). The value range
  separates percent reflectance (> 5) from the rest; between reflectance fraction and absorbance the
  spectrum's shape decides (soil water bands at ~1400/1900 nm are dips in R and peaks in A; soil
  reflectance rises from 450 to 1000 nm). When nothing decides, the reader raises and names the
  flag to pass — ambiguity is a flag, not a guess.
* **carbon** — column by name (rules in :mod:`socspec.io.carbon`: text or empty columns are not
  candidates, an exact name beats longer names containing it), unit from the name (``_pct``, ``%``,
  ``_g_kg``, ``fraction``) or else from the value range, converted to the canonical g/kg
  (:mod:`socspec.units`) into meta column ``soc_g_kg``. The basis (SOC, total C, SOM) is recorded;
  SOM is *not* converted to carbon, only warned about.
* **id / region / lat / lon / date** columns by name, renamed to those reserved meta names.
* **replicates** — several rows with one id are replicate scans: reported, averaged on request
  (:mod:`socspec.io.replicates`).

Errors are :class:`~socspec.errors.SocspecInputError` naming the file, the row (1-based as a
spreadsheet shows it: header = row 1) and the column, and what to do. Hints name the command-line
flag; each flag ``--carbon-col``, ``--drop-bad-rows``, … is the :func:`read_spectra` keyword of the
same name with underscores (``carbon_col=``, ``drop_bad_rows=``).

Modules: :mod:`.read` (the pipeline), :mod:`.csv` / :mod:`.parquet` / :mod:`.envi` (formats),
:mod:`.detect` (wavelengths, kind), :mod:`.validate` (bad rows), :mod:`.roles` / :mod:`.carbon`
(column roles), :mod:`.replicates`, :mod:`.summary` (``inspect``), :mod:`.write`.
"""
from __future__ import annotations

from .common import (
           CSV_SUFFIXES,
           ENVI_SUFFIXES,
           NULL_TOKENS,
           PARQUET_SUFFIXES,
           SUPPORTED_SUFFIXES,
)
from .read import read_spectra
from .replicates import Replicates
from .summary import inspect_summary
from .write import write_spectra

__all__ = [
           "CSV_SUFFIXES",
           "ENVI_SUFFIXES",
           "NULL_TOKENS",
           "PARQUET_SUFFIXES",
           "SUPPORTED_SUFFIXES",
           "Replicates",
           "inspect_summary",
           "read_spectra",
           "write_spectra",
]
