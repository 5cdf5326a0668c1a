"""LUCAS 2015 topsoil (Europe, OC ≤ 87 g/kg, features lat, lon, LC, LU): the SpTGNN against XGBoost,
the random forest and XGBoost + kriged residuals on the same 5 spatial-block folds (1° blocks,
seed 0). Prints and writes a JSON.

    python examples/remote_lucas_sptgnn.py --jobs 2 --out lucas_sptgnn.json

runs the SpTGNN at its defaults (5 members, hidden 64); ``--members``, ``--hidden``, ``--epochs``,
``--patience`` override them, and ``--set NAME=VALUE`` any other estimator parameter (VALUE as
JSON: ``--set forest_covariate=false``). ``--jobs 2`` fits two folds at a time in worker processes (one
torch thread each on a 2-core machine).
"""
import argparse
import json

import torch

from socspec.remote import evaluate, read_corpus, resolve_region

FEATURES = ["lat", "lon", "LC", "LU"]
MODELS = ("sptgnn", "xgboost", "random_forest", "xgboost_kriged")

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--data", default="../shared/data/remote/lucas2015_europe/lucas2015_topsoil.csv")
ap.add_argument("--members", type=int, default=None)
ap.add_argument("--hidden", type=int, default=None)
ap.add_argument("--epochs", type=int, default=None)
ap.add_argument("--patience", type=int, default=None)
ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                help="any SpTGNNRegressor parameter, VALUE as JSON (repeatable)")
ap.add_argument("--threads", type=int, default=None, help="torch threads (with --jobs 1)")
ap.add_argument("--jobs", type=int, default=1, help="folds fitted in parallel processes")
ap.add_argument("--out", default=None)
a = ap.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
corpus = read_corpus(a.data, target_col="OC", features=FEATURES).select_region(resolve_region("europe"))
corpus = corpus.drop_above_soc(87)
params = {k: v for k, v in {"n_members": a.members, "hidden": a.hidden, "epochs": a.epochs,
                            "patience": a.patience}.items() if v is not None}
for item in a.set:
    name, _, value = item.partition("=")
    params[name.strip()] = json.loads(value)
res = evaluate(corpus, features=FEATURES, models=MODELS, scheme="spatial", n_folds=5, block_deg=1.0,
               seed=0, model_params={"sptgnn": params}, n_jobs=a.jobs)
m = res["metrics"]
keys = ("r2", "rmse", "mae", "ccc", "moran_i_residuals", "ece", "coverage90")
out = {k: {kk: m[k][kk] for kk in keys if kk in m[k]} for k in MODELS}
out.update(per_fold_rmse={k: [f["rmse"] for f in m[k]["folds"]] for k in MODELS},
           timing_seconds=m["timing_seconds"], n=m["data"]["n"], sptgnn_params=params)
print(json.dumps(out, indent=1))
if a.out:
    with open(a.out, "w") as fh:
        json.dump(out, fh, indent=1)
