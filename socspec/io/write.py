"""Writing a :class:`~socspec.spectra.SpectralTable` so that :func:`~socspec.io.read_spectra` reads
it back to the same table."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ..spectra import SpectralTable
from .common import CSV_SUFFIXES, PARQUET_META_KEY, PARQUET_SUFFIXES, input_error


def write_spectra(table: SpectralTable, path) -> Path:
    """Write a wide table that :func:`read_spectra` reads back to the same table.

    CSV (``.csv``/``.tsv``/``.txt``): meta columns first (``soc_g_kg`` as a g/kg column), then one
    column per wavelength named ``R_<nm>`` (reflectance, fraction) or ``A_<nm>`` (absorbance), so the
    kind is in the header. Parquet: same columns, wavelengths as plain numbers, kind in the schema
    metadata. Written atomically (the file appears only when complete).
    """
    from ..outputs import atomic_path

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise input_error(f"cannot write {suffix or '(no suffix)'!r}", path, hint="write .csv, .tsv or .parquet")
    meta = table.meta.reset_index(drop=True).copy()
    wl_names = [f"{w:.10g}" for w in table.wavelength_nm]
    if suffix in CSV_SUFFIXES:
        letter = "R" if table.kind == "reflectance" else "A"
        wl_names = [f"{letter}_{w}" for w in wl_names]
    spec = pd.DataFrame(table.values, columns=wl_names)
    df = pd.concat([meta, spec], axis=1)
    with atomic_path(path) as tmp:
        if suffix in CSV_SUFFIXES:
            df.to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",", float_format="%.7g")
        else:
            import pyarrow.parquet as pq

            t = pa.Table.from_pandas(df, preserve_index=False)
            t = t.replace_schema_metadata({**(t.schema.metadata or {}),
                                           PARQUET_META_KEY: json.dumps({"kind": table.kind}).encode()})
            pq.write_table(t, tmp)
    return path
