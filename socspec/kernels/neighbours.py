"""Neighbour search on the sphere: haversine kNN and radius queries on latitude/longitude in degrees.

Method: points become 3-D unit vectors ``u = (cos φ cos λ, cos φ sin λ, sin φ)``; the chord
length ``c = |u_i - u_j| = 2 sin(θ/2)`` is strictly increasing in the great-circle angle θ, so
nearest neighbours by chord are nearest neighbours by haversine distance.  The unit vectors are
counting-sorted into a uniform 3-D grid (cell size chosen so an occupied cell holds a handful of
points) and every query scans cells ring by ring (Chebyshev shells) until the k-th best chord is
no longer than the distance to the unscanned region -- exact, and parallel over queries with
``numba.prange``.  scikit-learn/scipy trees are the references in tests and benchmarks.

Distances returned are great-circle kilometres on a sphere of radius ``EARTH_RADIUS_KM``
(IUGG mean radius 6371.0088 km), recomputed with the haversine formula for accuracy.

Ties: neighbours are ordered by (distance, index); when several points sit at exactly the
k-th distance the one with the smaller index is kept (BallTree's choice among exact ties is
unspecified, so neighbour *sets* can only differ where distances tie exactly).
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._threads import threads_for

EARTH_RADIUS_KM = 6371.0088
_EARTH_DIAMETER_KM = 2.0 * EARTH_RADIUS_KM  # numba freezes module globals as compile-time constants

__all__ = [
    "EARTH_RADIUS_KM",
    "validate_latlon",
    "latlon_to_unit",
    "haversine_km",
    "haversine_knn",
    "haversine_radius",
    "spatial_order",
]


# ----------------------------------------------------------------------------- validation
def validate_latlon(lat_deg, lon_deg, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Return float64 copies of latitude/longitude (degrees) or raise ``ValueError``.

    Latitude must lie in [-90, 90] and longitude in [-180, 180] (no silent wrapping: a
    longitude of 200 is far more often a swapped/projected column than a real 200° E).
    """
    pre = f"{name} " if name else ""
    lat = np.asarray(lat_deg, dtype=np.float64).ravel()
    lon = np.asarray(lon_deg, dtype=np.float64).ravel()
    if lat.size == 0 or lon.size == 0:
        raise ValueError(f"{pre}coordinates are empty: need at least one (lat, lon) point")
    if lat.shape != lon.shape:
        raise ValueError(f"{pre}latitude has {lat.size} values but longitude has {lon.size}; lengths must match")
    bad = ~np.isfinite(lat) | ~np.isfinite(lon)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{pre}coordinates contain NaN/inf at index {i} (lat={lat[i]}, lon={lon[i]}); "
            f"{int(bad.sum())} bad point(s) in total - drop or fill them first"
        )
    out = np.abs(lat) > 90.0
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise ValueError(f"{pre}latitude {lat[i]} at index {i} is outside [-90, 90] degrees (lat/lon swapped?)")
    out = np.abs(lon) > 180.0
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise ValueError(
            f"{pre}longitude {lon[i]} at index {i} is outside [-180, 180] degrees "
            "(projected coordinates? wrap 0..360 longitudes with ((lon + 180) % 360) - 180)"
        )
    return lat, lon


def latlon_to_unit(lat_deg, lon_deg) -> np.ndarray:
    """Unit vectors (n, 3) on the sphere for latitude/longitude in degrees."""
    la = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lo = np.radians(np.asarray(lon_deg, dtype=np.float64))
    cl = np.cos(la)
    return np.ascontiguousarray(np.stack([cl * np.cos(lo), cl * np.sin(lo), np.sin(la)], axis=1))


def haversine_km(lat1_deg, lon1_deg, lat2_deg, lon2_deg) -> np.ndarray:
    """Great-circle distance in km: 2R asin(sqrt(sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2)))."""
    p1 = np.radians(lat1_deg)
    p2 = np.radians(lat2_deg)
    dlon = np.radians(np.subtract(lon2_deg, lon1_deg))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@nb.njit(parallel=True, cache=True)
def _haversine_pairs_km(lat_r, lon_r, qlat_r, qlon_r, rows, cols):
    # distance for pairs (query rows[e], data cols[e]); inputs in radians
    out = np.empty(rows.shape[0])
    for e in nb.prange(rows.shape[0]):
        i = rows[e]
        j = cols[e]
        dphi = lat_r[j] - qlat_r[i]
        dlam = lon_r[j] - qlon_r[i]
        a = math.sin(dphi * 0.5) ** 2 + math.cos(qlat_r[i]) * math.cos(lat_r[j]) * math.sin(dlam * 0.5) ** 2
        if a > 1.0:
            a = 1.0
        out[e] = _EARTH_DIAMETER_KM * math.asin(math.sqrt(a))
    return out


