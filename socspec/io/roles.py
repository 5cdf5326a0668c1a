"""Column roles: which metadata column is the sample id, region, latitude, longitude, date (by name,
or by the user's ``--*-col`` override); carbon is chosen in :mod:`socspec.io.carbon`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .common import input_error, preview, sheet_row, to_numeric

ID_NAMES = ("id", "sample_id", "sampleid", "sample", "sample_name", "rcapid", "point_id", "pointid",
            "smp_id", "lab_id", "labid", "spectrum_id", "spectra_id", "scan_id", "name", "sample_no",
            "spectra names")
REGION_NAMES = ("region", "region_name", "site", "area", "location", "group", "field", "country",
                "state", "province", "nuts0", "nuts_0", "cluster")
LAT_NAMES = ("lat", "latitude", "gps_lat", "lat_dd", "y_wgs84", "lat_wgs84", "latitude_dd")
LON_NAMES = ("lon", "long", "lng", "longitude", "gps_long", "gps_lon", "lon_dd", "x_wgs84",
             "lon_wgs84", "longitude_dd")
DATE_NAMES = ("date", "sampling_date", "survey_date", "datetime", "sample_date", "date_sampled",
              "obs_date")
# Reserved meta columns in the order the reader writes them (spectra.META_ROLES).
ROLE_ORDER = ("id", "soc_g_kg", "region", "lat", "lon", "date")


def tokens(name: str) -> list[str]:
    """``'OC (%)'`` → ``['oc']``; ``'soc_g_kg'`` → ``['soc', 'g', 'kg']``."""
    return [t for t in re.split(r"[\s_.\-/()\[\]%,:]+", str(name).lower()) if t]


def find_by_name(names, wanted: tuple[str, ...]) -> str | None:
    low = {str(n).strip().lower(): n for n in names}
    for w in wanted:
        if w in low:
            return low[w]
    return None


def find_coord(names, axis: str) -> str | None:
    found = find_by_name(names, LAT_NAMES if axis == "lat" else LON_NAMES)
    if found is not None:
        return found
    # x/y columns in EPSG:4326 (e.g. LimeSoDa's x_dummy_4326): x = lon, y = lat
    letter = "y" if axis == "lat" else "x"
    for n in names:
        toks = tokens(n)
        if toks and toks[0] == letter and ("4326" in toks or "wgs84" in toks):
            return n
    return None


def pick_column(override, finder, flag: str, names, path) -> str | None:
    """The user's ``--*-col`` (``''`` = none; must exist) or else what ``finder()`` finds."""
    if override is None:
        return finder()
    if override == "":
        return None
    if override not in names:
        raise input_error(f"column {override!r} given with {flag} is not in the file (non-spectral columns: "
                          f"{preview(names)})", path, row=1, column=override, hint=f"check {flag}")
    return override


@dataclass
class Roles:
    """Which file column holds each reserved role (None: no such column)."""

    id: str | None = None
    carbon: str | None = None
    region: str | None = None
    lat: str | None = None
    lon: str | None = None
    date: str | None = None
    others: list[str] = field(default_factory=list)  # every other non-spectral column, file order

    @property
    def used(self) -> list[str]:
        return [c for c in (self.id, self.carbon, self.region, self.lat, self.lon, self.date) if c is not None]


def resolve_roles(meta_names: list[str], carbon: str | None, *, id_col=None, region_col=None, lat_col=None,
                  lon_col=None, date_col=None, path=None) -> Roles:
    """Roles by override or by name; one column cannot take two roles."""
    def pick(override, finder, flag):
        return pick_column(override, finder, flag, meta_names, path)

    roles = Roles(
        id=pick(id_col, lambda: find_by_name(meta_names, ID_NAMES), "--id-col"),
        carbon=carbon,
        region=pick(region_col, lambda: find_by_name(meta_names, REGION_NAMES), "--region-col"),
        lat=pick(lat_col, lambda: find_coord(meta_names, "lat"), "--lat-col"),
        lon=pick(lon_col, lambda: find_coord(meta_names, "lon"), "--lon-col"),
        date=pick(date_col, lambda: find_by_name(meta_names, DATE_NAMES), "--date-col"))
    used = roles.used
    if len(set(used)) != len(used):
        dup = next(c for c in used if used.count(c) > 1)
        raise input_error(f"column {dup!r} was given two roles", path, column=dup, hint="check the --*-col options")
    roles.others = [c for c in meta_names if c not in used]
    return roles


def role_columns(meta_in: pd.DataFrame, roles: Roles, n: int, soc_g_kg: np.ndarray | None, *,
                 decimal_comma: bool, header_rows: int, path) -> pd.DataFrame:
    """The reserved columns (``soc_g_kg`` as given, ``id``, ``region``, ``lat``, ``lon``, ``date``) plus
    every other column (numbers where every present cell is one, else text as read)."""
    meta = pd.DataFrame(index=pd.RangeIndex(n))
    if soc_g_kg is not None:
        meta["soc_g_kg"] = soc_g_kg
    if roles.id is not None:
        ids = meta_in[roles.id].astype("string").str.strip()
        if ids.isna().any():
            r = int(np.flatnonzero(ids.isna().to_numpy())[0])
            raise input_error("sample id is empty", path, row=sheet_row(r, header_rows), column=roles.id,
                              hint="give every row an id, or pass --id-col to choose another column")
        meta["id"] = ids.astype(str).to_numpy(dtype=object)
    else:
        meta["id"] = np.array([f"row{sheet_row(i, header_rows)}" for i in range(n)], dtype=object)
    for name, role in ((roles.region, "region"), (roles.date, "date")):
        if name is not None:
            meta[role] = meta_in[name].to_numpy(dtype=object)
    for name, role, lim in ((roles.lat, "lat", 90), (roles.lon, "lon", 180)):
        if name is None:
            continue
        vals = to_numeric(meta_in[name], decimal_comma).to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isfinite(vals) & (np.abs(vals) > lim)
        if bad.any():
            r = int(np.argmax(bad))
            raise input_error(f"{role} {vals[r]:g} is outside ±{lim}°", path, row=sheet_row(r, header_rows),
                              column=name, hint=f"give {role} in decimal degrees (WGS84), or pass --{role}-col")
        meta[role] = vals
    for c in roles.others:
        col = meta_in[c]
        conv = to_numeric(col, decimal_comma) if col.dtype == object or str(col.dtype).startswith("str") else col
        keep_numeric = conv.notna().sum() == col.notna().sum()
        meta[c if c not in meta.columns else f"{c}_orig"] = (conv if keep_numeric else col).to_numpy()
    return meta[[c for c in ROLE_ORDER if c in meta.columns] + [c for c in meta.columns if c not in ROLE_ORDER]]
