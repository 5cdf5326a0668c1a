"""Endmember libraries: mineral spectra f_k(λ) with density ρ_k and size r_k for the physics decoder.

Seed 003 (appendix B) mixes endmember spectra with area fractions α_k derived from mass fractions
m_k through ρ_k·r_k, where ρ_k is the density (g/cm³) and r_k = V^(1/3) the characteristic size
from the unit-cell volume V (nm³). g/cm³ × nm = 10³ kg/m³ × 10⁻⁹ m = 10⁻⁶ kg/m², so ρ·r is in mg m⁻².

Loaders:

* :meth:`EndmemberLibrary.usgs` — the embedded MEASURED library (55 USGS v7 mineral records at
  5 nm; the physics decoder's default, ``endmembers="usgs"``);
* :meth:`EndmemberLibrary.default` / :meth:`EndmemberLibrary.synthetic` — the embedded synthetic
  library in the ``socspec_endmembers`` package (16 common soil minerals; spectra synthesised from
  documented absorption features, see :func:`synthesize_spectra` and ``endmembers/PROVENANCE.md``;
  ``endmembers="synthetic"``);
* :meth:`EndmemberLibrary.from_csv` — a wide spectra CSV (``wavelength_nm`` + one column per
  mineral) plus a ``minerals.csv`` with ``density_g_cm3``, ``unit_cell_volume_nm3``, ``size_r_nm``;
* :meth:`EndmemberLibrary.from_usgs_ascii` — USGS Spectral Library v7 ASCII files.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import SocspecInputError
from .outputs import atomic_path, write_json
from .preprocess import check_window, normalise_sensor, resample_values, sensor_bands

__all__ = ["EndmemberLibrary", "GridEndmembers", "synthesize_spectra", "unit_cell_volume_nm3", "USGS_DELETED",
           "DEFAULT_WAVELENGTH_NM"]

# USGS Spectral Library v7 marks deleted / bad channels with this value.
USGS_DELETED = -1.23e34
# The embedded library is synthesised on the ASD grid of seed 003's source data.
DEFAULT_WAVELENGTH_NM = np.arange(350.0, 2501.0, 1.0)
_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_FORMAT = "socspec.EndmemberLibrary"
# embedded libraries (endmembers/): the measured USGS one is the physics decoder's default
USGS_SPECTRA_FILE = "usgs_v7_5nm.csv"
USGS_MINERALS_FILE = "usgs_v7_minerals.csv"
EMBEDDED_LIBRARIES = ("usgs", "synthetic")


def unit_cell_volume_nm3(a_angstrom, b_angstrom, c_angstrom, alpha_deg=90.0, beta_deg=90.0, gamma_deg=90.0):
    """Triclinic cell volume V = abc·sqrt(1 − cos²α − cos²β − cos²γ + 2 cosα cosβ cosγ), Å → nm³."""
    ca, cb, cg = (np.cos(np.radians(x)) for x in (alpha_deg, beta_deg, gamma_deg))
    v = a_angstrom * b_angstrom * c_angstrom * np.sqrt(1 - ca ** 2 - cb ** 2 - cg ** 2 + 2 * ca * cb * cg)
    return v / 1000.0


def synthesize_spectra(continuum: pd.DataFrame, features: pd.DataFrame,
                       wavelength_nm=DEFAULT_WAVELENGTH_NM, names: Sequence[str] | None = None) -> np.ndarray:
    """Reflectance (K, M) from a continuum and Gaussian absorption bands, multiplicative in R.

    Continuum:  C(λ) = b · (1 + s·(λ − 1000 nm)/1000 nm) · [f + (1 − f)·σ((λ − λ_e)/w_e)]
      (b brightness, s slope per 1000 nm, λ_e/w_e/f the position, width and floor of the UV or
      Fe³⁺ charge-transfer edge, σ the logistic function).
    Bands:      R(λ) = C(λ) · Π_j (1 − d_j · exp(−(λ − c_j)² / (2 σ_j²))),  σ_j = FWHM_j / 2.3548.
    The result is clipped to [0.005, 0.995] so it stays inside (0, 1).
    """
    wl = np.asarray(wavelength_nm, dtype=np.float64)
    cont = continuum.set_index("mineral")
    names = list(cont.index) if names is None else list(names)
    out = np.empty((len(names), wl.size))
    for k, name in enumerate(names):
        c = cont.loc[name]
        edge = c.edge_floor + (1.0 - c.edge_floor) / (1.0 + np.exp(-(wl - c.edge_nm) / c.edge_width_nm))
        r = c.brightness * (1.0 + c.slope_per_1000nm * (wl - 1000.0) / 1000.0) * edge
        for _, f in features[features["mineral"] == name].iterrows():
            sigma = f.width_nm * _FWHM_TO_SIGMA
            r = r * (1.0 - f.depth * np.exp(-0.5 * ((wl - f.center_nm) / sigma) ** 2))
        out[k] = r
    return np.clip(out, 0.005, 0.995)


def _fill_missing(wl: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int]:
    """Linear interpolation over NaN gaps (constant beyond the ends); returns (filled, n_filled)."""
    bad = ~np.isfinite(y)
    n = int(bad.sum())
    if n == 0:
        return y, 0
    y = y.copy()
    y[bad] = np.interp(wl[bad], wl[~bad], y[~bad])
    return y, n


class EndmemberLibrary:
    """K endmember spectra on one grid, with the facts the physics decoder needs.

    Parameters
    ----------
    names : K unique mineral names.
    wavelength_nm : (M,) strictly increasing, nm.
    spectra : (K, M) reflectance 0–1, finite.
    density_g_cm3 : (K,) ρ_k > 0.
    size_r_nm : (K,) r_k = V_k^(1/3) > 0 (nm).
    sources : optional K strings (where each spectrum / fact came from).
    band_names : optional M strings (set by :meth:`to_sensor`).
    report : dict of what the loader did (dropped minerals, filled channels …).
    """

    def __init__(self, names, wavelength_nm, spectra, density_g_cm3, size_r_nm, sources=None,
                 band_names=None, report=None):
        names = [str(n) for n in names]
        wl = np.asarray(wavelength_nm, dtype=np.float64).reshape(-1)
        f = np.asarray(spectra, dtype=np.float64)
        rho = np.asarray(density_g_cm3, dtype=np.float64).reshape(-1)
        r = np.asarray(size_r_nm, dtype=np.float64).reshape(-1)
        k = len(names)
        if k == 0:
            raise SocspecInputError("the endmember library is empty", hint="give at least one mineral")
        if len(set(names)) != k:
            dup = sorted({n for n in names if names.count(n) > 1})
            raise SocspecInputError(f"duplicate endmember names {dup}")
        if f.shape != (k, wl.size):
            raise ValueError(f"spectra must have shape (K={k}, M={wl.size}), got {f.shape}")
        if rho.shape != (k,) or r.shape != (k,):
            raise ValueError(f"density_g_cm3 and size_r_nm need shape ({k},), got {rho.shape}, {r.shape}")
        if wl.size > 1 and np.any(np.diff(wl) <= 0):
            raise SocspecInputError("endmember wavelengths must be strictly increasing")
        for what, arr in (("density_g_cm3", rho), ("size_r_nm", r)):
            bad = ~(np.isfinite(arr) & (arr > 0))
            if bad.any():
                raise SocspecInputError(
                    f"{what} must be positive for every endmember; bad for {[names[i] for i in np.flatnonzero(bad)]}")
        if not np.all(np.isfinite(f)):
            bad = [names[i] for i in np.flatnonzero(~np.all(np.isfinite(f), axis=1))]
            raise SocspecInputError(f"endmember spectra contain NaN/inf for {bad}",
                                    hint="fill or drop the missing channels first")
        self.names = names
        self.wavelength_nm = wl
        self.spectra = f
        self.density_g_cm3 = rho
        self.size_r_nm = r
        self.sources = [""] * k if sources is None else [str(s) for s in sources]
        if len(self.sources) != k:
            raise ValueError(f"{len(self.sources)} sources for {k} endmembers")
        self.band_names = None if band_names is None else [str(b) for b in band_names]
        self.report = dict(report or {})

    # ------------------------------------------------------------------ basics
    @property
    def n_endmembers(self) -> int:
        return len(self.names)

    @property
    def rho_r(self) -> np.ndarray:
        """ρ_k·r_k (K,) in g/cm³·nm = mg m⁻² — the mass→area weight of seed 003 eq. 2."""
        return self.density_g_cm3 * self.size_r_nm

    def __len__(self) -> int:
        return self.n_endmembers

    def __repr__(self) -> str:
        wl = self.wavelength_nm
        return (f"EndmemberLibrary({self.n_endmembers} endmembers × {wl.size} wavelengths, "
                f"{wl[0]:g}–{wl[-1]:g} nm: {', '.join(self.names[:6])}{' …' if self.n_endmembers > 6 else ''})")

    def to_frame(self) -> pd.DataFrame:
        """One row per endmember: mineral, density_g_cm3, size_r_nm, rho_r_mg_m2, source."""
        return pd.DataFrame({"mineral": self.names, "density_g_cm3": self.density_g_cm3,
                             "size_r_nm": self.size_r_nm, "rho_r_mg_m2": self.rho_r, "source": self.sources})

    def _replace(self, **kw) -> "EndmemberLibrary":
        d = dict(names=self.names, wavelength_nm=self.wavelength_nm, spectra=self.spectra,
                 density_g_cm3=self.density_g_cm3, size_r_nm=self.size_r_nm, sources=self.sources,
                 band_names=self.band_names, report=self.report)
        d.update(kw)
        return EndmemberLibrary(**d)

    def subset(self, names: Sequence[str]) -> "EndmemberLibrary":
        """The named endmembers, in the order given."""
        names = [str(n) for n in names]
        missing = [n for n in names if n not in self.names]
        if missing:
            raise SocspecInputError(f"endmember(s) {missing} not in the library",
                                    hint=f"available: {', '.join(self.names)}")
        idx = [self.names.index(n) for n in names]
        return self._replace(names=names, spectra=self.spectra[idx], density_g_cm3=self.density_g_cm3[idx],
                             size_r_nm=self.size_r_nm[idx], sources=[self.sources[i] for i in idx])

    def resample(self, target_wavelength_nm, fwhm_nm=None, method: str = "auto") -> "EndmemberLibrary":
        """Library on another grid (spectral.BandResampler, or linear interpolation when finer).
        :class:`SocspecInputError` when the target window lies outside the library's."""
        tgt = np.asarray(target_wavelength_nm, dtype=np.float64).reshape(-1)
        f = resample_values(self.spectra, self.wavelength_nm, tgt, fwhm_nm, method,
                            what="endmember library")
        return self._replace(wavelength_nm=tgt, spectra=f, band_names=None)

    def to_sensor(self, sensor: str = "sentinel2") -> "EndmemberLibrary":
        """Spectra convolved with the sensor's Gaussian band responses (B,) on the band centres."""
        centre, fwhm, names = sensor_bands(sensor)
        lo, hi = centre - fwhm / 2, centre + fwhm / 2
        check_window(self.wavelength_nm, np.array([lo.min(), hi.max()]), what="endmember library")
        f = resample_values(self.spectra, self.wavelength_nm, centre, fwhm, "band", what="endmember library")
        rep = dict(self.report, sensor=normalise_sensor(sensor))
        return self._replace(wavelength_nm=centre, spectra=f, band_names=names, report=rep)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; :meth:`from_dict` restores the library exactly (float64 round trip)."""
        return {"format": _FORMAT, "version": 1, "names": list(self.names),
                "wavelength_nm": self.wavelength_nm.tolist(), "spectra": self.spectra.tolist(),
                "density_g_cm3": self.density_g_cm3.tolist(), "size_r_nm": self.size_r_nm.tolist(),
                "sources": list(self.sources), "band_names": self.band_names,
                "report": json.loads(json.dumps(self.report, default=str))}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EndmemberLibrary":
        if not isinstance(d, Mapping) or d.get("format") != _FORMAT:
            raise SocspecInputError("not a socspec EndmemberLibrary description",
                                    hint="the model artifact may be damaged or from another program")
        return cls(d["names"], d["wavelength_nm"], d["spectra"], d["density_g_cm3"], d["size_r_nm"],
                   sources=d.get("sources"), band_names=d.get("band_names"), report=d.get("report"))

    def save(self, path) -> Path:
        """Write ``.json`` (readable) or ``.npz`` (compact; arrays + a JSON header), atomically."""
        path = Path(path)
        if path.suffix.lower() == ".json":
            return write_json(path, self.to_dict())
        if path.suffix.lower() != ".npz":
            raise SocspecInputError("endmember library files end in .json or .npz", path=path)
        head = self.to_dict()
        arrays = {k: np.asarray(head.pop(k), dtype=np.float64)
                  for k in ("wavelength_nm", "spectra", "density_g_cm3", "size_r_nm")}
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, header=np.array(json.dumps(head)), **arrays)
        return path

    @classmethod
    def load(cls, path) -> "EndmemberLibrary":
        path = Path(path)
        if not path.is_file():
            raise SocspecInputError("endmember library file not found", path=path)
        try:
            if path.suffix.lower() == ".json":
                d = json.loads(path.read_text(encoding="utf-8"))
            else:
                with np.load(path, allow_pickle=False) as z:
                    d = json.loads(str(z["header"]))
                    for k in ("wavelength_nm", "spectra", "density_g_cm3", "size_r_nm"):
                        d[k] = z[k]
        except (ValueError, KeyError, OSError) as exc:
            raise SocspecInputError(f"cannot read endmember library ({exc})", path=path) from None
        return cls.from_dict(d)

    # ------------------------------------------------------------------ loaders
    @classmethod
    def default(cls, wavelength_nm=None) -> "EndmemberLibrary":
        """The embedded library: 16 common soil minerals, synthesised on 350–2500 nm at 1 nm
        (or on ``wavelength_nm``) from ``endmembers/{minerals,continuum,features}.csv``."""
        from socspec_endmembers import data_dir
        d = data_dir()
        minerals = pd.read_csv(d / "minerals.csv")
        continuum = pd.read_csv(d / "continuum.csv")
        features = pd.read_csv(d / "features.csv")
        wl = DEFAULT_WAVELENGTH_NM if wavelength_nm is None else np.asarray(wavelength_nm, dtype=np.float64)
        names = list(minerals["mineral"])
        f = synthesize_spectra(continuum, features, wl, names)
        feat_src = features.groupby("mineral")["source"].apply(lambda s: ";".join(sorted(set(";".join(s).split(";")))))
        sources = [f"synthetic from features ({feat_src.get(n, '')}); density: {ds}; cell: {cs}"
                   for n, ds, cs in zip(names, minerals["density_source"], minerals["cell_source"])]
        return cls(names, wl, f, minerals["density_g_cm3"], minerals["size_r_nm"], sources=sources,
                   report={"loader": "default", "path": str(d)})

    @classmethod
    def synthetic(cls, wavelength_nm=None) -> "EndmemberLibrary":
        """The band-synthesised library (same as :meth:`default`): spectra no soil contains, kept
        for tests and as ``endmembers="synthetic"``."""
        return cls.default(wavelength_nm)

    @classmethod
    def usgs(cls, wavelength_nm=None) -> "EndmemberLibrary":
        """The embedded MEASURED library: 55 USGS Spectral Library v7 mineral records (Kokaly et al.
        2017, doi:10.3133/ds1035; public domain) on 350–2500 nm at 5 nm with density and unit-cell
        size (``endmembers/usgs_v7_5nm.csv`` + ``usgs_v7_minerals.csv``, built by
        ``scripts/build_usgs_library.py`` from ../shared/endmembers; see ``endmembers/PROVENANCE.md``).
        The physics decoder's default library. ``wavelength_nm``: resample onto that grid."""
        from socspec_endmembers import data_dir
        d = data_dir()
        lib = cls.from_csv(d / USGS_SPECTRA_FILE, d / USGS_MINERALS_FILE, on_missing="error")
        facts = pd.read_csv(d / USGS_MINERALS_FILE).set_index("mineral")
        def record(n):
            rec = facts.loc[n, "usgs_record"]
            return rec if isinstance(rec, str) else n

        sources = [f"USGS splib07 {facts.loc[n, 'instrument']}: {record(n)}"
                   f"; density: {facts.loc[n, 'density_source']}" for n in lib.names]
        lib = lib._replace(sources=sources, report={"loader": "usgs", "path": str(d)})
        return lib if wavelength_nm is None else lib.resample(wavelength_nm)

    @classmethod
    def named(cls, name: str, wavelength_nm=None) -> "EndmemberLibrary":
        """An embedded library by name: ``"usgs"`` (measured, the physics decoder's default) or
        ``"synthetic"`` (band-synthesised)."""
        if name not in EMBEDDED_LIBRARIES:
            raise SocspecInputError(f"unknown endmember library {name!r}",
                                    hint=f"use one of {', '.join(EMBEDDED_LIBRARIES)} or a CSV library")
        return cls.usgs(wavelength_nm) if name == "usgs" else cls.synthetic(wavelength_nm)

    @classmethod
    def from_csv(cls, spectra_csv, minerals_csv=None, on_missing: str = "skip",
                 wavelength_nm=None) -> "EndmemberLibrary":
        """Wide spectra CSV(s): ``wavelength_nm`` + one reflectance column per mineral (blank = missing)
        and a minerals table (``mineral``, ``density_g_cm3``, ``size_r_nm`` and/or ``unit_cell_volume_nm3``).

        * ``spectra_csv``: a path or a list of paths; several files (different instruments) are
          resampled onto the grid of the first (or ``wavelength_nm``); a mineral in two files is
          taken from the first.
        * ``minerals_csv``: default ``minerals.csv`` beside the first spectra file.
        * Missing cells inside a spectrum are linearly interpolated (counts in ``report["filled"]``);
          all-blank columns are dropped.
        * Minerals without density or size (r = V^(1/3) when only V is given): ``on_missing="skip"``
          drops them with a warning listing them, ``"error"`` raises.
        """
        if on_missing not in ("skip", "error"):
            raise ValueError(f"on_missing must be 'skip' or 'error', got {on_missing!r}")
        paths = [Path(spectra_csv)] if isinstance(spectra_csv, (str, Path)) else [Path(p) for p in spectra_csv]
        if not paths:
            raise ValueError("from_csv needs at least one spectra file")
        mpath = Path(minerals_csv) if minerals_csv is not None else paths[0].parent / "minerals.csv"
        facts = _read_minerals_table(mpath)
        grid = None if wavelength_nm is None else np.asarray(wavelength_nm, dtype=np.float64)
        names, spectra, sources = [], [], []
        filled, dropped_blank = {}, []
        for p in paths:
            wl, cols, block = _read_wide_spectra(p)
            if grid is None:
                grid = wl
            for j, col in enumerate(cols):
                if col in names:
                    continue
                y = block[:, j]
                if not np.isfinite(y).any():
                    dropped_blank.append(col)
                    continue
                y, n = _fill_missing(wl, y)
                if n:
                    filled[col] = n
                if wl.shape != grid.shape or not np.allclose(wl, grid):
                    y = resample_values(y[None, :], wl, grid, None, "auto", path=p, what=f"{p.name}")[0]
                names.append(col)
                spectra.append(y)
                sources.append(str(p.name))
        lib_report = {"loader": "csv", "spectra_files": [str(p) for p in paths], "minerals_csv": str(mpath),
                      "filled": filled, "dropped_blank": dropped_blank}
        return cls._with_facts(names, grid, spectra, sources, facts, mpath, on_missing, lib_report)

    @classmethod
    def from_usgs_ascii(cls, spectrum_files, wavelength_file, names=None, density_g_cm3=None,
                        size_r_nm=None, unit_cell_volume_nm3=None, minerals_csv=None,
                        wavelength_unit: str = "um", on_missing: str = "skip") -> "EndmemberLibrary":
        """USGS Spectral Library v7 ASCII: each file = 1 title line, then one value per line;
        ``wavelength_file`` the instrument's wavelength file (µm by default, ``wavelength_unit="nm"``
        otherwise). Values of −1.23e34 (deleted channels) become NaN and are linearly interpolated
        (counts in ``report["filled"]``); channels whose wavelength is deleted are dropped.

        ``names``: default = the mineral word of each title (``splib07a Record=…: Kaolinite CM9 …``
        → ``kaolinite``). Facts per mineral come from ``density_g_cm3`` / ``size_r_nm`` /
        ``unit_cell_volume_nm3`` (dicts name → value, or sequences in file order) or a ``minerals_csv``.
        """
        files = [Path(spectrum_files)] if isinstance(spectrum_files, (str, Path)) else [Path(p) for p in spectrum_files]
        wpath = Path(wavelength_file)
        _, wl_raw = _read_usgs_ascii(wpath)
        scale = {"um": 1000.0, "µm": 1000.0, "micron": 1000.0, "nm": 1.0}.get(wavelength_unit)
        if scale is None:
            raise SocspecInputError(f"wavelength_unit must be 'um' or 'nm', got {wavelength_unit!r}")
        wl = wl_raw * scale
        good_wl = np.isfinite(wl)
        titles, spectra = [], []
        for p in files:
            title, y = _read_usgs_ascii(p)
            if y.size != wl.size:
                raise SocspecInputError(
                    f"has {y.size} values but the wavelength file {wpath.name} has {wl.size}", path=p,
                    hint="pair each spectrum with the wavelength file of its instrument (ASD, BECK, NIC4 …)")
            titles.append(title)
            spectra.append(y)
        order = np.argsort(wl[good_wl], kind="stable")
        grid = wl[good_wl][order]
        if np.any(np.diff(grid) <= 0):
            raise SocspecInputError("wavelengths repeat", path=wpath)
        if names is None:
            names = [_usgs_mineral_name(t, p) for t, p in zip(titles, files)]
        names = [str(n) for n in names]
        if len(names) != len(files):
            raise ValueError(f"{len(names)} names for {len(files)} spectrum files")
        filled, out, sources, keep_names, blank = {}, [], [], [], []
        for name, y, title, _ in zip(names, spectra, titles, files):
            y = y[good_wl][order]
            if not np.isfinite(y).any():
                blank.append(name)
                continue
            y, n = _fill_missing(grid, y)
            if n:
                filled[name] = n
            keep_names.append(name)
            out.append(y)
            sources.append(f"USGS splib07: {title}")
        facts = _facts_from_args(names, density_g_cm3, size_r_nm, unit_cell_volume_nm3)
        mpath = None
        if minerals_csv is not None:
            mpath = Path(minerals_csv)
            table = _read_minerals_table(mpath)
            facts = facts.combine_first(table) if len(facts) else table  # explicit arguments win
        lib_report = {"loader": "usgs_ascii", "wavelength_file": str(wpath), "filled": filled,
                      "dropped_blank": blank, "dropped_wavelengths": int((~good_wl).sum())}
        return cls._with_facts(keep_names, grid, out, sources, facts, mpath or wpath, on_missing, lib_report)

    @classmethod
    def _with_facts(cls, names, grid, spectra, sources, facts: pd.DataFrame, fact_path, on_missing, report):
        missing = [n for n in names if n not in facts.index
                   or not np.isfinite(facts.loc[n, "density_g_cm3"]) or not np.isfinite(facts.loc[n, "size_r_nm"])]
        if missing:
            msg = f"no density or unit-cell size for {len(missing)} mineral(s): {', '.join(missing)}"
            if on_missing == "error":
                raise SocspecInputError(msg, path=fact_path, column="density_g_cm3/size_r_nm",
                                        hint="add them to the minerals table or drop them (on_missing='skip')")
            warnings.warn(f"{fact_path}: {msg}; they are left out of the library", stacklevel=3)
        keep = [i for i, n in enumerate(names) if n not in missing]
        if not keep:
            raise SocspecInputError("no mineral has both a spectrum and density/size facts", path=fact_path)
        names = [names[i] for i in keep]
        report = dict(report, skipped_no_facts=missing)
        return cls(names, grid, np.vstack([spectra[i] for i in keep]),
                   facts.loc[names, "density_g_cm3"].to_numpy(float), facts.loc[names, "size_r_nm"].to_numpy(float),
                   sources=[sources[i] for i in keep], report=report)



