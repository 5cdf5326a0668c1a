"""Delimited text (CSV/TSV/TXT, optionally gzipped): what the bytes are (encoding, or a binary file
under a text name), the separator and decimal point, and a fast parse with ``pyarrow.csv``.

The header is classified first, so the spectral block is parsed straight to float32 in C++ and
stacked into one (n, m) matrix without per-row Python. ASD/ViewSpec exports with one column per
sample ("transposed") are read with pandas (they are small).
"""
from __future__ import annotations

import csv
import gzip
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .common import NULL_TOKENS, input_error
from .detect import classify_columns, parse_wavelength_header
from .raw import RawTable, finish_arrow
from .roles import tokens

# first bytes of binary files that users save under a .csv name, and what to do instead
_MAGIC = (
    (b"\x1f\x8b", "a gzip-compressed file", "rename it to end in .csv.gz (socspec reads gzipped CSV)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97–2003 workbook (.xls) or another MS Office file",
     "open it in Excel/LibreOffice and export the sheet as CSV (UTF-8)"),
    (b"PAR1", "a Parquet file", "rename it to end in .parquet"),
    (b"BZh", "a bzip2-compressed file", "decompress it (bunzip2) and read the CSV inside"),
    (b"\xfd7zXZ\x00", "an xz-compressed file", "decompress it (unxz) and read the CSV inside"),
    (b"%PDF", "a PDF document", "export the table as CSV"),
)


