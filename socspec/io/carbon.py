"""The carbon column: which one (by name, with the rules below), its unit, its basis, and its
values converted to the canonical g/kg (:mod:`socspec.units`).

Rules for choosing the column when ``--carbon-col`` is not given:

* a column is a *candidate* when its name says carbon (soc, oc, organic_carbon, carbon*, c_org, toc,
  som…; not sd/se/flag/method/… columns about carbon);
* a candidate that is text (fewer than half of its filled cells are numbers) or entirely empty is
  *not usable* (RaCA exports carry ``soc_measured`` as text and ``soc_scan`` empty beside ``soc``);
* among the usable candidates, SOC names beat plain "carbon", which beats total C, which beats SOM;
* among equals, an *exact* name (``soc``, ``oc``, ``soc_g_kg``, ``OC (%)``: a carbon word plus at most
  a unit) wins over longer names that contain its word (``soc`` over ``soc_scan``);
* anything else is ambiguous: :func:`read_spectra` records the candidates (``socspec inspect`` lists
  them with the flag that picks one) and stops only where a carbon column is required (training).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..units import convert_soc
from .common import NULL_TOKENS, input_error, preview, sheet_row, to_numeric
from .roles import pick_column, tokens

_CARBON_EXCLUDE = {"sd", "se", "std", "stdev", "err", "error", "unc", "uncertainty", "flag", "qc",
                   "method", "inorganic", "ic", "caco3", "n", "nt", "cn", "ratio", "stock", "stocks",
                   "density", "bd", "lab", "date", "id", "min", "max", "lo", "hi", "lower", "upper",
                   "pred", "predicted", "fold"}
_SOC_TOKENS = {"soc", "oc", "corg", "orgc", "c_org", "toc", "ciso", "woc", "wbc", "orgcarbon"}
_SOM_TOKENS = {"som", "om", "loi"}
_TOTAL_TOKENS = {"tc", "total"}
# name tokens that only state a unit: ``soc_g_kg`` and ``OC (%)`` are exact names
_UNIT_TOKENS = {"pct", "percent", "perc", "pc", "g", "kg", "gkg", "100g", "g100g", "per", "fraction", "frac",
                "kgkg", "permille", "‰"}
# when no carbon column is found, the message says what was looked for
LOOKED_FOR = "soc, oc, organic_carbon, carbon…, toc, som"


def unit_from_name(name: str) -> str | None:
    """Carbon unit stated by a column name (``_pct``, ``%``, ``g/kg``, ``fraction``), else None."""
    low = str(name).lower().replace(" ", "")
    toks = tokens(name)
    if "g/100g" in low or "g_100g" in low or "g100g" in low:
        return "percent"
    if any(s in low for s in ("g/kg", "g_kg", "gkg", "g_per_kg", "permille", "‰")):
        return "g/kg"
    if "%" in low or any(t in ("pct", "percent", "perc", "pc") for t in toks):
        return "percent"
    if any(t in ("fraction", "frac", "kgkg") for t in toks) or "kg/kg" in low:
        return "fraction"
    return None


def carbon_name_rank(name: str):
    """(priority, basis) when the column name says carbon, else None. Lower priority wins."""
    toks = tokens(name)
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
    if toks[0] == "c" and all(unit_from_name(t) or t in ("c",) for t in toks):
        return 1, "carbon (basis not stated)"
    return None


def _core_tokens(name: str) -> tuple[str, ...]:
    """The name's words without unit words: ``soc_g_kg`` → ('soc',), ``soc_scan`` → ('soc', 'scan')."""
    return tuple(t for t in tokens(name) if t not in _UNIT_TOKENS)


def _is_exact(name: str) -> bool:
    core = _core_tokens(name)
    return (len(core) == 1 and (core[0] in _SOC_TOKENS | _SOM_TOKENS | {"carbon", "c", "tc"})) or \
        core in (("organic", "carbon"), ("total", "carbon"), ("c", "org"), ("organic", "matter"))


@dataclass
class CarbonCandidate:
    """A column whose name says carbon."""

    column: str
    priority: int
    basis: str
    unusable: str | None = None   # 'text' | 'empty' when it cannot be the carbon column

    def describe(self) -> str:
        return f"{self.column!r}" + (f" ({self.unusable})" if self.unusable else "")


@dataclass
class CarbonChoice:
    """The carbon column (or None) and why."""

    column: str | None
    reason: str                                   # printed by inspect and fit-lab
    candidates: list[CarbonCandidate] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)  # the tied columns when the choice is unclear


def _usability(col: pd.Series, decimal_comma: bool) -> str | None:
    texts = col.astype("string").str.strip()
    filled = texts.notna() & ~texts.isin(NULL_TOKENS)
    if not filled.any():
        return "empty"
    nums = to_numeric(col, decimal_comma)[filled.to_numpy()]
    if np.isfinite(nums.to_numpy(dtype=np.float64, na_value=np.nan)).sum() * 2 < int(filled.sum()):
        return "text"
    return None