class GridEndmembers:
    """Mineral spectra on a model's wavelength grid: what the physics decoder actually mixes.

    Attributes: ``names`` (K−1,) mineral names; ``wavelength_nm`` (M,); ``spectra`` (K−1, M)
    reflectance 0–1; ``rho_r`` (K−1,) ρ·r in mg m⁻² (ρ g cm⁻³ × r nm). Built from an
    :class:`EndmemberLibrary` by :meth:`from_library`, saved with a lab model as ``endmembers.npz``
    (plain arrays, read back with ``allow_pickle=False``).
    """

    def __init__(self, names, wavelength_nm, spectra, rho_r):
        self.names = [str(n) for n in names]
        self.wavelength_nm = np.asarray(wavelength_nm, dtype=np.float64)
        self.spectra = np.asarray(spectra, dtype=np.float64)
        self.rho_r = np.asarray(rho_r, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.names)

    def resample(self, wavelength_nm) -> "GridEndmembers":
        """Linear interpolation onto another grid (the same interface as :meth:`EndmemberLibrary.resample`)."""
        wl = np.asarray(wavelength_nm, dtype=np.float64)
        return GridEndmembers(self.names, wl, np.stack([np.interp(wl, self.wavelength_nm, s) for s in self.spectra]),
                              self.rho_r)

    @classmethod
    def from_library(cls, lib, wavelength_nm) -> "GridEndmembers":
        """``lib`` (anything with ``resample``, ``names``, ``spectra``, ``rho_r``) on ``wavelength_nm``;
        minerals without a finite spectrum or a positive ρ·r there are left out."""
        wl = np.asarray(wavelength_nm, dtype=np.float64)
        lib = lib.resample(wl)
        spectra = np.asarray(lib.spectra, dtype=np.float64)
        rho_r = np.asarray(lib.rho_r, dtype=np.float64)
        names = list(lib.names)
        # minerals without a usable spectrum or ρ·r on this grid cannot enter the mixing model
        ok = np.all(np.isfinite(spectra), axis=1) & np.isfinite(rho_r) & (rho_r > 0)
        if not ok.any():
            raise SocspecInputError("no endmember of the library has a complete spectrum and ρ·r on the "
                                    f"model grid {wl[0]:g}–{wl[-1]:g} nm")
        return cls([n for n, k in zip(names, ok) if k], wl, spectra[ok], rho_r[ok])

    def save(self, path) -> None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, names=np.array(self.names), wavelength_nm=self.wavelength_nm,
                         spectra=self.spectra, rho_r=self.rho_r)

    @classmethod
    def load(cls, path) -> "GridEndmembers":
        z = np.load(path, allow_pickle=False)
        return cls(z["names"].tolist(), z["wavelength_nm"], z["spectra"], z["rho_r"])


