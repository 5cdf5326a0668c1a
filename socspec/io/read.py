""":func:`read_spectra`: a file → a :class:`~socspec.spectra.SpectralTable`, as a pipeline of phases.

1. read the format (:mod:`.csv`, :mod:`.parquet`, :mod:`.envi`) → :class:`~.raw.RawTable`;
2. wavelengths: unit, nm, increasing order (:func:`~.detect.detect_wavelengths`);
3. bad spectra: ragged rows, non-numeric, missing, infinite cells (:func:`~.validate.check_spectra`);
4. kind: reflectance/absorbance, percent (:func:`~.detect.detect_kind`), then reflectance range;
5. column roles and the carbon column (:mod:`.carbon`, :mod:`.roles`), carbon → g/kg;
6. drop bad rows (``drop_bad_rows``) or stop at the first one;
7. replicate scans: report, ``unique_ids``, ``average_replicates`` (:mod:`.replicates`).

Each phase returns a small dataclass; the detection record (``table.detection``) collects what
each found, for ``socspec inspect``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..spectra import SpectralTable
from .carbon import LOOKED_FOR, choose_carbon_column, read_carbon
from .common import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    SUPPORTED_SUFFIXES,
    input_error,
    normalize_carbon_unit,
    normalize_kind,
    normalize_wavelength_unit,
    sheet_row,
)
from .detect import detect_kind, detect_wavelengths
from .raw import RawTable
from .replicates import Replicates, check_unique_ids, find_replicates
from .replicates import average_replicates as _average
from .roles import Roles, resolve_roles, role_columns
from .summary import wavelength_summary
from .validate import (
    BadRows,
    check_carbon_present,
    check_reflectance_range,
    check_spectra,
    drop_rows,
    dropped_detection,
)


def _format_of(path: Path) -> str:
    """The reader for ``path``'s suffix (``.csv.gz`` is CSV); clear errors for what cannot be read."""
    if not path.exists():
        raise input_error("file not found", path, hint="check the path")
    if path.is_dir():
        raise input_error("is a directory, not a spectra file", path,
                          hint="give the path of a CSV, Parquet or ENVI file")
    suffixes = [s.lower() for s in path.suffixes]
    suffix = suffixes[-1] if suffixes else ""
    if suffix == ".gz" and len(suffixes) > 1 and suffixes[-2] in CSV_SUFFIXES:
        suffix = suffixes[-2]  # gzip-compressed text
    if suffix not in SUPPORTED_SUFFIXES:
        raise input_error(f"unsupported file type {suffix or '(no suffix)'!r}", path,
                          hint=f"use one of {', '.join(SUPPORTED_SUFFIXES)} (CSV/TSV/TXT also gzipped, e.g. "
                          ".csv.gz); save Excel sheets as CSV")
    if path.stat().st_size == 0:
        raise input_error("the file is empty", path, hint="check that the export finished")
    return "csv" if suffix in CSV_SUFFIXES else "parquet" if suffix in PARQUET_SUFFIXES else "envi"


def _read_raw(path: Path, fmt: str, sep) -> RawTable:
    if fmt == "csv":
        from .csv import read_csv
        return read_csv(path, sep)
    if fmt == "parquet":
        from .parquet import read_parquet
        return read_parquet(path)
    from .envi import read_envi
    return read_envi(path)


