"""What ``socspec inspect`` reports: the detection record of a table plus counts from the table."""
from __future__ import annotations

import numpy as np

from ..spectra import SpectralTable


def wavelength_summary(table: SpectralTable, det: dict) -> None:
    """Add the wavelength range, median step and step histogram (when irregular) to ``det``."""
    wl = table.wavelength_nm
    steps = np.round(np.diff(wl), 4) if wl.size > 1 else np.array([])
    uniq, counts = np.unique(steps, return_counts=True) if steps.size else (np.array([]), np.array([]))
    det.update(n_samples=table.n_samples, n_wavelengths=table.n_wavelengths,
               wavelength_min_nm=float(wl[0]), wavelength_max_nm=float(wl[-1]),
               wavelength_step_nm=float(np.median(steps)) if steps.size else None,
               irregular_step=bool(uniq.size > 1),
               wavelength_steps_nm={f"{u:g}": int(c) for u, c in zip(uniq, counts)} if uniq.size > 1 else None)


def inspect_summary(table: SpectralTable) -> dict:
    """What ``socspec inspect --json`` prints: the detection record plus counts from the table."""
    det = dict(table.detection)
    wavelength_summary(table, det)
    vals = table.values
    finite = vals[np.isfinite(vals)] if vals.size else vals
    labelled = table.labelled_mask()
    out = {
        "file": det.get("file", table.source),
        "format": det.get("format"),
        "layout": det.get("layout", "wide (one row per sample)"),
        "n_samples": table.n_samples,
        "n_wavelengths": table.n_wavelengths,
        "wavelength_min_nm": det["wavelength_min_nm"],
        "wavelength_max_nm": det["wavelength_max_nm"],
        "wavelength_step_nm": det["wavelength_step_nm"],
        "irregular_step": det["irregular_step"],
        "wavelength_steps_nm": det["wavelength_steps_nm"],
        "wavelength_unit_in_file": det.get("wavelength_unit", "nm"),
        "kind": table.kind,
        "percent": bool(det.get("percent", False)),
        "value_min": float(finite.min()) if finite.size else None,
        "value_max": float(finite.max()) if finite.size else None,
        "carbon_column": det.get("carbon_column"),
        "carbon_unit": det.get("carbon_unit"),
        "carbon_basis": det.get("carbon_basis"),
        "carbon_choice": det.get("carbon_choice"),
        "carbon_candidates": det.get("carbon_candidates", []),
        "n_labelled": int(labelled.sum()),
        "soc_g_kg_min": float(np.nanmin(table.soc_g_kg)) if table.has_soc and labelled.any() else None,
        "soc_g_kg_max": float(np.nanmax(table.soc_g_kg)) if table.has_soc and labelled.any() else None,
        "id_column": det.get("id_column"),
        "region_column": det.get("region_column"),
        "lat_column": det.get("lat_column"),
        "lon_column": det.get("lon_column"),
        "date_column": det.get("date_column"),
        "other_columns": det.get("other_columns", []),
        "missing_values": det.get("missing_values", {}),
        "replicates": det.get("replicates", {"n_ids_with_replicates": 0, "max_scans_per_id": 1,
                                             "n_scans_in_replicates": 0, "examples": {}, "averaged": False}),
        "dropped_rows": int(det.get("dropped_rows", 0)),
        "dropped_reasons": det.get("dropped_reasons", {}),
        "dropped_row_numbers": det.get("dropped_row_numbers", []),  # as a spreadsheet numbers them (first 50)
        "dropped_ids": det.get("dropped_ids", []),
    }
    if table.has_soc and "region" in table.meta:
        out["regions"] = {str(k): int(v) for k, v in table.meta["region"].astype(str).value_counts().items()}
    for k in ("encoding", "separator", "decimal_point", "header_style", "wavelength_unit_source", "kind_source",
              "percent_source", "carbon_unit_source", "columns_sorted", "warnings"):
        if det.get(k) is not None:
            out[k] = det[k]
    return out
