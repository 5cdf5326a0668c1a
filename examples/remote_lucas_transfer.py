"""Global-to-regional transfer on LUCAS 2015, evaluated as seed 004 reports it
(:mod:`socspec.remote.transfer`): pre-train the SpTGNN on every country (NUTS_0) outside a held-out
group, then inside the group run K-fold cross-validation (spatial 1° blocks by default); in each
fold a share of the training folds is labelled (nested draws: 5 % ⊂ 10 % ⊂ 25 % ⊂ 100 %), and the
pre-trained model fine-tuned on those labels (``init_from``, as ``fit-remote --init DIR``) is
compared with the same SpTGNN trained on them alone — same labelled rows, same test fold. Every
point of the group is predicted once per share; MAE and CCC on the pooled out-of-fold predictions.

    OMP_NUM_THREADS=1 nice -n 10 python examples/remote_lucas_transfer.py \
        --groups "LT,LV,EE;PT;AT,CZ,SK,HU,SI;FI,SE" --out lucas_transfer.json

Features lat, lon, LC, LU; OC ≤ 87 g/kg (the issue-12 LUCAS setting). Gains as seed 004 reports them:
MAE gain % = 100·(MAE_alone − MAE_tuned)/MAE_alone (and ΔMAE in g/kg), CCC gain % =
100·(CCC_tuned − CCC_alone)/|CCC_alone| (and ΔCCC); ``mae_reference``/``ccc_reference``: the pre-trained
model alone on the group (zero-shot). ``mean`` holds the mean over groups per share
(seed 004's "average over regions"); ``transfer_mae_gain_pct`` / ``transfer_ccc_gain`` at 10 %.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from socspec.remote import read_corpus, resolve_region
from socspec.remote.sptgnn import SpTGNNRegressor
from socspec.remote.transfer import mean_over_regions, regional_transfer_cv

FEATURES = ["lat", "lon", "LC", "LU"]

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--data", default="../shared/data/remote/lucas2015_europe/lucas2015_topsoil.csv")
ap.add_argument("--groups", default="LT,LV,EE", help="held-out NUTS_0 groups, ';' between groups")
ap.add_argument("--shares", default="0.05,0.1,0.25,1", help="labelled shares of the training folds")
ap.add_argument("--folds", type=int, default=5)
ap.add_argument("--cv", default="spatial", choices=("spatial", "random"))
ap.add_argument("--block-deg", type=float, default=1.0)
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
shares = [float(f) for f in a.shares.split(",")]
base = {"features": FEATURES, "n_members": 1, "hidden": a.hidden, "patience": a.patience, "device": "cpu",
        "random_state": a.seed}
out = {"groups": {}, "settings": vars(a), "n": len(corpus)}
for group in a.groups.split(";"):
    inside = np.isin(nuts0, group.split(","))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        donor = Path(tmp) / "donor"
        SpTGNNRegressor(**base, epochs=a.epochs).fit(corpus.subset(~inside)).save(donor)
        pre_s = time.perf_counter() - t0

        def make_model(arm, donor=donor):
            tune = {"init_from": donor, "lr": a.tune_lr} if arm == "tuned" else {}
            return SpTGNNRegressor(**base, epochs=a.region_epochs, **tune)

        res = regional_transfer_cv(corpus.subset(inside), make_model, shares=shares, n_folds=a.folds, scheme=a.cv,
                                   block_deg=a.block_deg, seed=a.seed,
                                   reference=SpTGNNRegressor.load(donor, device="cpu"))
    res.pop("folds")
    res.update(n_pretrain=int((~inside).sum()), pretrain_seconds=pre_s, seconds=time.perf_counter() - t0)
    out["groups"][group] = res
    for s, r in res["shares"].items():
        print(f"{group} share {float(s):.0%} (labelled per fold {min(r['n_labelled'])}-{max(r['n_labelled'])}): "
              f"MAE alone {r['mae_alone']:.2f} -> tuned {r['mae_tuned']:.2f} g/kg ({r['mae_gain_pct']:+.1f} %); "
              f"CCC {r['ccc_alone']:.3f} -> {r['ccc_tuned']:.3f} ({r['ccc_gain']:+.3f}, {r['ccc_gain_pct']:+.0f} %)",
              flush=True)
    print(f"{group}: n {res['n']}, zero-shot MAE {res['mae_reference']:.2f} CCC {res['ccc_reference']:.3f}; "
          f"{res['seconds']:.0f} s", flush=True)
out["mean"] = {f"{s:g}": mean_over_regions(out["groups"], s) for s in shares}
out["transfer_mae_gain_pct"] = out["mean"].get("0.1", {}).get("mae_gain_pct")
out["transfer_ccc_gain"] = out["mean"].get("0.1", {}).get("ccc_gain")
print(json.dumps({k: v for k, v in out.items() if k != "groups"}, indent=1, default=str))
if a.out:
    with open(a.out, "w") as fh:
        json.dump(out, fh, indent=1, default=str)
