"""Detection phases that look at the spectra: which columns are wavelengths (and in which unit and
order), and whether the values are reflectance (fraction or percent) or absorbance.

Each phase returns a small typed result (:class:`SpectralColumns`, :class:`Wavelengths`,
:class:`Kind`) or raises :class:`~socspec.errors.SocspecInputError` naming the flag that settles it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..spectra import MAX_REFLECTANCE
from .common import input_error, preview

# Percent reflectance: values beyond this cannot be absorbance (A = 5 means R = 0.001 %).
MAX_PLAUSIBLE_ABSORBANCE = 5.0

_NUM = r"(\d+(?:\.\d*)?|\.\d+)"
# prefix → what it hints about the values (None: only says "this is a wavelength")
PREFIXES = {
    "": None, "x": None, "wl": None, "wave": None, "wavelength": None, "lambda": None, "nm": None,
    "um": None, "band": None, "b": None, "spc": None, "spec": None, "s": None, "w": None, "v": None,
    "r": "reflectance", "refl": "reflectance", "reflectance": "reflectance", "ref": "reflectance",
    "a": "absorbance", "abs": "absorbance", "absorbance": "absorbance", "log1r": "absorbance",
    "log1/r": "absorbance",
}
_HEADER_RE = re.compile(
    r"^\s*(?P<prefix>[a-z/1]*?)[\s_.\-]*" + _NUM + r"\s*(?P<suffix>nm|um|µm|μm|micron|microns)?\s*$",
    re.IGNORECASE)


def parse_wavelength_header(name: str):
    """``'wl_350'`` → (350.0, 'wl', ''); ``'0.35 um'`` → (0.35, '', 'um'); other names → None."""
    m = _HEADER_RE.match(str(name))
    if not m:
        return None
    prefix = m.group("prefix").lower()
    if prefix not in PREFIXES:
        return None
    if prefix in ("band", "b") and not m.group("suffix"):
        return None  # "band_12" is a band index, not a wavelength
    suffix = (m.group("suffix") or "").lower()
    suffix = {"µm": "um", "μm": "um", "micron": "um", "microns": "um"}.get(suffix, suffix)
    if prefix in ("nm", "um"):
        suffix = suffix or prefix
        prefix = ""
    return float(m.group(2)), prefix, suffix


# --------------------------------------------------------------------------- spectral columns
@dataclass
class SpectralColumns:
    """The spectral block of a header: one style (prefix + unit suffix), wavelengths as written."""

    prefix: str                    # '' | 'wl' | 'R' … (lower case)
    suffix_unit: str               # '' | 'nm' | 'um' (from the header text)
    wavelengths_raw: np.ndarray    # (m,) float64, in file order, unit not yet known
    positions: np.ndarray          # (m,) int, position of each column in the file's header

    @property
    def kind_hint(self) -> str | None:
        """'reflectance'/'absorbance' when the prefix says so (``R350``, ``A_350``)."""
        return PREFIXES.get(self.prefix)

    @property
    def header_style(self) -> str:
        return ((f"prefix {self.prefix!r}" if self.prefix else "numeric")
                + (f", suffix {self.suffix_unit!r}" if self.suffix_unit else ""))


def classify_columns(names, path) -> SpectralColumns:
    """The largest group of headers written the same way (prefix + suffix) is the spectral block; a
    stray numeric-looking meta column with another style stays metadata."""
    parsed = [(parse_wavelength_header(n), i) for i, n in enumerate(names)]
    cands = [(p, i) for p, i in parsed if p is not None]
    if not cands:
        raise input_error("no numeric wavelength columns found in the header "
                          f"(columns: {preview(names)})", path, row=1,
                          hint="name spectral columns by wavelength (e.g. 350, 351, … or wl_350) in nm or µm")
    groups: dict[tuple, list] = {}
    for p, i in cands:
        groups.setdefault((p[1], p[2]), []).append((p[0], i))
    (prefix, suffix), members = max(groups.items(), key=lambda kv: len(kv[1]))
    if len(members) < 3:
        raise input_error(f"only {len(members)} wavelength-like column(s) found "
                          f"({preview([names[i] for _, i in members])})", path, row=1,
                          hint="a spectrum needs many wavelength columns named by wavelength (nm or µm)")
    return SpectralColumns(prefix, suffix, np.array([w for w, _ in members], dtype=np.float64),
                           np.array([i for _, i in members], dtype=int))


# --------------------------------------------------------------------------- wavelengths
@dataclass
class Wavelengths:
    """The wavelength axis in nm, strictly increasing, and how it was found."""

    wavelength_nm: np.ndarray      # (m,) float64, increasing
    order: np.ndarray              # (m,) indices into the spectral block (file order → increasing)
    file_positions: list[int]      # position in the file of each (sorted) wavelength column
    unit: str                      # unit of the headers in the file: nm | um | cm-1
    unit_source: str
    reorder_note: str | None       # 'reversed …' / 'shuffled …' when columns were sorted


def _wavelength_unit(wl_raw: np.ndarray, suffix: str, override, path):
    if override:
        return override, "override"
    if suffix in ("nm", "um"):
        return suffix, "column names"
    lo, hi = float(np.min(wl_raw)), float(np.max(wl_raw))
    srt = np.sort(wl_raw)
    if lo in (0, 1) and np.all(np.diff(srt) == 1):
        raise input_error(f"column headers run {lo:g}, {lo + 1:g}, … {hi:g}: band numbers, not wavelengths",
                          path, row=1, hint="rename the spectral columns by wavelength in nm")
    if hi <= 25 and lo >= 0.1:
        return "um", f"values {lo:g}–{hi:g} look like µm"
    if lo >= 100 and hi <= 2600:
        return "nm", f"values {lo:g}–{hi:g} look like nm"
    if lo < 100 and hi > 25:
        raise input_error(f"wavelength headers {lo:g}–{hi:g} are neither nm (Vis-NIR 350–2500) nor µm", path,
                          row=1, hint="pass --wavelength-unit nm|um|cm-1 if the headers are right")
    raise input_error(f"wavelength headers run {lo:g}–{hi:g}: nm (mid-infrared) or wavenumbers in cm⁻¹?",
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
        raise input_error(f"wavelength {s[dup[0]]:g} nm appears twice (columns {names[a]!r} at position {a + 1} "
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
    raise input_error(f"wavelengths are not in order: {wl_nm[k]:g} nm is followed by {wl_nm[k + 1]:g} nm",
                      path, row=1, column=names[cols[k + 1]],
                      hint="sort the spectral columns by wavelength, or fix the header")


def detect_wavelengths(columns: SpectralColumns, names, override, path) -> Wavelengths:
    """Unit (override, header suffix, or value range), conversion to nm, increasing order."""
    wl_raw = columns.wavelengths_raw
    unit, source = _wavelength_unit(wl_raw, columns.suffix_unit, override, path)
    if unit == "cm-1":
        if np.any(wl_raw <= 0):
            raise input_error("wavenumbers must be positive", path, row=1, hint="check the header")
        wl_nm = 1e7 / wl_raw
    else:
        wl_nm = wl_raw * 1000.0 if unit == "um" else wl_raw
    cols = columns.positions
    order, note = _order_wavelengths(wl_nm, cols, names, path)
    wl_nm = wl_nm[order]
    if unit != "nm":
        wl_nm = np.round(wl_nm, 6)  # 0.35 µm × 1000 must be 350 nm, not 349.99999999999994
    return Wavelengths(wl_nm, order, [int(cols[k]) for k in order], unit, source, note)


# --------------------------------------------------------------------------- kind
@dataclass
class Kind:
    """Reflectance or absorbance, percent or fraction, and the evidence for each."""

    kind: str
    percent: bool
    kind_source: str
    percent_source: str


def _band_mean(wl, spec, lo, hi):
    sel = (wl >= lo) & (wl <= hi)
    return float(np.nanmean(spec[sel])) if sel.any() else None


def shape_evidence(wl, mean_spec) -> tuple[int, list[str]]:
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


def detect_kind(wl, values, finite_rows, kind, percent, hint, path) -> Kind:
    """Kind from the override, the header/file metadata hint, the value range, or the spectral shape
    (in that order); percent from the override or the 99th percentile of the values."""
    rows = np.flatnonzero(finite_rows)
    # up to 500 rows spread over the file are plenty to judge the range and the mean shape
    sample = values[rows[np.linspace(0, rows.size - 1, min(rows.size, 500)).astype(int)]] if rows.size else values[:0]
    flat = sample[np.isfinite(sample)]
    if flat.size == 0:
        raise input_error("no complete spectrum in the file (every row has missing values)", path,
                          hint="check the file, or pass --drop-bad-rows only if some rows are complete")
    p99 = float(np.percentile(flat, 99))
    vmin, vmax = float(flat.min()), float(flat.max())
    if kind is not None:
        k_src = "override (--kind)"
    elif hint is not None:
        kind, k_src = hint, "column names / file metadata"
    elif p99 > MAX_PLAUSIBLE_ABSORBANCE:
        kind, k_src = "reflectance", f"values up to {vmax:.4g}: too large for absorbance"
    else:
        score, notes = shape_evidence(wl, np.nanmean(sample, axis=0))
        if score > 0:
            kind, k_src = "reflectance", "spectral shape: " + "; ".join(notes)
        elif score < 0:
            kind, k_src = "absorbance", "spectral shape: " + "; ".join(notes)
        else:
            raise input_error(f"cannot tell reflectance from absorbance: values {vmin:.4g}–{vmax:.4g} fit both "
                              "and the spectra show no water-band or visible-slope feature to judge by"
                              + (f" ({'; '.join(notes)})" if notes else ""), path,
                              hint="pass --kind reflectance or --kind absorbance")
    if kind == "absorbance":
        if percent:
            raise input_error("--percent applies to reflectance only", path,
                              hint="drop --percent or pass --kind reflectance")
        return Kind(kind, False, k_src, "absorbance (not applicable)")
    if percent is not None:
        return Kind(kind, bool(percent), k_src, "override (--percent/--no-percent)")
    if p99 > MAX_REFLECTANCE:
        if p99 > 100 * MAX_REFLECTANCE:  # single outliers are named row by row later
            raise input_error(f"reflectance values up to {vmax:.4g} (99th percentile {p99:.4g}): too large for "
                              "percent (0–100) and for a fraction (0–1)", path,
                              hint="check the file's scaling (e.g. ×10000 integers: divide first), or pass --kind")
        return Kind(kind, True, k_src, f"99th percentile {p99:.4g} > {MAX_REFLECTANCE}: percent")
    return Kind(kind, False, k_src, f"99th percentile {p99:.4g} ≤ {MAX_REFLECTANCE}: fraction")
