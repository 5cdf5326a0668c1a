"""Run models on a corpus with the same CV folds and write ``metrics.json``, predictions, PNGs.

``MODELS`` maps a name to a factory ``(seed) -> estimator``. The baselines are registered here;
the SpTGNN (a later issue) registers itself with :func:`register_model` and is then run by
``socspec fit-remote --models sptgnn,xgboost`` beside them on the same folds. An estimator with
``uses_corpus = True`` is fitted as ``fit(corpus_subset)`` / ``predict(corpus_subset)`` (it sees
chips, dates and coordinates); the others get the covariate DataFrame.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from .baselines import RandomForestBaseline, XGBoostBaseline, XGBoostKrigedResiduals, cross_validate
from .corpus import Corpus
from .cv import make_folds

MODELS = {
    "xgboost": lambda seed: XGBoostBaseline(random_state=seed),
    "random_forest": lambda seed: RandomForestBaseline(random_state=seed),
    # regression kriging; on request only (`--models xgboost,random_forest,xgboost_kriged`)
    "xgboost_kriged": lambda seed: XGBoostKrigedResiduals(random_state=seed),
    "sptgnn": lambda seed: _sptgnn(seed),
}


def _sptgnn(seed):
    from .sptgnn import SpTGNNRegressor  # torch and torch-geometric load only when it runs

    return SpTGNNRegressor(random_state=seed)


def register_model(name: str, factory) -> None:
    """Add a model to ``fit-remote`` (factory: ``seed -> estimator``)."""
    MODELS[name] = factory


class _CorpusAdapter:
    """Lets corpus-level models go through :func:`cross_validate` (which slices a DataFrame)."""

    def __init__(self, model, corpus):
        self.model, self.corpus = model, corpus

    def get_params(self, deep=False):
        return {"model": self.model, "corpus": self.corpus}

    def set_params(self, **p):
        for k, v in p.items():
            setattr(self, k, v)
        return self

    def __sklearn_clone__(self):
        # share the corpus (chips can be large) instead of deep-copying it per fold
        return _CorpusAdapter(self.model, self.corpus)

    def fit(self, X, y):
        from sklearn.base import clone

        self.fitted_ = clone(self.model).fit(self.corpus.subset(X["_row"].to_numpy()))
        return self

    def predict(self, X):
        return self.fitted_.predict(self.corpus.subset(X["_row"].to_numpy()))


def evaluate(corpus: Corpus, *, features=None, models=("xgboost", "random_forest"),
             scheme: str = "spatial", n_folds: int = 5, block_deg: float | None = 1.0,
             block_km: float | None = None, seed: int = 0, moran_permutations: int = 99,
             progress: bool = False, model_params: dict | None = None, n_jobs: int = 1) -> dict:
    """Cross-validate ``models`` on the labelled points of ``corpus``.

    ``model_params``: ``{model name: {hyper-parameter: value}}`` set on that model's estimator
    (``set_params``) before the folds, e.g. ``{"sptgnn": {"n_members": 2}}``. ``n_jobs``: folds
    fitted in parallel worker processes (:func:`~socspec.remote.baselines.cross_validate`).

    Returns ``{"metrics": <metrics.json dict>, "predictions": DataFrame, "folds": (n,)}``.
    """
    lab = corpus.subset(corpus.labelled_mask())
    if len(lab) < 2 * n_folds:
        from ..errors import SocspecInputError

        raise SocspecInputError(f"only {len(lab)} labelled points: too few for {n_folds}-fold CV",
                                path=corpus.meta.get("source"),
                                hint="widen the region or lower --folds")
    features = list(features or lab.default_features())
    X = lab.feature_frame(features)
    y = lab.soc_g_kg
    folds, cv_info = make_folds(lab.lat, lab.lon, scheme=scheme, n_folds=n_folds,
                                block_deg=block_deg, block_km=block_km, seed=seed)
    from tqdm.auto import tqdm

    bar = tqdm(total=n_folds * len(models), desc="fit-remote", disable=not progress, unit="fit")
    results, timing = {}, {}
    preds = pd.DataFrame({"id": lab.ids, "lat": lab.lat, "lon": lab.lon, "fold": folds,
                          "soc_g_kg": y})
    for name in models:
        if name not in MODELS:
            from ..errors import SocspecInputError

            raise SocspecInputError(f"unknown model {name!r}", hint=f"use {', '.join(MODELS)}")
        model = MODELS[name](seed)
        if (model_params or {}).get(name):
            model.set_params(**model_params[name])
        if getattr(model, "uses_corpus", False) and model.get_params().get("features", "") is None:
            model.set_params(features=features)  # same covariates as the tabular models
        Xm = X
        if getattr(model, "uses_corpus", False):
            model, Xm = _CorpusAdapter(model, lab), pd.DataFrame({"_row": np.arange(len(lab))})
        t0 = time.perf_counter()
        out = cross_validate(model, Xm, y, folds, lat_deg=lab.lat, lon_deg=lab.lon,
                             moran_permutations=moran_permutations, progress=bar, n_jobs=n_jobs)
        timing[name] = time.perf_counter() - t0
        results[name] = out["metrics"]
        preds[f"pred_{name}"] = out["pred"]
        if out["std"] is not None:
            preds[f"std_{name}"] = out["std"]
    bar.close()
    cats = [f for f in features if isinstance(X[f].dtype, pd.CategoricalDtype)]
    metrics = dict(results)
    metrics["data"] = {"n": int(len(lab)), "n_unlabelled_dropped": int(len(corpus) - len(lab)),
                       "region": corpus.meta.get("region", "global"), "features": features,
                       "categorical_features": cats, "target": "soc_g_kg",
                       "target_col_original": corpus.meta.get("target_col_original"),
                       "unit": "g/kg", "soc_unit_original": corpus.meta.get("soc_unit_original"),
                       "max_soc_g_kg": corpus.meta.get("max_soc_g_kg"),
                       "n_dropped_above_max_soc": corpus.meta.get("n_dropped_above_max_soc"),
                       "source": corpus.meta.get("source"), "simulated": corpus.simulated}
    metrics["cv"] = cv_info
    metrics["timing_seconds"] = timing
    return {"metrics": metrics, "predictions": preds, "folds": folds}


def write_outputs(result: dict, out_dir) -> dict:
    """metrics.json, predictions.csv, pred_vs_obs.png, residual_map_<best>.png, cv_folds.png."""
    from ..outputs import atomic_path, write_json
    from . import plots

    out = Path(out_dir)
    m, p = result["metrics"], result["predictions"]
    files = {"metrics": write_json(out / "metrics.json", m)}
    with atomic_path(out / "predictions.csv") as tmp:
        p.to_csv(tmp, index=False)
    files["predictions"] = out / "predictions.csv"
    model_names = [c[5:] for c in p.columns if c.startswith("pred_")]
    tag = " (SIMULATED data)" if m["data"]["simulated"] else ""
    files["pred_vs_obs"] = plots.pred_vs_obs(p["soc_g_kg"], {k: p[f"pred_{k}"] for k in model_names},
                                             out / "pred_vs_obs.png",
                                             title=f"{m['data']['region']} — {m['cv']['scheme']} CV{tag}")
    for k in model_names:
        files[f"residual_map_{k}"] = plots.residual_map(
            p["lat"], p["lon"], p["soc_g_kg"] - p[f"pred_{k}"], out / f"residual_map_{k}.png",
            title=f"{k}: residuals, Moran's I = {m[k].get('moran_i_residuals', float('nan')):.3f}{tag}")
    files["cv_folds"] = plots.folds_map(p["lat"], p["lon"], p["fold"], out / "cv_folds.png",
                                        title=f"{m['cv']['scheme']} CV folds")
    return files
