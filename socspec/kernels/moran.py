"""Global and local Moran's I with permutation inference in parallel (numba.prange).

Global (z = y - mean(y), weights W from :class:`SpatialWeights`, S0 = sum_ij w_ij):

    I = n / S0 * (sum_ij w_ij z_i z_j) / (sum_i z_i^2),   E[I] = -1 / (n - 1)
    Var_norm[I] = (n^2 S1 - n S2 + 3 S0^2) / ((n - 1)(n + 1) S0^2) - E[I]^2

(same formulas and conventions as esda.Moran: p_norm two-tailed, p_sim one-sided in the
direction of the observed I, ``p_sim = (larger + 1) / (permutations + 1)`` where ``larger``
is the number of permuted statistics >= I, folded to the smaller tail).

Local (esda.Moran_Local): I_i = (n - 1) z_i (W z)_i / sum_j z_j^2, with conditional
randomisation (z_i fixed, its |N(i)| neighbour values drawn without replacement from the
other n - 1 points).

Random numbers: every permutation (global) or point (local) has its own SplitMix64 stream
seeded from ``(seed, index)``, so results are identical for any number of threads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np
from scipy import stats

from ._threads import threads_for
from .weights import SpatialWeights, relabelled

__all__ = ["MoranResult", "LocalMoranResult", "morans_i", "local_morans_i"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0


@nb.njit(cache=True, inline="always")
def _mix(x):
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@nb.njit(cache=True, inline="always")
def _stream(seed, index):
    # independent SplitMix64 start state per (seed, index)
    return _mix(np.uint64(seed) * _GOLDEN + _mix(np.uint64(index) + _GOLDEN))


@nb.njit(cache=True, inline="always")
def _below(state, bound):
    """Next state and an integer uniform on [0, bound) (53-bit float scaling; bias < bound / 2^53)."""
    state = state + _GOLDEN
    r = _mix(state)
    return state, int(np.int64(r >> _S11) * _INV53 * bound)


@nb.njit(cache=True)
def _fisher_yates(buf, lo, hi, st):
    for i in range(hi - 1, lo, -1):
        st, j = _below(st, i - lo + 1)
        t = buf[i]
        buf[i] = buf[lo + j]
        buf[lo + j] = t
    return st


@nb.njit(cache=True)
def _permute_into(z, buf, bucket, counts, nbits, st):
    """buf <- a uniformly random permutation of z.

    Small n: Fisher-Yates.  Large n (array beyond the L2 cache): scatter shuffle (Sanders
    1998) -- every value goes to one of 2^nbits buckets uniformly at random (sequential
    writes), then each bucket (~1k values, L1-resident) is Fisher-Yates shuffled.  Bucket
    counts are multinomial and buckets are uniformly shuffled, so the result is an exactly
    uniform permutation, at a fraction of the cache misses of one global Fisher-Yates.
    """
    n = z.shape[0]
    if nbits == 0:
        buf[:] = z
        return _fisher_yates(buf, 0, n, st)
    nb_ = counts.shape[0] - 1
    shift = np.uint64(64 - nbits)
    counts[:] = 0
    for i in range(n):
        st = st + _GOLDEN
        b = np.int64(_mix(st) >> shift)
        bucket[i] = b
        counts[b + 1] += 1
    for b in range(nb_):
        counts[b + 1] += counts[b]
    fill = counts[:-1].copy()
    for i in range(n):
        b = bucket[i]
        buf[fill[b]] = z[i]
        fill[b] += 1
    for b in range(nb_):
        st = _fisher_yates(buf, counts[b], counts[b + 1], st)
    return st


@nb.njit(parallel=True, cache=True)
def _global_perm_numerators(z, indptr, indices, weights, permutations, seed, nchunks, nbits):
    """sum_ij w_ij zp_i zp_j for ``permutations`` random permutations zp of z, (permutations,).

    Four permutations are evaluated together: they are stored interleaved, (n, 4), so each
    neighbour index read and each cache line fetched serves four permutations.
    ``weights`` is either per edge (nnz,) or, when every row has one constant weight (kNN and
    binary distance-band weights after row-standardisation), per row (n,): the per-row form and
    int32 ``indices`` keep the arrays streamed per permutation inside the L2 cache.
    """
    n = z.shape[0]
    per_row = weights.shape[0] == n and indices.shape[0] != n
    out = np.empty(permutations)
    per = (permutations + nchunks - 1) // nchunks
    per = ((per + 3) // 4) * 4
    for c in nb.prange(nchunks):
        inter = np.empty((n, 4))
        bucket = np.empty(n if nbits > 0 else 0, dtype=np.int64)
        counts = np.empty((1 << nbits) + 1, dtype=np.int64)
        p_end = min((c + 1) * per, permutations)
        buf = np.empty(n)
        for p0 in range(c * per, p_end, 4):
            for q in range(4):  # shuffle contiguously (cache friendly), then interleave
                _permute_into(z, buf, bucket, counts, nbits, _stream(seed, p0 + q))
                for i in range(n):
                    inter[i, q] = buf[i]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for i in range(n):
                l0 = 0.0
                l1 = 0.0
                l2 = 0.0
                l3 = 0.0
                if per_row:
                    for e in range(indptr[i], indptr[i + 1]):
                        j = indices[e]
                        l0 += inter[j, 0]
                        l1 += inter[j, 1]
                        l2 += inter[j, 2]
                        l3 += inter[j, 3]
                    wi = weights[i]
                    l0 *= wi
                    l1 *= wi
                    l2 *= wi
                    l3 *= wi
                else:
                    for e in range(indptr[i], indptr[i + 1]):
                        j = indices[e]
                        we = weights[e]
                        l0 += we * inter[j, 0]
                        l1 += we * inter[j, 1]
                        l2 += we * inter[j, 2]
                        l3 += we * inter[j, 3]
                a0 += inter[i, 0] * l0
                a1 += inter[i, 1] * l1
                a2 += inter[i, 2] * l2
                a3 += inter[i, 3] * l3
            out[p0] = a0
            if p0 + 1 < p_end:
                out[p0 + 1] = a1
            if p0 + 2 < p_end:
                out[p0 + 2] = a2
            if p0 + 3 < p_end:
                out[p0 + 3] = a3
    return out


@nb.njit(parallel=True, cache=True)
def _lag(z, indptr, indices, weights):
    n = z.shape[0]
    out = np.empty(n)
    for i in nb.prange(n):
        s = 0.0
        for e in range(indptr[i], indptr[i + 1]):
            s += weights[e] * z[indices[e]]
        out[i] = s
    return out


@nb.njit(parallel=True, cache=True)
def _local_perm_larger(z, Is, indptr, indices, weights, scale, permutations, seed):
    """For each i, count permuted I_i >= observed I_i under conditional randomisation."""
    n = z.shape[0]
    larger = np.zeros(n, dtype=np.int64)
    maxk = 0
    for i in range(n):
        maxk = max(maxk, indptr[i + 1] - indptr[i])
    for i in nb.prange(n):
        k = indptr[i + 1] - indptr[i]
        if k == 0:
            continue
        picks = np.empty(maxk, dtype=np.int64)
        st = _stream(seed, i)
        cnt = 0
        for _ in range(permutations):
            lag = 0.0
            m = 0
            while m < k:
                st, r = _below(st, n - 1)
                if r >= i:  # skip the focal point itself
                    r += 1
                dup = False
                for q in range(m):
                    if picks[q] == r:
                        dup = True
                        break
                if dup:
                    continue
                picks[m] = r
                lag += weights[indptr[i] + m] * z[r]
                m += 1
            if scale * z[i] * lag >= Is[i]:
                cnt += 1
        larger[i] = cnt
    return larger


@dataclass
class MoranResult:
    """Global Moran's I (attribute names as in esda.Moran)."""

    I: float
    EI: float
    VI_norm: float
    seI_norm: float
    z_norm: float
    p_norm: float
    VI_rand: float
    z_rand: float
    p_rand: float
    n: int
    permutations: int
    sim: np.ndarray | None = None
    p_sim: float | None = None
    EI_sim: float | None = None
    seI_sim: float | None = None
    z_sim: float | None = None
    p_z_sim: float | None = None


