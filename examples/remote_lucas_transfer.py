"""Global-to-regional transfer on LUCAS 2015 (seed 004): pre-train the SpTGNN on every country (NUTS_0)
but a held-out group, fine-tune it (``init_from``, as ``fit-remote --init DIR``) on 5/10/25 % of the
group's labels, and compare with the same SpTGNN trained on those labels alone. Both are scored on the
rest of the group; the labelled draws are the same for both (``--repeats`` draws per share, seeded).

    OMP_NUM_THREADS=1 nice -n 10 python examples/remote_lucas_transfer.py --groups "LT,LV,EE;PT;AT,CZ,SK,HU,SI;FI,SE" \
        --repeats 5 --out lucas_transfer.json

Features lat, lon, LC, LU; OC ≤ 87 g/kg (the issue-12 LUCAS setting). Gains as seed 004 reports them:
MAE gain % = 100·(MAE_alone − MAE_tuned)/MAE_alone and CCC gain = CCC_tuned − CCC_alone (also in %).
``mae_global``/``ccc_global``: the pre-trained model alone on the same test points (zero-shot: its graph holds
only the other countries' points, so it never sees the group's labels).
``transfer_mae_gain_pct`` is the mean MAE gain over groups and repeats at the 10 % share.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from socspec.metrics import ccc, mae
from socspec.remote import read_corpus, resolve_region
from socspec.remote.sptgnn import SpTGNNRegressor

FEATURES = ["lat", "lon", "LC", "LU"]

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--data", default="../shared/data/remote/lucas2015_europe/lucas2015_topsoil.csv")
ap.add_argument("--groups", default="LT,LV,EE", help="held-out NUTS_0 groups, ';' between groups")
ap.add_argument("--fractions", default="0.05,0.1,0.25")
ap.add_argument("--repeats", type=int, default=3, help="labelled draws per share")
ap.add_argument("--hidden", type=int, default=32)
ap.add_argument("--epochs", type=int, default=60, help="pre-training epochs (region runs: --region-epochs)")
ap.add_argument("--region-epochs", type=int, default=100)
ap.add_argument("--patience", type=int, default=10)
ap.add_argument("--tune-lr", type=float, default=3e-4, help="fine-tuning learning rate (alone: 3e-3)")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--out", default=None)
a = ap.parse_args()
torch.set_num_threads(a.threads)
corpus = read_corpus(a.data, target_col="OC", features=FEATURES).select_region(resolve_region("europe"))
corpus = corpus.drop_above_soc(87)
nuts0 = corpus.points["NUTS_0"].astype(str).to_numpy()
fractions = [float(f) for f in a.fractions.split(",")]
base = {"features": FEATURES, "n_members": 1, "hidden": a.hidden, "patience": a.patience, "device": "cpu",
        "random_state": a.seed}
out = {"groups": {}, "settings": vars(a), "n": len(corpus)}
for group in a.groups.split(";"):
    members = group.split(",")
    inside = np.isin(nuts0, members)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        donor = Path(tmp) / "donor"
        SpTGNNRegressor(**base, epochs=a.epochs).fit(corpus.subset(~inside)).save(donor)
        pre_s = time.perf_counter() - t0
        region = corpus.subset(inside)
        global_model = SpTGNNRegressor.load(donor, device="cpu")  # zero-shot reference: no regional labels
        rows = {}
        for f in fractions:
            runs = []
            for r in range(a.repeats):
                order = np.random.default_rng(a.seed * 100 + r).permutation(len(region))
                k = max(20, int(round(f * len(region))))
                lab, test = order[:k], order[k:]
                y = region.subset(test).soc_g_kg
                run = {"n_labelled": int(k), "n_test": int(test.size)}
                for name, extra in (("alone", {"epochs": a.region_epochs}),
                                    ("tuned", {"epochs": a.region_epochs, "init_from": donor, "lr": a.tune_lr})):
                    pred = SpTGNNRegressor(**base, **extra).fit(region.subset(lab)).predict(region.subset(test))[0]
                    run[f"mae_{name}"], run[f"ccc_{name}"] = float(mae(y, pred)), float(ccc(y, pred))
                pred = global_model.predict(region.subset(test))[0]
                run["mae_global"], run["ccc_global"] = float(mae(y, pred)), float(ccc(y, pred))
                run["mae_gain_pct"] = 100.0 * (run["mae_alone"] - run["mae_tuned"]) / run["mae_alone"]
                run["ccc_gain"] = run["ccc_tuned"] - run["ccc_alone"]
                runs.append(run)
                print(f"{group} {f:.0%} (n={k}) draw {r}: MAE alone {run['mae_alone']:.2f} -> tuned "
                      f"{run['mae_tuned']:.2f} ({run['mae_gain_pct']:+.1f} %); CCC {run['ccc_alone']:.3f} -> "
                      f"{run['ccc_tuned']:.3f}; global zero-shot MAE {run['mae_global']:.2f} "
                      f"CCC {run['ccc_global']:.3f}",
                      flush=True)
            mean = {k: float(np.mean([x[k] for x in runs])) for k in runs[0] if k != "n_labelled"}
            mean["ccc_gain_pct"] = 100.0 * mean["ccc_gain"] / abs(mean["ccc_alone"])
            rows[f"{f:g}"] = {"n_labelled": runs[0]["n_labelled"], "mean": mean, "draws": runs}
    out["groups"][group] = {"n": int(inside.sum()), "n_pretrain": int((~inside).sum()),
                            "pretrain_seconds": pre_s, "seconds": time.perf_counter() - t0, "shares": rows}
share = f"{0.1:g}"
gains = [g["shares"][share]["mean"]["mae_gain_pct"] for g in out["groups"].values() if share in g["shares"]]
out["transfer_mae_gain_pct"] = float(np.mean(gains)) if gains else None
cgains = [g["shares"][share]["mean"]["ccc_gain"] for g in out["groups"].values() if share in g["shares"]]
out["transfer_ccc_gain"] = float(np.mean(cgains)) if cgains else None
print(json.dumps({k: v for k, v in out.items() if k != "groups"}, indent=1, default=str))
if a.out:
    with open(a.out, "w") as fh:
        json.dump(out, fh, indent=1, default=str)
