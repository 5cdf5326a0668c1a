"""The fit-lab run as a library function (the CLI and ``socspec demo`` only parse and print).

``fit_lab_run`` splits the labelled rows (random, ``test_size``), trains one ``LabSOCModel`` per
seed (split seed = model seed), fits the PLSR baseline on the same split, and writes into the run
directory: ``model/`` (artifact of the first seed), ``metrics.json``, ``predictions.csv`` and PNGs.
The run directory follows :mod:`socspec.runs` (one writer, ``--force`` replaces it whole,
``--resume`` only continues this run's own checkpoints).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SocspecInputError
from ..outputs import atomic_path, write_json
from ..runs import RunDir
from ..spectra import SpectralTable, reflectance_to_absorbance
from .metrics import mean_sd, mrmse_percent, regression_metrics

SUMMARY_KEYS = ("r2", "rmse", "bias", "mae", "mrmse")


def random_split(table: SpectralTable, test_size: float, seed: int):
    """Indices (train, test): the test rows are the labelled scans of randomly drawn sample ids
    (≈ ``test_size`` of the labelled scans); all scans of one id stay on one side, and unlabelled
    scans of other ids go to training (:func:`socspec.lab.splits.group_train_test_split`)."""
    if not 0.0 < float(test_size) < 1.0:
        raise SocspecInputError(f"test_size must be between 0 and 1, got {test_size}")
    lab = np.flatnonzero(table.labelled_mask())
    if len(lab) < 5:
        raise SocspecInputError(f"only {len(lab)} labelled spectra; need at least 5 to split train/test",
                                path=table.source)
    from .splits import group_train_test_split

    return group_train_test_split(table.ids, table.labelled_mask(), test_size, seed, source=table.source)


def _score_split(model, table: SpectralTable) -> dict:
    obs = table.soc_g_kg
    pred = model.predict(table)
    met = regression_metrics(obs, pred)
    met["mrmse"] = (float("nan") if model.decoder == "none"
                    else mrmse_percent(model.model_inputs(table), model.reconstruct(table)))
    return met


def fit_lab_run(table: SpectralTable, out_dir, *, model_params: dict | None = None,
                unlabeled: SpectralTable | None = None, test_size: float = 0.4, seeds=(0,),
                force: bool = False, resume: bool = False, progress: bool = True, plots: bool = True,
                pls_max_components: int = 30, region_col: str | None = None) -> dict:
    """Run fit-lab; returns the metrics dict written to ``metrics.json``.

    ``model_params`` go to :class:`LabSOCModel` (``seed`` and ``checkpoint_dir`` are set per seed:
    ``out_dir/checkpoints/seed<S>``). The run directory is a :class:`socspec.runs.RunDir`: locked
    against a second writer; an existing non-empty one needs ``force`` and is then replaced as a
    whole when this run completes; ``resume=True`` continues each seed from its checkpoint, which
    must come from the same data, options and grid. ``region_col`` adds the leave-one-region-out
    experiment (``metrics["loro"]`` and its plots) to the same run.
    """
    out_dir = Path(out_dir)
    inputs = (table.source, None if unlabeled is None else unlabeled.source)
    with RunDir(out_dir, force=force, resume=resume, inputs=inputs) as run:
        return _fit_lab_into(run.path, out_dir, table, model_params=model_params, unlabeled=unlabeled,
                             test_size=test_size, seeds=seeds, resume=run.resuming, progress=progress,
                             plots=plots, pls_max_components=pls_max_components, region_col=region_col)


def _fit_lab_into(out: Path, final: Path, table: SpectralTable, *, model_params, unlabeled, test_size, seeds,
                  resume, progress, plots, pls_max_components, region_col) -> dict:
    """The body of :func:`fit_lab_run`, writing into ``out`` (the run directory, or its staging
    copy that becomes ``final``)."""
    from . import plots as P
    from .estimator import LabSOCModel
    from .pls import PLSBaseline, PLSTuned

    params = dict(model_params or {})
    params.setdefault("progress", progress)
    seeds = [int(s) for s in seeds] or [0]
    per_seed, first = [], None
    for s in seeds:
        train_idx, test_idx = random_split(table, test_size, s)
        train, test = table.subset(train_idx), table.subset(test_idx)
        model = LabSOCModel(**{**params, "seed": s, "checkpoint_dir": out / "checkpoints" / f"seed{s}"})
        model.fit(train, unlabeled=unlabeled, resume=resume)
        # the test scans were never trained on: they join the held-in scans in calibrating the OOD
        # threshold, so small libraries still reach the asked false-alarm rate (see socspec.ood)
        model.extend_ood_calibration(test)
        labelled_train = train.subset(train.labelled_mask())
        res = {"seed": s, "model": {"train": _score_split(model, labelled_train), "test": _score_split(model, test)}}
        xtr, xte = model.model_inputs(labelled_train), model.model_inputs(test)
        atr, ate = reflectance_to_absorbance(xtr), reflectance_to_absorbance(xte)
        pls = PLSBaseline(max_components=pls_max_components, seed=s).fit(atr, labelled_train.soc_g_kg,
                                                                         groups=labelled_train.ids)
        res["pls"] = {"train": regression_metrics(labelled_train.soc_g_kg, pls.predict(atr)),
                      "test": regression_metrics(test.soc_g_kg, pls.predict(ate)),
                      "n_components": int(pls.n_components_)}
        # the chemometric yardstick at its best: SNV / SG first derivative and ≤ 30 components by CV
        step = float(np.median(np.diff(model.wavelength_nm_))) if len(model.wavelength_nm_) > 1 else 1.0
        tuned = PLSTuned(seed=s, step_nm=step).fit(atr, labelled_train.soc_g_kg, groups=labelled_train.ids)
        res["pls_tuned"] = {"train": regression_metrics(labelled_train.soc_g_kg, tuned.predict(atr)),
                            "test": regression_metrics(test.soc_g_kg, tuned.predict(ate)),
                            "n_components": int(tuned.n_components_), "pretreatment": tuned.pretreatment_}
        res["best_epoch"] = model.best_epoch_
        res["epochs_run"] = len(model.history_)
        per_seed.append(res)
        if first is None:
            first = (model, pls, train, test, labelled_train)
    model, pls, train, test, labelled_train = first
    model.checkpoint_dir = final / "checkpoints" / f"seed{seeds[0]}"  # where it lives once the run is in place
    model.save(out / "model")

    def summarise(which):
        return {split: {k: mean_sd([r[which][split].get(k, np.nan) for r in per_seed])
                        for k in SUMMARY_KEYS if k in per_seed[0][which][split]}
                for split in ("train", "test")}

    metrics = {
        "model": per_seed[0]["model"], "pls": per_seed[0]["pls"], "pls_tuned": per_seed[0]["pls_tuned"],
        "seeds": {"seeds": seeds, "model": summarise("model"), "pls": summarise("pls"),
                  "pls_tuned": summarise("pls_tuned"), "runs": per_seed},
        "data": {"source": table.source, "n_spectra": len(table), "n_labelled": int(table.labelled_mask().sum()),
                 "n_train_labelled": len(labelled_train), "n_test": len(test),
                 "n_unlabelled_extra": 0 if unlabeled is None else len(unlabeled),
                 "n_unlabelled_in_file": int((~table.labelled_mask()).sum()),
                 "wavelength_nm": [float(model.wavelength_nm_[0]), float(model.wavelength_nm_[-1]),
                                   int(len(model.wavelength_nm_))],
                 "soc_unit": "g/kg", "mrmse_unit": "reflectance percent", "split": "random",
                 "test_size": test_size},
        "config": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in model.get_params().items()
                      if k not in ("endmembers", "checkpoint_dir")},
                   "n_latent": model.n_latent_, "n_parameters": model.n_parameters_,
                   "device": str(model.device_), "endmembers": model.endmembers_.names,
                   # soc_blend='cv': PLSR's share is 1 − λ; out-of-fold R² of PLSR, members and blend
                   "soc_blend_weight": (float(model.soc_blend_weight_) if np.isfinite(
                       getattr(model, "soc_blend_weight_", np.nan)) else None),
                   "soc_blend_out_of_fold": getattr(model, "soc_blend_oof_r2_", None)},
        "ood": {"threshold": model.ood_threshold_, "false_alarm": model.ood_false_alarm,
                "calibration": model.ood_calibration_,
                "pca_q_threshold": model.pca_q_.threshold_, "pca_q_calibration": model.pca_q_.calibration_,
                "pca_q_input": "absorbance of model inputs"},
    }
    if model.decoder == "physics":
        metrics["model"]["rho_r_soc_mg_m2"] = model.rho_r_soc_
        metrics["model"]["f_soc_troughs_nm"] = P.spectrum_troughs(model.wavelength_nm_, model.f_soc_).tolist()

    # predictions of the first seed, test and train rows
    frames = []
    for name, part in (("test", test), ("train", train)):
        df = model.predict_frame(part)
        df.insert(1, "split", name)
        df["soc_pred_pls"] = pls.predict(reflectance_to_absorbance(model.model_inputs(part)))
        frames.append(df)
    pred = pd.concat(frames, ignore_index=True)
    with atomic_path(out / "predictions.csv") as tmp:
        pred.to_csv(tmp, index=False)

    if plots:
        te = pred[pred["split"] == "test"]
        P.plot_pred_vs_obs(out / "pred_vs_obs.png", [
            (f"model ({model.decoder} decoder), test", te["soc_g_kg"], te["soc_pred"], metrics["model"]["test"]),
            (f"PLSR ({pls.n_components_} comp.), test", te["soc_g_kg"], te["soc_pred_pls"], metrics["pls"]["test"])])
        P.plot_training_curves(out / "training_curves.png", model.history_)
        if model.decoder != "none":
            k = min(4, len(test))
            P.plot_reconstructions(out / "reconstructions.png", model.wavelength_nm_, model.model_inputs(test)[:k],
                                   model.reconstruct(test.subset(np.arange(k))), test.ids[:k])
        if model.decoder == "physics":
            P.plot_f_soc(out / "f_soc.png", model.wavelength_nm_, model.f_soc_, model.rho_r_soc_)
    if region_col is not None:
        from .experiments import leave_one_region_out, write_loro_plots
        loro = leave_one_region_out(table, region_col=region_col, unlabeled=unlabeled,
                                    model_params={k: v for k, v in params.items()
                                                  if k not in ("seed", "progress", "checkpoint_dir")},
                                    seeds=tuple(seeds), progress=progress)
        metrics.update(loro)
        write_loro_plots(loro, out)  # per-region bars and the f_SOC of every fold (experiment 2)
    write_json(out / "metrics.json", metrics)
    return metrics


def model_artifact_dir(path) -> Path:
    """The lab model artifact of ``path``: a fit-lab run directory's ``model/``, or ``path`` itself
    when it is the artifact. Raises SocspecInputError when ``path`` does not exist."""
    path = Path(path)
    if not path.exists():
        raise SocspecInputError("model directory not found", path=path,
                                hint="pass the run directory written by fit_lab_run (socspec fit-lab --out)")
    return path / "model" if (path / "model").is_dir() else path


def load_lab_model(path, device=None):
    """:meth:`LabSOCModel.load` of :func:`model_artifact_dir` ``(path)`` (``device``: default as trained)."""
    from .estimator import LabSOCModel

    return LabSOCModel.load(model_artifact_dir(path), device=device)


def finetune_run(model_dir, table: SpectralTable, out_dir, *, n_labels: int, seed: int = 0, epochs: int = 25,
                 lr: float | None = None, force: bool = False, progress: bool = True) -> dict:
    """Experiment 3 as a run: load the lab model of ``model_dir`` (a fit-lab run directory or its
    ``model/``), :func:`socspec.lab.experiments.finetune_new_region` on ``table`` and write into
    ``out_dir`` (refused when it exists and is not empty, unless ``force``): ``model/`` (the fine-tuned artifact),
    ``metrics.json`` (``{"finetune": metrics}``) and ``predictions.csv`` (every scan of ``table``).
    Returns the metrics dict (before/after, n_labels, n_scans, n_eval, …, base_model, source).
    ``out_dir`` is a :class:`socspec.runs.RunDir` (locked; ``force`` replaces it whole; a failed
    run leaves nothing behind)."""
    with RunDir(out_dir, force=force, inputs=(model_dir, table.source)) as run:
        return _finetune_into(model_dir, table, run.path, n_labels=n_labels, seed=seed, epochs=epochs, lr=lr,
                              progress=progress)


def _finetune_into(model_dir, table, out, *, n_labels, seed, epochs, lr, progress) -> dict:
    from .experiments import finetune_new_region

    model = load_lab_model(model_dir)
    model.progress = progress
    tuned, metrics = finetune_new_region(model, table, n_labels=n_labels, seed=seed, epochs=epochs, lr=lr)
    metrics["base_model"] = str(model_dir)
    metrics["source"] = table.source
    tuned.save(out / "model")
    write_json(out / "metrics.json", {"finetune": metrics})
    frame = tuned.predict_frame(table)
    with atomic_path(out / "predictions.csv") as tmp:
        frame.to_csv(tmp, index=False)
    return metrics


def summary_table(metrics: dict) -> str:
    """A short plain-text table: model vs PLS, test (and train), mean ± sd over seeds."""
    s = metrics["seeds"]
    n = len(s["seeds"])
    lines = [f"{'':16s}{'R²':>16s}{'RMSE g/kg':>18s}{'bias g/kg':>18s}{'MRMSE %':>16s}"]
    for who in [w for w in ("model", "pls", "pls_tuned") if w in s]:
        for split in ("train", "test"):
            cells = []
            for k in ("r2", "rmse", "bias", "mrmse"):
                v = s[who][split].get(k)
                if v is None or not np.isfinite(v["mean"]):
                    cells.append(f"{'—':>16s}" if k != "r2" else f"{'—':>16s}")
                elif n > 1:
                    cells.append(f"{v['mean']:>9.3f} ± {v['sd']:<5.3f}")
                else:
                    cells.append(f"{v['mean']:>16.3f}")
            lines.append(f"{who + ' ' + split:16s}" + "".join(c.rjust(16) for c in cells))
    return "\n".join(lines)