@dataclass
class LocalMoranResult:
    """Local Moran's I_i (n,), pseudo p-values (n,) and quadrants q (1 HH, 2 LH, 3 LL, 4 HL)."""

    Is: np.ndarray
    p_sim: np.ndarray | None
    q: np.ndarray
    EI: float
    permutations: int


def _check(y, w: SpatialWeights, permutations: int):
    if not isinstance(w, SpatialWeights):
        raise ValueError(f"w must be a SpatialWeights, got {type(w).__name__}")
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.size != w.n:
        raise ValueError(f"y has {y.size} values but the weights describe {w.n} points")
    if y.size < 4:
        raise ValueError(f"Moran's I needs at least 4 values, got {y.size}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"y contains NaN/inf at index {int(np.flatnonzero(~np.isfinite(y))[0])}")
    if int(permutations) < 0:
        raise ValueError(f"permutations={permutations} must be >= 0")
    z = y - y.mean()
    zz = float(z @ z)
    if zz == 0.0:
        raise ValueError("y is constant: Moran's I is undefined")
    return z, zz


def _two_sided_normal(zv: float) -> float:
    return float(2.0 * (stats.norm.sf(zv) if zv > 0 else stats.norm.cdf(zv)))


def morans_i(y, w: SpatialWeights, permutations: int = 999, seed: int = 0) -> MoranResult:
    """Global Moran's I of ``y`` (n,) for weights ``w`` (used as given: build them row-standardised).

    Permutation inference: ``permutations`` random relabellings in parallel; returns
    ``sim`` (permutations,), ``p_sim``, ``z_sim``; deterministic for a given ``seed``.
    """
    z, zz = _check(y, w, permutations)
    n = z.size
    s0, s1, s2 = w.moments()
    if s0 == 0:
        raise ValueError("weights are all zero (every point an island): Moran's I undefined")
    with threads_for(2.0 * (n + w.nnz)):
        num = float(z @ _lag(z, w.indptr, w.indices, w.weights))
    I = n / s0 * num / zz
    EI = -1.0 / (n - 1)
    n2, s02 = n * n, s0 * s0
    VI_norm = (n2 * s1 - n * s2 + 3 * s02) / ((n - 1) * (n + 1) * s02) - (1.0 / (n - 1)) ** 2
    seI_norm = math.sqrt(VI_norm)
    z_norm = (I - EI) / seI_norm
    kurt = (np.sum(z**4) / n) / (zz / n) ** 2
    A = n * ((n2 - 3 * n + 3) * s1 - n * s2 + 3 * s02)
    B = kurt * ((n2 - n) * s1 - 2 * n * s2 + 6 * s02)
    VI_rand = float((A - B) / ((n - 1) * (n - 2) * (n - 3) * s02) - EI * EI)
    z_rand = (I - EI) / math.sqrt(VI_rand) if VI_rand > 0 else float("nan")
    res = MoranResult(I=I, EI=EI, VI_norm=VI_norm, seI_norm=seI_norm, z_norm=z_norm,
                      p_norm=_two_sided_normal(z_norm), VI_rand=VI_rand, z_rand=z_rand,
                      p_rand=_two_sided_normal(z_rand), n=n, permutations=int(permutations))
    if permutations:
        nchunks = max(1, min((int(permutations) + 3) // 4, 4 * max(1, nb.get_num_threads())))
        with threads_for(4.0 * (n + w.nnz)):
            zr, indptr, idx, weights = relabelled(z, w)
        card = np.diff(indptr)
        first = weights[np.minimum(indptr[:-1], max(w.nnz - 1, 0))] if w.nnz else np.zeros(n)
        row_w = np.where(card > 0, first, 0.0)
        if w.nnz and np.array_equal(weights, np.repeat(row_w, card)) and w.nnz != n:
            wts = row_w  # one weight per row
        else:
            wts = weights
        # scatter shuffle once the permuted array outgrows the L2 cache (~1k values per bucket)
        nbits = 0 if n < 65536 else min(16, int(np.log2(n / 1024)))
        with threads_for(2.0 * permutations * (n + w.nnz)):
            nums = _global_perm_numerators(zr, indptr, idx, wts, int(permutations), int(seed) & (2**63 - 1),
                                           nchunks, nbits)
        sim = n / s0 * nums / zz
        larger = int(np.sum(sim >= I))
        if permutations - larger < larger:
            larger = permutations - larger
        res.sim = sim
        res.p_sim = (larger + 1.0) / (permutations + 1.0)
        res.EI_sim = float(sim.mean())
        res.seI_sim = float(sim.std())
        res.z_sim = (I - res.EI_sim) / res.seI_sim if res.seI_sim > 0 else float("inf")
        res.p_z_sim = float(stats.norm.sf(res.z_sim) if res.z_sim > 0 else stats.norm.cdf(res.z_sim))
    return res


def local_morans_i(y, w: SpatialWeights, permutations: int = 999, seed: int = 0) -> LocalMoranResult:
    """Local Moran's I_i = (n - 1) z_i (W z)_i / sum z^2 (n,), with conditional-permutation p_sim (n,)."""
    z, zz = _check(y, w, permutations)
    n = z.size
    if permutations and np.any(w.cardinalities > n - 1):
        raise ValueError("a point has more neighbours than other points; cannot permute")
    with threads_for(2.0 * (n + w.nnz)):
        lag = _lag(z, w.indptr, w.indices, w.weights)
    scale = (n - 1) / zz
    Is = scale * z * lag
    zp, lp = z > 0, lag > 0
    q = np.where(zp & lp, 1, np.where(~zp & lp, 2, np.where(~zp & ~lp, 3, 4))).astype(np.int64)
    p_sim = None
    if permutations:
        with threads_for(4.0 * permutations * w.nnz):
            larger = _local_perm_larger(z, Is, w.indptr, w.indices, w.weights, scale, int(permutations),
                                    int(seed) & (2**63 - 1))
        low = (permutations - larger) < larger
        larger = np.where(low, permutations - larger, larger)
        p_sim = (larger + 1.0) / (permutations + 1.0)
    return LocalMoranResult(Is=Is, p_sim=p_sim, q=q, EI=-1.0 / (n - 1), permutations=int(permutations))
