"""Region presets, bounding boxes and GeoJSON polygons that select rows of a corpus.

All coordinates are WGS84 degrees, written **(lon, lat)** as GeoJSON does.

========  ==================================================================================
preset    definition
========  ==================================================================================
global    every point (lon −180…180, lat −90…90)
europe    geographic Europe from the Atlantic (Azores, lon −32) to the Urals (lon 60) and the
          Caucasus, Iceland and Svalbard (lat ≤ 82), **plus Cyprus and the EU's Macaronesian
          islands** (Madeira and the Canaries, in a box lon −18.5…−13.3, lat 27.5…33.3) so that
          the EU's LUCAS survey points all fall inside. The southern edge follows the middle of the
          Mediterranean (Malta, Lampedusa, Pantelleria and Crete in; Tunisia, Algeria, Ceuta and
          Melilla out) and the Bosporus/Aegean (Thrace and the Greek islands in, Anatolia out).
africa    the African continent with Madagascar, the Mascarenes, Cape Verde, Madeira and the
          Canaries (so *africa* and *europe* overlap on Macaronesia — geographically African,
          politically EU); Sinai is left out (Asia). North edge through the Strait of Gibraltar,
          the Sicily channel and Suez.
========  ==================================================================================

Outlines are hand-drawn with ~20–50 km tolerance at coasts: right for selecting survey points,
not for cartography. Use ``--polygon file.geojson`` for an exact area.

Point-in-polygon is a vectorised even–odd ray cast in numpy (holes and MultiPolygons
supported): the lab-only install has no shapely.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SocspecInputError

Ring = np.ndarray  # (m, 2) array of (lon, lat) vertices; closing vertex optional


@dataclass(frozen=True)
class Region:
    """A selectable area: a union of polygons, each an exterior ring with optional holes.

    ``polygons`` is a list of ``[exterior, hole, hole, ...]`` with rings as (m, 2) (lon, lat).
    """

    name: str
    polygons: list = field(default_factory=list)
    description: str = ""

    def contains(self, lat_deg, lon_deg) -> np.ndarray:
        """Boolean mask (n,) — True where (lat, lon) is inside any polygon (and outside its holes)."""
        lat = np.asarray(lat_deg, dtype=np.float64).ravel()
        lon = np.asarray(lon_deg, dtype=np.float64).ravel()
        if lat.shape != lon.shape:
            raise ValueError(f"lat has {lat.size} values but lon has {lon.size}")
        inside = np.zeros(lat.shape, dtype=bool)
        for rings in self.polygons:
            inside |= _polygon_contains(rings, lon, lat)
        return inside

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat) of all exterior rings."""
        pts = np.concatenate([np.asarray(p[0]) for p in self.polygons])
        return (float(pts[:, 0].min()), float(pts[:, 1].min()),
                float(pts[:, 0].max()), float(pts[:, 1].max()))


def _ring_contains(ring, x, y) -> np.ndarray:
    """Even–odd rule: count crossings of a ray towards +x with each edge of ``ring``.

    Points exactly on an edge may fall either side (irrelevant for survey points).
    """
    ring = np.asarray(ring, dtype=np.float64)
    xi, yi = ring[:, 0], ring[:, 1]
    xj, yj = np.roll(xi, 1), np.roll(yi, 1)
    inside = np.zeros(x.shape, dtype=bool)
    for a, b, c, d in zip(xi, yi, xj, yj):  # loop over edges (few), vectorised over points (many)
        crosses = (b > y) != (d > y)
        if not crosses.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = a + (y - b) * (c - a) / (d - b)
        inside ^= crosses & (x < x_at)
    return inside


def _polygon_contains(rings, x, y) -> np.ndarray:
    ext = np.asarray(rings[0], dtype=np.float64)
    # cheap bounding-box prefilter before the ray cast
    cand = ((x >= ext[:, 0].min()) & (x <= ext[:, 0].max())
            & (y >= ext[:, 1].min()) & (y <= ext[:, 1].max()))
    out = np.zeros(x.shape, dtype=bool)
    if not cand.any():
        return out
    xs, ys = x[cand], y[cand]
    inside = _ring_contains(ext, xs, ys)
    for hole in rings[1:]:
        inside &= ~_ring_contains(hole, xs, ys)
    out[cand] = inside
    return out


def _box(min_lon, min_lat, max_lon, max_lat) -> list:
    return [np.array([[min_lon, min_lat], [max_lon, min_lat], [max_lon, max_lat],
                      [min_lon, max_lat]], dtype=np.float64)]


_EUROPE_MAIN = np.array([
    (-32.0, 82.0), (60.0, 82.0), (60.0, 51.0), (51.5, 47.0), (48.0, 42.0), (41.5, 41.5),
    (35.0, 42.3), (29.05, 41.25), (29.0, 40.98), (28.0, 40.9), (26.6, 40.3), (26.1, 39.9), (26.65, 39.3),
    (26.4, 38.7), (26.6, 37.9), (27.1, 37.55), (27.4, 36.7), (28.3, 36.45), (29.7, 36.1),
    (32.0, 35.85), (35.0, 35.9), (35.0, 34.4), (32.0, 34.4), (24.0, 34.5), (15.0, 35.2),
    (12.3, 35.2), (11.6, 36.4), (11.3, 37.3), (9.8, 37.6), (8.0, 37.3), (3.0, 37.2),
    (-0.5, 36.2), (-2.2, 36.45), (-4.5, 36.1), (-5.6, 35.97), (-32.0, 36.3),
])