# =========================================================================== readers
def _read_minerals_table(path: Path) -> pd.DataFrame:
    """minerals.csv → DataFrame indexed by mineral with density_g_cm3 and size_r_nm (r from V if needed)."""
    if not path.is_file():
        raise SocspecInputError("minerals table not found", path=path,
                                hint="pass minerals_csv= (columns mineral, density_g_cm3, "
                                     "unit_cell_volume_nm3 or size_r_nm)")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise SocspecInputError(f"cannot parse the minerals table ({exc})", path=path) from None
    cols = {c.strip().lower(): c for c in df.columns}
    name_col = cols.get("mineral") or cols.get("name")
    if name_col is None or "density_g_cm3" not in cols:
        raise SocspecInputError("the minerals table needs columns 'mineral' and 'density_g_cm3'", path=path,
                                hint=f"found {list(df.columns)}")
    if "size_r_nm" not in cols and "unit_cell_volume_nm3" not in cols:
        raise SocspecInputError("the minerals table needs 'size_r_nm' or 'unit_cell_volume_nm3'", path=path)
    out = pd.DataFrame({"mineral": df[name_col].astype(str).str.strip()})
    for key in ("density_g_cm3", "size_r_nm", "unit_cell_volume_nm3"):
        if key in cols:
            vals = pd.to_numeric(df[cols[key]], errors="coerce")
            bad = vals.isna() & df[cols[key]].notna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise SocspecInputError(f"not a number: {df[cols[key]].iloc[i]!r}", path=path, row=i + 2,
                                        column=cols[key])
            out[key] = vals
        else:
            out[key] = np.nan
    # r = V^(1/3) where only the cell volume is known (seed 003, appendix B)
    out["size_r_nm"] = out["size_r_nm"].fillna(np.cbrt(out["unit_cell_volume_nm3"]))
    out = out.drop_duplicates("mineral", keep="first").set_index("mineral")
    return out


