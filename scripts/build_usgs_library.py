"""Build the embedded USGS endmember library (``endmembers/usgs_v7_5nm.csv`` + ``usgs_v7_minerals.csv``).

    python scripts/build_usgs_library.py                      # reads ../shared/endmembers
    python scripts/build_usgs_library.py --shared /path/to/shared/endmembers --out endmembers

Input (../shared/endmembers, see its PROVENANCE.md): USGS Spectral Library v7 records
(Kokaly et al. 2017, USGS Data Series 1035, doi:10.3133/ds1035; US public domain) re-encoded as
CSV — 52 ASD records (350–2500 nm, 1 nm) and 3 Beckman records (205–2976 nm, irregular) — and
``minerals.csv`` (density, unit-cell volume, r = V^(1/3), record title, density source).

Output (the one sanctioned copy of ../shared in the repository; a few hundred kB):

* ``usgs_v7_5nm.csv``: ``wavelength_nm`` 350–2500 nm at 5 nm + one reflectance column per mineral,
  5 significant digits. ASD records are band-averaged (Gaussian, FWHM 5 nm, ``spectral.BandResampler``
  via :func:`socspec.preprocess.resample_values`); the coarser, irregular Beckman records are
  linearly interpolated. Blank source channels (chrysotile 29, psilomelane 41) are linearly
  interpolated first (psilomelane's first 41 channels hold its 391 nm value). Every mineral with a
  spectrum AND density + cell volume is kept.
* ``usgs_v7_minerals.csv``: mineral, formula, density_g_cm3, unit_cell_volume_nm3, size_r_nm,
  usgs_record (title), instrument, density_source — the facts the physics decoder needs.

The script is deterministic: running it twice writes identical files (checked in tests when
../shared exists).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GRID_NM = np.arange(350.0, 2500.0 + 1e-9, 5.0)
SPECTRA_NAME = "usgs_v7_5nm.csv"
FACTS_NAME = "usgs_v7_minerals.csv"
_SOURCES = (("usgs_asd_350-2500nm.csv", "ASD", "band"), ("usgs_beck_205-2976nm.csv", "Beckman", "linear"))


def _fill(wl: np.ndarray, y: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(y)
    if bad.any():
        y = y.copy()
        y[bad] = np.interp(wl[bad], wl[~bad], y[~bad])
    return y


def build(shared: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(spectra frame: wavelength_nm + minerals, facts frame) from ``shared`` = ../shared/endmembers."""
    from socspec.preprocess import resample_values

    facts = pd.read_csv(shared / "minerals.csv")
    facts["mineral"] = facts["mineral"].astype(str).str.strip()
    facts = facts.drop_duplicates("mineral").set_index("mineral")
    cols: dict[str, np.ndarray] = {}
    instrument: dict[str, str] = {}
    for fname, inst, method in _SOURCES:
        df = pd.read_csv(shared / fname)
        wl = df["wavelength_nm"].to_numpy(np.float64)
        for name in df.columns[1:]:
            name_s = str(name).strip()
            if name_s in cols:
                continue
            y = pd.to_numeric(df[name], errors="coerce").to_numpy(np.float64)
            ok = np.isfinite(y)
            if not ok.any():
                continue
            # a record may miss at most 50 nm at either end of the grid (psilomelane starts at
            # 391 nm); those ends hold the first/last measured value
            lo, hi = wl[ok][0], wl[ok][-1]
            if lo > GRID_NM[0] + 50 or hi < GRID_NM[-1] - 50:
                continue
            keep = (wl >= min(lo, GRID_NM[0])) & (wl <= max(hi, GRID_NM[-1]))
            y = _fill(wl[keep], y[keep])
            fwhm = np.full(GRID_NM.size, 5.0) if method == "band" else None
            cols[name_s] = resample_values(y[None, :], wl[keep], GRID_NM, fwhm, method, what=name_s)[0]
            instrument[name_s] = inst
    names = [n for n in sorted(cols) if n in facts.index
             and np.isfinite(facts.loc[n, "density_g_cm3"]) and np.isfinite(facts.loc[n, "unit_cell_volume_nm3"])]
    spectra = pd.DataFrame({"wavelength_nm": GRID_NM, **{n: np.clip(cols[n], 0.0, 1.0) for n in names}})
    f = facts.loc[names]
    table = pd.DataFrame({
        "mineral": names, "formula": f["formula"].fillna("").to_numpy(),
        "density_g_cm3": f["density_g_cm3"].to_numpy(float),
        "unit_cell_volume_nm3": f["unit_cell_volume_nm3"].to_numpy(float),
        "size_r_nm": np.cbrt(f["unit_cell_volume_nm3"].to_numpy(float)),  # r = V^(1/3), seed 003 appendix B
        "usgs_record": [str(t).strip() if isinstance(t, str) and t.strip() else "" for t in f["usgs_spectrum_title"]],
        "instrument": [instrument[n] for n in names],
        "density_source": f["density_source"].fillna("").to_numpy(),
    })
    return spectra, table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "endmembers")
    ap.add_argument("--out", type=Path, default=REPO / "endmembers")
    args = ap.parse_args(argv)
    if not (args.shared / "minerals.csv").is_file():
        print(f"{args.shared}/minerals.csv not found (pass --shared)", file=sys.stderr)
        return 2
    spectra, facts = build(args.shared)
    args.out.mkdir(parents=True, exist_ok=True)
    spectra.to_csv(args.out / SPECTRA_NAME, index=False, float_format="%.5g")
    facts.to_csv(args.out / FACTS_NAME, index=False, float_format="%.6g")
    size = sum((args.out / n).stat().st_size for n in (SPECTRA_NAME, FACTS_NAME))
    print(f"wrote {len(facts)} minerals × {len(spectra)} wavelengths to {args.out} ({size / 1024:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
