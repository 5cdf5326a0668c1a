"""Relation graphs as ``edge_index`` (2, E) int64 + one attribute per edge.

Convention (torch_geometric "source_to_target"): ``edge_index[0]`` = source j (the neighbour),
``edge_index[1]`` = target i (the node whose neighbourhood it is).  Edges are returned sorted by
(target, source) without duplicates.  ``symmetric=True`` adds the reverse of every edge (the
union of both directions; an attribute is symmetric in i, j for every builder here, so the pair
keeps one value); ``self_loops=True`` adds (i, i) with the attribute stated per builder.

Relations:
- spatial: haversine kNN or radius; attribute = great-circle distance in km.
- elevation: among spatial candidates (k_spatial nearest), pairs with |Δelevation| <= max_diff_m,
  and/or the k with the smallest |Δelevation|; attribute = |Δelevation| in m.
- spectral: kNN by cosine similarity or spectral angle (SAM) in a band or latent space, global
  (blocked BLAS products + parallel top-k) or restricted to spatial candidates; attribute =
  similarity (cosine, or 1 - angle/π for SAM), times sqrt(r_i r_j) when a per-node
  reliability r is given.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from .neighbours import haversine_knn, haversine_radius, validate_latlon

__all__ = ["spatial_edges", "elevation_edges", "spectral_edges", "spectral_knn", "reliability_from_error"]


def _finalise(src, dst, attr, n, symmetric: bool, self_loops: bool, self_attr: float):
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    attr = np.asarray(attr, dtype=np.float64)
    keep = src != dst  # self pairs only come from self_loops
    src, dst, attr = src[keep], dst[keep], attr[keep]
    if symmetric:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
        attr = np.concatenate([attr, attr])
    if self_loops:
        ar = np.arange(n, dtype=np.int64)
        src, dst = np.concatenate([src, ar]), np.concatenate([dst, ar])
        attr = np.concatenate([attr, np.full(n, self_attr)])
    key = dst * n + src
    _, first = np.unique(key, return_index=True)  # sorted by (target, source), first occurrence kept
    return np.stack([src[first], dst[first]]), attr[first]


def spatial_edges(lat_deg, lon_deg, k: int | None = 8, radius_km: float | None = None,
                  symmetric: bool = True, self_loops: bool = False):
    """Spatial relation: kNN (``k``) or, when ``radius_km`` is given, all pairs within it.

    Returns ``edge_index`` (2, E) int64 and ``distance_km`` (E,); self-loops get distance 0.
    """
    lat, lon = validate_latlon(lat_deg, lon_deg)
    n = lat.size
    if radius_km is not None:
        indptr, idx, dist = haversine_radius(lat, lon, radius_km)
        dst = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
        return _finalise(idx, dst, dist, n, symmetric, self_loops, 0.0)
    if k is None:
        raise ValueError("give k or radius_km")
    idx, dist = haversine_knn(lat, lon, k)
    dst = np.repeat(np.arange(n, dtype=np.int64), idx.shape[1])
    return _finalise(idx.ravel(), dst, dist.ravel(), n, symmetric, self_loops, 0.0)


def elevation_edges(lat_deg, lon_deg, elevation_m, k_spatial: int = 16, max_diff_m: float | None = 50.0,
                    k: int | None = None, symmetric: bool = True, self_loops: bool = False):
    """Elevation relation among spatial neighbours.

    Candidates are the ``k_spatial`` nearest points of each node; a candidate j of i is kept
    when |e_i - e_j| <= ``max_diff_m`` (skip the test with None) and, if ``k`` is given, only
    the ``k`` candidates with the smallest |e_i - e_j| are kept (kNN in elevation among spatial
    candidates; ties by distance order).  Returns ``edge_index`` and ``abs_diff_m`` (E,).
    """
    lat, lon = validate_latlon(lat_deg, lon_deg)
    n = lat.size
    elev = np.asarray(elevation_m, dtype=np.float64).ravel()
    if elev.size != n:
        raise ValueError(f"elevation_m has {elev.size} values but there are {n} points")
    if not np.all(np.isfinite(elev)):
        raise ValueError(f"elevation_m contains NaN/inf at index {int(np.flatnonzero(~np.isfinite(elev))[0])}")
    if max_diff_m is not None and (not np.isfinite(max_diff_m) or max_diff_m < 0):
        raise ValueError(f"max_diff_m={max_diff_m!r} must be >= 0 (or None)")
    if max_diff_m is None and k is None:
        raise ValueError("give max_diff_m, k, or both")
    idx, _ = haversine_knn(lat, lon, k_spatial)
    diff = np.abs(elev[idx] - elev[:, None])  # (n, k_spatial)
    ok = np.ones_like(diff, dtype=bool) if max_diff_m is None else diff <= max_diff_m
    if k is not None:
        if not 1 <= int(k) <= k_spatial:
            raise ValueError(f"k={k} must lie in [1, k_spatial={k_spatial}]")
        order = np.argsort(np.where(ok, diff, np.inf), axis=1, kind="stable")[:, : int(k)]
        sel = np.zeros_like(ok)
        np.put_along_axis(sel, order, True, axis=1)
        ok &= sel
    rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)
    return _finalise(idx[ok], rows[ok], diff[ok], n, symmetric, self_loops, 0.0)


# ----------------------------------------------------------------------------- spectral
def _unit_rows(features) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"features must be a non-empty 2-D array (n, d), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        r = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ValueError(f"features contain NaN/inf in row {r}")
    norm = np.linalg.norm(x, axis=1)
    if np.any(norm == 0):
        raise ValueError(f"features row {int(np.flatnonzero(norm == 0)[0])} is all zeros: cosine/angle undefined")
    return np.ascontiguousarray(x / norm[:, None])


@nb.njit(cache=True, inline="always")
def _topk_insert(bs, bi, s, j):
    """Insert (s, j) into the sorted top-k buffers (similarity desc, index asc) if it belongs there."""
    k = bs.shape[0]
    if s > bs[k - 1] or (s == bs[k - 1] and j < bi[k - 1]):
        m = k - 1
        while m > 0 and (bs[m - 1] < s or (bs[m - 1] == s and bi[m - 1] > j)):
            bs[m] = bs[m - 1]
            bi[m] = bi[m - 1]
            m -= 1
        bs[m] = s
        bi[m] = j


@nb.njit(parallel=True, cache=True)
def _topk_rows(sims, row0, k, exclude_self):
    """Top-k columns of each row of ``sims`` (b, n) by (similarity desc, index asc); global row = row0 + r."""
    b, n = sims.shape
    out_i = np.empty((b, k), dtype=np.int64)
    out_s = np.empty((b, k))
    for r in nb.prange(b):
        bs = np.full(k, -np.inf)
        bi = np.full(k, np.iinfo(np.int64).max)
        me = row0 + r if exclude_self else -1
        row = sims[r]
        for j in range(n):
            if j != me:
                _topk_insert(bs, bi, row[j], j)
        out_i[r] = bi
        out_s[r] = bs
    return out_i, out_s


@nb.njit(parallel=True, cache=True)
def _topk_candidates(x, indptr, cand, k):
    """Top-k cosine similarity among each node's candidate list (self skipped); -1 pads short rows."""
    n, d = x.shape
    out_i = np.full((n, k), -1, dtype=np.int64)
    out_s = np.full((n, k), -np.inf)
    for i in nb.prange(n):
        bs = np.full(k, -np.inf)
        bi = np.full(k, np.iinfo(np.int64).max)
        for e in range(indptr[i], indptr[i + 1]):
            j = cand[e]
            if j == i:
                continue
            s = 0.0
            for c in range(d):
                s += x[i, c] * x[j, c]
            _topk_insert(bs, bi, s, j)
        for m in range(k):
            if bs[m] > -np.inf:
                out_i[i, m] = bi[m]
                out_s[i, m] = bs[m]
    return out_i, out_s