def read_spectra(path, *, kind=None, percent=None, wavelength_unit=None, carbon_col=None, carbon_unit=None,
                 id_col=None, region_col=None, lat_col=None, lon_col=None, date_col=None,
                 require_carbon=False, drop_bad_rows=False, sep=None, require_carbon_column=False,
                 unique_ids=False, average_replicates=False) -> SpectralTable:
    """Read a spectral table (wide CSV/TSV/TXT, Parquet, ENVI ``.sli``/``.hdr``).

    Returns a :class:`SpectralTable`: ``values`` (n, m) float32 reflectance as a fraction 0–1 (percent
    divided by 100) or absorbance log10(1/R); ``wavelength_nm`` (m,) strictly increasing (µm ×1000,
    cm⁻¹ → 10⁷/ν̃); ``meta`` with reserved columns ``id``, ``soc_g_kg`` (carbon converted to g/kg),
    ``region``, ``lat``, ``lon``, ``date`` plus every other non-spectral column under its own name.
    ``detection`` records what was detected and why (printed by ``socspec inspect``).

    Every detection has an override: ``kind`` ("reflectance"|"absorbance"), ``percent`` (bool),
    ``wavelength_unit`` ("nm"|"um"|"cm-1"), ``carbon_col``/``carbon_unit`` ("fraction"|"percent"|"g/kg";
    ``carbon_col=""`` means "no carbon column"), ``id_col``, ``region_col``, ``lat_col``, ``lon_col``,
    ``date_col``, ``sep``.

    ``require_carbon``: a row without carbon is an error (training on labelled rows only).
    ``require_carbon_column``: a carbon column must be found without ambiguity and hold at least one
    value; rows without carbon stay (unlabelled scans). When neither is set, an unclear carbon
    column is not an error: no carbon is read and ``detection["carbon_candidates"]`` lists them.
    ``drop_bad_rows``: rows with missing/non-numeric/non-finite spectra, out-of-range reflectance, or
    (with ``require_carbon``) missing carbon are dropped instead, counted in ``detection["dropped_rows"]``.
    ``unique_ids``: an id on more than one row is an error (otherwise replicate scans are reported in
    ``detection["replicates"]``); ``average_replicates``: one row per id, spectra averaged
    (:func:`socspec.io.replicates.average_replicates`).
    """
    path = Path(path)
    fmt = _format_of(path)
    opts = ReadOptions(kind=kind, percent=percent, wavelength_unit=wavelength_unit, carbon_col=carbon_col,
                       carbon_unit=carbon_unit, id_col=id_col, region_col=region_col, lat_col=lat_col,
                       lon_col=lon_col, date_col=date_col, require_carbon=require_carbon,
                       drop_bad_rows=drop_bad_rows, sep=sep, require_carbon_column=require_carbon_column,
                       unique_ids=unique_ids, average_replicates=average_replicates).normalized(path)
    raw = _read_raw(path, fmt, opts.sep)
    rec = _Record({"file": str(path), **raw.info, "header_style": raw.columns.header_style})
    wl, kind_found, values, bad = _spectra_phase(raw, opts, rec, path)
    roles, meta = _roles_phase(raw, opts, bad, rec, path)
    values, meta, keep = _drop_phase(raw, values, meta, bad, rec, path)
    values, meta = _replicates_phase(raw, values, meta, keep, roles, opts, rec, path)
    rec.det.update(id_column=roles.id, region_column=roles.region, lat_column=roles.lat, lon_column=roles.lon,
                   date_column=roles.date, other_columns=roles.others, n_spectral_columns=len(wl.order),
                   n_rows_in_file=int(raw.values.shape[0] + len(bad.ragged)),
                   missing_values={c: int(k) for c, k in raw.meta.isna().sum().items() if k})
    rec.finish(path)
    table = SpectralTable(wavelength_nm=wl.wavelength_nm, values=values, kind=kind_found.kind, meta=meta,
                          source=str(path), detection=rec.det)
    wavelength_summary(table, rec.det)
    return table


@dataclass(frozen=True)
class ReadOptions:
    """The keyword arguments of :func:`read_spectra`, overrides normalised (``--kind r`` → reflectance)."""

    kind: str | None = None
    percent: bool | None = None
    wavelength_unit: str | None = None
    carbon_col: str | None = None
    carbon_unit: str | None = None
    id_col: str | None = None
    region_col: str | None = None
    lat_col: str | None = None
    lon_col: str | None = None
    date_col: str | None = None
    require_carbon: bool = False
    drop_bad_rows: bool = False
    sep: str | None = None
    require_carbon_column: bool = False
    unique_ids: bool = False
    average_replicates: bool = False

    def normalized(self, path) -> ReadOptions:
        return replace(self, kind=normalize_kind(self.kind, path),
                       wavelength_unit=normalize_wavelength_unit(self.wavelength_unit, path),
                       carbon_unit=normalize_carbon_unit(self.carbon_unit, path))


@dataclass
class _Record:
    """The detection record being filled (``table.detection``) and the warnings for the user."""

    det: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def finish(self, path) -> None:
        self.det["warnings"] = self.warnings
        for w in self.warnings:
            warnings.warn(f"{path}: {w}", UserWarning, stacklevel=3)


