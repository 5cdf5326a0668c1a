"""OOD figures on the real lab libraries in ../shared/data/lab (seed 003 experiments 1–2 + moist soils).

    MPLBACKEND=Agg python examples/ood_shared_regions.py --out runs/ood_shared [--decoder ann --epochs 200
        --hidden 64 --batch-size 128 --lr 2e-3 --step-nm 8 --seeds 0 1 2]

1. Reads every library (the readers convert % reflectance and absorbance to reflectance; carbon to
   g/kg; SOM → SOC by the van Bemmelen factor 1/1.724), merges them onto one common grid
   (``socspec.preprocess.merge_libraries``; the common window is 1100–2498 nm because of
   nirsoil_belgium), each library = one region.
2. Leave-one-region-out with ``LabSOCModel`` (physics decoder): per held-out region R², MRMSE,
   AUROC of our reconstruction error and of the PCA Q-residual (held-out vs held-in validation
   scans), fraction flagged; Welch test of MRMSE failing vs generalising folds.
3. Moist soils: one model on 75 % of every region; the other 25 % are "re-scanned" (small noise)
   and "moistened"; fraction flagged of each. ``--moisture-model physical`` (default):
   ``socspec.lab.moisture.moisten`` — Lobell & Asner (2002) exponential darkening towards the
   reflectance at saturation, which carries liquid water's absorption (Hale & Querry 1973 +
   band maxima), degree of saturation drawn from ``--saturation``; ``bands``: the old
   Gaussian-band recipe (water absorption at 1450/1940 nm + a flat darkening).
   ``frac_flagged_conf90``: the same model's score at the training-conditional rank (confidence
   0.9, ``socspec.ood.conformal_calibration``) instead of the split-conformal one — both ranks
   from one fit.

   The moist experiment runs once per ``--seeds`` seed (split, model and wet draws) and reports
   each and their mean. ``--unlabeled earthlib [--unlabeled-n N]`` adds earthlib's ICRAF-ISRIC
   soils as unlabelled scans to every model (all spectra on earthlib's 10 nm grid with its
   water-band gaps interpolated, new scans too); ``--gap-fill`` is the same grid without them.

Writes OUT/results.json, OUT/loro_regions.png, OUT/loro_f_soc.png, OUT/moist_scores.png and prints
the tables. Real data is read from ../shared, never copied.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from socspec.io import read_spectra
from socspec.lab.experiments import leave_one_region_out, loro_table, write_loro_plots
from socspec.ood import auroc
from socspec.outputs import prepare_run_dir, write_json
from socspec.spectra import SpectralTable

REPO = Path(__file__).resolve().parents[1]
SOM_TO_SOC = 1.0 / 1.724  # van Bemmelen factor


def load_regions(lab_dir: Path, step_nm: float) -> SpectralTable:
    tables = []
    for f in sorted(lab_dir.glob("*/*.csv")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = read_spectra(f).as_reflectance()
        if t.detection.get("carbon_basis") == "SOM":
            t.meta["soc_g_kg"] = t.meta["soc_g_kg"] * SOM_TO_SOC
        t.meta["region"] = f.parent.name
        tables.append(t)
    try:
        from socspec.preprocess import merge_libraries
        merged, _report = merge_libraries(tables, step_nm=step_nm, names=[t.meta["region"].iloc[0] for t in tables])
    except ImportError:  # preprocess not available: common window + linear interpolation
        lo = max(t.wavelength_nm[0] for t in tables)
        hi = min(t.wavelength_nm[-1] for t in tables)
        wl = np.arange(np.ceil(lo), hi + 1e-9, step_nm)
        vals = np.vstack([np.vstack([np.interp(wl, t.wavelength_nm, r) for r in t.values]) for t in tables])
        meta = pd.concat([t.meta[["id", "soc_g_kg", "region"]] for t in tables], ignore_index=True)
        merged = SpectralTable(wl, vals, "reflectance", meta, source=str(lab_dir))
    return merged


def moisten_bands(reflectance: np.ndarray, wl: np.ndarray, depth: float, darkening: float) -> np.ndarray:
    """Wet-soil spectrum: R_wet = (1 − darkening)·R·exp(−depth·(g₁₄₅₀ + 1.6·g₁₉₄₀)), g = Gaussian bands
    (FWHM ≈ 60/90 nm): liquid water deepens the 1450 and 1940 nm bands and darkens the whole soil."""
    g = (np.exp(-0.5 * ((wl - 1450.0) / 25.0) ** 2) + 1.6 * np.exp(-0.5 * ((wl - 1940.0) / 38.0) ** 2))
    return (1.0 - darkening) * reflectance * np.exp(-depth * g)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lab-dir", type=Path, default=REPO.parent / "shared" / "data" / "lab")
    ap.add_argument("--out", type=Path, default=Path("runs/ood_shared"))
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--step-nm", type=float, default=4.0)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--decoder", default="physics")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--moisture-model", choices=["physical", "bands"], default="physical")
    ap.add_argument("--saturation", type=float, nargs=2, default=[0.1, 0.6],
                    help="range of the degree of saturation S of the moistened scans (physical model)")
    ap.add_argument("--mixing", default=None, help="physics decoder: linear | hapke (default: the estimator's)")
    ap.add_argument("--photometric", action=argparse.BooleanOptionalAction, default=None,
                    help="physics decoder: per-scan brightness term (default: the estimator's)")
    ap.add_argument("--water", action=argparse.BooleanOptionalAction, default=None,
                    help="physics decoder: per-scan liquid-water term (default: the estimator's)")
    ap.add_argument("--ood-score", default=None, help="combined | reconstruction (default: the estimator's)")
    ap.add_argument("--soc-readout", default=None, help="pls | none (default: the estimator's)")
    ap.add_argument("--ood-confidence", type=float, default=None,
                    help="thresholds at the training-conditional rank: false alarms ≤ 5 %% for this calibration "
                         "set with this probability (LabSOCModel(ood_confidence=); default: split-conformal)")
    ap.add_argument("--moist-depth", type=float, nargs=2, default=[0.6, 1.2],
                    help="range of the water-band optical depth (exp(-depth) at 1450 nm; ×1.6 at 1940 nm)")
    ap.add_argument("--patience", type=int, default=None, help="early-stopping patience (default: epochs / 5, ≥ 20)")
    ap.add_argument("--val-fraction", type=float, default=0.2, help="held-in calibration share of the training scans")
    ap.add_argument("--split", nargs="*", default=[], metavar="LIBRARY",
                    help="libraries to split into --parts random pseudo-regions (their parts then have "
                         "same-instrument relatives in training, so they can generalise)")
    ap.add_argument("--parts", type=int, default=2)
    ap.add_argument("--model-seed-offset", type=int, default=0,
                    help="moist test: the model (weights, held-in draw) takes seed + this, the split keeps seed — "
                         "more fits on the same splits")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--skip-loro", action="store_true",
                    help="only the moist experiment (e.g. more fits with --model-seed-offset)")
    ap.add_argument("--unlabeled", choices=["earthlib"], default=None,
                    help="add earthlib's ICRAF-ISRIC soils as unlabelled scans to every model; all spectra are put "
                         "on earthlib's 10 nm grid with its water-band gaps (1350–1460, 1790–1960 nm) interpolated, "
                         "moistened scans too (socspec.lab.unlabeled.with_earthlib)")
    ap.add_argument("--unlabeled-n", type=int, default=None, help="a random subset of this many earthlib scans")
    ap.add_argument("--gap-fill", action="store_true",
                    help="earthlib's grid and gap filling without its scans (the --unlabeled run's reference)")
    args = ap.parse_args(argv)
    if not args.lab_dir.is_dir():
        sys.exit(f"{args.lab_dir} not found (the shared lab libraries are read from there)")
    out = prepare_run_dir(args.out, args.force)
    t0 = time.time()
    table = load_regions(args.lab_dir, args.step_nm)
    wl = table.wavelength_nm
    if args.split:
        reg = table.meta["region"].astype(str).to_numpy().copy()
        srng = np.random.default_rng(123)
        for lib in args.split:
            idx = np.flatnonzero(reg == lib)
            if idx.size == 0:
                sys.exit(f"--split {lib}: no such library (have {sorted(set(reg))})")
            part = srng.permutation(idx.size) % args.parts
            reg[idx] = [f"{lib}#{p + 1}" for p in part]
        table.meta["region"] = reg
    unl, refill = None, (lambda t: t)
    if args.unlabeled or args.gap_fill:
        from socspec.lab.unlabeled import fill_gaps_like, with_earthlib
        table, unl = with_earthlib(table, step_nm=10.0, n=args.unlabeled_n)
        gaps = unl.detection["water_band_gaps_nm"]
        refill = lambda t: fill_gaps_like(t, gaps, 10.0)  # noqa: E731 — a user's new scans get the same treatment
        args.step_nm = 10.0
        if not args.unlabeled:
            unl = None
        wl = table.wavelength_nm
    print(f"merged: {table}  regions: {table.meta['region'].value_counts().to_dict()}"
          + (f"  + {len(unl)} unlabelled earthlib scans" if unl is not None else ""))
    params = dict(decoder=args.decoder, hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size,
                  lr=args.lr, wl_min_nm=float(wl[0]),
                  wl_max_nm=float(wl[-1]), step_nm=args.step_nm, device=args.device,
                  val_fraction=args.val_fraction,
                  patience=max(args.epochs // 5, 20) if args.patience is None else args.patience)
    if args.decoder == "physics":
        params.update({k: v for k, v in (("mixing", args.mixing), ("photometric", args.photometric),
                                         ("water", args.water)) if v is not None})
    params.update({k: v for k, v in (("ood_score", args.ood_score), ("soc_readout", args.soc_readout),
                                     ("ood_confidence", args.ood_confidence)) if v is not None})

    # ---- experiment 1 (+2): leave one region out
    res: dict = {}
    if not args.skip_loro:
        res = leave_one_region_out(table, region_col="region", model_params=params, seeds=tuple(args.seeds),
                                   progress=not args.quiet, unlabeled=unl)
        df = loro_table(res)
        with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
            print("\nLeave-one-region-out (held-out region):")
            print(df.to_string(index=False))
        test = res["loro_test"]
        print(f"generalising (R² > 0): {test['generalising']}   failing: {test['failing']}")
        print(f"fraction flagged: failing {test['frac_flagged_failing']:.3f} vs generalising "
              f"{test['frac_flagged_generalising']:.3f};  MRMSE failing {test['mrmse_failing']:.2f} % vs "
              f"generalising {test['mrmse_generalising']:.2f} %  (Welch t = {test['t']:.3f}, p = {test['p']:.3g})")
        s = res["loro_summary"]
        print(f"mean AUROC held-out vs held-in: ours {s['mean_auroc']:.3f}  PCA Q {s['mean_auroc_pca_q']:.3f}")
        write_loro_plots(res, out)

    # ---- moist soils vs re-scans of dry soils: one model per seed (split, weights and wet draws), averaged
    from socspec.lab import LabSOCModel

    def moist_experiment(seed):
        rng = np.random.default_rng(seed)
        regions = table.meta["region"].to_numpy()
        test_mask = np.zeros(len(table), dtype=bool)
        for r in np.unique(regions):
            idx = np.flatnonzero(regions == r)
            test_mask[rng.choice(idx, size=len(idx) // 4, replace=False)] = True
        model = LabSOCModel(**params, seed=seed + args.model_seed_offset, progress=not args.quiet).fit(
            table.subset(~test_mask), unlabeled=unl)
        held = table.subset(test_mask)
        R = held.values.astype(np.float64)
        rescan = refill(held.with_values(np.clip(R + rng.normal(0, 0.002, R.shape), 1e-4, None)))
        if args.moisture_model == "physical":
            from socspec.lab.moisture import moisten
            wet = moisten(R, wl, saturation=rng.uniform(args.saturation[0], args.saturation[1], len(R)),
                          darkening_at_saturation=rng.uniform(0.4, 0.6, len(R)),
                          water_path_um=rng.uniform(30, 90, len(R)))
        else:
            wet = moisten_bands(R, wl, depth=rng.uniform(args.moist_depth[0], args.moist_depth[1], (len(R), 1)),
                                darkening=rng.uniform(0.15, 0.35, (len(R), 1)))
        moist = refill(held.with_values(wet))
        rows = {}
        # A physical moisture test beside the residual: fit R ≈ s·R̂·exp(−2κ_w(λ)d) per scan to the
        # model's own reconstruction R̂ (socspec.lab.mixing.fit_scan_terms: least squares in log space
        # with liquid water's absorption κ_w) and flag a liquid-water path d beyond the held-in scans'.
        # "combined": residual OR water path, each threshold at the 97.5 % quantile of the held-in
        # scans, so the pair keeps about the same 5 % false-alarm budget as one test at 95 %.
        from socspec.lab.mixing import fit_scan_terms
        train_t = table.subset(~test_mask)
        vi = np.asarray(model.val_index_)
        val_t = train_t.subset(vi[vi < len(train_t)])  # held-in library scans (not the unlabelled extra ones)

        def water_path(t):
            x = model.model_inputs(t)
            return fit_scan_terms(x, model.reconstruct(t), model.wavelength_nm_)[1]

        w_val, s_val = water_path(val_t), np.asarray(model.val_scores_)
        from socspec.ood import conformal_calibration
        cut_c90 = conformal_calibration(s_val, model.ood_false_alarm, 0.9)["threshold"]  # the stricter rank
        water_cut, water_cut2, score_cut2 = (float(np.quantile(w_val, 0.95)), float(np.quantile(w_val, 0.975)),
                                             float(np.quantile(s_val, 0.975)))
        for name, t in (("held-out dry scans", held), ("re-scans (noise σ=0.002)", rescan), ("moist", moist)):
            f = model.predict_frame(t)
            rows[name] = {"n": len(t), "frac_flagged": float(f["ood_flag"].mean()),
                          "frac_flagged_conf90": float(np.mean(f["ood_score"].to_numpy() > cut_c90)),
                          "frac_flagged_pca_q": float(f["pca_q_flag"].mean()),
                          "median_score": float(f["ood_score"].median())}
            w = water_path(t)
            rows[name]["frac_water_flag"] = float(np.mean(w > water_cut))
            rows[name]["frac_combined"] = float(np.mean((w > water_cut2) | (f["ood_score"].to_numpy() > score_cut2)))
            rows[name]["median_water_path_um"] = float(np.median(w))
            parts = model.ood_score_parts(t)
            for part in ("residual", "latent", "ratio", "water", "pca_q"):  # which part of the score flags them
                if part in parts:
                    rows[name][f"frac_{part}"] = float(np.mean(parts[part].to_numpy() > model.ood_threshold_))
        val = np.asarray(model.val_scores_)
        rows["moist"]["auroc_vs_held_in"] = auroc(val, model.predict_frame(moist)["ood_score"])
        return rows, model, rescan, moist, val

    per_seed = {}
    for seed in args.seeds:
        rows, model, rescan, moist, val = moist_experiment(seed)
        per_seed[seed] = rows
        print(f"\nMoist soils vs re-scans, seed {seed} (one model on 75 % of every region; threshold at 5 % false "
              "alarms):")
        print(pd.DataFrame(rows).T.to_string(float_format="{:.3f}".format))
        if seed == args.seeds[0]:
            from socspec.outputs import atomic_path
            from socspec.report import plot_scores_by_group
            sc = np.concatenate([model.predict_frame(t)["ood_score"] for t in (rescan, moist)])
            grp = ["re-scan"] * len(rescan) + ["moist"] * len(moist)
            fig = plot_scores_by_group(sc, grp, model.ood_threshold_, reference=val, title="Moist vs dry re-scans")
            with atomic_path(out / "moist_scores.png") as tmp:
                fig.savefig(tmp, dpi=110)
    rows = {name: {k: float(np.mean([per_seed[s][name][k] for s in args.seeds]))
                   for k in per_seed[args.seeds[0]][name]} for name in per_seed[args.seeds[0]]}
    print(f"\nMoist soils vs re-scans, mean over seeds {args.seeds}:")
    print(pd.DataFrame(rows).T.to_string(float_format="{:.3f}".format))

    results = {"config": {**params, "seeds": args.seeds, "model_seed_offset": args.model_seed_offset,
                          "n_scans": len(table), "unlabeled": args.unlabeled,
                          "n_unlabeled": 0 if unl is None else len(unl),
                          "gap_fill": bool(args.unlabeled or args.gap_fill),
                          "grid_nm": [float(wl[0]), float(wl[-1]), args.step_nm]},
               **{k: v for k, v in res.items() if k != "f_soc_folds"}, "moist": rows,
               "moist_per_seed": {str(k): v for k, v in per_seed.items()},
               "runtime_s": time.time() - t0}
    write_json(out / "results.json", results)
    print(f"\nwrote {out}/results.json and PNGs in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