def choose_carbon_column(meta_in: pd.DataFrame, override, *, decimal_comma: bool, required: bool,
                         path) -> CarbonChoice:
    """Apply the rules in the module docstring; ``required``: raise when none or unclear."""
    names = list(meta_in.columns)
    col = pick_column(override, lambda: None, "--carbon-col", names, path)
    if override is not None:
        return CarbonChoice(col, "override (--carbon-col)" if col else "none (--carbon-col '')")
    cands = []
    for c in names:
        rank = carbon_name_rank(c)
        if rank is not None:
            cands.append(CarbonCandidate(c, rank[0], rank[1], _usability(meta_in[c], decimal_comma)))
    usable = [c for c in cands if c.unusable is None]
    skipped = [c for c in cands if c.unusable is not None]
    skipped_note = ("; not usable: " + ", ".join(c.describe() for c in skipped)) if skipped else ""
    if not usable:
        if required:
            raise input_error(f"no carbon column found (looked for {LOOKED_FOR}"
                              + (f"; {', '.join(c.describe() for c in skipped)} cannot be used" if skipped else "")
                              + ")", path, row=1, hint="pass --carbon-col NAME (and --carbon-unit)")
        return CarbonChoice(None, "none found" + skipped_note, cands)
    best = min(c.priority for c in usable)
    top = [c for c in usable if c.priority == best]
    if len(top) == 1:
        why = (("only usable carbon-like column" if skipped else "only carbon-like column") if len(usable) == 1
               else f"{top[0].basis} beats the other bases")
        return CarbonChoice(top[0].column, why + skipped_note, cands)
    exact = [c for c in top if _is_exact(c.column)]
    if len(exact) == 1:
        word = set(_core_tokens(exact[0].column))
        if all(word <= set(_core_tokens(c.column)) for c in top):
            others = [c.column for c in top if c is not exact[0]]
            return CarbonChoice(exact[0].column, f"exact name wins over {preview(others)}" + skipped_note, cands)
    tied = [c.column for c in top]
    if required:
        raise input_error(f"several columns could be the carbon column: {preview(tied)}", path, row=1,
                          hint="pass --carbon-col NAME")
    return CarbonChoice(None, f"unclear: {preview(tied)} — pass --carbon-col NAME to pick one" + skipped_note,
                        cands, tied)


def carbon_unit_from_values(vals: np.ndarray, column: str, path):
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
    raise input_error(f"carbon column has no unit in its name and its values (median {med:.4g}, max {mx:.4g}) "
                      "could be a fraction, percent or g/kg", path, column=column,
                      hint="pass --carbon-unit fraction|percent|g/kg")


@dataclass
class Carbon:
    """Carbon values of every row in g/kg (NaN where missing) and what was detected."""

    column: str | None
    soc_g_kg: np.ndarray | None = None   # (n,) float64
    unit: str | None = None
    unit_source: str | None = None
    basis: str | None = None
    missing: np.ndarray | None = None    # (n,) bool
    warnings: list[str] = field(default_factory=list)


def read_carbon(meta_in: pd.DataFrame, column: str | None, carbon_unit, *, decimal_comma: bool,
                header_rows: int, path) -> Carbon:
    """Numbers (an error names the first non-number or negative cell), unit (override, name, or value
    range, with a warning), basis, conversion to g/kg."""
    n = len(meta_in)
    if column is None:
        return Carbon(None, missing=np.zeros(n, dtype=bool))
    texts = meta_in[column]
    nums = to_numeric(texts, decimal_comma).to_numpy(dtype=np.float64, na_value=np.nan)
    present = texts.notna().to_numpy() & ~texts.astype(str).isin(NULL_TOKENS).to_numpy()
    nonnum = present & ~np.isfinite(nums)
    if nonnum.any():
        r = int(np.argmax(nonnum))
        raise input_error(f"carbon value {str(texts.iloc[r])!r} is not a number", path,
                          row=sheet_row(r, header_rows), column=column,
                          hint="fix the cell (leave it empty if unknown), or pass --carbon-col to pick another column")
    neg = np.isfinite(nums) & (nums < 0)
    if neg.any():
        r = int(np.argmax(neg))
        raise input_error(f"carbon value {nums[r]:g} is negative", path, row=sheet_row(r, header_rows),
                          column=column, hint="fix the cell")
    warn: list[str] = []
    rank = carbon_name_rank(column)
    basis = rank[1] if rank else "as named by --carbon-col"
    if carbon_unit is not None:
        unit, u_src = carbon_unit, "override (--carbon-unit)"
    elif unit_from_name(column):
        unit, u_src = unit_from_name(column), "column name"
    else:
        unit, u_src = carbon_unit_from_values(nums, column, path)
        if unit is not None:
            u_src = "value range: " + u_src
            warn.append(f"carbon unit of {column!r} guessed from the values ({u_src}); pass --carbon-unit to be sure")
    if unit == "percent" and np.nanmax(np.append(nums, 0)) > 100:
        raise input_error(f"carbon in percent cannot exceed 100 (max {np.nanmax(nums):g})", path,
                          column=column, hint="pass --carbon-unit g/kg if the values are g/kg")
    if unit == "fraction" and np.nanmax(np.append(nums, 0)) > 1:
        raise input_error(f"carbon as a fraction cannot exceed 1 (max {np.nanmax(nums):g})", path,
                          column=column, hint="pass --carbon-unit percent or g/kg")
    if basis == "SOM":
        warn.append(f"{column!r} is soil organic MATTER, not organic carbon; kept as read in soc_g_kg (no van "
                    "Bemmelen 1/1.724 conversion) — convert it yourself or pass --carbon-col")
    elif basis == "total C":
        warn.append(f"{column!r} is TOTAL carbon; it equals organic carbon only in soils without carbonates")
    missing = ~np.isfinite(nums)
    if missing.all():
        warn.append(f"carbon column {column!r} has no values: every row is unlabelled")
    soc = convert_soc(nums, unit, "g/kg") if unit else nums
    return Carbon(column, soc, unit, u_src, basis, missing, warn)
