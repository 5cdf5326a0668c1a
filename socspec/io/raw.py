"""The format-neutral result of reading a file (:class:`RawTable`), before any detection.

A format reader (CSV, Parquet, ENVI) fills one; the phases in :mod:`socspec.io.read` then detect
wavelengths, kind, bad rows, column roles, carbon and replicates from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .common import NULL_TOKENS, sheet_row


@dataclass
class RawTable:
    """Header names, the spectral matrix and the metadata block of one file, as read."""

    names: list[str] = field(default_factory=list)         # all column names in file order
    spectral_idx: list[int] = field(default_factory=list)  # positions of spectral columns in ``names``
    values: np.ndarray | None = None                        # (n, m) float32, NaN for missing cells
    bad_cells: dict[int, list] = field(default_factory=dict)  # sample → [(position in names, text)] non-numeric
    transposed: bool = False                                # one column per sample, one row per wavelength
    meta: pd.DataFrame | None = None                        # non-spectral columns (by original name)
    ragged_rows: list[tuple[int, int, int]] = field(default_factory=list)  # (sheet row, expected, got)
    info: dict[str, Any] = field(default_factory=dict)      # format, encoding, separator, …
    header_rows: int = 1
    kind_hint: str | None = None                            # from file metadata or column prefixes
    columns: Any = None                                     # detect.SpectralColumns of the header

    def cell_location(self, r: int, pos: int) -> dict:
        """``row``/``column`` keywords of sample ``r``, spectral column at file position ``pos``, as a
        spreadsheet shows them (in a transposed file samples are columns, wavelengths rows)."""
        if self.transposed:
            return {"row": pos + 2, "column": str(self.meta["id"].iloc[r])}
        return {"row": sheet_row(r, self.header_rows), "column": self.names[pos]}


def finish_arrow(raw: RawTable, table: pa.Table, spec_set: set[int], strings: bool) -> RawTable:
    """Fill ``raw.values``, ``raw.bad_cells`` and ``raw.meta`` from an Arrow table whose columns are
    ``raw.names`` (spectral ones float32, or text when ``strings``)."""
    n = table.num_rows
    names = raw.names
    m = len(raw.spectral_idx)
    spec_cols = raw.spectral_idx
    bad: dict[int, list] = {}
    if not strings and all(pa.types.is_float32(table.schema.field(i).type) for i in spec_cols):
        # Fast path: fill the C-ordered matrix one record batch at a time; a batch (~1,000 rows)
        # stays in cache, which beats stacking whole columns and transposing (2× on 25k × 2,151).
        values = np.empty((n, m), dtype=np.float32)
        r0 = 0
        for batch in table.select(spec_cols).to_batches():
            k = batch.num_rows
            block = values[r0:r0 + k]
            try:  # row-major tensor built in C++ (pyarrow ≥ 15), nulls → NaN
                block[:] = np.asarray(batch.to_tensor(null_to_nan=True, row_major=True))
            except (AttributeError, TypeError, pa.ArrowNotImplementedError):
                for j in range(m):
                    block[:, j] = batch.column(j).to_numpy(zero_copy_only=False)
            r0 += k
    else:
        values = np.empty((n, m), dtype=np.float32, order="F")
        for j, i in enumerate(spec_cols):
            col = table.column(i)
            if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
                arr = col.to_numpy().astype(np.float32)
            else:
                if raw.info.get("decimal_point") == ",":
                    col = pc.replace_substring(col, ",", ".")
                try:  # most columns are clean even when one cell elsewhere is not: cast in C++
                    values[:, j] = pc.cast(col, pa.float32()).to_numpy(zero_copy_only=False)
                    continue
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    pass
                texts = col.to_pandas()
                arr = pd.to_numeric(texts, errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)
                present = texts.notna() & ~texts.isin(NULL_TOKENS)
                for r in np.flatnonzero(present.to_numpy() & np.isnan(arr)):
                    bad.setdefault(int(r), []).append((i, str(col[int(r)])))
            values[:, j] = arr
    raw.values = np.ascontiguousarray(values)
    raw.bad_cells = bad
    meta_idx = [i for i in range(len(names)) if i not in spec_set]
    meta = pd.DataFrame({names[i] if names.count(names[i]) == 1 else f"{names[i]}.{i + 1}":
                         table.column(i).to_pandas() for i in meta_idx})
    meta.index = pd.RangeIndex(n)
    raw.meta = meta
    return raw
