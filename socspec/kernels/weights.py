"""Spatial weights held as CSR arrays, and the kNN / distance-band builders.

Row i of the CSR lists the neighbours j of focal point i with weight w_ij, so the spatial lag
is ``(W y)_i = sum_j w_ij y_j``.  Row-standardised ("r") weights satisfy sum_j w_ij = 1 for
every row with neighbours (islands keep an empty row, as in libpysal).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numba as nb
import numpy as np

from ._threads import threads_for
from .neighbours import haversine_knn, haversine_radius, spatial_order

__all__ = ["SpatialWeights", "knn_weights", "distance_band_weights"]

_TRANSFORMS = ("r", "b", "o")


@dataclass(eq=False)
class SpatialWeights:
    """CSR spatial weights for n points.

    Parameters
    ----------
    indptr : (n+1,) int64, indices : (nnz,) int64, weights : (nnz,) float64, n : int
    transform : "r" row-standardise the given weights (default), "b" binary (all 1),
        "o" keep the given weights as they are.

    locality_order : optional (n,) permutation listing the points in a spatially coherent order
        (set by the builders); kernels may relabel with it for cache locality -- results do not
        depend on it.

    Attributes: ``s0 = sum_ij w_ij``, ``s1 = 1/2 sum_ij (w_ij + w_ji)^2``,
    ``s2 = sum_i (sum_j w_ij + sum_j w_ji)^2`` (the moments used by Moran's I), ``cardinalities``.
    """

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    n: int
    transform: str = "r"
    locality_order: np.ndarray | None = field(default=None, repr=False)
    _moments: tuple | None = field(default=None, repr=False)

    def __post_init__(self):
        self.n = int(self.n)
        self.indptr = np.ascontiguousarray(self.indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(self.indices, dtype=np.int64)
        w = np.ascontiguousarray(self.weights, dtype=np.float64).copy()
        if self.transform not in _TRANSFORMS:
            raise ValueError(f"transform={self.transform!r} must be one of {_TRANSFORMS}")
        if self.n < 1:
            raise ValueError(f"n={self.n} must be >= 1")
        if self.indptr.shape != (self.n + 1,):
            raise ValueError(f"indptr has shape {self.indptr.shape}, expected ({self.n + 1},) for n={self.n}")
        if self.indptr[0] != 0 or np.any(np.diff(self.indptr) < 0) or self.indptr[-1] != self.indices.size:
            raise ValueError("indptr must start at 0, be non-decreasing and end at len(indices)")
        if w.shape != self.indices.shape:
            raise ValueError(f"weights has {w.size} values but indices has {self.indices.size}")
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= self.n):
            raise ValueError(f"neighbour indices must lie in [0, {self.n - 1}]")
        if not np.all(np.isfinite(w)):
            raise ValueError("weights contain NaN/inf")
        if self.indices.size:
            bad_row, kind = _bad_entry(self.indptr, self.indices)
            if bad_row >= 0:
                what = "a self-neighbour (i, i)" if kind == 1 else "a duplicate neighbour"
                raise ValueError(f"row {bad_row} of the weights has {what}; not allowed in spatial weights")
        if self.transform == "b":
            w[:] = 1.0
        elif self.transform == "r":
            rs = np.add.reduceat(w, self.indptr[:-1]) if w.size else np.zeros(self.n)
            rs[np.diff(self.indptr) == 0] = 0.0  # reduceat quirk for empty rows
            rep = np.repeat(rs, np.diff(self.indptr))
            if np.any(rep == 0):
                raise ValueError("a row with neighbours has weights summing to 0; cannot row-standardise")
            w /= rep
        self.weights = w

    # ------------------------------------------------------------------ views
    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    @property
    def cardinalities(self) -> np.ndarray:
        """Number of neighbours per point, (n,) int64."""
        return np.diff(self.indptr)

    @property
    def islands(self) -> np.ndarray:
        """Indices of points without neighbours."""
        return np.flatnonzero(self.cardinalities == 0)

    def to_scipy(self):
        """``scipy.sparse.csr_array`` (n, n) with entry (i, j) = w_ij."""
        from scipy.sparse import csr_array

        return csr_array((self.weights, self.indices, self.indptr), shape=(self.n, self.n))

    def to_edge_index(self) -> tuple[np.ndarray, np.ndarray]:
        """PyG-style ``edge_index`` (2, nnz) int64 and ``edge_weight`` (nnz,).

        Convention (torch_geometric "source_to_target"): ``edge_index[0]`` = neighbour j
        (source), ``edge_index[1]`` = focal point i (target), weight w_ij; summing messages at
        the target gives the spatial lag (W y)_i.
        """
        focal = np.repeat(np.arange(self.n, dtype=np.int64), self.cardinalities)
        return np.stack([self.indices, focal]), self.weights.copy()

    def to_libpysal(self):
        """libpysal ``W`` with the same weights (for cross-checks; needs libpysal)."""
        from libpysal.weights import WSP

        return WSP(self.to_scipy().tocsr()).to_W(silence_warnings=True)

    def lag(self, y) -> np.ndarray:
        """Spatial lag W y, (n,)."""
        return self.to_scipy() @ np.asarray(y, dtype=np.float64)

    def moments(self) -> tuple[float, float, float]:
        """(s0, s1, s2) -- see the class docstring."""
        if self._moments is None:
            n = self.n
            s0 = float(self.weights.sum())
            # on the spatially relabelled CSR: row j of a neighbour is then close in memory
            with threads_for(10.0 * self.nnz):
                _, ip, ix, wx = relabelled(np.zeros(n), self)
                cross = _cross_sum(ip, ix, wx)
            # s1 = 1/2 sum_ij (w_ij + w_ji)^2 = sum_ij w_ij^2 + sum_ij w_ij w_ji (no duplicate entries)
            s1 = float(np.sum(self.weights**2) + cross)
            row_sum = np.add.reduceat(self.weights, self.indptr[:-1]) if self.nnz else np.zeros(n)
            row_sum[self.cardinalities == 0] = 0.0
            col_sum = np.bincount(self.indices, weights=self.weights, minlength=n)
            s2 = float(np.sum((row_sum + col_sum) ** 2))
            self._moments = (s0, s1, s2)
        return self._moments

    @property
    def s0(self) -> float:
        return self.moments()[0]

    @property
    def s1(self) -> float:
        return self.moments()[1]

    @property
    def s2(self) -> float:
        return self.moments()[2]


@nb.njit(cache=True)
def _bad_entry(indptr, indices):
    """(row, 1) for a self-neighbour, (row, 2) for a duplicate j in a row, (-1, 0) if clean."""
    for i in range(indptr.shape[0] - 1):
        for e in range(indptr[i], indptr[i + 1]):
            if indices[e] == i:
                return i, 1
            for f in range(indptr[i], e):
                if indices[f] == indices[e]:
                    return i, 2
    return -1, 0


@nb.njit(parallel=True, cache=True)
def _cross_sum(indptr, indices, weights):
    """sum over entries (i, j) of w_ij * w_ji (w_ji found by scanning row j; rows are short)."""
    n = indptr.shape[0] - 1
    part = np.zeros(n)
    for i in nb.prange(n):
        acc = 0.0
        for e in range(indptr[i], indptr[i + 1]):
            j = indices[e]
            for f in range(indptr[j], indptr[j + 1]):
                if indices[f] == i:
                    acc += weights[e] * weights[f]
                    break
        part[i] = acc
    return part.sum()


def relabelled(z, w: SpatialWeights):
    """z and the CSR arrays relabelled in ``w.locality_order`` (neighbours close in memory).

    Moran's I and its permutation distribution do not depend on the labelling, so working in
    a spatially sorted order only changes speed (neighbour gathers hit cache).  int32 indices.
    The relabelled graph is cached on ``w``.
    """
    order = getattr(w, "locality_order", None)
    if w.n >= 2**31 - 1:
        return z, w.indptr, w.indices, w.weights
    if order is None:
        return z, w.indptr, w.indices.astype(np.int32), w.weights
    cached = w.__dict__.get("_relabel_cache")
    if cached is None:
        n = w.n
        order = np.asarray(order, dtype=np.int64)
        card = w.cardinalities[order]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(card, out=indptr[1:])
        idx, wts = _relabel_csr(w.indptr, w.indices, w.weights, order, indptr)
        cached = (order, indptr, idx, wts)
        w.__dict__["_relabel_cache"] = cached
    order, indptr, idx, wts = cached
    return z[order], indptr, idx, wts


@nb.njit(parallel=True, cache=True)
def _relabel_csr(indptr, indices, weights, order, new_indptr):
    n = order.shape[0]
    inv = np.empty(n, dtype=np.int64)
    for r in nb.prange(n):
        inv[order[r]] = r
    idx = np.empty(indices.shape[0], dtype=np.int32)
    wts = np.empty(indices.shape[0])
    for r in nb.prange(n):
        i = order[r]
        a = new_indptr[r]
        for e in range(indptr[i], indptr[i + 1]):
            idx[a] = inv[indices[e]]
            wts[a] = weights[e]
            a += 1
    return idx, wts


def knn_weights(lat_deg, lon_deg, k: int = 8, transform: str = "r") -> SpatialWeights:
    """kNN weights from haversine neighbours (self excluded); row-standardised by default (w_ij = 1/k)."""
    idx, _, order = haversine_knn(lat_deg, lon_deg, k, return_order=True)
    n = idx.shape[0]
    indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
    return SpatialWeights(indptr, idx.ravel(), np.ones(n * k), n, transform=transform, locality_order=order)


def distance_band_weights(lat_deg, lon_deg, threshold_km: float, binary: bool = True, alpha: float = -1.0,
                          transform: str = "r") -> SpatialWeights:
    """Distance-band weights: j is a neighbour of i when the great-circle distance d_ij <= threshold_km.

    ``binary=True`` gives w_ij = 1, else w_ij = d_ij ** alpha (inverse distance, d in km; a
    duplicate point at d = 0 raises).  The row-standardisation ``transform="r"`` is applied
    afterwards (use "o" to keep raw weights).
    """
    indptr, idx, dist = haversine_radius(lat_deg, lon_deg, threshold_km)
    if binary:
        w = np.ones(idx.size)
    else:
        if np.any(dist == 0):
            raise ValueError("inverse-distance weights: duplicate coordinates at distance 0 km; "
                             "use binary=True or deduplicate")
        w = dist**alpha
    return SpatialWeights(indptr, idx, w, indptr.size - 1, transform=transform,
                          locality_order=spatial_order(lat_deg, lon_deg))