def spectral_knn(features, k: int = 8, block_rows: int | None = None):
    """Global cosine kNN (self excluded): indices (n, k) int64 and cosine similarity (n, k), best first.

    Rows are L2-normalised once; similarities of a block of rows against all rows are one BLAS
    product (block_rows, d) @ (d, n); a numba kernel keeps each row's top k (ties by index).
    Same neighbours as NearestNeighbors(algorithm="brute", metric="cosine").
    ``block_rows`` defaults to a ~64 MB similarity block.
    """
    x = _unit_rows(features)
    n = x.shape[0]
    k = int(k)
    if not 1 <= k <= n - 1:
        raise ValueError(f"k={k} is invalid for {n} rows: need 1 <= k <= {n - 1}")
    if block_rows is None:
        block_rows = int(np.clip(2**26 // (8 * n), 64, 4096))
    out_i = np.empty((n, k), dtype=np.int64)
    out_s = np.empty((n, k))
    xt = np.ascontiguousarray(x.T)
    for r0 in range(0, n, block_rows):
        r1 = min(n, r0 + block_rows)
        sims = x[r0:r1] @ xt
        out_i[r0:r1], out_s[r0:r1] = _topk_rows(sims, r0, k, True)
    return out_i, out_s


def reliability_from_error(error, scale: float | None = None) -> np.ndarray:
    """Per-node reliability r = exp(-error / scale) in (0, 1] from e.g. reconstruction error (scale: median)."""
    e = np.asarray(error, dtype=np.float64).ravel()
    if e.size == 0 or not np.all(np.isfinite(e)) or np.any(e < 0):
        raise ValueError("error must be a non-empty array of finite values >= 0")
    s = float(np.median(e)) if scale is None else float(scale)
    if s <= 0:
        s = float(e.max()) or 1.0
    return np.exp(-e / s)


def spectral_edges(features, k: int = 8, metric: str = "cosine", candidates=None, reliability=None,
                   symmetric: bool = True, self_loops: bool = False):
    """Spectral-similarity relation: for each node its ``k`` most similar nodes.

    features (n, d): spectra (band space) or latent abundances.  ``metric``: "cosine"
    (similarity = cos θ) or "sam" (spectral angle; similarity = 1 - θ/π; same neighbours).
    ``candidates``: None for a global search, or spatial candidates as CSR ``(indptr, indices)``
    (e.g. from ``haversine_radius``) or an (n, m) index array (e.g. from ``haversine_knn``);
    nodes with fewer than k candidates keep what they have.  ``reliability`` (n,) >= 0 multiplies
    each edge's similarity by sqrt(r_i r_j).  Self-loops get similarity 1 (times r_i).
    Returns ``edge_index`` (2, E) and ``similarity`` (E,).
    """
    if metric not in ("cosine", "sam"):
        raise ValueError(f"metric={metric!r} must be 'cosine' or 'sam'")
    x = _unit_rows(features)
    n = x.shape[0]
    if candidates is None:
        idx, sim = spectral_knn(x, k)
        valid = np.ones(idx.shape, dtype=bool)
    else:
        if isinstance(candidates, tuple):
            indptr, cand = (np.asarray(a, dtype=np.int64) for a in candidates)
        else:
            c2 = np.asarray(candidates, dtype=np.int64)
            if c2.ndim != 2 or c2.shape[0] != n:
                raise ValueError(f"candidates array must have shape (n={n}, m), got {c2.shape}")
            indptr = np.arange(0, c2.size + 1, c2.shape[1], dtype=np.int64)
            cand = c2.ravel()
        if indptr.shape != (n + 1,) or (cand.size and (cand.min() < 0 or cand.max() >= n)):
            raise ValueError(f"candidates must be CSR over the {n} feature rows with indices in [0, {n - 1}]")
        if int(k) < 1:
            raise ValueError(f"k={k} must be >= 1")
        idx, sim = _topk_candidates(x, indptr, cand, int(k))
        valid = idx >= 0
    sim = np.clip(sim, -1.0, 1.0)
    if metric == "sam":
        sim = 1.0 - np.arccos(sim) / math.pi
    if reliability is not None:
        r = np.asarray(reliability, dtype=np.float64).ravel()
        if r.size != n or not np.all(np.isfinite(r)) or np.any(r < 0):
            raise ValueError(f"reliability must be {n} finite values >= 0")
        sim = sim * np.sqrt(r[:, None] * r[np.where(valid, idx, 0)])
    rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)
    ei, attr = _finalise(idx[valid], rows[valid], sim[valid], n, symmetric, False, 0.0)
    if self_loops:  # loop similarity is per node (1, times r_i)
        ei, attr = _with_loops(ei, attr, np.ones(n) if reliability is None else r.copy(), n)
    return ei, attr


def _with_loops(ei, attr, loop_attr, n):
    ar = np.arange(n, dtype=np.int64)
    src = np.concatenate([ei[0], ar])
    dst = np.concatenate([ei[1], ar])
    a = np.concatenate([attr, loop_attr])
    order = np.lexsort((src, dst))
    return np.stack([src[order], dst[order]]), a[order]
