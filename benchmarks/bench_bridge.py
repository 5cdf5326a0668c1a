"""The bridge on a SIMULATED corpus: planted out-of-distribution regions and latent spectral edges.

    python benchmarks/bench_bridge.py [--n 2500] [--sptgnn-n 1000] [--folds 3] [--json OUT.json]

1. **Planted shifts.** ``simulate_corpus`` over north, south, east, west and tropic. The
   sensor-band autoencoder (:class:`socspec.remote.bridge.SensorBandAutoencoder`, physics and ANN
   decoders, no pre-training) is fitted on 1,200 band spectra of the first four regions (it holds
   in 20 % of them for its split-conformal threshold at α = 0.05); then

   * ``false_alarm_rate`` — share flagged among the other held-out points of north, south, east
     (in distribution, never seen);
   * ``planted_region_flag_rate`` — held-out points of the west region made wet with the lab
     moisture model (:func:`socspec.lab.moisture.moisten`, Lobell & Asner 2002, saturation
     S ~ U(``--saturation``, 1), evaluated at the band centres), share flagged;
   * ``flag_rate_by_saturation`` — the same for S fixed at 0.05 … 0.5 (how wet before it is seen);
   * ``mineralogy_region_flag_rate`` — the tropic region (its own mineral mix and climate, never
     in training), share flagged: the harder, honest case (a physics decoder explains new
     mixtures of library minerals, so they are not "out of distribution" to it).

2. **Latent vs raw-band spectral edges.** SpTGNN cross-validated (``socspec.remote.evaluate``,
   spatial blocks, ``--folds``) on a simulated corpus of ``--sptgnn-n`` points without images, once
   with ``spectral_edges="bands"`` and once with ``"latent"``: ``raw_band_edges_rmse`` and
   ``latent_edges_rmse`` (g/kg), same folds and seeds.

3. **Transfer (seed 004), simulated.** An SpTGNN pre-trained on north, south and east is
   fine-tuned (``init_from``) on a share (``--transfer-fractions``) of the west region's labels and
   compared with the same SpTGNN trained on those labels alone (fine-tuning at ``--transfer-lr``,
   3e-4; the default 3e-3 overshoots on 25 labels); both are scored on the rest of the
   west region: ``transfer`` holds MAE and CCC per share, ``transfer_mae_gain_pct`` =
   100·(MAE_alone − MAE_tuned)/MAE_alone at the 10 % share. (Not measured: the same on LUCAS.)
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np


def planted_shifts(n: int, saturation: float, seed: int) -> dict:
    from socspec.lab.moisture import moisten
    from socspec.preprocess import sensor_bands
    from socspec.remote.bridge import SensorBandAutoencoder
    from socspec.remote.simulate import simulate_corpus

    c = simulate_corpus(n=n, regions=("north", "south", "east", "west", "tropic"), seed=seed, chip_size=4)
    reg, x = c.points["region"].to_numpy(), c.band_spectra
    rng = np.random.default_rng(seed + 1)
    inside = np.flatnonzero(reg != "tropic")
    rng.shuffle(inside)
    train, held = inside[:1200], inside[1200:]
    wet_rows, dry_rows = held[reg[held] == "west"], held[reg[held] != "west"]
    wl = sensor_bands("sentinel2")[0]
    wet = moisten(x[wet_rows], wl, rng.uniform(saturation, 1.0, (wet_rows.size, 1)))
    out = {}
    for decoder in ("physics", "ann"):
        t0 = time.perf_counter()
        ae = SensorBandAutoencoder(decoder=decoder, seed=seed).fit(x[train])
        by_s = {f"{s:g}": float(ae.flag(moisten(x[wet_rows], wl, s)).mean()) for s in (0.05, 0.1, 0.2, 0.3, 0.5)}
        out[decoder] = {
            "false_alarm_rate": float(ae.flag(x[dry_rows]).mean()),
            "west_dry_flag_rate": float(ae.flag(x[wet_rows]).mean()),
            "planted_region_flag_rate": float(ae.flag(wet).mean()),
            "flag_rate_by_saturation": by_s,
            "mineralogy_region_flag_rate": float(ae.flag(x[reg == "tropic"]).mean()),
            "threshold": ae.ood_threshold_, "n_calibration": ae.ood_calibration_["n_calibration"],
            "n_false_alarm_points": int(dry_rows.size), "n_planted_points": int(wet_rows.size),
            "n_mineralogy_points": int((reg == "tropic").sum()), "fit_seconds": time.perf_counter() - t0}
        print(f"{decoder:8s} false alarms {out[decoder]['false_alarm_rate']:.3f} (n={dry_rows.size}); "
              f"wet west {out[decoder]['planted_region_flag_rate']:.3f} (n={wet_rows.size}, S≥{saturation}); "
              f"by S {by_s}; tropic mineralogy {out[decoder]['mineralogy_region_flag_rate']:.3f}", flush=True)
    return out


def edges_rmse(n: int, folds: int, members: int, epochs: int, seed: int) -> dict:
    from socspec.remote import evaluate
    from socspec.remote.simulate import simulate_corpus

    c = simulate_corpus(n=n, seed=seed, chip_size=4)
    out = {}
    for edges in ("bands", "latent"):
        t0 = time.perf_counter()
        params = {"n_members": members, "epochs": epochs, "images": False, "device": "cpu", "hidden": 32,
                  "spectral_edges": edges, "random_state": seed}
        res = evaluate(c, models=("sptgnn",), scheme="spatial", n_folds=folds, seed=seed,
                       model_params={"sptgnn": params})
        m = res["metrics"]["sptgnn"]
        out[edges] = {"rmse": m["rmse"], "mae": m["mae"], "r2": m["r2"], "ccc": m["ccc"],
                      "per_fold_rmse": [f["rmse"] for f in m["folds"]], "seconds": time.perf_counter() - t0}
        print(f"spectral edges {edges:6s}: RMSE {m['rmse']:.3f} g/kg  R² {m['r2']:.3f}  "
              f"per fold {[round(f['rmse'], 2) for f in m['folds']]}", flush=True)
    return out


def transfer(n: int, fractions, members: int, epochs: int, seed: int, tune_lr: float) -> dict:
    import tempfile

    from socspec.metrics import ccc, mae
    from socspec.remote.simulate import simulate_corpus
    from socspec.remote.sptgnn import SpTGNNRegressor

    c = simulate_corpus(n=n, seed=seed, chip_size=4)
    reg = c.points["region"].to_numpy()
    params = {"n_members": members, "epochs": epochs, "images": False, "device": "cpu", "hidden": 32,
              "random_state": seed}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        SpTGNNRegressor(**params).fit(c.subset(reg != "west")).save(Path(tmp) / "donor")
        west = c.subset(reg == "west")
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(west))
        for f in fractions:
            k = max(20, int(round(f * len(west))))
            lab, test = order[:k], order[k:]
            y = west.subset(test).soc_g_kg
            row = {"n_labelled": int(k), "n_test": int(test.size)}
            for name, extra in (("alone", {}), ("tuned", {"init_from": Path(tmp) / "donor", "lr": tune_lr})):
                pred = SpTGNNRegressor(**params, **extra).fit(west.subset(lab)).predict(west.subset(test))[0]
                row[f"mae_{name}"], row[f"ccc_{name}"] = float(mae(y, pred)), float(ccc(y, pred))
            row["mae_gain_pct"] = 100.0 * (row["mae_alone"] - row["mae_tuned"]) / row["mae_alone"]
            row["ccc_gain"] = row["ccc_tuned"] - row["ccc_alone"]
            out[f"{f:g}"] = row
            print(f"transfer {f:.0%} of west labelled (n={k}): MAE alone {row['mae_alone']:.2f} → tuned "
                  f"{row['mae_tuned']:.2f} g/kg ({row['mae_gain_pct']:+.1f} %); CCC {row['ccc_alone']:.3f} → "
                  f"{row['ccc_tuned']:.3f}", flush=True)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2500, help="points of the planted-shift corpus")
    ap.add_argument("--saturation", type=float, default=0.5, help="lowest saturation of the wet region")
    ap.add_argument("--sptgnn-n", type=int, default=1000, help="points of the edges comparison corpus")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--members", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-sptgnn", action="store_true")
    ap.add_argument("--skip-shifts", action="store_true")
    ap.add_argument("--transfer-n", type=int, default=2000, help="points of the transfer corpus (0: skip)")
    ap.add_argument("--transfer-fractions", default="0.05,0.1,0.25")
    ap.add_argument("--transfer-lr", type=float, default=3e-4,
                    help="fine-tuning learning rate (region-only training keeps the default 3e-3)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    shifts = None if a.skip_shifts else planted_shifts(a.n, a.saturation, a.seed)
    edges = None if a.skip_sptgnn else edges_rmse(a.sptgnn_n, a.folds, a.members, a.epochs, a.seed)
    fractions = [float(f) for f in a.transfer_fractions.split(",")]
    trans = (transfer(a.transfer_n, fractions, a.members, a.epochs, a.seed, a.transfer_lr)
             if a.transfer_n else None)
    phys = (shifts or {}).get("physics", {})
    res = {"simulated": True, "decoder": "physics",
           "planted_region_flag_rate": phys.get("planted_region_flag_rate"),
           "false_alarm_rate": phys.get("false_alarm_rate"), "nominal_false_alarm": 0.05,
           "mineralogy_region_flag_rate": phys.get("mineralogy_region_flag_rate"),
           "latent_edges_rmse": None if edges is None else edges["latent"]["rmse"],
           "raw_band_edges_rmse": None if edges is None else edges["bands"]["rmse"],
           "transfer_mae_gain_pct": (trans or {}).get("0.1", {}).get("mae_gain_pct"), "transfer": trans,
           "planted_shifts": shifts, "edges": edges,
           "settings": vars(a), "machine": platform.platform(), "torch": torch.__version__}
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=2)
        print(f"wrote {a.json}")
    return res


if __name__ == "__main__":
    main()
