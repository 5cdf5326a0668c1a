"""Benchmark the numba kernels against their references, each pair measured in the same run.

    python benchmarks/bench_kernels.py --json OUT.json [--quick] [--repeat 3]

Pairs (best of ``--repeat`` wall-clock runs each; numba is warmed up on small inputs first, so
JIT compile time is excluded -- it is cached on disk after the first run anyway):

1. Moran's I, k = 8, 999 permutations, weights construction included on both sides, on the
   LUCAS 2015 topsoil points (../shared/data/remote/lucas2015_europe, OC column):
   libpysal KNN (distance_metric="arc") + esda.Moran  vs  knn_weights + morans_i.
   Falls back to generated points (noted in the JSON) when ../shared is absent.
2. The same on 1,000,000 generated points (ours only; target < 5 s).
3. kNN graph, k = 8, on 1,000,000 generated points: haversine_knn  vs  scipy cKDTree build +
   query on 3-D unit vectors (workers=-1, the unit vectors precomputed -- not timed).
4. Spectral kNN, 50,000 x 32, k = 8: spectral_knn  vs  sklearn NearestNeighbors(brute, cosine).

``--quick`` shrinks sizes 1M -> 200k and 50k -> 10k (keys keep their names; sizes are recorded).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from socspec.kernels import haversine_knn, knn_weights, latlon_to_unit, morans_i, spectral_knn  # noqa: E402

LUCAS = (Path(os.environ.get("SOCSPEC_SHARED", REPO.parent / "shared"))
         / "data/remote/lucas2015_europe/lucas2015_topsoil.csv")


def best_of(fn, repeat):
    out, times = None, []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def generated_points(n, seed=0):
    """Points spread over a Europe-sized box with a smooth SOC-like field plus noise."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(35.0, 70.0, n)
    lon = rng.uniform(-10.0, 30.0, n)
    y = 20 + 8 * np.sin(np.radians(lat) * 12) + 5 * np.cos(np.radians(lon) * 9) + rng.normal(0, 4, n)
    return lat, lon, y


def warm_up():
    lat, lon, y = generated_points(2000, seed=1)
    morans_i(y, knn_weights(lat, lon, 8), permutations=9)
    haversine_knn(lat, lon, 8)
    spectral_knn(np.random.default_rng(0).normal(size=(500, 8)), 8)


def bench_moran_lucas(repeat, notes):
    import esda
    import libpysal

    if LUCAS.is_file():
        import pandas as pd

        df = pd.read_csv(LUCAS, usecols=["lat", "long", "OC"]).dropna()
        lat, lon, y = df["lat"].to_numpy(), df["long"].to_numpy(), df["OC"].to_numpy(float)
        source = f"LUCAS 2015 topsoil ({LUCAS.name}), OC"
    else:
        lat, lon, y = generated_points(21859)
        source = "generated points (../shared absent)"
        notes.append(f"moran: {LUCAS} not found; used 21,859 generated points")

    def ref():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = libpysal.weights.KNN.from_array(np.c_[lon, lat], k=8, distance_metric="arc", radius=6371.0088)
            return w, esda.Moran(y, w, permutations=999)

    def ours():
        w = knn_weights(lat, lon, k=8)
        return w, morans_i(y, w, permutations=999, seed=0)

    t_ref, (w_ref, m_ref) = best_of(ref, repeat)
    t_ours, (w_ours, m_ours) = best_of(ours, repeat)
    same_nb = all(set(w_ours.indices[w_ours.indptr[i]:w_ours.indptr[i + 1]]) == set(w_ref.neighbors[i])
                  for i in range(lat.size))
    fields = ("I", "EI", "VI_norm", "z_norm")
    stats_match = all(abs(getattr(m_ours, a) - getattr(m_ref, a)) <= 1e-10 * max(1, abs(getattr(m_ref, a)))
                      for a in fields)
    # p_sim: same behaviour -- both at the floor 1/(perm+1) for this strongly clustered field, or both > it
    floor = 1 / 1000
    p_sim_match = (m_ours.p_sim <= floor + 1e-12) == (m_ref.p_sim <= floor + 1e-12)
    return {
        "moran_points": int(lat.size), "moran_source": source,
        "moran_esda_seconds": t_ref, "moran_ours_seconds": t_ours,
        "moran_speedup_vs_esda": t_ref / t_ours,
        "moran_neighbours_match": bool(same_nb), "moran_stats_match_1e-10": bool(stats_match),
        "moran_p_sim_behaviour_match": bool(p_sim_match),
        "moran_I": m_ours.I, "moran_I_esda": m_ref.I, "moran_p_sim": m_ours.p_sim, "moran_p_sim_esda": m_ref.p_sim,
    }


def bench_moran_1m(n, repeat):
    lat, lon, y = generated_points(n, seed=2)

    def ours():
        return morans_i(y, knn_weights(lat, lon, k=8), permutations=999, seed=0)

    t, m = best_of(ours, repeat)
    return {"moran_1m_points": n, "moran_1m_seconds": t, "moran_1m_I": m.I, "moran_1m_p_sim": m.p_sim}


