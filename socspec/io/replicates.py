"""Replicate scans: several rows with one sample id (a soil scanned three times, or dry and wet).

They are normal in lab files, so the reader only reports them (:class:`Replicates`, printed by
``socspec inspect``). ``unique_ids=True`` (``--unique-ids``) makes a repeated id an error, for
files where each row must be its own sample; ``average=True`` (``--average-replicates``) replaces
the scans of one id by their mean spectrum (in the file's kind, after percent → fraction), carbon
by their common value (replicates of one soil share one lab value: values that differ are an
error, missing ones are ignored), every other column by the first scan's, plus ``n_scans``.
Splits keep all scans of one id on one side (:mod:`socspec.lab.splits`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .common import input_error, preview

N_EXAMPLES = 5


@dataclass
class Replicates:
    """How many ids have more than one scan, and a few of them."""

    n_ids_with_replicates: int = 0
    max_scans_per_id: int = 1
    n_scans_in_replicates: int = 0
    examples: dict[str, int] = field(default_factory=dict)   # up to N_EXAMPLES ids → number of scans
    averaged: bool = False

    def as_detection(self) -> dict:
        return {"n_ids_with_replicates": self.n_ids_with_replicates, "max_scans_per_id": self.max_scans_per_id,
                "n_scans_in_replicates": self.n_scans_in_replicates, "examples": dict(self.examples),
                "averaged": self.averaged}

    def describe(self) -> str:
        if not self.n_ids_with_replicates:
            return "none (every id once)"
        ex = ", ".join(f"{k!r} ×{v}" for k, v in self.examples.items())
        more = ", …" if self.n_ids_with_replicates > len(self.examples) else ""
        return (f"{self.n_ids_with_replicates} id(s) scanned more than once ({self.n_scans_in_replicates} scans, "
                f"up to {self.max_scans_per_id} per id: {ex}{more})"
                + ("; averaged per id (--average-replicates)" if self.averaged else ""))


def find_replicates(ids) -> Replicates:
    """Count the ids that occur more than once (file order of first occurrence for the examples)."""
    s = pd.Series(np.asarray(ids, dtype=object))
    counts = s.value_counts(sort=False)
    rep = counts[counts > 1]
    if rep.empty:
        return Replicates()
    order = pd.unique(s[s.isin(rep.index)])
    return Replicates(int(rep.size), int(rep.max()), int(rep.sum()),
                      {str(k): int(counts[k]) for k in order[:N_EXAMPLES]})


def check_unique_ids(ids: np.ndarray, row_numbers: np.ndarray | None, id_column: str, path) -> None:
    """``--unique-ids``: the first repeated id is an error naming its rows."""
    s = pd.Series(np.asarray(ids, dtype=object))
    dupmask = s.duplicated(keep=False).to_numpy()
    if not dupmask.any():
        return
    first_id = s[dupmask].iloc[0]
    at = np.flatnonzero((s == first_id).to_numpy())
    rows = [int(row_numbers[i]) for i in at] if row_numbers is not None else None
    where = f" (rows {', '.join(map(str, rows[:5]))})" if rows else ""
    raise input_error(f"sample id {first_id!r} appears {len(at)} times{where}; "
                      f"{int(s.duplicated().sum())} duplicated id(s) in all", path,
                      row=rows[1] if rows else None, column=id_column,
                      hint="make ids unique, pass --id-col to choose another column, or drop --unique-ids "
                      "if these are replicate scans (--average-replicates averages them)")


def average_replicates(values: np.ndarray, meta: pd.DataFrame, row_numbers: np.ndarray | None,
                       path) -> tuple[np.ndarray, pd.DataFrame]:
    """Mean spectrum per id (ids in order of first occurrence); see the module docstring.

    ``values`` (n, m) → (k, m) float32 with k distinct ids; ``meta`` → k rows (+ ``n_scans``)."""
    ids = meta["id"].to_numpy(dtype=object)
    codes, uniques = pd.factorize(ids)
    n = len(ids)
    if len(uniques) == n:
        meta = meta.copy()
        meta["n_scans"] = 1
        return values, meta
    order = np.argsort(codes, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(codes[order])) + 1]
    counts = np.diff(np.r_[starts, n])
    mean = (np.add.reduceat(values[order].astype(np.float64), starts, axis=0) / counts[:, None]).astype(np.float32)
    first = order[starts]
    out = meta.iloc[first].reset_index(drop=True)
    if "soc_g_kg" in meta:
        soc = meta["soc_g_kg"].to_numpy(dtype=np.float64)[order]
        lo, hi = np.fmin.reduceat(soc, starts), np.fmax.reduceat(soc, starts)
        differ = np.isfinite(hi) & (hi - lo > 1e-9 + 1e-6 * np.abs(hi))
        if differ.any():
            g = int(np.argmax(differ))
            members = order[starts[g]:starts[g] + counts[g]]
            vals = [f"{v:g}" for v in meta["soc_g_kg"].to_numpy(dtype=np.float64)[members] if np.isfinite(v)]
            rows = (f" (rows {', '.join(str(int(row_numbers[i])) for i in members[:5])})"
                    if row_numbers is not None else "")
            raise input_error(f"replicates of id {uniques[g]!r} disagree on carbon: {preview(vals)} g/kg{rows}; "
                              f"{int(differ.sum())} id(s) like this", path,
                              row=int(row_numbers[members[1]]) if row_numbers is not None else None,
                              hint="replicate scans of one soil share one carbon value: fix the ids or the values, "
                              "or drop --average-replicates to keep the scans apart (splits still keep an id together)")
        out["soc_g_kg"] = hi  # NaN where every replicate lacks carbon
    out["n_scans"] = counts
    return mean, out
