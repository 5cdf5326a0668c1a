"""Bad rows: ragged rows, non-numeric / missing / infinite spectral cells, reflectance out of range,
missing carbon where training needs it. Each is an error naming the row and column, or — with
``--drop-bad-rows`` — a reason recorded per row and the row dropped (:class:`BadRows`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..spectra import MAX_REFLECTANCE
from .common import input_error, sheet_row
from .detect import Wavelengths
from .raw import RawTable


@dataclass
class BadRows:
    """Rows to drop (0-based data row → first reason) and the ragged rows the parser skipped."""

    reasons: dict[int, str] = field(default_factory=dict)
    ragged: list[tuple[int, int, int]] = field(default_factory=list)  # (sheet row, expected, got)

    def mark(self, r: int, why: str) -> None:
        self.reasons.setdefault(int(r), why)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for why in self.reasons.values():
            out[why] = out.get(why, 0) + 1
        if self.ragged:
            out["wrong number of fields"] = len(self.ragged)
        return out

    @property
    def n_dropped(self) -> int:
        return len(self.reasons) + len(self.ragged)


@dataclass
class RowRange:
    """Per-row min and max of the spectra (NaN where a row has a NaN)."""

    row_min: np.ndarray
    row_max: np.ndarray

    @property
    def finite(self) -> np.ndarray:
        return np.isfinite(self.row_min) & np.isfinite(self.row_max)


def check_spectra(raw: RawTable, values: np.ndarray, wl: Wavelengths, drop: bool, path) -> tuple[BadRows, RowRange]:
    """Ragged rows, non-numeric cells, NaN/inf cells. Returns the bad rows and the per-row range."""
    bad = BadRows(ragged=list(raw.ragged_rows))
    for r_sheet, exp, got in raw.ragged_rows:
        if not drop:
            raise input_error(f"has {got} fields but the header has {exp}", path, row=r_sheet,
                              hint="fix the row (a missing or extra separator?), or pass --drop-bad-rows to skip it")
    for r, cells in sorted(raw.bad_cells.items()):
        pos, text = cells[0]
        if not drop:
            more = f" (and {len(cells) - 1} more cell(s) for this sample)" if len(cells) > 1 else ""
            raise input_error(f"non-numeric spectral value {text!r}{more}", path, **raw.cell_location(r, pos),
                              hint="fix the cell, or pass --drop-bad-rows to drop such samples")
        bad.mark(r, "non-numeric spectral value")
    # Row-wise min/max instead of full-size boolean masks: NaN propagates through min/max, so one
    # pass finds the rows with NaN/inf and the rows out of range; cells are located only in those.
    with np.errstate(invalid="ignore"):
        rng = RowRange(values.min(axis=1), values.max(axis=1))
    finite_rows = rng.finite
    for r in np.flatnonzero(~finite_rows):
        if r in bad.reasons:
            continue
        nonfinite = ~np.isfinite(values[r])
        j = int(np.argmax(nonfinite))
        v = values[r, j]
        what = "missing (empty/NA)" if np.isnan(v) else f"infinite ({v})"
        if not drop:
            count = int(nonfinite.sum())
            more = f"; {count} such cells for this sample" if count > 1 else ""
            raise input_error(f"spectral value is {what}{more}",
                              path, **raw.cell_location(r, wl.file_positions[j]),
                              hint="fix or remove the row, or pass --drop-bad-rows to drop rows with missing values")
        bad.mark(r, "missing or infinite spectral value")
    return bad, rng


def check_reflectance_range(raw: RawTable, values: np.ndarray, wl: Wavelengths, percent: bool,
                            rng: RowRange, bad: BadRows, drop: bool, path) -> None:
    """Reflectance below 0 or above :data:`MAX_REFLECTANCE` (after percent → fraction)."""
    hi = MAX_REFLECTANCE * (100.0 if percent else 1.0)
    for r in np.flatnonzero(rng.finite & ((rng.row_min < 0) | (rng.row_max > hi))):
        out = (values[r] < 0) | (values[r] > hi)
        j = int(np.argmax(out))
        v = float(values[r, j]) / (100.0 if percent else 1.0)
        if not drop:
            shown = f"{v * 100:.4g} % (= {v:.4g})" if percent else f"{v:.4g}"
            raise input_error(f"reflectance {shown} is {'negative' if v < 0 else f'above {MAX_REFLECTANCE}'}"
                              + (f"; {int(out.sum())} such cells for this sample" if out.sum() > 1 else ""),
                              path, **raw.cell_location(r, wl.file_positions[j]),
                              hint="check the row (and --percent/--no-percent, --kind), or pass --drop-bad-rows")
        bad.mark(r, "reflectance out of range")


def check_carbon_present(missing: np.ndarray, column: str | None, bad: BadRows, drop: bool, header_rows: int,
                         path) -> None:
    """Training needs carbon in every row: error at the first row without it, or mark them."""
    if not missing.any():
        return
    if not drop:
        r = int(np.argmax(missing))
        what = (f"carbon column {column!r} is empty in every row" if missing.all() else
                f"carbon is missing ({int(missing.sum())} row(s) without it)")
        raise input_error(f"{what}; training needs carbon in every row", path, row=sheet_row(r, header_rows),
                          column=column, hint="fill it in, or pass --drop-bad-rows to drop rows without carbon")
    for r in np.flatnonzero(missing):
        bad.mark(r, "missing carbon")


def drop_rows(values: np.ndarray, meta: pd.DataFrame, bad: BadRows) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Values and meta without the bad rows, and the ``keep`` mask over the rows read."""
    keep = np.ones(values.shape[0], dtype=bool)
    if bad.reasons:
        keep[list(bad.reasons)] = False
    if not keep.all():
        values = values[keep]
        meta = meta.loc[keep].reset_index(drop=True)
    return values, meta, keep


def dropped_detection(bad: BadRows, ids: np.ndarray, raw: RawTable) -> dict:
    """The ``dropped_*`` entries of ``table.detection``."""
    rows = sorted(bad.reasons)
    return {"dropped_rows": bad.n_dropped, "dropped_reasons": bad.counts(),
            "dropped_ids": [str(ids[r]) for r in rows][:50],
            "dropped_row_numbers": [] if raw.transposed else sorted(
                [sheet_row(r, raw.header_rows) for r in rows] + [r for r, _, _ in bad.ragged])[:50]}
