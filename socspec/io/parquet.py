"""Parquet tables: the same wide layout as CSV, read with ``pyarrow.parquet``; ``write_spectra``
stores the kind in the schema metadata under :data:`~socspec.io.common.PARQUET_META_KEY`."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from .common import PARQUET_META_KEY, input_error
from .detect import classify_columns
from .raw import RawTable, finish_arrow


def read_parquet(path: Path) -> RawTable:
    import pyarrow.parquet as pq

    raw = RawTable()
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise input_error(f"not a readable Parquet file ({exc})", path,
                          hint="check the file, or save it as CSV") from None
    names = [str(n) for n in schema.names]
    raw.names = names
    raw.info.update(format="parquet", encoding=None, separator=None, decimal_point=None)
    meta = schema.metadata or {}
    if PARQUET_META_KEY in meta:
        try:
            raw.kind_hint = json.loads(meta[PARQUET_META_KEY]).get("kind")
        except (ValueError, AttributeError):
            pass
    raw.columns = classify_columns(names, path)
    raw.spectral_idx = [int(i) for i in raw.columns.positions]
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise input_error(f"not a readable Parquet file ({exc})", path,
                          hint="check the file, or save it as CSV") from None
    return finish_arrow(raw, table, set(raw.spectral_idx), strings=False)
