"""Remote-path speed: each timing beside a reference measured in the same run.

    python benchmarks/bench_remote.py [--quick] [--json OUT.json]

1. Gaussian random field: random Fourier features (socspec.remote.simulate) vs an exact
   Cholesky draw (scipy) — time ratio and how close the RFF covariance is to exp(−d/ℓ).
2. Point-in-polygon: numpy ray casting (socspec.remote.regions) vs shapely.contains_xy.
3. XGBoost baseline threads: n_jobs=1 vs 2 at small and LUCAS-like sizes (why n_jobs=None
   picks 1 thread below 5000 rows).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def _t(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_grf(n, range_km=150.0):
    from scipy.linalg import cholesky

    from socspec.kernels import EARTH_RADIUS_KM, latlon_to_unit
    from socspec.remote.simulate import gaussian_random_field

    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(45, 55, n), rng.uniform(0, 15, n)
    x = EARTH_RADIUS_KM * latlon_to_unit(lat, lon)  # chord coordinates, km
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))

    def chol():
        L = cholesky(np.exp(-d / range_km) + 1e-8 * np.eye(n), lower=True)
        return L @ rng.standard_normal(n)

    t_ref, _ = _t(chol, 1)
    t_rff, _ = _t(lambda: gaussian_random_field(lat, lon, range_km, rng))
    # covariance check: average product of 300 raw (unstandardised) RFF draws in distance bins vs exp(-d/ℓ)
    draws = np.stack([gaussian_random_field(lat[:300], lon[:300], range_km, rng, standardize=False)
                      for _ in range(300)])
    emp = draws.T @ draws / len(draws)
    dd = d[:300, :300]
    bins = [(0, 50), (50, 150), (150, 300), (300, 600)]
    cov = {f"{a}-{b} km": {"rff": float(emp[(dd >= a) & (dd < b)].mean()),
                           "exp": float(np.exp(-dd[(dd >= a) & (dd < b)] / range_km).mean())}
           for a, b in bins if ((dd >= a) & (dd < b)).any()}
    return {"n": n, "cholesky_s": t_ref, "rff_s": t_rff, "speedup": t_ref / t_rff, "covariance": cov}


def bench_pip(n):
    from socspec.remote.regions import preset

    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(25, 75, n), rng.uniform(-35, 65, n)
    reg = preset("europe")
    t_ours, ours = _t(lambda: reg.contains(lat, lon))
    out = {"n": n, "numpy_s": t_ours}
    try:
        from shapely import contains_xy
        from shapely.geometry import MultiPolygon, Polygon

        mp = MultiPolygon([Polygon(p[0], p[1:]) for p in reg.polygons])
        t_ref, ref = _t(lambda: contains_xy(mp, lon, lat))
        out.update(shapely_s=t_ref, speedup=t_ref / t_ours, agree=float((ours == ref).mean()))
    except ImportError:
        out["shapely_s"] = None
    return out


def bench_xgb_threads(sizes):
    from socspec.remote import XGBoostBaseline, simulate_corpus

    rows = []
    for n in sizes:
        c = simulate_corpus(n=n, seed=0, chips=False)
        X, y = c.feature_frame(), c.soc_g_kg
        t1, _ = _t(lambda X=X, y=y: XGBoostBaseline(n_jobs=1).fit(X, y), 2)  # bind this size's data
        t2, _ = _t(lambda X=X, y=y: XGBoostBaseline(n_jobs=2).fit(X, y), 2)
        rows.append({"n": n, "one_thread_s": t1, "two_threads_s": t2, "ratio_1_over_2": t1 / t2})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    res = {"grf": bench_grf(800 if a.quick else 2000),
           "point_in_polygon": bench_pip(200_000 if a.quick else 1_000_000),
           "xgboost_threads": bench_xgb_threads([500, 4000] if a.quick else [500, 5000, 16000])}
    g = res["grf"]
    print(f"GRF n={g['n']}: Cholesky {g['cholesky_s']:.2f} s, RFF {g['rff_s']:.3f} s "
          f"→ {g['speedup']:.1f}× faster")
    for k, v in g["covariance"].items():
        print(f"   cov {k:>12s}: RFF {v['rff']:.3f} vs exp(−d/ℓ) {v['exp']:.3f}")
    p = res["point_in_polygon"]
    if p.get("shapely_s"):
        print(f"point-in-polygon n={p['n']}: numpy {p['numpy_s']:.3f} s, shapely {p['shapely_s']:.3f} s"
              f" → ratio {p['speedup']:.2f} (agreement {p['agree']:.5f})")
    for r in res["xgboost_threads"]:
        print(f"XGBoost fit n={r['n']}: 1 thread {r['one_thread_s']:.2f} s, 2 threads "
              f"{r['two_threads_s']:.2f} s → 1/2 ratio {r['ratio_1_over_2']:.2f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
