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
* **carbon** — column by name (soc, oc, organic_carbon, carbon*, c_org, toc, som…), unit from the
  name (``_pct``, ``%``, ``_g_kg``, ``fraction``) or else from the value range, converted to the
  canonical g/kg (:mod:`socspec.units`) into meta column ``soc_g_kg``. The basis (SOC, total C,
  SOM) is recorded; SOM is *not* converted to carbon, only warned about.
* **id / region / lat / lon / date** columns by name, renamed to those reserved meta names.

Errors are :class:`~socspec.errors.SocspecInputError` naming the file, the row (1-based as a
spreadsheet shows it: header = row 1) and the column, and what to do.

Speed: CSV goes through ``pyarrow.csv`` with the header classified first, so the spectral block
is parsed straight to float32 in C++ and stacked into one (n, m) matrix without per-row Python.
"""
from __future__ import annotations

import csv
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import SocspecInputError
from .spectra import MAX_REFLECTANCE, SpectralTable
from .units import SOC_UNITS, convert_soc, normalize_unit

__all__ = ["read_spectra", "write_spectra", "inspect_summary", "SUPPORTED_SUFFIXES"]

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".dat")
PARQUET_SUFFIXES = (".parquet", ".pq")
ENVI_SUFFIXES = (".sli", ".hdr")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES + ENVI_SUFFIXES

# Cells that mean "missing" in the files we meet (R, Excel, pandas exports).
NULL_TOKENS = ["", "NA", "N/A", "n/a", "NaN", "nan", "NAN", "null", "NULL", "None", "#N/A", "-", "."]
# Key in Parquet schema metadata where write_spectra stores what kind the values are.
_PARQUET_META_KEY = b"socspec"
# Percent reflectance: values beyond this cannot be absorbance (A = 5 means R = 0.001 %).
_MAX_PLAUSIBLE_ABSORBANCE = 5.0
_WAVELENGTH_UNITS = ("nm", "um", "cm-1")


# --------------------------------------------------------------------------- header parsing
_NUM = r"(\d+(?:\.\d*)?|\.\d+)"
# prefix → what it hints about the values (None: only says "this is a wavelength")
_PREFIXES = {
    "": None, "x": None, "wl": None, "wave": None, "wavelength": None, "lambda": None, "nm": None,
    "um": None, "band": None, "b": None, "spc": None, "spec": None, "s": None, "w": None, "v": None,
    "r": "reflectance", "refl": "reflectance", "reflectance": "reflectance", "ref": "reflectance",
    "a": "absorbance", "abs": "absorbance", "absorbance": "absorbance", "log1r": "absorbance",
    "log1/r": "absorbance",
}
_HEADER_RE = re.compile(
    r"^\s*(?P<prefix>[a-z/1]*?)[\s_.\-]*" + _NUM + r"\s*(?P<suffix>nm|um|µm|μm|micron|microns)?\s*$",
    re.IGNORECASE)


def _parse_wavelength_header(name: str):
    """``'wl_350'`` → (350.0, 'wl', None); non-wavelength names → None."""
    m = _HEADER_RE.match(str(name))
    if not m:
        return None
    prefix = m.group("prefix").lower()
    if prefix not in _PREFIXES:
        return None
    if prefix in ("band", "b") and not m.group("suffix"):
        return None  # "band_12" is a band index, not a wavelength
    suffix = (m.group("suffix") or "").lower()
    suffix = {"µm": "um", "μm": "um", "micron": "um", "microns": "um"}.get(suffix, suffix)
    if prefix in ("nm", "um"):
        suffix = suffix or prefix
        prefix = ""
    return float(m.group(2)), prefix, suffix


# --------------------------------------------------------------------------- column roles
def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[\s_.\-/()\[\]%,:]+", str(name).lower()) if t]


def _unit_from_name(name: str) -> str | None:
    low = str(name).lower().replace(" ", "")
    toks = _tokens(name)
    if "g/100g" in low or "g_100g" in low or "g100g" in low:
        return "percent"
    if any(s in low for s in ("g/kg", "g_kg", "gkg", "g_per_kg", "permille", "‰")):
        return "g/kg"
    if "%" in low or any(t in ("pct", "percent", "perc", "pc") for t in toks):
        return "percent"
    if any(t in ("fraction", "frac", "kgkg") for t in toks) or "kg/kg" in low:
        return "fraction"
    return None


_CARBON_EXCLUDE = {"sd", "se", "std", "stdev", "err", "error", "unc", "uncertainty", "flag", "qc",
                   "method", "inorganic", "ic", "caco3", "n", "nt", "cn", "ratio", "stock", "stocks",
                   "density", "bd", "lab", "date", "id", "min", "max", "lo", "hi", "lower", "upper",
                   "pred", "predicted", "fold"}
_SOC_TOKENS = {"soc", "oc", "corg", "orgc", "c_org", "toc", "ciso", "woc", "wbc", "orgcarbon"}
_SOM_TOKENS = {"som", "om", "loi"}
_TOTAL_TOKENS = {"tc", "total"}


def _carbon_candidate(name: str):
    """(priority, basis) when the column name says carbon, else None. Lower priority wins."""
    toks = _tokens(name)
    joined = "_".join(toks)
    if not toks or any(t in _CARBON_EXCLUDE for t in toks):
        return None
    has_carbon_word = any(t.startswith("carbon") for t in toks) or "c_org" in joined
    if _SOM_TOKENS & set(toks) or "organic_matter" in joined:
        return 3, "SOM"
    if _SOC_TOKENS & set(toks) or "organic_carbon" in joined or "c_org" in joined:
        return 0, "SOC"
    if has_carbon_word:
        if _TOTAL_TOKENS & set(toks):
            return 2, "total C"
        return 1, "carbon (basis not stated)"
    if "tc" in toks:
        return 2, "total C"
    if toks[0] == "c" and all(_unit_from_name(t) or t in ("c",) for t in toks):
        return 1, "carbon (basis not stated)"
    return None


_ID_NAMES = ("id", "sample_id", "sampleid", "sample", "sample_name", "rcapid", "point_id", "pointid",
             "smp_id", "lab_id", "labid", "spectrum_id", "spectra_id", "scan_id", "name", "sample_no",
             "spectra names")
_REGION_NAMES = ("region", "region_name", "site", "area", "location", "group", "field", "country",
                 "state", "province", "nuts0", "nuts_0", "cluster")
_LAT_NAMES = ("lat", "latitude", "gps_lat", "lat_dd", "y_wgs84", "lat_wgs84", "latitude_dd")
_LON_NAMES = ("lon", "long", "lng", "longitude", "gps_long", "gps_lon", "lon_dd", "x_wgs84",
              "lon_wgs84", "longitude_dd")
_DATE_NAMES = ("date", "sampling_date", "survey_date", "datetime", "sample_date", "date_sampled",
               "obs_date")


def _find_by_name(names: list[str], wanted: tuple[str, ...]) -> str | None:
    low = {str(n).strip().lower(): n for n in names}
    for w in wanted:
        if w in low:
            return low[w]
    return None


def _find_coord(names, axis: str) -> str | None:
    found = _find_by_name(names, _LAT_NAMES if axis == "lat" else _LON_NAMES)
    if found is not None:
        return found
    # x/y columns in EPSG:4326 (e.g. LimeSoDa's x_dummy_4326): x = lon, y = lat
    letter = "y" if axis == "lat" else "x"
    for n in names:
        toks = _tokens(n)
        if toks and toks[0] == letter and ("4326" in toks or "wgs84" in toks):
            return n
    return None


# --------------------------------------------------------------------------- helpers
def _sheet_row(i: int, header_rows: int = 1) -> int:
    """0-based data row index → row number as a spreadsheet shows it (header = row 1)."""
    return int(i) + header_rows + 1


def _err(msg, path, **kw):
    return SocspecInputError(msg, path=path, **kw)


def _norm_kind(kind, path):
    if kind is None:
        return None
    k = str(kind).strip().lower()
    k = {"r": "reflectance", "refl": "reflectance", "a": "absorbance", "abs": "absorbance"}.get(k, k)
    if k not in ("reflectance", "absorbance"):
        raise _err(f"unknown kind {kind!r}", path, hint="pass --kind reflectance or --kind absorbance")
    return k


def _norm_wl_unit(unit, path):
    if unit is None:
        return None
    u = str(unit).strip().lower().replace("µ", "u").replace("μ", "u")
    u = {"nanometer": "nm", "nanometers": "nm", "nanometre": "nm", "nanometres": "nm",
         "micrometer": "um", "micrometers": "um", "micron": "um", "microns": "um",
         "micrometre": "um", "micrometres": "um", "wavenumber": "cm-1", "cm^-1": "cm-1",
         "1/cm": "cm-1"}.get(u, u)
    if u not in _WAVELENGTH_UNITS:
        raise _err(f"unknown wavelength unit {unit!r}", path,
                   hint="pass --wavelength-unit nm, um or cm-1")
    return u


def _norm_carbon_unit(unit, path):
    if unit is None:
        return None
    try:
        return normalize_unit(unit)
    except ValueError:
        raise _err(f"unknown carbon unit {unit!r}", path,
                   hint=f"pass --carbon-unit {' | '.join(SOC_UNITS)}") from None


# --------------------------------------------------------------------------- raw reading
class _Raw:
    """What a format reader hands to the common detection: header names, spectral matrix, meta."""

    def __init__(self):
        self.names: list[str] = []            # all column names in file order
        self.spectral_idx: list[int] = []     # positions of spectral columns
        self.values: np.ndarray | None = None  # (n, m) float32, NaN for missing cells
        self.bad_cells: dict[int, list] = {}   # sample index → [(position in names, cell text)] non-numeric
        self.transposed = False                # one column per sample, one row per wavelength
        self.meta: pd.DataFrame | None = None  # non-spectral columns (by original name)
        self.ragged_rows: list[tuple[int, int, int]] = []  # (sheet row, expected, got)
        self.info: dict[str, Any] = {}
        self.header_rows = 1
        self.kind_hint: str | None = None


def _open_maybe_gz(path: Path, mode: str, **kw):
    if path.suffix.lower() == ".gz":
        import gzip

        return gzip.open(path, mode, **kw)
    return open(path, mode, **kw)


def _sniff_bytes(path: Path) -> tuple[str, bytes]:
    """Pick the text encoding from the first bytes; raise a clear error for binary/UTF-16 files."""
    with _open_maybe_gz(path, "rb") as fh:
        head = fh.read(1 << 16)
    if not head.strip():
        raise _err("the file is empty", path, hint="check that the export finished and the file has a header row and data rows")
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", head[3:]
    for bom, enc in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return enc, head[len(bom):].decode(enc, errors="ignore").encode("utf-8")
    if b"\x00" in head:
        raise _err("the file is not readable text (it contains NUL bytes: binary data, or UTF-16 "
                   "without a byte-order mark)", path, row=_line_of(head, head.index(b"\x00")),
                   hint="save it as CSV in UTF-8 (or UTF-16 with BOM), or convert it with iconv")
    try:
        head.decode("utf-8")
        return "utf-8", head
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the 64 KiB window
            return "utf-8", head
        bad = head[exc.start:exc.start + 1]
    # latin-1 decodes anything; accept it only when the text has no C1 control characters
    text = head.decode("latin-1")
    if any("\x80" <= ch <= "\x9f" for ch in text) or _control_fraction(text) > 0.01:
        raise _err(f"the file is not readable text in UTF-8 or Latin-1 (byte {bad!r} at row "
                   f"{_line_of(head, exc.start)})", path, row=_line_of(head, exc.start),
                   hint="save it as CSV in UTF-8")
    return "latin-1", head


def _control_fraction(text: str) -> float:
    ctrl = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t")
    return ctrl / max(len(text), 1)


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _sniff_separator(text: str, path: Path, sep: str | None) -> tuple[str, str]:
    """(separator, decimal point) from the first lines of text."""
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if sep is not None:
        sep = {"\\t": "\t", "tab": "\t", "space": " ", "whitespace": " "}.get(sep, sep)
        decimal = "."
    else:
        # csv-aware field counts (quoted fields may hold the separator); the last sniffed line may be cut
        sample_lines = lines[:-1] if len(lines) > 2 else lines
        consistent, loose = {}, {}
        for cand in (",", "\t", ";", "|"):
            nf = [len(r) for r in csv.reader(sample_lines[:10], delimiter=cand)]
            if nf and nf[0] > 1:
                (consistent if all(x == nf[0] for x in nf) else loose)[cand] = nf[0]
        counts = consistent or loose
        if counts:
            sep = max(counts, key=counts.get)
        elif lines and len(lines[0].split()) > 1:
            sep = " "
        else:
            raise _err("cannot find the column separator (tried comma, tab, semicolon, |, spaces)",
                       path, row=1, hint="pass --sep, or save the file as CSV")
        decimal = "."
    if sep == ";" and len(lines) > 1 and re.search(r"(^|;)\s*-?\d+,\d+\s*(;|$)", lines[1]):
        decimal = ","  # European CSV: ';' between fields, ',' inside numbers
    return sep, decimal


def _read_csv(path: Path, sep: str | None, classify) -> _Raw:
    import pyarrow.csv as pacsv

    raw = _Raw()
    encoding, head = _sniff_bytes(path)
    text = head.decode("utf-8" if encoding.startswith("utf-16") else encoding.replace("-sig", ""),
                       errors="replace")
    sep, decimal = _sniff_separator(text, path, sep)
    # the header line itself, read whole (a very wide header can be longer than the sniffed head)
    with _open_maybe_gz(path, "rt", encoding="utf-16" if encoding.startswith("utf-16") else encoding,
                        errors="replace", newline="") as fh:
        first_line = fh.readline().lstrip("\ufeff").rstrip("\r\n")
    if not first_line.strip():
        raise _err("the first line (the header) is empty", path, row=1,
                   hint="put the column names on the first line")
    if sep == " ":
        header = first_line.split()
    else:
        header = next(csv.reader([first_line], delimiter=sep))
    header = [h.strip() for h in header]
    raw.names = header
    raw.info.update(format="csv", encoding=encoding, separator={"\t": "tab", " ": "whitespace"}.get(sep, sep),
                    decimal_point=decimal)
    if (sum(_parse_wavelength_header(h) is not None for h in header) < 3 and header
            and _tokens(header[0])[:1] in (["wavelength"], ["wavelengths"], ["wl"], ["lambda"], ["nm"], ["wave"])):
        return _read_transposed(path, raw, header, sep, decimal, encoding, classify)
    spectral_idx = classify(header)
    raw.spectral_idx = spectral_idx
    spec_set = set(spectral_idx)

    if sep == " ":
        # pyarrow has no "any run of whitespace" delimiter; pandas' C parser handles it.
        df = pd.read_csv(path, sep=r"\s+", header=0, names=header, dtype=str,
                         encoding="utf-16" if encoding.startswith("utf-16") else encoding,
                         keep_default_na=False)
        table = pa.Table.from_pandas(df, preserve_index=False)
        return _finish_arrow(raw, table, spec_set, path, strings=True)

    keys = [f"c{i}" for i in range(len(header))]  # positional names: duplicates/odd headers are safe
    col_types = {keys[i]: pa.float32() for i in spectral_idx}
    for i in range(len(header)):
        if i not in spec_set:
            col_types[keys[i]] = pa.string()  # meta as text; roles are converted below
    ragged: list[tuple[str, int, int]] = []

    def on_invalid(row):
        ragged.append((row.text, row.expected_columns, row.actual_columns))
        return "skip"

    # pyarrow reads UTF-8 natively (a BOM is skipped with the header line); others are transcoded.
    arrow_enc = {"utf-8": "utf8", "utf-8-sig": "utf8", "utf-16-le": "utf-16", "utf-16-be": "utf-16"}.get(encoding, encoding)
    read_opts = pacsv.ReadOptions(column_names=keys, skip_rows=1, encoding=arrow_enc, block_size=1 << 24)
    parse_opts = pacsv.ParseOptions(delimiter=sep, invalid_row_handler=on_invalid)
    conv = dict(column_types=col_types, null_values=NULL_TOKENS, strings_can_be_null=True,
                quoted_strings_can_be_null=True)
    if decimal == ",":
        conv["decimal_point"] = ","
    try:
        table = pacsv.read_csv(path, read_options=read_opts, parse_options=parse_opts,
                               convert_options=pacsv.ConvertOptions(**conv))
        strings = False
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if ("UTF8" in msg or "utf8" in msg.lower()) and encoding != "latin-1":
            # invalid UTF-8 past the sniffed head: Latin-1 (Windows exports) is the usual culprit
            raw.info["encoding"] = "latin-1 (file is not valid UTF-8)"
            read_opts = pacsv.ReadOptions(column_names=keys, skip_rows=1, encoding="latin-1",
                                          block_size=1 << 24)
            try:
                table = pacsv.read_csv(path, read_options=read_opts, parse_options=parse_opts,
                                       convert_options=pacsv.ConvertOptions(**conv))
                return _finish_table(raw, table, header, spec_set, path, ragged, "latin-1", strings=False)
            except pa.ArrowInvalid:
                conv["column_types"] = {k: pa.string() for k in keys}
                ragged.clear()
                table = pacsv.read_csv(path, read_options=read_opts, parse_options=parse_opts,
                                       convert_options=pacsv.ConvertOptions(**conv))
                return _finish_table(raw, table, header, spec_set, path, ragged, "latin-1", strings=True)
        # A non-numeric spectral cell: re-read the spectral block as text to find every such cell.
        conv["column_types"] = {k: pa.string() for k in keys}
        ragged.clear()
        table = pacsv.read_csv(path, read_options=read_opts, parse_options=parse_opts,
                               convert_options=pacsv.ConvertOptions(**conv))
        strings = True
    return _finish_table(raw, table, header, spec_set, path, ragged, encoding, strings)


def _finish_table(raw, table, header, spec_set, path, ragged, encoding, strings):
    table = table.rename_columns(header)
    if ragged:
        raw.ragged_rows = _locate_ragged(path, encoding, ragged)
    return _finish_arrow(raw, table, spec_set, path, strings=strings)


def _read_transposed(path, raw, header, sep, decimal, encoding, classify) -> _Raw:
    """ASD/ViewSpec-style export: first column the wavelengths, then one column per sample (its
    header is the sample id). Such files are small (one column per sample), so pandas reads them."""
    df = pd.read_csv(path, sep=r"\s+" if sep == " " else sep, dtype=str, keep_default_na=False,
                     encoding="utf-16" if encoding.startswith("utf-16") else encoding)
    df.columns = header[: df.shape[1]]
    fix = (lambda x: x.str.replace(",", ".", regex=False)) if decimal == "," else (lambda x: x)
    wl_text = df.iloc[:, 0].str.strip()
    wl = pd.to_numeric(fix(wl_text), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(wl).all():
        k = int(np.flatnonzero(~np.isfinite(wl))[0])
        raise _err(f"wavelength {wl_text.iloc[k]!r} is not a number", path, row=k + 2, column=header[0],
                   hint="the first column of a one-column-per-sample file must hold the wavelengths")
    names = [f"{w:.10g}" for w in wl]
    raw.transposed = True
    raw.info["layout"] = "transposed (first column wavelengths, one column per sample)"
    raw.spectral_idx = classify(names)
    samples = list(df.columns[1:])
    values = np.empty((len(samples), wl.size), dtype=np.float32)
    for r, name in enumerate(samples):
        texts = df[name].str.strip()
        arr = pd.to_numeric(fix(texts), errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)
        for k in np.flatnonzero(~texts.isin(NULL_TOKENS).to_numpy() & np.isnan(arr)):
            raw.bad_cells.setdefault(r, []).append((int(k), str(texts.iloc[k])))
        values[r] = arr
    raw.names = names + ["id"]
    raw.values = values
    raw.meta = pd.DataFrame({"id": pd.Series(samples, dtype=object)}, index=pd.RangeIndex(len(samples)))
    return raw


def _locate_ragged(path, encoding, ragged):
    """pyarrow does not number invalid rows; find their line numbers by their text (error path only)."""
    wanted = {}
    for text, exp, got in ragged:
        wanted.setdefault(text.rstrip("\r\n"), (exp, got))
    out = []
    with _open_maybe_gz(path, "rt", encoding=encoding, errors="replace", newline="") as fh:
        for lineno, line in enumerate(fh, start=1):
            key = line.rstrip("\r\n")
            if lineno > 1 and key in wanted:
                exp, got = wanted[key]
                out.append((lineno, exp, got))
    return out


def _finish_arrow(raw: _Raw, table: pa.Table, spec_set: set[int], path: Path, strings: bool) -> _Raw:
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


def _read_parquet(path: Path, classify) -> _Raw:
    import pyarrow.parquet as pq

    raw = _Raw()
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _err(f"not a readable Parquet file ({exc})", path,
                   hint="check the file, or save it as CSV") from None
    names = [str(n) for n in schema.names]
    raw.names = names
    raw.info.update(format="parquet", encoding=None, separator=None, decimal_point=None)
    meta = schema.metadata or {}
    if _PARQUET_META_KEY in meta:
        try:
            raw.kind_hint = json.loads(meta[_PARQUET_META_KEY]).get("kind")
        except (ValueError, AttributeError):
            pass
    raw.spectral_idx = classify(names)
    table = pq.read_table(path)
    return _finish_arrow(raw, table, set(raw.spectral_idx), path, strings=False)


def _read_envi(path: Path, classify) -> _Raw:
    import spectral.io.envi as envi

    if path.suffix.lower() == ".hdr":
        hdr = path
        data_candidates = [path.with_suffix(".sli"), path.with_suffix(".SLI"), path.with_suffix("")]
    else:
        hdr = None
        for cand in (path.with_suffix(".hdr"), Path(str(path) + ".hdr"), path.with_suffix(".HDR")):
            if cand.exists():
                hdr = cand
                break
        if hdr is None:
            raise _err("ENVI spectral library without its .hdr header file", path,
                       hint=f"put {path.with_suffix('.hdr').name} beside it")
        data_candidates = [path]
    data = next((c for c in data_candidates if c.exists() and c != hdr), None)
    if data is None:
        raise _err("ENVI header without its .sli data file", path,
                   hint=f"put {path.with_suffix('.sli').name} beside it")
    try:
        header = envi.read_envi_header(str(hdr))
        lib = envi.open(str(hdr), str(data))
    except Exception as exc:  # spectral raises several exception types for malformed headers
        raise _err(f"not a readable ENVI spectral library ({exc})", path,
                   hint="check the .hdr (samples, lines, wavelength) and .sli files") from None
    if not hasattr(lib, "spectra"):
        raise _err("ENVI file is an image, not a spectral library (.sli)", path,
                   hint="export the spectra as a spectral library or a CSV")
    raw = _Raw()
    centers = list(lib.bands.centers or [])
    spectra = np.asarray(lib.spectra, dtype=np.float32)
    if not centers:
        raise _err("ENVI header has no 'wavelength' list", hdr, hint="add the band centres to the header")
    unit = str(header.get("wavelength units", "") or "").strip().lower()
    raw.info.update(format="envi", encoding=None, separator=None, decimal_point=None,
                    envi_wavelength_units=unit or None)
    if unit in ("micrometers", "micrometer", "microns", "micron", "um", "µm"):
        raw.info["envi_unit"] = "um"
    elif unit in ("nanometers", "nanometer", "nm"):
        raw.info["envi_unit"] = "nm"
    scale = header.get("reflectance scale factor")
    if scale not in (None, ""):
        spectra = spectra / np.float32(float(scale))
        raw.info["envi_reflectance_scale_factor"] = float(scale)
        raw.kind_hint = "reflectance"
    raw.names = [repr(float(c)) for c in centers]
    raw.spectral_idx = list(range(len(centers)))
    raw.values = spectra
    names = list(getattr(lib, "names", None) or [])
    raw.meta = pd.DataFrame({"spectra names": names} if len(names) == spectra.shape[0] else {},
                            index=pd.RangeIndex(spectra.shape[0]))
    raw.names = raw.names + list(raw.meta.columns)
    return raw


# --------------------------------------------------------------------------- detection
def _classify_columns(names, path):
    """Positions of the spectral columns, plus parsed wavelengths/prefix/unit in a side dict."""
    parsed = [(_parse_wavelength_header(n), i) for i, n in enumerate(names)]
    cands = [(p, i) for p, i in parsed if p is not None]
    if not cands:
        raise _err("no numeric wavelength columns found in the header "
                   f"(columns: {_preview(names)})", path, row=1,
                   hint="name spectral columns by wavelength (e.g. 350, 351, … or wl_350) in nm or µm")
    # The spectral block is the largest group of headers written the same way (prefix + suffix);
    # a stray numeric-looking meta column with another style stays metadata.
    groups: dict[tuple, list] = {}
    for p, i in cands:
        groups.setdefault((p[1], p[2]), []).append((p[0], i))
    style, members = max(groups.items(), key=lambda kv: len(kv[1]))
    if len(members) < 3:
        raise _err(f"only {len(members)} wavelength-like column(s) found ({_preview([names[i] for _, i in members])})",
                   path, row=1, hint="a spectrum needs many wavelength columns named by wavelength (nm or µm)")
    return style, members


def _preview(items, k=6):
    items = list(items)
    s = ", ".join(repr(str(x)) for x in items[:k])
    return s + (f", … ({len(items)} in all)" if len(items) > k else "")


def _wavelength_unit(wl_raw: np.ndarray, suffix: str, override, path):
    if override:
        return override, "override"
    if suffix in ("nm", "um"):
        return suffix, "column names"
    lo, hi = float(np.min(wl_raw)), float(np.max(wl_raw))
    srt = np.sort(wl_raw)
    if lo in (0, 1) and np.all(np.diff(srt) == 1):
        raise _err(f"column headers run {lo:g}, {lo + 1:g}, … {hi:g}: band numbers, not wavelengths",
                   path, row=1, hint="rename the spectral columns by wavelength in nm")
    if hi <= 25 and lo >= 0.1:
        return "um", f"values {lo:g}–{hi:g} look like µm"
    if lo >= 100 and hi <= 2600:
        return "nm", f"values {lo:g}–{hi:g} look like nm"
    if lo < 100 and hi > 25:
        raise _err(f"wavelength headers {lo:g}–{hi:g} are neither nm (Vis-NIR 350–2500) nor µm", path, row=1,
                   hint="pass --wavelength-unit nm|um|cm-1 if the headers are right")
    raise _err(f"wavelength headers run {lo:g}–{hi:g}: nm (mid-infrared) or wavenumbers in cm⁻¹?",
               path, row=1, hint="pass --wavelength-unit nm or --wavelength-unit cm-1")


def _order_wavelengths(wl_nm, cols, names, path):
    """Strictly increasing order. Duplicates are an error; fully reversed or merely shuffled regular
    grids are sorted (and reported); any other disorder is an error naming the column."""
    wl_nm = np.asarray(wl_nm, dtype=np.float64)
    order = np.argsort(wl_nm, kind="stable")
    s = wl_nm[order]
    dup = np.flatnonzero(np.diff(s) == 0)
    if dup.size:
        a, b = cols[order[dup[0]]], cols[order[dup[0] + 1]]
        raise _err(f"wavelength {s[dup[0]]:g} nm appears twice (columns {names[a]!r} at position {a + 1} "
                   f"and {names[b]!r} at position {b + 1})", path, row=1, column=names[b],
                   hint="remove or rename the duplicated column")
    d = np.diff(wl_nm)
    if np.all(d > 0):
        return order, None
    if np.all(d < 0):
        return order, "reversed (descending in the file)"
    sd = np.diff(s)
    if sd.size and np.allclose(sd, np.median(sd), rtol=1e-3, atol=1e-6):
        return order, "shuffled columns on a regular grid"
    k = int(np.argmax(d <= 0))
    raise _err(f"wavelengths are not in order: {wl_nm[k]:g} nm is followed by {wl_nm[k + 1]:g} nm",
               path, row=1, column=names[cols[k + 1]],
               hint="sort the spectral columns by wavelength, or fix the header")


def _band_mean(wl, spec, lo, hi):
    sel = (wl >= lo) & (wl <= hi)
    return float(np.nanmean(spec[sel])) if sel.any() else None


def _shape_evidence(wl, mean_spec) -> tuple[int, list[str]]:
    """+1 per feature that says reflectance, −1 per feature that says absorbance (soil physics:
    water/OH bands at ~1400 and ~1900 nm are minima of R and maxima of A; soil R rises from
    450 to 1000 nm because iron oxides and organic matter absorb the blue)."""
    score, notes = 0, []
    for name, centre, left, right in (("1900 nm water band", (1900, 1940), (1770, 1800), (2100, 2130)),
                                      ("1400 nm OH band", (1405, 1425), (1290, 1320), (1520, 1550))):
        c, l_, r_ = (_band_mean(wl, mean_spec, *centre), _band_mean(wl, mean_spec, *left),
                     _band_mean(wl, mean_spec, *right))
        if None in (c, l_, r_) or not all(np.isfinite([c, l_, r_])):
            continue
        x = np.array([np.mean(left), np.mean(centre), np.mean(right)])
        base = l_ + (r_ - l_) * (x[1] - x[0]) / (x[2] - x[0])
        rel = (c - base) / max(abs(base), 1e-6)
        if rel < -0.005:
            score += 1
            notes.append(f"{name} is a dip (reflectance-like)")
        elif rel > 0.005:
            score -= 1
            notes.append(f"{name} is a peak (absorbance-like)")
    b, r = _band_mean(wl, mean_spec, 440, 460), _band_mean(wl, mean_spec, 990, 1010)
    if b is not None and r is not None and np.isfinite(b) and np.isfinite(r):
        rel = (r - b) / max(abs(b), 1e-6)
        if rel > 0.05:
            score += 1
            notes.append("rises from 450 to 1000 nm (reflectance-like)")
        elif rel < -0.05:
            score -= 1
            notes.append("falls from 450 to 1000 nm (absorbance-like)")
    return score, notes


def _detect_kind(wl, values, finite_rows, kind, percent, hint, path):
    """(kind, percent, kind_source, percent_source)."""
    rows = np.flatnonzero(finite_rows)
    # up to 500 rows spread over the file are plenty to judge the range and the mean shape
    sample = values[rows[np.linspace(0, rows.size - 1, min(rows.size, 500)).astype(int)]] if rows.size else values[:0]
    flat = sample[np.isfinite(sample)]
    if flat.size == 0:
        raise _err("no complete spectrum in the file (every row has missing values)", path,
                   hint="check the file, or pass --drop-bad-rows only if some rows are complete")
    p99 = float(np.percentile(flat, 99))
    vmin, vmax = float(flat.min()), float(flat.max())
    if kind is not None:
        k_src = "override (--kind)"
    elif hint is not None:
        kind, k_src = hint, "column names / file metadata"
    elif p99 > _MAX_PLAUSIBLE_ABSORBANCE:
        kind, k_src = "reflectance", f"values up to {vmax:.4g}: too large for absorbance"
    else:
        score, notes = _shape_evidence(wl, np.nanmean(sample, axis=0))
        if score > 0:
            kind, k_src = "reflectance", "spectral shape: " + "; ".join(notes)
        elif score < 0:
            kind, k_src = "absorbance", "spectral shape: " + "; ".join(notes)
        else:
            raise _err(f"cannot tell reflectance from absorbance: values {vmin:.4g}–{vmax:.4g} fit both and the "
                       "spectra show no water-band or visible-slope feature to judge by"
                       + (f" ({'; '.join(notes)})" if notes else ""), path,
                       hint="pass --kind reflectance or --kind absorbance")
    if kind == "absorbance":
        if percent:
            raise _err("--percent applies to reflectance only", path, hint="drop --percent or pass --kind reflectance")
        return kind, False, k_src, "absorbance (not applicable)"
    if percent is not None:
        return kind, bool(percent), k_src, "override (--percent/--no-percent)"
    if p99 > MAX_REFLECTANCE:
        if p99 > 100 * MAX_REFLECTANCE:  # single outliers are named row by row later
            raise _err(f"reflectance values up to {vmax:.4g} (99th percentile {p99:.4g}): too large for percent (0–100) and for a fraction (0–1)",
                       path, hint="check the file's scaling (e.g. ×10000 integers: divide first), or pass --kind")
        return kind, True, k_src, f"99th percentile {p99:.4g} > {MAX_REFLECTANCE}: percent"
    return kind, False, k_src, f"99th percentile {p99:.4g} ≤ {MAX_REFLECTANCE}: fraction"


def _carbon_unit_from_values(vals: np.ndarray, column: str, path):
    v = vals[np.isfinite(vals)]
    if v.size == 0:
        return None, "no values"
    med, mx = float(np.median(v)), float(np.max(v))
    if mx > 100:
        return "g/kg", f"max {mx:.4g} > 100: g/kg"
    if mx <= 1 and med < 0.05:
        return "fraction", f"median {med:.4g} < 0.05: fraction"
    if 0.3 <= med <= 4 and mx <= 60:
        return "percent", f"median {med:.4g} in 0.3–4: percent"
    if med >= 8:
        return "g/kg", f"median {med:.4g} ≥ 8: g/kg"
    raise _err(f"carbon column has no unit in its name and its values (median {med:.4g}, max {mx:.4g}) "
               "could be a fraction, percent or g/kg", path, column=column,
               hint="pass --carbon-unit fraction|percent|g/kg")


# --------------------------------------------------------------------------- public API
def read_spectra(path, *, kind=None, percent=None, wavelength_unit=None, carbon_col=None, carbon_unit=None,
                 id_col=None, region_col=None, lat_col=None, lon_col=None, date_col=None,
                 require_carbon=False, drop_bad_rows=False, sep=None) -> SpectralTable:
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

    ``require_carbon``: a row without carbon is an error (training). ``drop_bad_rows``: rows with
    missing/non-numeric/non-finite spectra, out-of-range reflectance, or (with ``require_carbon``)
    missing carbon are dropped instead, counted in ``detection["dropped_rows"]``.
    """
    path = Path(path)
    if not path.exists():
        raise _err("file not found", path, hint="check the path")
    if path.is_dir():
        raise _err("is a directory, not a spectra file", path, hint="give the path of a CSV, Parquet or ENVI file")
    suffixes = [s.lower() for s in path.suffixes]
    suffix = suffixes[-1] if suffixes else ""
    if suffix == ".gz" and len(suffixes) > 1 and suffixes[-2] in CSV_SUFFIXES:
        suffix = suffixes[-2]  # gzip-compressed text: pyarrow decompresses by the .gz extension
    if suffix not in SUPPORTED_SUFFIXES:
        raise _err(f"unsupported file type {suffix or '(no suffix)'!r}", path,
                   hint=f"use one of {', '.join(SUPPORTED_SUFFIXES)} (CSV/TSV/TXT also gzipped, e.g. .csv.gz); save Excel sheets as CSV")
    if path.stat().st_size == 0:
        raise _err("the file is empty", path, hint="check that the export finished")
    kind = _norm_kind(kind, path)
    wl_override = _norm_wl_unit(wavelength_unit, path)
    carbon_unit = _norm_carbon_unit(carbon_unit, path)

    side: dict[str, Any] = {}

    def classify(names):
        style, members = _classify_columns(names, path)
        side["style"], side["members"] = style, members
        return [i for _, i in members]

    if suffix in CSV_SUFFIXES:
        raw = _read_csv(path, sep, classify)
    elif suffix in PARQUET_SUFFIXES:
        raw = _read_parquet(path, classify)
    else:
        raw = _read_envi(path, classify)
        side["style"] = ("", raw.info.get("envi_unit") or "")
        side["members"] = [(float(n), i) for i, n in enumerate(raw.names[: len(raw.spectral_idx)])]

    names = raw.names
    prefix, suffix_unit = side["style"]
    cols = np.array([i for _, i in side["members"]])
    wl_raw = np.array([w for w, _ in side["members"]], dtype=np.float64)
    det: dict[str, Any] = {"file": str(path), **raw.info}
    det["header_style"] = (f"prefix {prefix!r}" if prefix else "numeric") + (f", suffix {suffix_unit!r}" if suffix_unit else "")
    if raw.kind_hint is None and _PREFIXES.get(prefix):
        raw.kind_hint = _PREFIXES[prefix]

    wl_unit, wl_src = _wavelength_unit(wl_raw, suffix_unit, wl_override, path)
    wl_nm = {"nm": wl_raw, "um": wl_raw * 1000.0}.get(wl_unit)
    if wl_unit == "cm-1":
        if np.any(wl_raw <= 0):
            raise _err("wavenumbers must be positive", path, row=1, hint="check the header")
        wl_nm = 1e7 / wl_raw
    det.update(wavelength_unit=wl_unit, wavelength_unit_source=wl_src)
    order, reorder_note = _order_wavelengths(wl_nm, cols, names, path)
    wl_nm = wl_nm[order]
    values = raw.values[:, order] if reorder_note else raw.values
    if wl_unit != "nm":
        wl_nm = np.round(wl_nm, 6)  # 0.35 µm × 1000 must be 350 nm, not 349.99999999999994
    warn_list: list[str] = []
    if reorder_note:
        det["columns_sorted"] = reorder_note
        warn_list.append(f"wavelength columns were {reorder_note}; sorted into increasing order")
    n = values.shape[0]
    if n == 0:
        raise _err("the file has a header but no data rows", path, row=2, hint="add spectra below the header")
    header_rows = raw.header_rows

    # ---- rows with problems in the spectra
    file_pos = [int(cols[k]) for k in order]  # position in the file of each (sorted) wavelength

    def where(r, pos):
        """row/column of sample r, spectral column at file position pos, as a spreadsheet shows it."""
        if raw.transposed:  # samples are columns, wavelengths are rows
            return {"row": pos + 2, "column": str(raw.meta["id"].iloc[r])}
        return {"row": _sheet_row(r, header_rows), "column": names[pos]}

    bad_reason: dict[int, str] = {}
    for r_sheet, exp, got in raw.ragged_rows:
        if not drop_bad_rows:
            raise _err(f"has {got} fields but the header has {exp}", path, row=r_sheet,
                       hint="fix the row (a missing or extra separator?), or pass --drop-bad-rows to skip it")
    dropped_ragged = len(raw.ragged_rows)
    for r, cells in sorted(raw.bad_cells.items()):
        pos, text = cells[0]
        if not drop_bad_rows:
            more = f" (and {len(cells) - 1} more cell(s) for this sample)" if len(cells) > 1 else ""
            raise _err(f"non-numeric spectral value {text!r}{more}", path, **where(r, pos),
                       hint="fix the cell, or pass --drop-bad-rows to drop such samples")
        bad_reason.setdefault(r, "non-numeric spectral value")
    # Row-wise min/max instead of full-size boolean masks: NaN propagates through min/max, so one
    # pass finds the rows with NaN/inf and the rows out of range; cells are located only in those.
    row_min, row_max = values.min(axis=1), values.max(axis=1)
    finite_rows = np.isfinite(row_min) & np.isfinite(row_max)
    for r in np.flatnonzero(~finite_rows):
        if r in bad_reason:
            continue
        nonfinite = ~np.isfinite(values[r])
        j = int(np.argmax(nonfinite))
        v = values[r, j]
        what = "missing (empty/NA)" if np.isnan(v) else f"infinite ({v})"
        if not drop_bad_rows:
            count = int(nonfinite.sum())
            raise _err(f"spectral value is {what}" + (f"; {count} such cells for this sample" if count > 1 else ""),
                       path, **where(r, file_pos[j]),
                       hint="fix or remove the row, or pass --drop-bad-rows to drop rows with missing values")
        bad_reason[int(r)] = "missing or infinite spectral value"

    kind, is_percent, k_src, p_src = _detect_kind(wl_nm, values, finite_rows, kind, percent, raw.kind_hint, path)
    det.update(kind=kind, kind_source=k_src, percent=bool(is_percent), percent_source=p_src)
    if kind == "reflectance":
        hi = MAX_REFLECTANCE * (100.0 if is_percent else 1.0)
        for r in np.flatnonzero(finite_rows & ((row_min < 0) | (row_max > hi))):
            out = (values[r] < 0) | (values[r] > hi)
            j = int(np.argmax(out))
            v = float(values[r, j]) / (100.0 if is_percent else 1.0)
            if not drop_bad_rows:
                shown = f"{v * 100:.4g} % (= {v:.4g})" if is_percent else f"{v:.4g}"
                raise _err(f"reflectance {shown} is {'negative' if v < 0 else f'above {MAX_REFLECTANCE}'}"
                           + (f"; {int(out.sum())} such cells for this sample" if out.sum() > 1 else ""),
                           path, **where(r, file_pos[j]),
                           hint="check the row (and --percent/--no-percent, --kind), or pass --drop-bad-rows")
            bad_reason.setdefault(int(r), "reflectance out of range")
    if is_percent:
        values = np.divide(values, np.float32(100.0), out=values)  # in place: values is our own buffer

    # ---- metadata roles
    meta_in = raw.meta.copy()
    meta_names = list(meta_in.columns)

    def pick(override, finder, flag):
        if override is None:
            return finder()
        if override == "":
            return None
        if override not in meta_in.columns:
            raise _err(f"column {override!r} given with {flag} is not in the file (non-spectral columns: "
                       f"{_preview(meta_names)})", path, row=1, column=override, hint=f"check {flag}")
        return override

    def find_carbon():
        cands = [(c, _carbon_candidate(c)) for c in meta_names]
        cands = [(c, p) for c, p in cands if p is not None]
        if not cands:
            return None
        best = min(p[0] for _, p in cands)
        top = [c for c, p in cands if p[0] == best]
        if len(top) > 1:
            raise _err(f"several columns could be the carbon column: {_preview(top)}", path, row=1,
                       hint="pass --carbon-col NAME")
        return top[0]

    carbon_name = pick(carbon_col, find_carbon, "--carbon-col")
    id_name = pick(id_col, lambda: _find_by_name(meta_names, _ID_NAMES), "--id-col")
    region_name = pick(region_col, lambda: _find_by_name(meta_names, _REGION_NAMES), "--region-col")
    lat_name = pick(lat_col, lambda: _find_coord(meta_names, "lat"), "--lat-col")
    lon_name = pick(lon_col, lambda: _find_coord(meta_names, "lon"), "--lon-col")
    date_name = pick(date_col, lambda: _find_by_name(meta_names, _DATE_NAMES), "--date-col")
    roles = {"id": id_name, "soc_g_kg": carbon_name, "region": region_name, "lat": lat_name,
             "lon": lon_name, "date": date_name}
    used = [c for c in roles.values() if c is not None]
    if len(set(used)) != len(used):
        dup = [c for c in used if used.count(c) > 1][0]
        raise _err(f"column {dup!r} was given two roles", path, column=dup, hint="check the --*-col options")

    meta = pd.DataFrame(index=pd.RangeIndex(n))
    comma = raw.info.get("decimal_point") == ","

    def to_num(col: pd.Series) -> pd.Series:
        if comma and (col.dtype == object or str(col.dtype).startswith("str")):
            col = col.str.replace(",", ".", regex=False)
        return pd.to_numeric(col, errors="coerce")

    # carbon
    det.update(carbon_column=carbon_name, carbon_unit=None, carbon_unit_source=None, carbon_basis=None)
    carbon_missing_rows = np.zeros(n, dtype=bool)
    if carbon_name is not None:
        texts = meta_in[carbon_name]
        nums = to_num(texts).to_numpy(dtype=np.float64, na_value=np.nan)
        present = texts.notna().to_numpy() & ~texts.astype(str).isin(NULL_TOKENS).to_numpy()
        nonnum = present & ~np.isfinite(nums)
        if nonnum.any():
            r = int(np.argmax(nonnum))
            raise _err(f"carbon value {str(texts.iloc[r])!r} is not a number", path,
                       row=_sheet_row(r, header_rows), column=carbon_name,
                       hint="fix the cell (leave it empty if unknown), or pass --carbon-col to pick another column")
        neg = np.isfinite(nums) & (nums < 0)
        if neg.any():
            r = int(np.argmax(neg))
            raise _err(f"carbon value {nums[r]:g} is negative", path, row=_sheet_row(r, header_rows),
                       column=carbon_name, hint="fix the cell")
        cand = _carbon_candidate(carbon_name)
        basis = cand[1] if cand else "as named by --carbon-col"
        if carbon_unit is not None:
            unit, u_src = carbon_unit, "override (--carbon-unit)"
        elif _unit_from_name(carbon_name):
            unit, u_src = _unit_from_name(carbon_name), "column name"
        else:
            unit, u_src = _carbon_unit_from_values(nums, carbon_name, path)
            if unit is not None:
                u_src = "value range: " + u_src
                warn_list.append(f"carbon unit of {carbon_name!r} guessed from the values ({u_src}); "
                                 "pass --carbon-unit to be sure")
        if unit == "percent" and np.nanmax(np.append(nums, 0)) > 100:
            raise _err(f"carbon in percent cannot exceed 100 (max {np.nanmax(nums):g})", path,
                       column=carbon_name, hint="pass --carbon-unit g/kg if the values are g/kg")
        if unit == "fraction" and np.nanmax(np.append(nums, 0)) > 1:
            raise _err(f"carbon as a fraction cannot exceed 1 (max {np.nanmax(nums):g})", path,
                       column=carbon_name, hint="pass --carbon-unit percent or g/kg")
        meta["soc_g_kg"] = convert_soc(nums, unit, "g/kg") if unit else nums
        det.update(carbon_unit=unit, carbon_unit_source=u_src, carbon_basis=basis)
        if basis == "SOM":
            warn_list.append(f"{carbon_name!r} is soil organic MATTER, not organic carbon; kept as read in "
                             "soc_g_kg (no van Bemmelen 1/1.724 conversion) — convert it yourself or pass --carbon-col")
        elif basis == "total C":
            warn_list.append(f"{carbon_name!r} is TOTAL carbon; it equals organic carbon only in soils "
                             "without carbonates")
        carbon_missing_rows = ~np.isfinite(nums)
    elif require_carbon:
        raise _err("no carbon column found (looked for soc, oc, organic_carbon, carbon…, toc, som)", path, row=1,
                   hint="pass --carbon-col NAME (and --carbon-unit)")
    det["n_carbon_missing"] = int(carbon_missing_rows.sum())
    if require_carbon and carbon_missing_rows.any():
        if not drop_bad_rows:
            r = int(np.argmax(carbon_missing_rows))
            raise _err(f"carbon is missing ({int(carbon_missing_rows.sum())} row(s) without it); training needs "
                       "carbon in every row", path, row=_sheet_row(r, header_rows), column=carbon_name,
                       hint="fill it in, or pass --drop-bad-rows to drop rows without carbon")
        for r in np.flatnonzero(carbon_missing_rows):
            bad_reason.setdefault(int(r), "missing carbon")

    # id
    if id_name is not None:
        ids = meta_in[id_name].astype("string").str.strip()
        if ids.isna().any():
            r = int(np.flatnonzero(ids.isna().to_numpy())[0])
            raise _err("sample id is empty", path, row=_sheet_row(r, header_rows), column=id_name,
                       hint="give every row an id, or pass --id-col to choose another column")
        meta["id"] = ids.astype(str).to_numpy(dtype=object)
    else:
        meta["id"] = np.array([f"row{_sheet_row(i, header_rows)}" for i in range(n)], dtype=object)
    for name, role in ((region_name, "region"), (date_name, "date")):
        if name is not None:
            meta[role] = meta_in[name].to_numpy(dtype=object)
    for name, role, lim in ((lat_name, "lat", 90), (lon_name, "lon", 180)):
        if name is None:
            continue
        vals = to_num(meta_in[name]).to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isfinite(vals) & (np.abs(vals) > lim)
        if bad.any():
            r = int(np.argmax(bad))
            raise _err(f"{role} {vals[r]:g} is outside ±{lim}°", path, row=_sheet_row(r, header_rows), column=name,
                       hint=f"give {role} in decimal degrees (WGS84), or pass --{role}-col")
        meta[role] = vals
    others = [c for c in meta_names if c not in used]
    for c in others:
        col = meta_in[c]
        conv = to_num(col) if col.dtype == object or str(col.dtype).startswith("str") else col
        keep_numeric = conv.notna().sum() == col.notna().sum()
        meta[c if c not in meta.columns else f"{c}_orig"] = (conv if keep_numeric else col).to_numpy()

    # ---- drop rows, then ids must be unique
    meta_all_ids = meta["id"].to_numpy()
    keep = np.ones(n, dtype=bool)
    if bad_reason:
        keep[list(bad_reason)] = False
    if not keep.all():
        values = values[keep]
        meta = meta.loc[keep].reset_index(drop=True)
    dropped = int((~keep).sum()) + dropped_ragged
    reasons: dict[str, int] = {}
    for why in bad_reason.values():
        reasons[why] = reasons.get(why, 0) + 1
    if dropped_ragged:
        reasons["wrong number of fields"] = dropped_ragged
    det.update(dropped_rows=dropped, dropped_reasons=reasons,
               dropped_ids=[str(meta_all_ids[r]) for r in sorted(bad_reason)][:50],
               dropped_row_numbers=[] if raw.transposed else sorted([_sheet_row(r, header_rows) for r in bad_reason]
                                          + [r for r, _, _ in raw.ragged_rows])[:50])
    if dropped:
        warn_list.append(f"dropped {dropped} row(s) with bad values (--drop-bad-rows): "
                         + ", ".join(f"{k}: {v}" for k, v in reasons.items()))
    if values.shape[0] == 0:
        raise _err("no rows left after dropping bad rows", path, hint="check the file")
    if id_name is not None:
        dupmask = meta["id"].duplicated(keep=False).to_numpy()
        if dupmask.any():
            first_id = meta["id"][dupmask].iloc[0]
            kept_rows = np.flatnonzero(keep)
            rows = [_sheet_row(kept_rows[i], header_rows) for i in np.flatnonzero((meta["id"] == first_id).to_numpy())]
            raise _err(f"sample id {first_id!r} appears {len(rows)} times (rows {', '.join(map(str, rows[:5]))}); "
                       f"{int(meta['id'].duplicated().sum())} duplicated id(s) in all", path, row=rows[1],
                       column=id_name, hint="make ids unique, or pass --id-col to choose another column")

    meta = meta[[c for c in ("id", "soc_g_kg", "region", "lat", "lon", "date") if c in meta.columns]
                + [c for c in meta.columns if c not in ("id", "soc_g_kg", "region", "lat", "lon", "date")]]
    det.update(id_column=id_name, region_column=region_name, lat_column=lat_name, lon_column=lon_name,
               date_column=date_name, other_columns=others, n_spectral_columns=int(len(cols)),
               n_rows_in_file=int(n + dropped_ragged))
    missing = {}
    for c in meta_names:
        k = int(meta_in[c].isna().sum())
        if k:
            missing[c] = k
    det["missing_values"] = missing
    det["warnings"] = warn_list
    for w in warn_list:
        warnings.warn(f"{path}: {w}", UserWarning, stacklevel=2)

    table = SpectralTable(wavelength_nm=wl_nm, values=values, kind=kind, meta=meta, source=str(path), detection=det)
    _wavelength_summary(table, det)
    return table


