"""SpTGNN speed and memory: our relational attention beside PyG's RGATConv in the same run.

    python benchmarks/bench_sptgnn.py [--nodes 5000 --edges 120000] [--json OUT.json]

1. Attention layer, forward + backward, same random graph (3 relations) and the same weights:
   ``socspec.remote.attention.RelationalGraphAttention`` vs ``torch_geometric.nn.RGATConv``
   (across-relation, additive). Each variant runs in its OWN subprocess; time = best of
   ``--repeats`` forward+backward passes after one warm-up; peak memory = the process's peak
   RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) minus its RSS just before the first pass,
   in GB (10⁹ bytes) — tracemalloc does not see torch's CPU allocations. Both variants also
   report their output checksum so the run shows they computed the same thing.
2. ``epoch_benchmark(n_points)``: one training epoch of the full SpTGNN on a simulated corpus
   (``epoch_seconds_20k``) and the peak RSS of training at 50k points (``peak_rss_gb_50k``).

Keys written: attention_seconds_ours, attention_seconds_pyg_rgat, attention_peak_gb_ours,
attention_peak_gb_pyg_rgat, attention_speedup (pyg/ours), attention_memory_ratio (pyg/ours),
epoch_seconds_20k, peak_rss_gb_50k (None where not measured), plus the settings.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _attention_child(variant: str, nodes: int, edges: int, in_ch: int, out_ch: int, heads: int,
                     relations: int, repeats: int, threads: int) -> dict:
    """Runs inside the subprocess: time and peak-RSS of one variant."""
    import resource

    import torch

    torch.set_num_threads(threads)
    from torch_geometric.nn import RGATConv

    from socspec.remote.attention import RelationalGraphAttention

    g = torch.Generator().manual_seed(0)
    x = torch.randn(nodes, in_ch, generator=g)
    edge_index = torch.randint(0, nodes, (2, edges), generator=g)
    edge_type = torch.randint(0, relations, (edges,), generator=g)
    torch.manual_seed(0)
    layer = RGATConv(in_ch, out_ch, num_relations=relations, heads=heads)
    if variant == "ours":
        layer = RelationalGraphAttention.from_rgatconv(layer)
    xr = x.requires_grad_(True)
    rss0 = _rss_bytes()
    times, checksum = [], None
    for i in range(repeats + 1):
        layer.zero_grad(set_to_none=True)
        xr.grad = None
        t0 = time.perf_counter()
        out = layer(xr, edge_index, edge_type)
        out.square().mean().backward()
        dt = time.perf_counter() - t0
        if i == 0:
            checksum = float(out.detach().double().sum())
        else:
            times.append(dt)
        del out
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB
    return {"seconds": min(times), "peak_gb": (peak - rss0) / 1e9, "checksum": checksum}


def bench_attention(nodes, edges, in_ch, out_ch, heads, relations, repeats, threads) -> dict:
    res = {}
    for variant in ("ours", "pyg_rgat"):
        cmd = [sys.executable, __file__, "--child", variant, "--nodes", str(nodes), "--edges", str(edges),
               "--in-channels", str(in_ch), "--out-channels", str(out_ch), "--heads", str(heads),
               "--relations", str(relations), "--repeats", str(repeats), "--threads", str(threads)]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        if proc.returncode != 0:
            res[variant] = {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else
                            f"exit {proc.returncode} (killed? out of memory?)"}
            continue
        res[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    ours, pyg = res["ours"], res["pyg_rgat"]
    out = {"attention_seconds_ours": ours.get("seconds"), "attention_seconds_pyg_rgat": pyg.get("seconds"),
           "attention_peak_gb_ours": ours.get("peak_gb"), "attention_peak_gb_pyg_rgat": pyg.get("peak_gb"),
           "attention_checksum_ours": ours.get("checksum"), "attention_checksum_pyg_rgat": pyg.get("checksum")}
    if ours.get("seconds") and pyg.get("seconds"):
        out["attention_speedup"] = pyg["seconds"] / ours["seconds"]
        out["attention_memory_ratio"] = pyg["peak_gb"] / max(ours["peak_gb"], 1e-9)
    for v in ("ours", "pyg_rgat"):
        if "error" in res[v]:
            out[f"attention_error_{v}"] = res[v]["error"]
    return out


def _epoch_child(n_points: int, epochs: int, threads: int) -> dict:
    """Runs inside the subprocess: fit a 1-member SpTGNN for a few epochs on a simulated corpus."""
    import resource

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from socspec.remote import simulate_corpus
    from socspec.remote.sptgnn import SpTGNNRegressor

    t0 = time.perf_counter()
    corpus = simulate_corpus(n_points, seed=0, chips=True)
    t_sim = time.perf_counter() - t0
    model = SpTGNNRegressor(n_members=1, epochs=epochs, patience=epochs + 1, device="cpu",
                            random_state=0)
    t0 = time.perf_counter()
    model.fit(corpus)
    fit_s = time.perf_counter() - t0
    hist = model.histories_[0]
    ep = hist["epoch_seconds"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"n_points": n_points, "epoch_seconds": float(np.median(ep)), "epoch_seconds_all": ep,
            "fit_seconds": fit_s, "simulate_seconds": t_sim, "peak_rss_gb": peak / 1e9,
            "graph_nodes": int(model.train_graph_.n_nodes), "graph_edges": int(model.train_graph_.n_edges),
            "relations": list(model.relations_),
            "notes": list(getattr(model, "notes_", []))}


def epoch_benchmark(n_points: int, epochs: int = 3, threads: int = 1) -> dict | None:
    """One SpTGNN training epoch on a simulated corpus of ``n_points`` points (with 8×8 chips,
    frozen TerraMind tiny features, three relations, label features, the forest covariate,
    1 member): median seconds of the ``epochs`` epochs' training steps, and the peak RSS of the whole fit (simulation,
    image features, graphs, training, calibration) in its own subprocess, GB = 1e9 B.
    Training goes full-graph up to SpTGNNRegressor's ``full_graph_max_nodes`` (100,000), on k-hop
    subgraph batches above. Returns None when the SpTGNN is not importable."""
    try:
        import socspec.remote.sptgnn  # noqa: F401
    except ImportError:
        return None
    cmd = [sys.executable, __file__, "--epoch-child", str(n_points), "--epochs", str(epochs),
           "--threads", str(threads)]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        return {"error": tail}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--edges", type=int, default=120_000)
    ap.add_argument("--in-channels", type=int, default=64)
    ap.add_argument("--out-channels", type=int, default=16)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--relations", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    # 1 thread by default: on the shared 2-core machine, 2 threads under load made small ops
    # ~100× slower (spin-waiting OpenMP); pass --threads 2 on an idle machine
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-epochs", action="store_true", help="only the attention comparison")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per epoch-benchmark fit")
    ap.add_argument("--epoch-sizes", default="20000,50000",
                    help="corpus sizes for the epoch benchmark (the first gives epoch_seconds_20k, "
                         "the second peak_rss_gb_50k at the defaults)")
    ap.add_argument("--child", choices=("ours", "pyg_rgat"), help=argparse.SUPPRESS)
    ap.add_argument("--epoch-child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.epoch_child:
        print(json.dumps(_epoch_child(a.epoch_child, a.epochs, a.threads)))
        return {}
    if a.child:
        print(json.dumps(_attention_child(a.child, a.nodes, a.edges, a.in_channels, a.out_channels,
                                          a.heads, a.relations, a.repeats, a.threads)))
        return {}
    import torch

    out = {"settings": {"nodes": a.nodes, "edges": a.edges, "in_channels": a.in_channels,
                        "out_channels": a.out_channels, "heads": a.heads, "relations": a.relations,
                        "repeats": a.repeats, "threads": a.threads, "device": "cpu",
                        "memory": "peak RSS minus RSS before the first pass, own subprocess, GB = 1e9 B",
                        "torch": torch.__version__, "python": platform.python_version()}}
    out.update(bench_attention(a.nodes, a.edges, a.in_channels, a.out_channels, a.heads, a.relations,
                               a.repeats, a.threads))
    sizes = [int(v) for v in a.epoch_sizes.split(",") if v.strip()]
    runs = {} if a.skip_epochs else {n: epoch_benchmark(n, a.epochs, a.threads) for n in sizes}
    out["epoch_runs"] = {str(n): r for n, r in runs.items()}
    e20 = runs.get(20_000) or {}
    e50 = runs.get(50_000) or {}
    out["epoch_seconds_20k"] = e20.get("epoch_seconds")
    out["peak_rss_gb_20k"] = e20.get("peak_rss_gb")
    out["epoch_seconds_50k"] = e50.get("epoch_seconds")
    out["peak_rss_gb_50k"] = e50.get("peak_rss_gb")
    print(json.dumps(out, indent=2))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
