"""What every reader module shares: file suffixes, missing-value tokens, error construction, the
normalisation of the user's overrides (``--kind``, ``--wavelength-unit``, ``--carbon-unit``)."""
from __future__ import annotations

from ..errors import SocspecInputError
from ..units import SOC_UNITS, normalize_unit

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".dat")
PARQUET_SUFFIXES = (".parquet", ".pq")
ENVI_SUFFIXES = (".sli", ".hdr")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES + ENVI_SUFFIXES

# Cells that mean "missing" in the files we meet (R, Excel, pandas exports).
NULL_TOKENS = ["", "NA", "N/A", "n/a", "NaN", "nan", "NAN", "null", "NULL", "None", "#N/A", "-", "."]
# Key in Parquet schema metadata where write_spectra stores what kind the values are.
PARQUET_META_KEY = b"socspec"
WAVELENGTH_UNITS = ("nm", "um", "cm-1")


def input_error(msg: str, path, **kw) -> SocspecInputError:
    """A :class:`SocspecInputError` about ``path`` (``row``, ``column``, ``hint`` as keywords)."""
    return SocspecInputError(msg, path=path, **kw)


def sheet_row(i: int, header_rows: int = 1) -> int:
    """0-based data row index → row number as a spreadsheet shows it (header = row 1)."""
    return int(i) + header_rows + 1


def preview(items, k: int = 6) -> str:
    """``'a', 'b', … (12 in all)``: a short quoted list for messages."""
    items = list(items)
    s = ", ".join(repr(str(x)) for x in items[:k])
    return s + (f", … ({len(items)} in all)" if len(items) > k else "")


def normalize_kind(kind, path) -> str | None:
    if kind is None:
        return None
    k = str(kind).strip().lower()
    k = {"r": "reflectance", "refl": "reflectance", "a": "absorbance", "abs": "absorbance"}.get(k, k)
    if k not in ("reflectance", "absorbance"):
        raise input_error(f"unknown kind {kind!r}", path, hint="pass --kind reflectance or --kind absorbance")
    return k


def normalize_wavelength_unit(unit, path) -> str | None:
    if unit is None:
        return None
    u = str(unit).strip().lower().replace("µ", "u").replace("μ", "u")
    u = {"nanometer": "nm", "nanometers": "nm", "nanometre": "nm", "nanometres": "nm",
         "micrometer": "um", "micrometers": "um", "micron": "um", "microns": "um",
         "micrometre": "um", "micrometres": "um", "wavenumber": "cm-1", "cm^-1": "cm-1",
         "1/cm": "cm-1"}.get(u, u)
    if u not in WAVELENGTH_UNITS:
        raise input_error(f"unknown wavelength unit {unit!r}", path,
                          hint="pass --wavelength-unit nm, um or cm-1")
    return u


def normalize_carbon_unit(unit, path) -> str | None:
    if unit is None:
        return None
    try:
        return normalize_unit(unit)
    except ValueError:
        raise input_error(f"unknown carbon unit {unit!r}", path,
                          hint=f"pass --carbon-unit {' | '.join(SOC_UNITS)}") from None


def to_numeric(col, decimal_comma: bool = False):
    """A meta column as numbers (NaN where a cell is not a number); ``decimal_comma`` reads ``1,5``."""
    import pandas as pd

    if decimal_comma and (col.dtype == object or str(col.dtype).startswith("str")):
        col = col.str.replace(",", ".", regex=False)
    return pd.to_numeric(col, errors="coerce")


def is_text_dtype(col) -> bool:
    return col.dtype == object or str(col.dtype).startswith("str")
