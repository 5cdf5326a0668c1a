"""Physics-decoder ablation on the real lab libraries in ../shared/data/lab (issue 14).

    OMP_NUM_THREADS=1 nice -n 10 python examples/lab_physics_ablation.py --json runs/ablation.json
    python examples/lab_physics_ablation.py --sets limesoda_SL_125 --variants physics:linear physics:hapke+pw ann \\
        --seeds 0 1 2 --epochs 300 --step 10
    python examples/lab_physics_ablation.py --unlabeled earthlib --sets limesoda_SSP_460 ...   # with / without

Variants (``--variants``): ``physics:<mixing>[+p][+w]`` (mixing ``linear`` = seed 003 eq. 2 exactly
or ``hapke``; ``+p`` photometric scale, ``+w`` liquid-water term, ``+pw`` both; ``~dark`` f_SOC starts
near-black instead of 0.5; ``@synthetic`` after the variant uses the synthetic library instead of the
default USGS one), ``ann``, ``none``. PLSR
(components by 5-fold CV up to 30, absorbance) and PLSR tuned (SNV / SG first derivative, chosen by
CV with up to 30 components) run on the same split and inputs every time.

For each set and seed s: split the labelled scans 60:40 with seed s (group-aware: replicate ids
stay together), train every variant, report test R², RMSE (g/kg) and reconstruction MRMSE
(reflectance %) as mean ± sd over seeds. With ``--unlabeled earthlib`` every set is put on
earthlib's 10 nm grid with its water-band gaps interpolated (``socspec.lab.unlabeled``) and each
variant is trained twice, without and with the 4,168 ICRAF-ISRIC scans as unlabelled data.
Results are written after every run (``--json``), so a killed run keeps what it measured.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SETS = ["geeves_nsw_vic", "nirsoil_belgium", "limesoda_SSP_460", "limesoda_SL_125"]
VARIANTS = ["physics:linear", "physics:hapke", "physics:linear+pw", "physics:hapke+pw", "ann", "none"]


def variant_params(v: str) -> dict:
    """``physics:hapke+pw@synthetic`` → LabSOCModel keyword arguments; ``physics`` alone is the
    estimator's default physics model; ``;name=value`` suffixes set any other LabSOCModel
    parameter (``physics;soc_readout=none;n_members=5``)."""
    import ast
    v, *sets = v.split(";")
    extra = {}
    for kv in sets:
        k, _, val = kv.partition("=")
        try:
            extra[k] = ast.literal_eval(val)
        except (ValueError, SyntaxError):
            extra[k] = val
    if v == "physics":
        return {"decoder": "physics", **extra}
    return {**_variant_base(v), **extra}


def _variant_base(v: str) -> dict:
    lib, init = None, "flat"
    if "@" in v:
        v, lib = v.split("@", 1)
    if v.endswith("~dark"):  # f_SOC starts near-black instead of 0.5
        v, init = v[:-len("~dark")], "dark"
    if v in ("ann", "none"):
        return {"decoder": v}
    if not v.startswith("physics:"):
        raise SystemExit(f"unknown variant {v!r}")
    mixing, _, extras = v.split(":", 1)[1].partition("+")
    return {"decoder": "physics", "mixing": mixing, "photometric": "p" in extras, "water": "w" in extras,
            "endmembers": lib, "f_soc_init": init}


def blend_record(m, train, test) -> dict:
    """The committee's stacking data (soc_blend='cv'), so other blend rules can be scored offline:
    λ, the base, out-of-fold SOC (g/kg) of every labelled fold row (``oof_scored``: the half λ
    reads), and the test scans' member mean and base PLSR."""
    oof = getattr(m, "soc_blend_oof_", None)
    if oof is None:
        return {}
    import torch
    x = torch.as_tensor(m.model_inputs(test))
    with torch.no_grad():
        each = torch.stack([mb.encode(x)[:, 0] for mb in m.net_.members]).double().numpy()
        base = m.net_.pls(x).double().numpy()
    rows, held = oof["rows"], oof.get("held_in_rows", np.zeros(0, int))
    from socspec.units import from_fraction
    g_kg = lambda a: np.round(from_fraction(np.asarray(a, dtype=np.float64)), 4).tolist()  # noqa: E731
    return {"blend": {"weight": m.soc_blend_weight_, "base": getattr(m, "soc_blend_base_", "pls"),
                      "oof_r2": m.soc_blend_oof_r2_, "oof_y": train.soc_g_kg[rows].tolist(),
                      "oof_pls": g_kg(oof["pls"]), "oof_members": g_kg(oof["members"]),
                      "oof_scored": oof["scored"].tolist(),
                      # held-in scans: out of sample for every member and for this PLSR (non-held-in rows)
                      "held_in_y": train.soc_g_kg[held].tolist(),
                      "held_in_each_pls": g_kg(oof.get("held_in_pls", np.zeros((0, 0)))),  # member i's fold PLSR
                      "held_in_each_member": g_kg(oof.get("held_in_members", np.zeros((0, 0)))),
                      "test_y": np.asarray(test.soc_g_kg, dtype=np.float64).tolist(),
                      "test_members": g_kg(each.mean(0)), "test_each_member": g_kg(each),
                      "test_base": g_kg(base)}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--sets", nargs="*", default=SETS)
    ap.add_argument("--variants", nargs="*", default=VARIANTS)
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--patience", type=int, default=100)
    ap.add_argument("--step", type=float, default=None, help="model grid step (nm); default: the data's")
    ap.add_argument("--unlabeled", choices=["earthlib"], default=None)
    ap.add_argument("--unlabeled-n", type=int, default=None,
                    help="use a random subset of this many earthlib scans (seed 0), to bound the run time")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plots", type=Path, default=None,
                    help="folder for the learned f_SOC(λ) of every physics variant (first seed) and the "
                         "mean test residual per wavelength of every variant")
    args = ap.parse_args(argv)

    import torch

    from socspec.io import read_spectra
    from socspec.lab import LabSOCModel
    from socspec.lab.metrics import mean_sd, mrmse_percent, regression_metrics, seed_summary_lines
    from socspec.lab.pls import PLSBaseline, PLSTuned
    from socspec.lab.workflow import random_split

    torch.set_num_threads(args.threads)
    unl = None
    if args.unlabeled == "earthlib":
        from socspec.lab.unlabeled import earthlib_soil_spectra, fill_gaps_like
        unl = earthlib_soil_spectra()
        gaps = unl.detection["water_band_gaps_nm"]
        if args.unlabeled_n and args.unlabeled_n < len(unl):
            unl = unl.subset(np.sort(np.random.default_rng(0).choice(len(unl), args.unlabeled_n, replace=False)))
    absorb = lambda x: -np.log10(np.clip(np.asarray(x, np.float64), 1e-6, None))  # noqa: E731
    results: dict = {}
    runs: list = []

    def dump():
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                             "summary": results, "runs": runs}, indent=1, default=float) + "\n")

    for name in args.sets:
        path = args.shared / "data" / "lab" / name / f"{name}.csv"
        if not path.exists():
            print(f"skip {name}: {path} not found")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = read_spectra(path)
        table = table.subset(table.labelled_mask())
        if unl is not None:
            table = fill_gaps_like(table, gaps)
        arms = [("", None)] if unl is None else [("", None), ("+earthlib", unl)]
        rows: dict = {}
        for s in args.seeds:
            tr_idx, te_idx = random_split(table, 0.4, s)
            train, test = table.subset(tr_idx), table.subset(te_idx)
            grid_model = None
            for v in args.variants:
                for tag, extra in arms:
                    key = v + tag
                    t0 = time.perf_counter()
                    m = LabSOCModel(hidden=args.hidden, epochs=args.epochs, lr=args.lr, seed=s,
                                    batch_size=args.batch_size, weight_decay=args.weight_decay,
                                    patience=args.patience or None, step_nm=args.step, progress=False,
                                    **variant_params(v)).fit(train, unlabeled=extra)
                    met = regression_metrics(test.soc_g_kg, m.predict(test))
                    xte = m.model_inputs(test)
                    met["mrmse"] = (mrmse_percent(xte, m.reconstruct(test)) if m.decoder != "none"
                                    else float("nan"))
                    met.update(seconds=time.perf_counter() - t0, best_epoch=m.best_epoch_)
                    rows.setdefault(key, []).append(met)
                    runs.append({"set": name, "seed": s, "variant": key, **met, **blend_record(m, train, test)})
                    print(f"{name:18s} seed {s} {key:28s} R² {met['r2']:.3f} RMSE {met['rmse']:.2f} "
                          f"MRMSE {met['mrmse']:.2f} % ({met['seconds']:.0f} s, best epoch {m.best_epoch_}"
                          + (f", λ {m.soc_blend_weight_:.2f} on {m.soc_blend_base_}" if hasattr(m, "soc_blend_base_")
                             else "") + ")",
                          flush=True)
                    grid_model = grid_model or m
                    if args.plots and s == args.seeds[0]:
                        from socspec.lab.plots import plot_f_soc
                        args.plots.mkdir(parents=True, exist_ok=True)
                        safe = key.replace(":", "_").replace("+", "_").replace("@", "_")
                        if m.decoder == "physics":
                            plot_f_soc(args.plots / f"{name}_{safe}_f_soc.png", m.wavelength_nm_, m.f_soc_,
                                       m.rho_r_soc_)
                        if m.decoder != "none":  # where the reconstruction misses, per wavelength
                            res = xte - m.reconstruct(test)
                            np.savetxt(args.plots / f"{name}_{safe}_residual.csv",
                                       np.column_stack([m.wavelength_nm_, res.mean(0), np.sqrt((res ** 2).mean(0))]),
                                       delimiter=",", header="wavelength_nm,mean_residual,rmse", comments="")
            xtr, xte = absorb(grid_model.model_inputs(train)), absorb(grid_model.model_inputs(test))
            step = float(np.median(np.diff(grid_model.wavelength_nm_)))
            for key, est in (("pls", PLSBaseline(seed=s)), ("pls_tuned", PLSTuned(seed=s, step_nm=step))):
                est.fit(xtr, train.soc_g_kg)
                met = regression_metrics(test.soc_g_kg, est.predict(xte))
                met["n_components"] = int(est.n_components_)
                if key == "pls_tuned":
                    met["pretreatment"] = est.pretreatment_
                rows.setdefault(key, []).append(met)
                runs.append({"set": name, "seed": s, "variant": key, **met})
                print(f"{name:18s} seed {s} {key:28s} R² {met['r2']:.3f} RMSE {met['rmse']:.2f} "
                      f"({met['n_components']} comp. {met.get('pretreatment', '')})", flush=True)
            results[name] = {k: {m_: mean_sd([x[m_] for x in r]) for m_ in ("r2", "rmse", "mrmse") if m_ in r[0]}
                             for k, r in rows.items()}
            dump()

    print(f"\nTest set, random 60:40, seeds {args.seeds}, {args.epochs} epochs, H = {args.hidden}, lr {args.lr}, "
          f"step {args.step or 'data'} nm, patience {args.patience}")
    print("\n".join(seed_summary_lines(results, method_width=28)))
    dump()


if __name__ == "__main__":
    main()