def _binary_format(path: Path, head: bytes):
    """(what it is, hint) when ``head`` starts like a known binary format, else None."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            with zipfile.ZipFile(path) as zf:
                listing = zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            listing = []
        if any(n.startswith("xl/") for n in listing):
            return "an Excel workbook (.xlsx)", "open it in Excel/LibreOffice and export the sheet as CSV (UTF-8)"
        if "content.xml" in listing:
            return "an OpenDocument spreadsheet (.ods)", "open it in LibreOffice and export the sheet as CSV (UTF-8)"
        return "a zip archive", "unzip it and read the CSV inside"
    for magic, what, hint in _MAGIC:
        if head.startswith(magic):
            return what, hint
    return None


def open_maybe_gz(path: Path, mode: str, **kw):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, mode, **kw)
    return open(path, mode, **kw)


def sniff_bytes(path: Path) -> tuple[str, bytes]:
    """Pick the text encoding from the first bytes; raise a clear error for binary/UTF-16 files."""
    with open(path, "rb") as fh:
        first = fh.read(1 << 16)
    gz = path.suffix.lower() == ".gz"
    if gz and not first.startswith(b"\x1f\x8b"):
        found = _binary_format(path, first)
        raise input_error("the name ends in .gz but the file is not gzip-compressed"
                          + (f" (it is {found[0]})" if found else ""), path,
                          hint=found[1] if found else "remove the .gz from the name if it is plain CSV")
    if not gz:
        found = _binary_format(path, first)
        if found:
            raise input_error(f"this is {found[0]}, not a text CSV", path, hint=found[1])
        head = first
    else:
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(1 << 16)
        except (OSError, EOFError) as exc:
            raise input_error(f"the gzip file cannot be decompressed ({exc})", path,
                              hint="check that the download or copy finished") from None
        found = _binary_format(path, head) if not head.startswith(b"PK") else (
            "a zip archive inside gzip", "decompress it and export the sheet as CSV")
        if found:
            raise input_error(f"the gzip file holds {found[0]}, not a text CSV", path, hint=found[1])
    if not head.strip():
        raise input_error("the file is empty", path,
                          hint="check that the export finished and the file has a header row and data rows")
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", head[3:]
    for bom, enc in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return enc, head[len(bom):].decode(enc, errors="ignore").encode("utf-8")
    if b"\x00" in head:
        raise input_error("the file is not readable text (it contains NUL bytes: binary data, or UTF-16 "
                          "without a byte-order mark)", path, row=_line_of(head, head.index(b"\x00")),
                          hint="save it as CSV in UTF-8 (or UTF-16 with BOM), or convert it with iconv")
    try:
        head.decode("utf-8")
        return "utf-8", head
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the 64 KiB window
            return "utf-8", head
        bad_at = exc.start
    bad = head[bad_at:bad_at + 1]
    # latin-1 decodes anything; accept it only when the text has no C1 control characters
    text = head.decode("latin-1")
    if _control_fraction(text) <= 0.01:
        if not any("\x80" <= ch <= "\x9f" for ch in text):
            return "latin-1", head
        try:  # bytes 0x80–0x9f are € and curly quotes in Windows-1252 (Excel's "CSV" on Windows)
            head.decode("cp1252")
            return "cp1252", head
        except UnicodeDecodeError:
            pass
    raise input_error(f"the file is not readable text in UTF-8, Latin-1 or Windows-1252 (byte {bad!r} at row "
                      f"{_line_of(head, bad_at)})", path, row=_line_of(head, bad_at),
                      hint="save it as CSV in UTF-8")


def _control_fraction(text: str) -> float:
    ctrl = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t")
    return ctrl / max(len(text), 1)


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def sniff_separator(text: str, path: Path, sep: str | None) -> tuple[str, str]:
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
            raise input_error("cannot find the column separator (tried comma, tab, semicolon, |, spaces)",
                              path, row=1, hint="pass --sep, or save the file as CSV")
        decimal = "."
    if sep == ";" and len(lines) > 1 and re.search(r"(^|;)\s*-?\d+,\d+\s*(;|$)", lines[1]):
        decimal = ","  # European CSV: ';' between fields, ',' inside numbers
    return sep, decimal


def _python_encoding(encoding: str) -> str:
    return "utf-16" if encoding.startswith("utf-16") else encoding


def read_csv(path: Path, sep: str | None) -> RawTable:
    """Parse a delimited text file into a :class:`RawTable` (spectral columns classified first)."""
    import pyarrow.csv as pacsv

    raw = RawTable()
    encoding, head = sniff_bytes(path)
    text = head.decode("utf-8" if encoding.startswith("utf-16") else encoding.replace("-sig", ""),
                       errors="replace")
    sep, decimal = sniff_separator(text, path, sep)
    # the header line itself, read whole (a very wide header can be longer than the sniffed head)
    with open_maybe_gz(path, "rt", encoding=_python_encoding(encoding), errors="replace", newline="") as fh:
        first_line = fh.readline().lstrip("\ufeff").rstrip("\r\n")
    if not first_line.strip():
        raise input_error("the first line (the header) is empty", path, row=1,
                          hint="put the column names on the first line")
    if sep == " ":
        header = first_line.split()
    else:
        header = next(csv.reader([first_line], delimiter=sep))
    header = [h.strip() for h in header]
    raw.names = header
    raw.info.update(format="csv", encoding=encoding, separator={"\t": "tab", " ": "whitespace"}.get(sep, sep),
                    decimal_point=decimal)
    if _is_transposed(header):
        return _read_transposed(path, raw, header, sep, decimal, encoding)
    raw.columns = classify_columns(header, path)
    spectral_idx = [int(i) for i in raw.columns.positions]
    raw.spectral_idx = spectral_idx
    spec_set = set(spectral_idx)

    if sep == " ":
        # pyarrow has no "any run of whitespace" delimiter; pandas' C parser handles it.
        df = _pandas_read(path, encoding, sep=r"\s+", header=0, names=header)
        table = pa.Table.from_pandas(df, preserve_index=False)
        return finish_arrow(raw, table, spec_set, strings=True)

    keys = [f"c{i}" for i in range(len(header))]  # positional names: duplicates/odd headers are safe
    col_types = {keys[i]: pa.float32() for i in spectral_idx}
    for i in range(len(header)):
        if i not in spec_set:
            col_types[keys[i]] = pa.string()  # meta as text; roles are converted later
    ragged: list[tuple[str, int, int]] = []

    def on_invalid(row):
        ragged.append((row.text, row.expected_columns, row.actual_columns))
        return "skip"

    # pyarrow reads UTF-8 natively (a BOM is skipped with the header line); others are transcoded.
    arrow_enc = {"utf-8": "utf8", "utf-8-sig": "utf8", "utf-16-le": "utf-16",
                 "utf-16-be": "utf-16"}.get(encoding, encoding)
    read_opts = pacsv.ReadOptions(column_names=keys, skip_rows=1, encoding=arrow_enc, block_size=1 << 24)
    parse_opts = pacsv.ParseOptions(delimiter=sep, invalid_row_handler=on_invalid)
    conv = {"column_types": col_types, "null_values": NULL_TOKENS, "strings_can_be_null": True,
            "quoted_strings_can_be_null": True}
    if decimal == ",":
        conv["decimal_point"] = ","

    def parse(opts, **conv_over):
        ragged.clear()
        return pacsv.read_csv(path, read_options=opts, parse_options=parse_opts,
                              convert_options=pacsv.ConvertOptions(**{**conv, **conv_over}))

    as_text = {k: pa.string() for k in keys}
    try:
        table = parse(read_opts)
        strings = False
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if "Could not skip initial" in msg:  # the header line is all there is (no line break after it)
            raise input_error("the file has a header but no data rows", path, row=2,
                              hint="add spectra below the header") from None
        if ("UTF8" in msg or "utf8" in msg.lower()) and encoding != "latin-1":
            # invalid UTF-8 past the sniffed head: Latin-1 (Windows exports) is the usual culprit
            raw.info["encoding"] = "latin-1 (file is not valid UTF-8)"
            encoding = "latin-1"
            read_opts = pacsv.ReadOptions(column_names=keys, skip_rows=1, encoding="latin-1", block_size=1 << 24)
            try:
                table, strings = parse(read_opts), False
            except pa.ArrowInvalid:
                table, strings = parse(read_opts, column_types=as_text), True
        else:
            # A non-numeric spectral cell: re-read the spectral block as text to find every such cell.
            table, strings = parse(read_opts, column_types=as_text), True
    table = table.rename_columns(header)
    if ragged:
        raw.ragged_rows = _locate_ragged(path, encoding, ragged)
    return finish_arrow(raw, table, spec_set, strings=strings)


_WAVELENGTH_WORDS = (["wavelength"], ["wavelengths"], ["wl"], ["lambda"], ["nm"], ["wave"])


def _is_transposed(header) -> bool:
    """First column named like a wavelength axis (``Wavelength``, ``wl``, ``nm``, ``Wavelength (nm)``) and
    not itself a wavelength (``wl_350``): one column per sample follows, whatever the samples are
    called (ASD names like ``S001`` would otherwise read as a wavelength header)."""
    return bool(header) and parse_wavelength_header(header[0]) is None and tokens(header[0])[:1] in _WAVELENGTH_WORDS


def _read_transposed(path, raw: RawTable, header, sep, decimal, encoding) -> RawTable:
    """ASD/ViewSpec-style export: first column the wavelengths, then one column per sample (its
    header is the sample id). Such files are small (one column per sample), so pandas reads them."""
    df = _pandas_read(path, encoding, sep=r"\s+" if sep == " " else sep, header=None, skiprows=1)
    if df.shape[1] != len(header):
        raise input_error(f"rows have {df.shape[1]} fields but the header has {len(header)}", path, row=2,
                          hint="check the separator (--sep) and that every column has a name")
    df.columns = range(len(header))
    fix = (lambda x: x.str.replace(",", ".", regex=False)) if decimal == "," else (lambda x: x)
    wl_text = df.iloc[:, 0].str.strip()
    wl = pd.to_numeric(fix(wl_text), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(wl).all():
        k = int(np.flatnonzero(~np.isfinite(wl))[0])
        raise input_error(f"wavelength {wl_text.iloc[k]!r} is not a number", path, row=k + 2, column=header[0],
                          hint="the first column of a one-column-per-sample file must hold the wavelengths")
    names = [f"{w:.10g}" for w in wl]
    raw.transposed = True
    raw.info["layout"] = "transposed (first column wavelengths, one column per sample)"
    raw.columns = classify_columns(names, path)
    raw.spectral_idx = [int(i) for i in raw.columns.positions]
    samples = [str(h) for h in header[1:]]
    values = np.empty((len(samples), wl.size), dtype=np.float32)
    for r in range(len(samples)):
        texts = df.iloc[:, r + 1].fillna("").str.strip()
        arr = pd.to_numeric(fix(texts), errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)
        for k in np.flatnonzero(~texts.isin(NULL_TOKENS).to_numpy() & np.isnan(arr)):
            raw.bad_cells.setdefault(r, []).append((int(k), str(texts.iloc[k])))
        values[r] = arr
    raw.names = names + ["id"]
    raw.values = values
    raw.meta = pd.DataFrame({"id": pd.Series(samples, dtype=object)}, index=pd.RangeIndex(len(samples)))
    return raw


def _pandas_read(path, encoding, **kw) -> pd.DataFrame:
    """pandas for the layouts pyarrow cannot split (runs of whitespace, transposed files): every
    cell as text; a row it cannot split is the user's to fix, not a traceback."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=_python_encoding(encoding), **kw)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise input_error(f"cannot split the file into columns ({first})", path,
                          hint="check the separator (--sep), quotes and the number of fields per row") from None


def _locate_ragged(path, encoding, ragged):
    """pyarrow does not number invalid rows; find their line numbers by their text (error path only)."""
    wanted = {}
    for text, exp, got in ragged:
        wanted.setdefault(text.rstrip("\r\n"), (exp, got))
    out = []
    with open_maybe_gz(path, "rt", encoding=_python_encoding(encoding), errors="replace", newline="") as fh:
        for lineno, line in enumerate(fh, start=1):
            key = line.rstrip("\r\n")
            if lineno > 1 and key in wanted:
                exp, got = wanted[key]
                out.append((lineno, exp, got))
    return out