# ----------------------------------------------------------------------------- the grid
class _Grid:
    """Counting-sorted uniform 3-D grid over unit vectors (internal)."""

    def __init__(self, xyz: np.ndarray, points_per_cell: float = 6.0, max_cells_per_point: float = 8.0):
        n = xyz.shape[0]
        # regional data (e.g. Europe) lies on a curved cap: rotate its mean direction onto +z so
        # the cap is thin in z and the dense grid wastes few empty cells (rotations keep distances)
        m = xyz.mean(axis=0)
        self.rotation = None
        if np.linalg.norm(m) > 0.05:
            e3 = m / np.linalg.norm(m)
            a = np.array([1.0, 0.0, 0.0]) if abs(e3[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
            e1 = a - (a @ e3) * e3
            e1 /= np.linalg.norm(e1)
            self.rotation = np.stack([e1, np.cross(e3, e1), e3])
            xyz = self.rotate(xyz)
        lo = xyz.min(axis=0) - 1e-9
        hi = xyz.max(axis=0) + 1e-9
        ext = np.maximum(hi - lo, 1e-9)
        cap = max(64.0, max_cells_per_point * n)

        def dims(h):
            return np.maximum(1, np.ceil(ext / h).astype(np.int64))

        def clip(h):
            # grid must not exceed ``cap`` cells (memory of the dense cell-start array)
            while np.prod(dims(h).astype(np.float64)) > cap:
                h *= 1.15
            return h

        # trial cell size assuming points spread over the whole sphere, then one correction
        # step from the measured occupancy (clustered data such as LUCAS-in-Europe is denser)
        h = clip(math.sqrt(4.0 * math.pi * points_per_cell / max(n, 1)))
        if n > 64:
            # occupancy measured on a subsample at the matching coarser scale (cheap, and
            # points-per-occupied-cell is scale-free for points on a surface)
            s = min(n, 20000)
            sub = xyz[:: max(1, n // s)]
            hs = clip(h * math.sqrt(n / sub.shape[0]))
            occ = _count_occupied(sub, lo, hs, dims(hs))
            per = sub.shape[0] / max(occ, 1)
            h = clip(hs * math.sqrt(sub.shape[0] / n) * math.sqrt(points_per_cell / max(per, 1e-9)))
        g = dims(h)
        self.lo = lo
        self.h = float(h)
        self.dims = g
        self.starts, self.order = _bin_points(xyz, lo, self.h, g)
        self.xyz_sorted = _take_rows(xyz, self.order)

    def rotate(self, xyz: np.ndarray) -> np.ndarray:
        """Query/data unit vectors in the grid's frame."""
        return xyz if self.rotation is None else np.ascontiguousarray(xyz @ self.rotation.T)


@nb.njit(parallel=True, cache=True)
def _take_rows(x, order):
    out = np.empty((order.shape[0], x.shape[1]))
    for p in nb.prange(order.shape[0]):
        for c in range(x.shape[1]):
            out[p, c] = x[order[p], c]
    return out


@nb.njit(cache=True)
def _cell_of(x, y, z, lo, h, g):
    ix = int((x - lo[0]) / h)
    iy = int((y - lo[1]) / h)
    iz = int((z - lo[2]) / h)
    ix = min(max(ix, 0), g[0] - 1)
    iy = min(max(iy, 0), g[1] - 1)
    iz = min(max(iz, 0), g[2] - 1)
    return ix, iy, iz


@nb.njit(cache=True)
def _count_occupied(xyz, lo, h, g):
    seen = np.zeros(g[0] * g[1] * g[2], dtype=np.uint8)
    occ = 0
    for i in range(xyz.shape[0]):
        ix, iy, iz = _cell_of(xyz[i, 0], xyz[i, 1], xyz[i, 2], lo, h, g)
        c = (ix * g[1] + iy) * g[2] + iz
        if seen[c] == 0:
            seen[c] = 1
            occ += 1
    return occ


@nb.njit(parallel=True, cache=True)
def _cell_ids(xyz, lo, h, g):
    cell = np.empty(xyz.shape[0], dtype=np.int64)
    for i in nb.prange(xyz.shape[0]):
        ix, iy, iz = _cell_of(xyz[i, 0], xyz[i, 1], xyz[i, 2], lo, h, g)
        cell[i] = (ix * g[1] + iy) * g[2] + iz
    return cell


@nb.njit(cache=True)
def _bin_points(xyz, lo, h, g):
    n = xyz.shape[0]
    ncell = g[0] * g[1] * g[2]
    cell = _cell_ids(xyz, lo, h, g)
    starts = np.zeros(ncell + 1, dtype=np.int64)
    for i in range(n):
        starts[cell[i] + 1] += 1
    for c in range(ncell):
        starts[c + 1] += starts[c]
    fill = starts[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):  # stable: within a cell, points stay in index order
        c = cell[i]
        order[fill[c]] = i
        fill[c] += 1
    return starts, order


@nb.njit(cache=True, inline="always")
def _face_bound(q, lo, h, g, ix, iy, iz, r):
    # distance from q to the nearest face of the (2r+1)^3 block that has cells beyond it
    b = np.inf
    if ix - r > 0:
        b = min(b, q[0] - (lo[0] + (ix - r) * h))
    if ix + r < g[0] - 1:
        b = min(b, lo[0] + (ix + r + 1) * h - q[0])
    if iy - r > 0:
        b = min(b, q[1] - (lo[1] + (iy - r) * h))
    if iy + r < g[1] - 1:
        b = min(b, lo[1] + (iy + r + 1) * h - q[1])
    if iz - r > 0:
        b = min(b, q[2] - (lo[2] + (iz - r) * h))
    if iz + r < g[2] - 1:
        b = min(b, lo[2] + (iz + r + 1) * h - q[2])
    return b


@nb.njit(parallel=True, cache=True)
def _grid_knn(qxyz, qself, qrow, xyz_s, order, starts, lo, h, g, k):
    """k nearest (by chord) for each query; qself[i] = data index to skip (-1: none).

    Query i is written to output row qrow[i] (queries are visited in grid order for cache
    locality).  Returns data indices (nq, k) ordered by (chord, index) and great-circle km
    2 R asin(c / 2) from the chord c (relative error ~1e-16 / c, < 1e-9 even at 1 m).
    """
    nq = qxyz.shape[0]
    out_i = np.empty((nq, k), dtype=np.int64)
    out_d = np.empty((nq, k), dtype=np.float64)
    gmax = max(g[0], max(g[1], g[2]))
    for qi in nb.prange(nq):
        q = qxyz[qi]
        skip = qself[qi]
        bd = np.full(k, np.inf)
        bi = np.full(k, np.iinfo(np.int64).max)
        found = 0
        ix, iy, iz = _cell_of(q[0], q[1], q[2], lo, h, g)
        r = 0
        while True:
            x0 = max(ix - r, 0)
            x1 = min(ix + r, g[0] - 1)
            y0 = max(iy - r, 0)
            y1 = min(iy + r, g[1] - 1)
            z0 = max(iz - r, 0)
            z1 = min(iz + r, g[2] - 1)
            for cx in range(x0, x1 + 1):
                ax = abs(cx - ix) == r
                for cy in range(y0, y1 + 1):
                    axy = ax or abs(cy - iy) == r
                    if axy:
                        zs = 1
                        zstart = z0
                    else:  # inner column: only the two z-faces of the shell are new
                        zs = 2 * r
                        zstart = iz - r
                    cz = zstart
                    while cz <= z1:
                        if cz >= z0:
                            c = (cx * g[1] + cy) * g[2] + cz
                            for p in range(starts[c], starts[c + 1]):
                                j = order[p]
                                if j == skip:
                                    continue
                                dx = xyz_s[p, 0] - q[0]
                                dy = xyz_s[p, 1] - q[1]
                                dz = xyz_s[p, 2] - q[2]
                                d = dx * dx + dy * dy + dz * dz
                                if d < bd[k - 1] or (d == bd[k - 1] and j < bi[k - 1]):
                                    m = k - 1
                                    while m > 0 and (bd[m - 1] > d or (bd[m - 1] == d and bi[m - 1] > j)):
                                        bd[m] = bd[m - 1]
                                        bi[m] = bi[m - 1]
                                        m -= 1
                                    bd[m] = d
                                    bi[m] = j
                                    found += 1
                        if zs == 0:
                            break
                        cz += zs
            if found >= k:
                b = _face_bound(q, lo, h, g, ix, iy, iz, r)
                if b * b >= bd[k - 1]:
                    break
            if r > gmax:
                break
            r += 1
        row = qrow[qi]
        for m in range(k):
            out_i[row, m] = bi[m]
            out_d[row, m] = _EARTH_DIAMETER_KM * math.asin(min(1.0, 0.5 * math.sqrt(bd[m])))
    return out_i, out_d


@nb.njit(parallel=True, cache=True)
def _grid_radius_count(qxyz, qself, xyz_s, order, starts, lo, h, g, c2):
    nq = qxyz.shape[0]
    counts = np.zeros(nq, dtype=np.int64)
    span = int(math.ceil(math.sqrt(c2) / h))
    for qi in nb.prange(nq):
        q = qxyz[qi]
        ix, iy, iz = _cell_of(q[0], q[1], q[2], lo, h, g)
        cnt = 0
        for cx in range(max(ix - span, 0), min(ix + span, g[0] - 1) + 1):
            for cy in range(max(iy - span, 0), min(iy + span, g[1] - 1) + 1):
                for cz in range(max(iz - span, 0), min(iz + span, g[2] - 1) + 1):
                    c = (cx * g[1] + cy) * g[2] + cz
                    for p in range(starts[c], starts[c + 1]):
                        dx = xyz_s[p, 0] - q[0]
                        dy = xyz_s[p, 1] - q[1]
                        dz = xyz_s[p, 2] - q[2]
                        if dx * dx + dy * dy + dz * dz <= c2 and order[p] != qself[qi]:
                            cnt += 1
        counts[qi] = cnt
    return counts


@nb.njit(parallel=True, cache=True)
def _grid_radius_fill(qxyz, qself, xyz_s, order, starts, lo, h, g, c2, indptr):
    nq = qxyz.shape[0]
    idx = np.empty(indptr[nq], dtype=np.int64)
    d2 = np.empty(indptr[nq], dtype=np.float64)
    span = int(math.ceil(math.sqrt(c2) / h))
    for qi in nb.prange(nq):
        q = qxyz[qi]
        ix, iy, iz = _cell_of(q[0], q[1], q[2], lo, h, g)
        w = indptr[qi]
        for cx in range(max(ix - span, 0), min(ix + span, g[0] - 1) + 1):
            for cy in range(max(iy - span, 0), min(iy + span, g[1] - 1) + 1):
                for cz in range(max(iz - span, 0), min(iz + span, g[2] - 1) + 1):
                    c = (cx * g[1] + cy) * g[2] + cz
                    for p in range(starts[c], starts[c + 1]):
                        dx = xyz_s[p, 0] - q[0]
                        dy = xyz_s[p, 1] - q[1]
                        dz = xyz_s[p, 2] - q[2]
                        dd = dx * dx + dy * dy + dz * dz
                        if dd <= c2 and order[p] != qself[qi]:
                            idx[w] = order[p]
                            d2[w] = dd
                            w += 1
        # order each row by (distance, index)
        a = indptr[qi]
        seg = np.argsort(d2[a:w], kind="mergesort")
        ii = idx[a:w][seg]
        dd_ = d2[a:w][seg]
        idx[a:w] = ii
        d2[a:w] = dd_
    return idx, d2


# ----------------------------------------------------------------------------- public API
def spatial_order(lat_deg, lon_deg, points_per_cell: float = 64.0) -> np.ndarray:
    """A permutation (n,) int64 listing the points cell by cell of a 3-D grid on the unit sphere.

    Points close on the sphere end up close in this order (used to relabel graphs for cache
    locality; counting sort, O(n)).
    """
    lat, lon = validate_latlon(lat_deg, lon_deg)
    return _Grid(latlon_to_unit(lat, lon), points_per_cell=points_per_cell).order



def _queries(lat, lon, query_lat, query_lon):
    if (query_lat is None) != (query_lon is None):
        raise ValueError("give both query_lat and query_lon, or neither")
    if query_lat is None:
        return lat, lon, np.arange(lat.size, dtype=np.int64), True
    qlat, qlon = validate_latlon(query_lat, query_lon, name="query")
    return qlat, qlon, np.full(qlat.size, -1, dtype=np.int64), False


def haversine_knn(lat_deg, lon_deg, k: int, query_lat=None, query_lon=None, *, points_per_cell: float = 6.0,
                  return_order: bool = False):
    """k nearest neighbours on the sphere.

    Parameters: ``lat_deg``, ``lon_deg`` (n,) data points in degrees; ``k`` neighbours per query;
    optional ``query_lat``/``query_lon`` (m,) -- when omitted the data are the queries and each
    point's own index is excluded (a duplicate of the point at distance 0 is *not* excluded).

    Returns ``indices`` (m, k) int64 into the data and ``distances_km`` (m, k) float64,
    each row ordered by increasing distance (ties by index); with ``return_order=True`` also
    the grid order of the data points (a spatially coherent permutation, see ``spatial_order``).
    """
    lat, lon = validate_latlon(lat_deg, lon_deg)
    n = lat.size
    qlat, qlon, qself, is_self = _queries(lat, lon, query_lat, query_lon)
    k = int(k)
    limit = n - 1 if is_self else n
    if k < 1 or k > limit:
        raise ValueError(
            f"k={k} is invalid for {n} points: need 1 <= k <= {limit}"
            + (" (k >= n: a point is not its own neighbour)" if is_self else "")
        )
    with threads_for(40.0 * (n + qlat.size * k)):
        return _knn_impl(lat, lon, qlat, qlon, qself, is_self, k, points_per_cell, return_order)


def _knn_impl(lat, lon, qlat, qlon, qself, is_self, k, points_per_cell, return_order):
    xyz = latlon_to_unit(lat, lon)
    qxyz = xyz if is_self else latlon_to_unit(qlat, qlon)
    grid = _Grid(xyz, points_per_cell=points_per_cell)
    if is_self:  # visit the queries in grid order: neighbouring queries share cached cells
        qxyz, qself, qrow = grid.xyz_sorted, grid.order, grid.order
    else:
        qxyz = grid.rotate(qxyz)
        qrow = np.arange(qlat.size, dtype=np.int64)
    idx, dist = _grid_knn(qxyz, qself, qrow, grid.xyz_sorted, grid.order, grid.starts, grid.lo, grid.h, grid.dims, k)
    return (idx, dist, grid.order) if return_order else (idx, dist)


def haversine_radius(lat_deg, lon_deg, radius_km: float, query_lat=None, query_lon=None):
    """All neighbours within ``radius_km`` (great-circle, inclusive) of each query point.

    Returns CSR arrays ``indptr`` (m+1,), ``indices`` (nnz,) int64, ``distances_km`` (nnz,);
    row i holds the neighbours of query i ordered by distance (ties by index).  When no query
    is given the data are the queries and a point is not its own neighbour.
    """
    lat, lon = validate_latlon(lat_deg, lon_deg)
    r = float(radius_km)
    if not np.isfinite(r) or r < 0:
        raise ValueError(f"radius_km={radius_km!r} must be a finite number >= 0")
    qlat, qlon, qself, is_self = _queries(lat, lon, query_lat, query_lon)
    theta = min(r / EARTH_RADIUS_KM, math.pi)
    # chord of the radius, with a relative margin so float rounding never drops a boundary
    # point; the exact haversine test below decides membership
    c = 2.0 * math.sin(theta / 2.0)
    c2 = (c * (1 + 1e-9) + 1e-12) ** 2
    with threads_for(60.0 * (lat.size + qlat.size)):
        return _radius_impl(lat, lon, qlat, qlon, qself, is_self, r, c2)


def _radius_impl(lat, lon, qlat, qlon, qself, is_self, r, c2):
    xyz = latlon_to_unit(lat, lon)
    qxyz = xyz if is_self else latlon_to_unit(qlat, qlon)
    grid = _Grid(xyz)
    qxyz = grid.rotate(qxyz)
    args = (qxyz, qself, grid.xyz_sorted, grid.order, grid.starts, grid.lo, grid.h, grid.dims, c2)
    counts = _grid_radius_count(*args)
    indptr = np.zeros(qlat.size + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    idx, _ = _grid_radius_fill(*args, indptr)
    rows = np.repeat(np.arange(qlat.size, dtype=np.int64), counts)
    dist = _haversine_pairs_km(np.radians(lat), np.radians(lon), np.radians(qlat), np.radians(qlon), rows, idx)
    keep = dist <= r
    if not keep.all():  # margin candidates outside the exact radius
        kept_rows = rows[keep]
        idx, dist = idx[keep], dist[keep]
        indptr = np.zeros(qlat.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(kept_rows, minlength=qlat.size), out=indptr[1:])
    return indptr, idx, dist
