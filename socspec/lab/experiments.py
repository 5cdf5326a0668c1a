"""Seed-003 experiments on top of :class:`socspec.lab.LabSOCModel`.

* Experiment 1 — :func:`leave_one_region_out`: for each region, train on the others and ask
  whether poor reconstruction of the held-out region's spectra signals poor SOC generalisation.
  Per region: R², RMSE, bias (g/kg), MRMSE (mean per-spectrum reconstruction RMSE, reflectance %),
  the AUROC of our OOD score and of the PCA Q-residual for telling that region's scans from the
  held-in validation scans, and the fraction flagged by each calibrated threshold. Regions with
  mean R² > 0 "generalise", the others "fail"; Welch's t-test compares their MRMSE.
* Experiment 2 — the learned f_SOC(λ) of every LORO fold (physics decoder), plotted together by
  :func:`write_loro_plots`.
* Experiment 3 — :func:`finetune_new_region`: N labelled scans of a new region plus all of its
  scans as unlabelled reconstruction targets; before/after metrics on its remaining labelled scans.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import SocspecInputError
from ..metrics import regression_metrics
from ..ood import auroc, welch_test
from ..spectra import SpectralTable


def _model_factory(model_params: dict, seed: int):
    from . import LabSOCModel

    params = dict(model_params)
    params["seed"] = seed
    params.setdefault("progress", False)
    return LabSOCModel(**params)


def _ood_scores(model, table: SpectralTable) -> dict:
    """Our score and PCA Q for ``table`` plus the held-in (validation) references of the model."""
    frame = model.predict_frame(table)
    out = {"soc_pred": frame["soc_pred"].to_numpy(dtype=np.float64),
           "score": frame["ood_score"].to_numpy(dtype=np.float64),
           "pca_q": frame["pca_q"].to_numpy(dtype=np.float64) if "pca_q" in frame else None}
    # reconstruction RMSE (MRMSE figures) — the OOD score itself may be the combined one
    out["recon"] = frame["recon_rmse"].to_numpy(dtype=np.float64) if "recon_rmse" in frame else out["score"]
    out["val_recon"] = np.asarray(getattr(model, "val_recon_rmse_", getattr(model, "val_scores_", [])),
                                  dtype=np.float64)
    out["val_score"] = np.asarray(getattr(model, "val_scores_", []), dtype=np.float64)
    q = getattr(model, "pca_q_", None)
    out["val_pca_q"] = np.asarray(getattr(q, "calib_scores_", []), dtype=np.float64) if q is not None else np.array([])
    out["threshold"] = float(getattr(model, "ood_threshold_", np.nan))
    out["pca_q_threshold"] = float(getattr(q, "threshold_", np.nan)) if q is not None else float("nan")
    return out


def leave_one_region_out(table: SpectralTable, *, region_col: str = "region", unlabeled: SpectralTable | None = None,
                         model_params: dict, seeds=(0,), progress: bool = True,
                         model_factory: Callable | None = None) -> dict:
    """Experiment 1 (and the folds of experiment 2).

    For each region r and seed s: fit ``model_factory(model_params, s)`` (default
    ``LabSOCModel(**model_params, seed=s, progress=False)``) on the scans of all other regions
    (labelled rows for the SOC term, all rows — plus ``unlabeled`` rows of other regions — for
    reconstruction), then score region r:

    * ``r2``, ``rmse``, ``bias``, ``mae`` of SOC (g/kg) on r's labelled scans;
    * ``mrmse`` = 100 · mean over r's scans of the reconstruction RMSE (reflectance %);
    * ``auroc`` = AUROC(held-in validation scores → r's scores) of our score; ``auroc_pca_q``
      the same for the PCA Q-residual (validation Q from ``model.pca_q_.calib_scores_``);
    * ``frac_flagged`` / ``frac_flagged_pca_q`` at the model's calibrated thresholds.

    Per region the figures are averaged over seeds (``*_sd`` = sd over seeds; per-seed lists under
    ``"seeds"``). Regions with mean R² > 0 generalise, the others fail; ``loro_test`` holds Welch's
    t-test of the per-(region, seed) MRMSE of failing vs generalising folds (t > 0: failing regions
    reconstruct worse), and the same for the fraction flagged.

    Returns ``{"loro": {region: {...}}, "loro_test": {"t", "p", "generalising", "failing", ...},
    "loro_summary": {...}, "f_soc_folds": {"wavelength_nm": [...], "folds": [{"region", "seed",
    "f_soc", "rho_r_soc"}]}}`` (``f_soc_folds`` only for physics decoders).
    """
    from tqdm.auto import tqdm

    regions = table.region_labels(region_col)
    names = sorted(pd.unique(regions))
    if len(names) < 2:
        raise SocspecInputError(f"leave-one-region-out needs at least 2 regions, found {names}",
                                path=table.source, column=region_col)
    unl_regions = None
    if unlabeled is not None and region_col in unlabeled.meta.columns:
        unl_regions = unlabeled.meta[region_col].astype(str).to_numpy()
    factory = model_factory or _model_factory
    seeds = [int(s) for s in (seeds if np.iterable(seeds) else [seeds])]
    per_region: dict = {}
    folds_f_soc, wl = [], None
    bar = tqdm(total=len(names) * len(seeds), desc="leave-one-region-out", disable=not progress, leave=False)
    for reg in names:
        held = table.subset(regions == reg)
        train = table.subset(regions != reg)
        unl = None
        if unlabeled is not None:
            unl = unlabeled if unl_regions is None else unlabeled.subset(unl_regions != reg)
            if unl is not None and len(unl) == 0:
                unl = None
        runs = []
        for s in seeds:
            bar.set_postfix_str(f"{reg} seed {s}")
            model = factory(model_params, s)
            model.fit(train, unlabeled=unl)
            sc = _ood_scores(model, held)
            y = held.soc_g_kg if held.has_soc else np.full(len(held), np.nan)
            run = {"seed": s, **regression_metrics(y, sc["soc_pred"])}
            run["n_scans"] = int(len(held))
            run["mrmse"] = float(100.0 * np.nanmean(sc["recon"]))
            run["val_mrmse"] = float(100.0 * np.nanmean(sc["val_recon"])) if sc["val_recon"].size else float("nan")
            run["auroc"] = auroc(sc["val_score"], sc["score"])
            run["frac_flagged"] = float(np.mean(sc["score"] > sc["threshold"]))
            if sc["pca_q"] is not None:
                run["auroc_pca_q"] = auroc(sc["val_pca_q"], sc["pca_q"])
                run["frac_flagged_pca_q"] = float(np.mean(sc["pca_q"] > sc["pca_q_threshold"]))
            f_soc = getattr(model, "f_soc_", None)
            if f_soc is not None:
                wl = np.asarray(model.wavelength_nm_, dtype=float)
                folds_f_soc.append({"region": reg, "seed": s, "f_soc": np.asarray(f_soc, dtype=float).tolist(),
                                    "rho_r_soc": float(getattr(model, "rho_r_soc_", np.nan))})
            runs.append(run)
            bar.update(1)
        agg = {}
        for key in runs[0]:
            if key == "seed":
                continue
            vals = np.array([r.get(key, np.nan) for r in runs], dtype=float)
            agg[key] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
            if len(runs) > 1 and key in ("r2", "rmse", "mrmse", "auroc", "auroc_pca_q", "frac_flagged"):
                agg[f"{key}_sd"] = float(np.nanstd(vals, ddof=1)) if np.isfinite(vals).sum() > 1 else float("nan")
        agg["n"] = int(runs[0]["n"])
        agg["n_scans"] = int(len(held))
        agg["seeds"] = runs
        per_region[reg] = agg
    bar.close()

    generalising = [r for r in names if np.isfinite(per_region[r]["r2"]) and per_region[r]["r2"] > 0]
    failing = [r for r in names if r not in generalising and np.isfinite(per_region[r]["r2"])]

    def per_fold(key, group):
        return [run[key] for r in group for run in per_region[r]["seeds"] if key in run]

    t, p = welch_test(per_fold("mrmse", failing), per_fold("mrmse", generalising))
    tf, pf = welch_test(per_fold("frac_flagged", failing), per_fold("frac_flagged", generalising))

    def mean_of(group, key):
        v = [per_region[r].get(key, np.nan) for r in group]
        return float(np.nanmean(v)) if v and np.isfinite(v).any() else float("nan")

    test = {"t": t, "p": p, "generalising": generalising, "failing": failing,
            "mrmse_generalising": mean_of(generalising, "mrmse"), "mrmse_failing": mean_of(failing, "mrmse"),
            "frac_flagged_generalising": mean_of(generalising, "frac_flagged"),
            "frac_flagged_failing": mean_of(failing, "frac_flagged"),
            "t_frac_flagged": tf, "p_frac_flagged": pf,
            "note": "Welch's two-sided t-test over per-(region, seed) folds, failing minus generalising; "
                    "nan when a group has < 2 folds"}
    summary = {"mean_auroc": mean_of(names, "auroc"), "mean_auroc_pca_q": mean_of(names, "auroc_pca_q"),
               "n_regions": len(names), "seeds": seeds}
    out = {"loro": per_region, "loro_test": test, "loro_summary": summary}
    if folds_f_soc:
        out["f_soc_folds"] = {"wavelength_nm": wl.tolist(), "folds": folds_f_soc}
    return out


def plot_loro_regions(result: dict):
    """Figure of a :func:`leave_one_region_out` result, one panel each: per-region held-out R²,
    MRMSE (reflectance %), AUROC (ours vs PCA Q) and fraction flagged (ours vs PCA Q); bars in the
    order of ``result["loro"]``, green = generalises (R² > 0), red = fails."""
    from ..plotting import subplots

    loro = result["loro"]
    names = list(loro)
    gen = set(result.get("loro_test", {}).get("generalising", []))
    x = np.arange(len(names))
    colors = ["C2" if n in gen else "C3" for n in names]
    fig, axes = subplots(1, 4, figsize=(4 * 4, 3.8))
    for ax, key, label in zip(axes[:2], ["r2", "mrmse"], ["held-out R²", "held-out MRMSE (refl. %)"]):
        ax.bar(x, [loro[n].get(key, np.nan) for n in names], color=colors,
               yerr=[loro[n].get(f"{key}_sd", 0) or 0 for n in names])
        ax.set_title(label)
        if key == "r2":
            ax.axhline(0, color="k", lw=0.7)
    w = 0.38
    for ax, key, title in ((axes[2], "auroc", "AUROC held-out vs held-in"),
                           (axes[3], "frac_flagged", "fraction flagged")):
        ax.bar(x - w / 2, [loro[n].get(key, np.nan) for n in names], w, label="reconstruction error")
        ax.bar(x + w / 2, [loro[n].get(f"{key}_pca_q", np.nan) for n in names], w, label="PCA Q")
        ax.set_title(title)
        ax.legend(fontsize=7)
    axes[2].axhline(0.5, color="k", lw=0.7, ls=":")
    axes[2].set_ylim(0, 1.05)
    for ax in axes:
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    fig.suptitle("Leave-one-region-out (green: R² > 0, red: fails)")
    fig.tight_layout()
    return fig


def plot_loro_f_soc(result: dict):
    """Figure of the learned f_SOC(λ) of every LORO fold (experiment 2; one line per fold, water
    bands and the 2200+ nm region shaded), or None when the result has no physics folds."""
    from ..plotting import subplots
    from ..spectra import WATER_BANDS_NM

    fs = result.get("f_soc_folds")
    if not fs or not fs.get("folds"):
        return None
    wl = np.asarray(fs["wavelength_nm"], dtype=float)
    fig, ax = subplots(figsize=(8, 4))
    regs = sorted({f["region"] for f in fs["folds"]})
    for f in fs["folds"]:
        i = regs.index(f["region"])
        ax.plot(wl, f["f_soc"], color=f"C{i % 10}", lw=1, alpha=0.8,
                label=f"without {f['region']}" if f["seed"] == fs["folds"][0]["seed"] or len(regs) == 1 else None)
    for lo, hi in WATER_BANDS_NM:
        ax.axvspan(lo, hi, color="tab:blue", alpha=0.1, lw=0)
    if wl[-1] > 2200:
        ax.axvspan(2200, wl[-1], color="grey", alpha=0.1, lw=0)
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("learned f_SOC(λ) (reflectance)")
    ax.set_title("Learned SOC spectrum of every leave-one-region-out fold")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_loro_plots(result: dict, out_dir, prefix: str = "loro") -> list[Path]:
    """PNG plots of a :func:`leave_one_region_out` result in ``out_dir``:
    ``{prefix}_regions.png`` (:func:`plot_loro_regions`) and ``{prefix}_f_soc.png``
    (:func:`plot_loro_f_soc`, experiment 2) when the result has physics folds."""
    from ..plotting import save_png

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [save_png(plot_loro_regions(result), out_dir / f"{prefix}_regions.png", tight=False)]
    fig = plot_loro_f_soc(result)
    if fig is not None:
        written.append(save_png(fig, out_dir / f"{prefix}_f_soc.png", tight=False))
    return written


def loro_table(result: dict) -> pd.DataFrame:
    """One row per region: the headline LORO figures (for printing / CSV)."""
    rows = []
    gen = set(result.get("loro_test", {}).get("generalising", []))
    for reg, d in result["loro"].items():
        rows.append({"region": reg, "n": d.get("n"), "r2": d.get("r2"), "rmse_g_kg": d.get("rmse"),
                     "bias_g_kg": d.get("bias"), "mrmse_pct": d.get("mrmse"), "auroc": d.get("auroc"),
                     "auroc_pca_q": d.get("auroc_pca_q"), "frac_flagged": d.get("frac_flagged"),
                     "frac_flagged_pca_q": d.get("frac_flagged_pca_q"),
                     "generalises": reg in gen})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ experiment 3
def choose_finetune_labels(table: SpectralTable, n_labels: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n_labels`` labelled scans chosen uniformly at random (``numpy`` seed); with replicate
    scans, whole sample ids are drawn (≥ ``n_labels`` scans) so no id is both labelled and evaluated."""
    lab = np.flatnonzero(table.labelled_mask())
    if n_labels < 1:
        raise SocspecInputError(f"n_labels must be ≥ 1, got {n_labels}")
    if n_labels >= lab.size:
        raise SocspecInputError(
            f"n_labels={n_labels} leaves no labelled scan to evaluate on: the file has {lab.size} labelled scans",
            path=table.source, hint=f"use n_labels < {lab.size}")
    from .splits import group_sample

    return group_sample(table.ids, lab, n_labels, np.random.default_rng(seed))


def finetune_new_region(model, table: SpectralTable, *, n_labels: int, seed: int = 0, epochs: int = 25,
                        lr: float | None = None) -> tuple[object, dict]:
    """Experiment 3: fine-tune a trained model on a new region.

    ``n_labels`` labelled scans of ``table`` are drawn at random (``seed``); the fine-tuning set is
    all scans of ``table`` with SOC kept only on those (the rest act as unlabelled reconstruction
    targets). Evaluation is on the remaining labelled scans, before and after. The input model is
    not modified (a deep copy is fine-tuned). Returns ``(finetuned_model, metrics)`` with
    ``metrics = {"before": {...}, "after": {...}, "n_labels", "n_scans", "n_eval", "label_ids", ...}``;
    each of before/after holds r2, rmse, bias, mae (g/kg), mrmse (reflectance %, on the evaluation
    scans) and frac_flagged.
    """
    if not table.has_soc:
        raise SocspecInputError("the new region's file has no carbon column; fine-tuning needs some labelled scans",
                                path=table.source,
                                hint="name its carbon column when reading (read_spectra(carbon_col=...))")
    picked = choose_finetune_labels(table, n_labels, seed)
    lab = table.labelled_mask()
    eval_mask = lab & ~np.isin(table.ids, table.ids[picked])  # no scan of a labelled id is evaluated
    eval_t = table.subset(eval_mask)
    ft = table.copy()
    soc = ft.meta["soc_g_kg"].to_numpy(dtype=np.float64).copy()
    keep = np.zeros(len(ft), dtype=bool)
    keep[picked] = True
    soc[~keep] = np.nan
    ft.meta["soc_g_kg"] = soc

    def evaluate(m):
        sc = _ood_scores(m, eval_t)
        res = regression_metrics(eval_t.soc_g_kg, sc["soc_pred"])
        res["mrmse"] = float(100.0 * np.nanmean(sc["recon"]))
        res["frac_flagged"] = float(np.mean(sc["score"] > sc["threshold"]))
        return res

    before = evaluate(model)
    tuned = copy.deepcopy(model)
    tuned.finetune(ft, epochs=epochs, lr=lr)
    after = evaluate(tuned)
    metrics = {"before": before, "after": after, "n_labels": len(picked), "n_scans": int(len(table)),
               "n_eval": int(eval_mask.sum()), "seed": int(seed), "epochs": int(epochs), "lr": lr,
               "label_ids": [str(i) for i in table.ids[picked]],
               "note": "fine-tuned on n_labels labelled scans + all scans of the file as reconstruction "
                       "targets; before/after measured on the remaining labelled scans"}
    return tuned, metrics

