"""Cross-validation folds: random K-fold and spatial-block K-fold.

Spatial blocks: each point falls in a square cell of ``block_deg`` degrees (lat/lon grid) or
``block_km`` kilometres (an equal-area grid: x = R·λ·cos φ₀ is not used; rows are ``block_km``
of latitude and each row is cut into cells ``block_km`` wide at that row's latitude, so cells keep
their size towards the poles). Whole blocks go to folds: blocks are shuffled with the seed and each
is given to the fold with the fewest points so far (largest blocks first), so folds are balanced
and no block is ever split. Spatial blocks hold back neighbours of the test points, which random
folds leak into training — the honest score for mapping.
"""
from __future__ import annotations

import numpy as np

from ..errors import SocspecInputError
from ..kernels.neighbours import EARTH_RADIUS_KM


def block_ids(lat_deg, lon_deg, *, block_deg: float | None = None,
              block_km: float | None = None) -> np.ndarray:
    """Integer block label (n,) for each point; exactly one of ``block_deg``/``block_km``."""
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    if (block_deg is None) == (block_km is None):
        raise ValueError("give exactly one of block_deg and block_km")
    if block_deg is not None:
        if not block_deg > 0:
            raise SocspecInputError(f"--block-deg must be > 0 degrees, got {block_deg:g}",
                                    hint="e.g. --block-deg 1 (about 111 km of latitude)")
        row = np.floor((lat + 90.0) / block_deg).astype(np.int64)
        col = np.floor((lon + 180.0) / block_deg).astype(np.int64)
    else:
        if not block_km > 0:
            raise SocspecInputError(f"--block-km must be > 0 km, got {block_km:g}", hint="e.g. --block-km 100")
        dlat = np.degrees(block_km / EARTH_RADIUS_KM)
        row = np.floor((lat + 90.0) / dlat).astype(np.int64)
        lat_mid = np.radians(-90.0 + (row + 0.5) * dlat)
        dlon = np.degrees(block_km / (EARTH_RADIUS_KM * np.maximum(np.cos(lat_mid), 1e-6)))
        col = np.floor((lon + 180.0) / dlon).astype(np.int64)
    _, labels = np.unique(np.stack([row, col], 1), axis=0, return_inverse=True)
    return labels.ravel()


def _check_n_folds(n_folds) -> None:
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise SocspecInputError(f"--folds must be an integer ≥ 2, got {n_folds!r}",
                                hint="cross-validation needs at least 2 folds (e.g. --folds 5)")


def random_folds(n: int, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold label (n,) in 0..n_folds-1: a seeded permutation cut into near-equal parts."""
    _check_n_folds(n_folds)
    if n_folds > n:
        raise SocspecInputError(f"--folds {n_folds} is more than the {n} points",
                                hint=f"use --folds between 2 and {n}")
    perm = np.random.default_rng(seed).permutation(n)
    folds = np.empty(n, dtype=np.int64)
    folds[perm] = np.arange(n) % n_folds
    return folds


def group_folds(groups, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold label per point with every group (block) whole in one fold.

    Blocks in a seeded random order (stable-sorted by size, largest first) each go to the fold
    with the fewest points so far; ties between folds break on the lowest fold index.
    """
    groups = np.asarray(groups)
    uniq, inv, counts = np.unique(groups, return_inverse=True, return_counts=True)
    _check_n_folds(n_folds)
    if n_folds > len(uniq):
        raise SocspecInputError(
            f"--folds {n_folds} needs at least {n_folds} spatial blocks, but the points fall in only "
            f"{len(uniq)} blocks", hint=f"use --folds {max(2, len(uniq))} or fewer, a smaller --block-deg/"
            "--block-km, or --cv random" if len(uniq) >= 2 else "use a smaller --block-deg/--block-km, or --cv random")
    order = np.random.default_rng(seed).permutation(len(uniq))
    order = order[np.argsort(-counts[order], kind="stable")]
    load = np.zeros(n_folds, dtype=np.int64)
    fold_of_block = np.empty(len(uniq), dtype=np.int64)
    for b in order:
        f = int(np.argmin(load))
        fold_of_block[b] = f
        load[f] += counts[b]
    return fold_of_block[inv.ravel()]


def spatial_block_folds(lat_deg, lon_deg, n_folds: int = 5, *, block_deg: float | None = 1.0,
                        block_km: float | None = None, seed: int = 0):
    """``(folds, blocks)``: fold label (n,) and block label (n,) for spatial-block K-fold."""
    if block_km is not None:
        block_deg = None
    blocks = block_ids(lat_deg, lon_deg, block_deg=block_deg, block_km=block_km)
    return group_folds(blocks, n_folds, seed), blocks


def check_cv_options(scheme: str = "spatial", n_folds: int = 5, block_deg: float | None = 1.0,
                     block_km: float | None = None) -> None:
    """Refuse CV options that cannot work before any data is read (:class:`SocspecInputError` with a
    hint): an unknown scheme, fewer than 2 folds, a block size ≤ 0. Whether there are as many
    spatial blocks as folds is checked by :func:`group_folds` once the points are known."""
    if scheme not in ("spatial", "random"):
        raise SocspecInputError(f"unknown CV scheme {scheme!r}", hint="use --cv spatial or --cv random")
    _check_n_folds(n_folds)
    if scheme == "spatial":
        if block_km is not None:
            if not block_km > 0:
                raise SocspecInputError(f"--block-km must be > 0 km, got {block_km:g}", hint="e.g. --block-km 100")
        elif block_deg is None or not block_deg > 0:
            raise SocspecInputError(f"--block-deg must be > 0 degrees, got {block_deg!r}",
                                    hint="e.g. --block-deg 1 (about 111 km of latitude)")


def make_folds(lat_deg, lon_deg, *, scheme: str = "spatial", n_folds: int = 5,
               block_deg: float | None = 1.0, block_km: float | None = None, seed: int = 0):
    """Folds for ``scheme`` in {"spatial", "random"}; returns ``(folds, info_dict)``."""
    n = len(np.asarray(lat_deg))
    if scheme == "random":
        return random_folds(n, n_folds, seed), {"scheme": "random", "folds": n_folds, "seed": seed}
    if scheme != "spatial":
        raise SocspecInputError(f"unknown CV scheme {scheme!r}", hint="use --cv spatial or --cv random")
    folds, blocks = spatial_block_folds(lat_deg, lon_deg, n_folds, block_deg=block_deg,
                                        block_km=block_km, seed=seed)
    info = {"scheme": "spatial", "folds": n_folds, "seed": seed,
            "block_deg": None if block_km is not None else block_deg, "block_km": block_km,
            "n_blocks": int(blocks.max() + 1),
            "fold_sizes": np.bincount(folds, minlength=n_folds).tolist()}
    return folds, info


def iter_folds(folds):
    """Yield ``(k, train_idx, test_idx)`` for each fold label in order."""
    folds = np.asarray(folds)
    for k in np.unique(folds):
        yield int(k), np.flatnonzero(folds != k), np.flatnonzero(folds == k)