_AFRICA = np.array([
    (-26.0, 35.9), (-5.6, 35.95), (-1.5, 35.6), (0.0, 36.3), (3.0, 37.0), (8.5, 37.3),
    (9.8, 37.5), (11.2, 37.2), (11.6, 35.0), (25.0, 33.3), (32.3, 31.6), (32.6, 29.9),
    (43.4, 12.5), (52.0, 12.2), (58.0, -10.0), (58.0, -36.0), (-26.0, -36.0),
])

PRESETS: dict[str, Region] = {
    "global": Region("global", [_box(-180.0, -90.0, 180.0, 90.0)], "every point"),
    "europe": Region("europe", [[_EUROPE_MAIN], _box(-18.5, 27.5, -13.3, 33.3)],
                     "geographic Europe + Cyprus + Madeira/Canaries (all EU LUCAS points)"),
    "africa": Region("africa", [[_AFRICA]],
                     "African continent, Madagascar, Mascarenes, Cape Verde, Madeira, Canaries"),
}


def preset(name: str) -> Region:
    """The named preset (``global``, ``africa``, ``europe``); ``ValueError`` names unknown ones."""
    key = str(name).strip().lower()
    if key not in PRESETS:
        raise SocspecInputError(f"unknown region {name!r}", column=None,
                                hint=f"use one of {', '.join(PRESETS)}, --bbox or --polygon")
    return PRESETS[key]


def bbox_region(bbox) -> Region:
    """Region from ``"minlon,minlat,maxlon,maxlat"`` (string) or a 4-sequence, in degrees."""
    if isinstance(bbox, str):
        parts = [p for p in bbox.replace(" ", "").split(",") if p != ""]
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            vals = []
    else:
        vals = [float(v) for v in bbox]
    if len(vals) != 4:
        raise SocspecInputError(f"bad --bbox {bbox!r}",
                                hint="write it as minlon,minlat,maxlon,maxlat e.g. -10,35,30,60")
    min_lon, min_lat, max_lon, max_lat = vals
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise SocspecInputError(f"bad --bbox {bbox!r}: need -180 ≤ minlon < maxlon ≤ 180 and "
                                "-90 ≤ minlat < maxlat ≤ 90",
                                hint="the order is minlon,minlat,maxlon,maxlat")
    return Region(f"bbox({min_lon},{min_lat},{max_lon},{max_lat})",
                  [_box(min_lon, min_lat, max_lon, max_lat)], "bounding box")


def read_geojson(path) -> Region:
    """Region from a GeoJSON file: a Polygon/MultiPolygon geometry, Feature or FeatureCollection."""
    path = Path(path)
    if not path.is_file():
        raise SocspecInputError("polygon file not found", path=path)
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SocspecInputError(f"not valid JSON ({exc})", path=path,
                                hint="give a GeoJSON Polygon/MultiPolygon") from None
    polygons: list = []

    def geometry(g, where):
        if not isinstance(g, dict) or "type" not in g:
            raise SocspecInputError(f"{where}: not a GeoJSON geometry", path=path)
        t = g["type"]
        if t == "Polygon":
            polygons.append(_rings(g.get("coordinates"), where))
        elif t == "MultiPolygon":
            for i, poly in enumerate(g.get("coordinates") or []):
                polygons.append(_rings(poly, f"{where}.coordinates[{i}]"))
        elif t == "GeometryCollection":
            for i, sub in enumerate(g.get("geometries") or []):
                geometry(sub, f"{where}.geometries[{i}]")
        else:
            raise SocspecInputError(f"{where}: geometry type {t!r} has no area", path=path,
                                    hint="use Polygon or MultiPolygon")

    def _rings(coords, where):
        if not isinstance(coords, list) or not coords:
            raise SocspecInputError(f"{where}: polygon has no coordinates", path=path)
        rings = []
        for k, ring in enumerate(coords):
            try:
                arr = np.asarray(ring, dtype=np.float64)[:, :2]
            except (ValueError, IndexError, TypeError):
                raise SocspecInputError(f"{where} ring {k}: coordinates are not [lon, lat] pairs",
                                        path=path) from None
            if arr.shape[0] < 3:
                raise SocspecInputError(f"{where} ring {k}: fewer than 3 vertices", path=path)
            if np.abs(arr[:, 0]).max() > 180 or np.abs(arr[:, 1]).max() > 90:
                raise SocspecInputError(f"{where} ring {k}: coordinate outside lon ±180 / lat ±90",
                                        path=path, hint="GeoJSON order is [lon, lat] in degrees")
            rings.append(arr)
        return rings

    t = obj.get("type") if isinstance(obj, dict) else None
    if t == "FeatureCollection":
        for i, feat in enumerate(obj.get("features") or []):
            geometry((feat or {}).get("geometry"), f"features[{i}].geometry")
    elif t == "Feature":
        geometry(obj.get("geometry"), "geometry")
    else:
        geometry(obj, "root")
    if not polygons:
        raise SocspecInputError("no polygon found", path=path)
    return Region(path.stem, polygons, f"GeoJSON {path.name}")


def resolve_region(region: str | None = None, *, bbox=None, polygon=None) -> Region:
    """Pick exactly one of a preset name, a bbox, or a GeoJSON polygon file (preset default global)."""
    given = [x is not None for x in (bbox, polygon)]
    if sum(given) > 1:
        raise SocspecInputError("give only one of --bbox and --polygon")
    if bbox is not None:
        return bbox_region(bbox)
    if polygon is not None:
        return read_geojson(polygon)
    return preset(region or "global")