def _wavelength_summary(table: SpectralTable, det: dict) -> None:
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
    _wavelength_summary(table, det)
    vals = table.values
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
        "value_min": float(np.nanmin(vals)) if vals.size else None,
        "value_max": float(np.nanmax(vals)) if vals.size else None,
        "carbon_column": det.get("carbon_column"),
        "carbon_unit": det.get("carbon_unit"),
        "carbon_basis": det.get("carbon_basis"),
        "n_labelled": int(table.labelled_mask().sum()),
        "soc_g_kg_min": float(np.nanmin(table.soc_g_kg)) if table.has_soc and table.labelled_mask().any() else None,
        "soc_g_kg_max": float(np.nanmax(table.soc_g_kg)) if table.has_soc and table.labelled_mask().any() else None,
        "id_column": det.get("id_column"),
        "region_column": det.get("region_column"),
        "lat_column": det.get("lat_column"),
        "lon_column": det.get("lon_column"),
        "date_column": det.get("date_column"),
        "other_columns": det.get("other_columns", []),
        "missing_values": det.get("missing_values", {}),
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


def write_spectra(table: SpectralTable, path) -> Path:
    """Write a wide table that :func:`read_spectra` reads back to the same table.

    CSV (``.csv``/``.tsv``/``.txt``): meta columns first (``soc_g_kg`` as a g/kg column), then one
    column per wavelength named ``R_<nm>`` (reflectance, fraction) or ``A_<nm>`` (absorbance), so the
    kind is in the header. Parquet: same columns, wavelengths as plain numbers, kind in the schema
    metadata. Written atomically (the file appears only when complete).
    """
    from .outputs import atomic_path

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise _err(f"cannot write {suffix or '(no suffix)'!r}", path, hint="write .csv, .tsv or .parquet")
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
                                           _PARQUET_META_KEY: json.dumps({"kind": table.kind}).encode()})
            pq.write_table(t, tmp)
    return path