def _spectra_phase(raw: RawTable, opts: ReadOptions, rec: _Record, path):
    """Wavelengths in nm and increasing order; bad spectral cells; kind and percent; reflectance range.
    Returns (Wavelengths, Kind, values (n, m) float32 as a fraction or absorbance, BadRows)."""
    wl = detect_wavelengths(raw.columns, raw.names, opts.wavelength_unit, path)
    rec.det.update(wavelength_unit=wl.unit, wavelength_unit_source=wl.unit_source)
    values = raw.values[:, wl.order] if wl.reorder_note else raw.values
    if wl.reorder_note:
        rec.det["columns_sorted"] = wl.reorder_note
        rec.warnings.append(f"wavelength columns were {wl.reorder_note}; sorted into increasing order")
    if values.shape[0] == 0:
        raise input_error("the file has a header but no data rows", path, row=2, hint="add spectra below the header")
    bad, row_range = check_spectra(raw, values, wl, opts.drop_bad_rows, path)
    k = detect_kind(wl.wavelength_nm, values, row_range.finite, opts.kind, opts.percent,
                    raw.kind_hint or raw.columns.kind_hint, path)
    rec.det.update(kind=k.kind, kind_source=k.kind_source, percent=k.percent, percent_source=k.percent_source)
    if k.kind == "reflectance":
        check_reflectance_range(raw, values, wl, k.percent, row_range, bad, opts.drop_bad_rows, path)
    if k.percent:  # in place: values is the reader's own buffer
        values = np.divide(values, np.float32(100.0), out=values)
    return wl, k, values, bad


def _roles_phase(raw: RawTable, opts: ReadOptions, bad: BadRows, rec: _Record, path):
    """Carbon column (rules in :mod:`.carbon`), the other roles, carbon values in g/kg, the meta frame."""
    meta_in = raw.meta
    comma = raw.info.get("decimal_point") == ","
    needs_column = opts.require_carbon or opts.require_carbon_column
    choice = choose_carbon_column(meta_in, opts.carbon_col, decimal_comma=comma, required=needs_column, path=path)
    roles = resolve_roles(list(meta_in.columns), choice.column, id_col=opts.id_col, region_col=opts.region_col,
                          lat_col=opts.lat_col, lon_col=opts.lon_col, date_col=opts.date_col, path=path)
    carbon = read_carbon(meta_in, roles.carbon, opts.carbon_unit, decimal_comma=comma,
                         header_rows=raw.header_rows, path=path)
    rec.det.update(carbon_column=carbon.column, carbon_unit=carbon.unit, carbon_unit_source=carbon.unit_source,
                   carbon_basis=carbon.basis, carbon_choice=choice.reason,
                   carbon_candidates=[c.describe() for c in choice.candidates],
                   n_carbon_missing=int(carbon.missing.sum()))
    rec.warnings.extend(carbon.warnings)
    if choice.ambiguous:
        rec.warnings.append(f"carbon column unclear ({', '.join(map(repr, choice.ambiguous))}); no carbon read — "
                            "pass --carbon-col NAME to pick one")
    if carbon.column is None and needs_column:
        raise input_error(f"no carbon column found (looked for {LOOKED_FOR})", path, row=1,
                          hint="pass --carbon-col NAME (and --carbon-unit)")
    if opts.require_carbon_column and not opts.require_carbon and carbon.missing.all():
        raise input_error(f"carbon column {carbon.column!r} is empty in every row: nothing to train on", path,
                          column=carbon.column, hint="pass --carbon-col NAME to pick the column with the values")
    if opts.require_carbon:
        check_carbon_present(carbon.missing, carbon.column, bad, opts.drop_bad_rows, raw.header_rows, path)
    meta = role_columns(meta_in, roles, len(meta_in), carbon.soc_g_kg, decimal_comma=comma,
                        header_rows=raw.header_rows, path=path)
    return roles, meta


def _drop_phase(raw: RawTable, values, meta, bad: BadRows, rec: _Record, path):
    """Drop the rows marked bad (only with ``drop_bad_rows``; otherwise the first one has raised)."""
    all_ids = meta["id"].to_numpy()
    values, meta, keep = drop_rows(values, meta, bad)
    rec.det.update(dropped_detection(bad, all_ids, raw))
    if bad.n_dropped:
        rec.warnings.append(f"dropped {bad.n_dropped} row(s) with bad values (--drop-bad-rows): "
                            + ", ".join(f"{r}: {c}" for r, c in bad.counts().items()))
    if values.shape[0] == 0:
        raise input_error("no rows left after dropping bad rows", path, hint="check the file")
    return values, meta, keep


def _replicates_phase(raw: RawTable, values, meta, keep, roles: Roles, opts: ReadOptions, rec: _Record, path):
    """Report ids with several scans; ``unique_ids`` refuses them, ``average_replicates`` averages them."""
    row_numbers = None if raw.transposed else np.array([sheet_row(r, raw.header_rows) for r in np.flatnonzero(keep)])
    reps = Replicates()
    if roles.id is not None:
        if opts.unique_ids:
            check_unique_ids(meta["id"].to_numpy(), row_numbers, roles.id, path)
        reps = find_replicates(meta["id"].to_numpy())
        if opts.average_replicates and reps.n_ids_with_replicates:
            values, meta = _average(values, meta, row_numbers, path)
            reps.averaged = True
    rec.det["replicates"] = reps.as_detection()
    return values, meta