def _facts_from_args(names, density, size_r, volume) -> pd.DataFrame:
    def column(arg):
        if arg is None:
            return [np.nan] * len(names)
        if isinstance(arg, Mapping):
            return [float(arg.get(n, np.nan)) for n in names]
        arr = np.asarray(arg, dtype=np.float64).reshape(-1)
        if arr.size == 1:
            return [float(arr[0])] * len(names)
        if arr.size != len(names):
            raise ValueError(f"{arr.size} values for {len(names)} spectra")
        return list(arr)
    if density is None and size_r is None and volume is None:
        return pd.DataFrame(columns=["density_g_cm3", "size_r_nm", "unit_cell_volume_nm3"],
                            index=pd.Index([], name="mineral"), dtype=float)
    df = pd.DataFrame({"mineral": names, "density_g_cm3": column(density), "size_r_nm": column(size_r),
                       "unit_cell_volume_nm3": column(volume)})
    df["size_r_nm"] = df["size_r_nm"].fillna(np.cbrt(df["unit_cell_volume_nm3"]))
    return df.drop_duplicates("mineral").set_index("mineral")


def _read_wide_spectra(path: Path):
    """``wavelength_nm`` + mineral columns → (wl (M,), names, block (M, K) with NaN for blanks)."""
    if not path.is_file():
        raise SocspecInputError("endmember spectra file not found", path=path)
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise SocspecInputError(f"cannot parse endmember spectra ({exc})", path=path) from None
    cols = [c.strip() for c in df.columns]
    df.columns = cols
    wl_col = next((c for c in cols if c.lower() in ("wavelength_nm", "wavelength", "wl", "nm", "lambda")), None)
    if wl_col is None:
        raise SocspecInputError("no wavelength column", path=path, column=cols[0] if cols else None,
                                hint="name the first column 'wavelength_nm' (values in nm)")
    wl = pd.to_numeric(df[wl_col], errors="coerce").to_numpy(np.float64)
    if not np.all(np.isfinite(wl)):
        i = int(np.flatnonzero(~np.isfinite(wl))[0])
        raise SocspecInputError("wavelength is not a number", path=path, row=i + 2, column=wl_col)
    if wl.size > 1 and np.any(np.diff(wl) <= 0):
        i = int(np.flatnonzero(np.diff(wl) <= 0)[0])
        raise SocspecInputError("wavelengths must be strictly increasing", path=path, row=i + 3, column=wl_col)
    if wl.max() < 100:  # µm (e.g. 0.35–2.5)
        wl = wl * 1000.0
    names = [c for c in cols if c != wl_col]
    block = np.empty((wl.size, len(names)))
    for j, c in enumerate(names):
        v = pd.to_numeric(df[c], errors="coerce")
        bad = v.isna() & df[c].notna() & (df[c].astype(str).str.strip() != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise SocspecInputError(f"not a number: {df[c].iloc[i]!r}", path=path, row=i + 2, column=c,
                                    hint="leave missing cells blank")
        block[:, j] = v.to_numpy(np.float64)
    block[block <= USGS_DELETED / 10] = np.nan
    return wl, names, block


def _read_usgs_ascii(path: Path) -> tuple[str, np.ndarray]:
    """One USGS v7 ASCII file → (title line, values with −1.23e34 → NaN)."""
    if not path.is_file():
        raise SocspecInputError("USGS spectrum file not found", path=path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise SocspecInputError(f"cannot read ({exc})", path=path) from None
    if len(lines) < 2:
        raise SocspecInputError("expected a title line and one value per line", path=path)
    vals = np.empty(len(lines) - 1)
    n = 0
    for i, line in enumerate(lines[1:], start=2):
        s = line.strip()
        if not s:
            continue
        try:
            vals[n] = float(s.split()[0])
        except ValueError:
            raise SocspecInputError(f"not a number: {s!r}", path=path, row=i,
                                    hint="USGS v7 ASCII files hold one value per line after the title") from None
        n += 1
    vals = vals[:n]
    vals[vals <= USGS_DELETED / 10] = np.nan  # -1.23e34 marks deleted channels
    return lines[0].strip(), vals


_USGS_TITLE = re.compile(r"Record\s*=\s*\d+\s*:\s*(?P<rest>.*)", re.IGNORECASE)


def _usgs_mineral_name(title: str, path: Path) -> str:
    m = _USGS_TITLE.search(title)
    rest = m.group("rest") if m else title
    word = rest.strip().split()[0] if rest.strip() else path.stem
    return re.sub(r"[^a-z0-9\-]+", "", word.lower()) or path.stem