def bench_knn_1m(n, repeat):
    from scipy.spatial import cKDTree

    lat, lon, _ = generated_points(n, seed=3)
    xyz = latlon_to_unit(lat, lon)
    t_ckd, (_, ref) = best_of(lambda: cKDTree(xyz).query(xyz, k=9, workers=-1), repeat)
    t_ckd1, _ = best_of(lambda: cKDTree(xyz).query(xyz, k=9, workers=1), 1)
    t_ours, (idx, _) = best_of(lambda: haversine_knn(lat, lon, 8), repeat)
    return {
        "knn_1m_points": n, "knn_ckdtree_seconds": t_ckd, "knn_ckdtree_1worker_seconds": t_ckd1,
        "knn_ours_seconds": t_ours, "knn_1m_ratio_vs_ckdtree": t_ours / t_ckd,
        "knn_1m_ratio_vs_ckdtree_1worker": t_ours / t_ckd1,
        "knn_neighbours_identical": bool(np.array_equal(idx, ref[:, 1:])),
    }


def bench_spectral(n, d, repeat):
    from sklearn.neighbors import NearestNeighbors

    x = np.random.default_rng(4).normal(size=(n, d))
    brute = NearestNeighbors(n_neighbors=9, algorithm="brute", metric="cosine")
    t_ref, (_, ref) = best_of(lambda: brute.fit(x).kneighbors(x), 1)
    t_ours, (idx, _) = best_of(lambda: spectral_knn(x, 8), repeat)
    return {
        "spectral_nodes": n, "spectral_dims": d, "spectral_sklearn_seconds": t_ref, "spectral_ours_seconds": t_ours,
        "spectral_knn_speedup_vs_sklearn": t_ref / t_ours,
        "spectral_neighbours_identical": bool(np.array_equal(idx, ref[:, 1:])),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, help="write results to this JSON file")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (200k points, 10k x 32 spectra)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N timed runs (default 3)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["moran", "moran1m", "knn", "spectral"])
    a = ap.parse_args(argv)
    import numba

    big = 200_000 if a.quick else 1_000_000
    spec_n = 10_000 if a.quick else 50_000
    notes = ["numba compile time excluded (warm-up on small inputs before timing)",
             f"best of {a.repeat} runs; reference sklearn NearestNeighbors timed once",
             "cKDTree time excludes the lat/lon -> unit-vector conversion; ours includes validation, "
             "conversion and great-circle km"]
    res = {"quick": a.quick, "cpu_count": os.cpu_count(), "numba_threads": numba.get_num_threads(),
           "load_average_at_start": os.getloadavg()}
    t = time.perf_counter()
    warm_up()
    res["warm_up_seconds"] = time.perf_counter() - t
    if "moran" not in a.skip:
        res.update(bench_moran_lucas(a.repeat, notes))
    if "moran1m" not in a.skip:
        res.update(bench_moran_1m(big, a.repeat))
    if "knn" not in a.skip:
        res.update(bench_knn_1m(big, a.repeat))
    if "spectral" not in a.skip:
        res.update(bench_spectral(spec_n, 32, a.repeat))
    res["load_average_at_end"] = os.getloadavg()
    if max(res["load_average_at_start"][0], res["load_average_at_end"][0]) > 0.5 * (os.cpu_count() or 1):
        notes.append(f"machine busy (load average {res['load_average_at_start'][0]:.1f} -> "
                     f"{res['load_average_at_end'][0]:.1f} on {os.cpu_count()} cores): timings are inflated, "
                     "parallel kernels most")
    res["notes"] = notes

    rows = [
        ("Moran's I + kNN weights, 999 perms", res.get("moran_points"), res.get("moran_esda_seconds"), "esda+libpysal",
         res.get("moran_ours_seconds"), res.get("moran_speedup_vs_esda"), "x faster",
         res.get("moran_stats_match_1e-10")),
        ("Moran's I, generated, weights incl.", res.get("moran_1m_points"), None, "-", res.get("moran_1m_seconds"),
         None, "", None),
        ("kNN k=8 on the sphere", res.get("knn_1m_points"), res.get("knn_ckdtree_seconds"), "cKDTree (all cores)",
         res.get("knn_ours_seconds"), res.get("knn_1m_ratio_vs_ckdtree"), "ours/ref",
         res.get("knn_neighbours_identical")),
        ("spectral kNN k=8, d=32", res.get("spectral_nodes"), res.get("spectral_sklearn_seconds"),
         "sklearn brute cosine",
         res.get("spectral_ours_seconds"), res.get("spectral_knn_speedup_vs_sklearn"), "x faster",
         res.get("spectral_neighbours_identical")),
    ]
    print(f"{'benchmark':38s} {'n':>9s} {'ref s':>8s} {'reference':22s} {'ours s':>8s} {'ratio':>8s}        match")
    fmt = lambda v, f: (f.format(v) if v is not None else "-")  # noqa: E731
    for name, n, tr, rn, to, ratio, unit, ok in rows:
        if n is None:
            continue
        print(f"{name:38s} {n:9d} {fmt(tr, '{:8.3f}'):>8s} {rn:22s} {fmt(to, '{:8.3f}'):>8s} "
              f"{fmt(ratio, '{:8.2f}'):>8s} {unit:8s} {'' if ok is None else ok}")
    for note in notes:
        print("note:", note)
    if a.json:
        from socspec.outputs import write_json

        write_json(a.json, res)
        print(f"wrote {a.json}")
    return res


if __name__ == "__main__":
    main()
