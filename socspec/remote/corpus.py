"""Remote-sensing corpora: a points table plus optional image chips and per-point band spectra.

A :class:`Corpus` is

* ``points`` — DataFrame, one row per soil sample, canonical columns ``id`` (str), ``lat``,
  ``lon`` (WGS84 degrees), ``year`` and/or ``date``, ``soc_g_kg`` (SOC in g/kg, NaN = unlabelled),
  then covariates (numeric or categorical) under their own names;
* ``chips`` — ``{"s2": (n, 12, H, W), "s1": (n, 2, H, W), "dem": (n, 1, H, W)}`` float32 arrays
  aligned to ``points`` row order (any subset of the keys, or ``None``);
* ``band_spectra`` — (n, n_bands) per-point reflectance spectra (e.g. the S2 bands at the point),
  or ``None``;
* ``meta`` — provenance: source file, original target column and unit, rows dropped, ``simulated``.

:func:`read_corpus` reads CSV/Parquet points and HDF5/NPZ/zarr chips and validates like the
spectra readers: every problem is a :class:`~socspec.errors.SocspecInputError` naming the file,
the row (spreadsheet numbering: header = row 1) and the column.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .. import units
from ..errors import SocspecInputError
from .regions import Region, resolve_region

#: expected channel counts per chip modality
CHIP_CHANNELS = {"s2": 12, "s1": 2, "dem": 1}
S2_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12")

_ID_NAMES = ("id", "point_id", "sample_id", "pointid", "site_id")
_LAT_NAMES = ("lat", "latitude", "lat_deg", "gps_lat")
_LON_NAMES = ("lon", "long", "longitude", "lng", "lon_deg", "gps_long")
_DATE_NAMES = ("date", "survey_date", "sampling_date", "year")
# target column name -> unit it implies (LUCAS `OC` is organic carbon in g/kg)
_TARGET_NAMES = {"soc_g_kg": "g/kg", "oc": "g/kg", "soc": None, "organic_carbon": None,
                 "soc_percent": "percent", "soc_pct": "percent", "oc_percent": "percent",
                 "soc_fraction": "fraction"}
# columns never used as default features (ids, LUCAS bookkeeping and free text)
_NOT_FEATURES_PREFIX = ("oid_", "nuts_", "latent_")  # latent_ = simulator truth
_NOT_FEATURES_SUFFIX = ("_desc",)


@dataclass
class Corpus:
    points: pd.DataFrame
    chips: dict | None = None
    band_spectra: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.points)
        for key, arr in (self.chips or {}).items():
            if arr.shape[0] != n:
                raise ValueError(f"chips[{key!r}] has {arr.shape[0]} samples but points has {n}")
        if self.band_spectra is not None and self.band_spectra.shape[0] != n:
            raise ValueError(f"band_spectra has {self.band_spectra.shape[0]} rows, points {n}")

    def __len__(self) -> int:
        return len(self.points)

    @property
    def lat(self) -> np.ndarray:
        return self.points["lat"].to_numpy(np.float64)

    @property
    def lon(self) -> np.ndarray:
        return self.points["lon"].to_numpy(np.float64)

    @property
    def soc_g_kg(self) -> np.ndarray:
        return self.points["soc_g_kg"].to_numpy(np.float64)

    @property
    def ids(self) -> np.ndarray:
        return self.points["id"].to_numpy(str)

    @property
    def simulated(self) -> bool:
        return bool(self.meta.get("simulated", False))

    def labelled_mask(self) -> np.ndarray:
        return np.isfinite(self.soc_g_kg)

    def subset(self, rows) -> "Corpus":
        """Rows by boolean mask or integer index (chips and spectra follow)."""
        rows = np.asarray(rows)
        idx = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64)
        chips = None if self.chips is None else {k: v[idx] for k, v in self.chips.items()}
        spectra = None if self.band_spectra is None else self.band_spectra[idx]
        return replace(self, points=self.points.iloc[idx].reset_index(drop=True), chips=chips,
                       band_spectra=spectra, meta=dict(self.meta))

    def drop_above_soc(self, max_soc_g_kg: float | None) -> "Corpus":
        """Drop the points whose SOC exceeds ``max_soc_g_kg`` (g/kg; unlabelled points stay) and
        record ``max_soc_g_kg`` and ``n_dropped_above_max_soc`` in ``meta``. None: unchanged."""
        if max_soc_g_kg is None:
            return self
        keep = ~(self.soc_g_kg > float(max_soc_g_kg))  # NaN (unlabelled) rows stay
        out = self.subset(keep) if not keep.all() else replace(self, meta=dict(self.meta))
        out.meta["max_soc_g_kg"] = float(max_soc_g_kg)
        out.meta["n_dropped_above_max_soc"] = int(self.meta.get("n_dropped_above_max_soc", 0)) + int((~keep).sum())
        return out

    def select_region(self, region: str | Region | None = None, *, bbox=None,
                      polygon=None) -> "Corpus":
        """Keep the points inside a preset name, a :class:`Region`, a bbox or a GeoJSON file."""
        reg = region if isinstance(region, Region) else resolve_region(region, bbox=bbox,
                                                                        polygon=polygon)
        out = self.subset(reg.contains(self.lat, self.lon))
        out.meta["region"] = reg.name
        return out

    def default_features(self) -> list[str]:
        """Covariates for tabular models when none are named: the simulator's list, else
        lat, lon and every column that is not an id/date/target/bookkeeping column."""
        if self.meta.get("covariates"):
            return ["lat", "lon", *self.meta["covariates"]]
        reserved = {"id", "lat", "lon", "date", "year", "soc_g_kg", "synthetic", "region",
                    (self.meta.get("target_col_original") or "").lower(), *map(str.lower, S2_BANDS)}
        cols = [c for c in self.points.columns if c.lower() not in reserved
                and not c.lower().startswith(_NOT_FEATURES_PREFIX)
                and not c.lower().endswith(_NOT_FEATURES_SUFFIX)]
        return ["lat", "lon", *cols]

    def feature_frame(self, features=None) -> pd.DataFrame:
        """Covariate table for tabular models: numeric columns as float64, text columns as
        pandas ``category`` (XGBoost's native categorical input)."""
        features = list(features or self.default_features())
        missing = [f for f in features if f not in self.points.columns]
        if missing:
            raise SocspecInputError(
                f"feature column(s) {', '.join(map(repr, missing))} not in the corpus",
                path=self.meta.get("source"), column=missing[0],
                hint=f"available: {', '.join(map(str, self.points.columns))}")
        out = {}
        for f in features:
            col = self.points[f]
            if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == bool:
                out[f] = col.astype("category")
            elif pd.api.types.is_numeric_dtype(col):
                out[f] = col.astype(np.float64)
            else:
                out[f] = col.astype(str).astype("category")
        return pd.DataFrame(out, index=self.points.index)


# ------------------------------------------------------------------------------------ readers
def _find(columns, wanted, names, what, path, required=True):
    if wanted is not None:
        if wanted in columns:
            return wanted
        lower = {c.lower(): c for c in columns}
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        raise SocspecInputError(f"no {what} column {wanted!r}", path=path, column=wanted,
                                hint=f"columns are: {', '.join(map(str, columns))}")
    lower = {c.lower(): c for c in columns}
    for n in names:
        if n in lower:
            return lower[n]
    if required:
        raise SocspecInputError(f"cannot find the {what} column (looked for {', '.join(names)})",
                                path=path, hint=f"name it with --{what.replace(' ', '-')}-col; "
                                f"columns are: {', '.join(map(str, columns))}")
    return None


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".tsv"):
            return pd.read_csv(path, sep=None if suffix != ".csv" else ",",
                               engine="python" if suffix != ".csv" else "c", encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise SocspecInputError(f"cannot read the table ({type(exc).__name__}: {exc})",
                                path=path, hint="give a comma-separated CSV or a Parquet file") \
            from None
    raise SocspecInputError(f"unsupported points file type {suffix!r}", path=path,
                            hint="use .csv or .parquet")


def _numeric(df, col, path) -> np.ndarray:
    vals = pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(np.isnan(vals) & df[col].notna().to_numpy())
    if bad.size:
        raise SocspecInputError(f"value {df[col].iloc[bad[0]]!r} is not a number", path=path,
                                row=int(bad[0]) + 2, column=col)
    return vals


def _unit_for(col: str, soc_unit: str | None, path) -> str:
    if soc_unit is not None:
        try:
            return units.normalize_unit(soc_unit)
        except ValueError as exc:
            raise SocspecInputError(str(exc), path=path, column=col) from None
    implied = _TARGET_NAMES.get(col.lower())
    low = col.lower()
    if implied is None:
        if low.endswith(("_g_kg", "_gkg", "g_kg")):
            implied = "g/kg"
        elif low.endswith(("_percent", "_pct", "%")):
            implied = "percent"
        elif low.endswith(("_fraction", "_frac")):
            implied = "fraction"
    if implied is None:
        raise SocspecInputError("the SOC unit is not stated by the column name", path=path,
                                column=col, hint="pass --soc-unit g/kg|percent|fraction")
    return implied


def read_corpus(path, *, chips=None, target_col: str | None = None, soc_unit: str | None = None,
                id_col: str | None = None, lat_col: str | None = None, lon_col: str | None = None,
                date_col: str | None = None, features=None,
                max_soc_g_kg: float | None = None, require_target: bool = True) -> Corpus:
    """Read a points table (CSV/Parquet) and optional chips (HDF5 ``.h5``, ``.npz``, ``.zarr``).

    Columns are found by name (case-insensitive): id (``id``, ``Point_ID``…), ``lat``/``latitude``,
    ``lon``/``long``/``longitude``, ``date``/``year``, SOC (``soc_g_kg``, LUCAS ``OC`` = g/kg,
    ``soc`` with ``soc_unit``). SOC is converted to g/kg; rows above ``max_soc_g_kg`` are dropped
    (e.g. 87 g/kg keeps mineral soils, as the LUCAS ≤ 87 subset does); rows without SOC stay,
    unlabelled. ``features`` only checks that the named columns exist. ``require_target=False``
    (points to predict) reads a table without a SOC column: every point is unlabelled.
    """
    path = Path(path)
    if not path.is_file():
        raise SocspecInputError("points file not found", path=path)
    df = _read_table(path)
    if len(df) == 0:
        raise SocspecInputError("the points table has no rows", path=path)
    cols = list(df.columns)
    c_id = _find(cols, id_col, _ID_NAMES, "id", path, required=False)
    c_lat = _find(cols, lat_col, _LAT_NAMES, "lat", path)
    c_lon = _find(cols, lon_col, _LON_NAMES, "lon", path)
    c_date = _find(cols, date_col, _DATE_NAMES, "date", path, required=False)
    c_soc = _find(cols, target_col, tuple(_TARGET_NAMES), "target", path,
                  required=require_target or target_col is not None)

    lat = _numeric(df, c_lat, path)
    lon = _numeric(df, c_lon, path)
    for name, vals, lim in ((c_lat, lat, 90.0), (c_lon, lon, 180.0)):
        miss = np.flatnonzero(np.isnan(vals))
        if miss.size:
            raise SocspecInputError("missing coordinate", path=path, row=int(miss[0]) + 2,
                                    column=name, hint=f"{miss.size} row(s) lack it; drop or fill them")
        bad = np.flatnonzero(np.abs(vals) > lim)
        if bad.size:
            swap = " (are lat and lon swapped?)" if name == c_lat and np.all(np.abs(lon) <= 90) else ""
            raise SocspecInputError(f"impossible coordinate {vals[bad[0]]}: must be within ±{lim:g}"
                                    f" degrees{swap}", path=path, row=int(bad[0]) + 2, column=name,
                                    hint="coordinates must be WGS84 decimal degrees")

    if c_id is None:
        ids = pd.Series([f"row{i + 2}" for i in range(len(df))])
    else:
        ids = df[c_id]
        miss = np.flatnonzero(ids.isna().to_numpy())
        if miss.size:
            raise SocspecInputError("missing id", path=path, row=int(miss[0]) + 2, column=c_id)
        ids = ids.astype(str).str.strip()
        ids = ids.str.replace(r"\.0$", "", regex=True) if df[c_id].dtype.kind == "f" else ids
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = ids.iloc[rows[0]]
        same = [int(r) + 2 for r in rows if ids.iloc[r] == first][:3]
        raise SocspecInputError(f"duplicated id {first!r} (rows {', '.join(map(str, same))})",
                                path=path, row=same[0], column=c_id or "id",
                                hint="ids must be unique; chips are keyed by them")

    unit = _unit_for(c_soc, soc_unit, path) if c_soc is not None else None
    raw = _numeric(df, c_soc, path) if c_soc is not None else np.full(len(df), np.nan)
    soc = units.convert_soc(raw, unit, "g/kg") if c_soc is not None else raw
    neg = np.flatnonzero(soc < 0)
    if neg.size:
        raise SocspecInputError(f"negative SOC {raw[neg[0]]}", path=path, row=int(neg[0]) + 2,
                                column=c_soc)
    too_big = np.flatnonzero(soc > 1000.0)
    if too_big.size:
        raise SocspecInputError(
            f"SOC {raw[too_big[0]]} {unit} = {soc[too_big[0]]:g} g/kg is more than the soil "
            "itself (1000 g/kg)", path=path, row=int(too_big[0]) + 2, column=c_soc,
            hint="check the unit (--soc-unit g/kg|percent|fraction)")
    finite = soc[np.isfinite(soc)]
    if finite.size and np.median(finite) > 300.0:
        raise SocspecInputError(
            f"median SOC {np.median(finite):g} g/kg is implausible for soils (unit {unit})",
            path=path, column=c_soc, hint="check the unit (--soc-unit g/kg|percent|fraction)")

    points = pd.DataFrame({"id": ids.to_numpy(str), "lat": lat, "lon": lon})
    if c_date is not None:
        if c_date.lower() == "year":
            points["year"] = _numeric(df, c_date, path)
        else:
            dates = pd.to_datetime(df[c_date], errors="coerce")
            bad = np.flatnonzero(dates.isna().to_numpy() & df[c_date].notna().to_numpy())
            if bad.size:
                raise SocspecInputError(f"unreadable date {df[c_date].iloc[bad[0]]!r}", path=path,
                                        row=int(bad[0]) + 2, column=c_date, hint="use YYYY-MM-DD")
            points["date"] = dates.to_numpy()
            points["year"] = dates.dt.year.to_numpy(np.float64)
    points["soc_g_kg"] = soc
    used = {c_id, c_lat, c_lon, c_date, c_soc}
    for c in cols:
        if c not in used and c not in points.columns:
            points[c] = df[c].to_numpy()
    points["_row"] = np.arange(len(df)) + 2  # file row, to name rows in later errors

    meta = {"source": str(path), "target_col_original": c_soc, "soc_unit_original": unit,
            "n_read": int(len(df)), "simulated": bool(points.get("synthetic", pd.Series([False])).any()),
            "columns": {"id": c_id, "lat": c_lat, "lon": c_lon, "date": c_date, "target": c_soc}}
    band_spectra = None
    bands = [c for c in S2_BANDS if c in points.columns]
    if len(bands) == len(S2_BANDS):
        band_spectra = points[list(S2_BANDS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)

    chip_arrays = None
    if chips is not None:
        chip_arrays = read_chips(chips, points["id"].to_numpy(str), rows=points["_row"].to_numpy())
        meta["chips"] = str(chips)
        if band_spectra is None and "s2" in chip_arrays:
            # per-point S2 spectrum = chip mean (the chip is centred on the point)
            band_spectra = chip_arrays["s2"].mean(axis=(2, 3)).astype(np.float64)

    corpus = Corpus(points.drop(columns="_row"), chip_arrays, band_spectra, meta)
    if features is not None:
        corpus.feature_frame(features)  # raises naming a missing column
    corpus = corpus.drop_above_soc(max_soc_g_kg)
    return corpus


def read_chips(path, ids, rows=None) -> dict:
    """Chips aligned to ``ids``: a file with an ``ids`` array and ``s2``/``s1``/``dem`` arrays of
    shape (n_chips, C, H, W) in the same order (HDF5 datasets, NPZ arrays or zarr arrays)."""
    path = Path(path)
    if not path.exists():
        raise SocspecInputError("chips file not found", path=path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".h5", ".hdf5", ".hdf"):
            import h5py  # the remote extra

            with h5py.File(path, "r") as fh:
                store = {k: fh[k][()] for k in fh.keys()}
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as fh:
                store = {k: fh[k] for k in fh.files}
        elif suffix == ".zarr":
            try:
                import zarr
            except ImportError:
                raise SocspecInputError("reading .zarr chips needs the zarr package", path=path,
                                        hint="pip install zarr, or convert to .h5/.npz") from None
            grp = zarr.open(str(path), mode="r")
            store = {k: np.asarray(grp[k]) for k in grp.array_keys()}
        else:
            raise SocspecInputError(f"unsupported chips file type {suffix!r}", path=path,
                                    hint="use .h5, .npz or .zarr")
    except SocspecInputError:
        raise
    except (OSError, ValueError) as exc:
        raise SocspecInputError(f"cannot read chips ({exc})", path=path) from None
    if "ids" not in store:
        raise SocspecInputError("chips file has no 'ids' array", path=path,
                                hint="store the point ids beside s2/s1/dem, same order")
    chip_ids = np.asarray(store["ids"])
    chip_ids = np.array([i.decode() if isinstance(i, bytes) else str(i) for i in chip_ids])
    index = {cid: k for k, cid in enumerate(chip_ids)}
    if len(index) != len(chip_ids):
        raise SocspecInputError("chips file repeats an id", path=path, column="ids")
    ids = np.asarray(ids, dtype=str)
    missing = [k for k, i in enumerate(ids) if i not in index]
    if missing:
        k = missing[0]
        raise SocspecInputError(f"no chip for id {ids[k]!r} ({len(missing)} point(s) have none)",
                                path=path, row=None if rows is None else int(rows[k]),
                                hint="every point needs chips, or drop --chips")
    take = np.array([index[i] for i in ids], dtype=np.int64)
    out = {}
    for key, ch in CHIP_CHANNELS.items():
        if key not in store:
            continue
        arr = np.asarray(store[key])
        if arr.ndim != 4 or arr.shape[0] != len(chip_ids) or arr.shape[1] != ch:
            raise SocspecInputError(
                f"chips {key!r} have shape {arr.shape}; expected ({len(chip_ids)}, {ch}, H, W)",
                path=path, column=key, hint="one chip per id, channels first")
        if not np.isfinite(arr).all() and key != "dem":
            bad = int(np.flatnonzero(~np.isfinite(arr).reshape(len(arr), -1).all(1))[0])
            raise SocspecInputError(f"chip for id {chip_ids[bad]!r} has NaN/inf values",
                                    path=path, column=key)
        out[key] = arr[take].astype(np.float32)
    if not out:
        raise SocspecInputError("chips file has none of s2, s1, dem", path=path)
    return out
