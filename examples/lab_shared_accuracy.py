"""Seed-003 model vs PLSR on the real lab libraries in ../shared/data/lab (random 60:40 splits).

    python examples/lab_shared_accuracy.py                       # all sets, seeds 0 1 2, physics + ann
    python examples/lab_shared_accuracy.py --sets geeves_nsw_vic --seeds 0 1 2 3 --epochs 1000 --json out.json
    python examples/lab_shared_accuracy.py --decoders physics \
        --endmembers ../shared/endmembers/usgs_asd_350-2500nm.csv \
        --minerals ../shared/endmembers/minerals.csv                   # physics with the real USGS library

For each set and seed s: split the labelled scans 60:40 with seed s, train ``LabSOCModel`` (each
decoder) and a CV-tuned PLSR on absorbance of the same model inputs, report test R², RMSE (g/kg)
and the reconstruction MRMSE (reflectance %) as mean ± sd over seeds. Reads ../shared, never copies it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--sets", nargs="*", default=["geeves_nsw_vic", "nirsoil_belgium", "limesoda_SSP_460",
                                                  "limesoda_SL_125"])
    ap.add_argument("--decoders", nargs="*", default=["physics", "ann"])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--patience", type=int, default=100)
    ap.add_argument("--step", type=float, default=None, help="model grid step (nm); default: the data's")
    ap.add_argument("--no-init-decoder", action="store_true",
                    help="decoders start from scratch, not at the mean spectrum (the old behaviour)")
    ap.add_argument("--endmembers", type=Path, default=None,
                    help="physics library CSV, e.g. ../shared/endmembers/usgs_asd_350-2500nm.csv (default: embedded)")
    ap.add_argument("--minerals", type=Path, default=None, help="mineral table (density, size) for --endmembers")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from socspec.io import read_spectra
    from socspec.lab import LabSOCModel, PLSBaseline
    from socspec.lab.metrics import mean_sd, mrmse_percent, regression_metrics, seed_summary_lines
    from socspec.lab.pls import PLSTuned
    from socspec.lab.workflow import random_split
    from socspec.spectra import reflectance_to_absorbance

    library = None
    if args.endmembers is not None:
        from socspec.endmembers import EndmemberLibrary
        library = EndmemberLibrary.from_csv(args.endmembers, args.minerals)
    results = {}
    for name in args.sets:
        path = args.shared / "data" / "lab" / name / f"{name}.csv"
        if not path.exists():
            print(f"skip {name}: {path} not found")
            continue
        table = read_spectra(path)
        table = table.subset(table.labelled_mask())
        rows = {d: [] for d in args.decoders}
        rows["pls"] = []
        rows["pls_tuned"] = []
        for s in args.seeds:
            tr_idx, te_idx = random_split(table, 0.4, s)
            train, test = table.subset(tr_idx), table.subset(te_idx)
            absorb = None
            for dec in args.decoders:
                t = time.perf_counter()
                m = LabSOCModel(decoder=dec, hidden=args.hidden, epochs=args.epochs, lr=args.lr, seed=s,
                                batch_size=args.batch_size, weight_decay=args.weight_decay,
                                patience=args.patience or None, step_nm=args.step, progress=False,
                                init_decoder=not args.no_init_decoder,
                                endmembers=library if dec == "physics" else None).fit(train)
                met = regression_metrics(test.soc_g_kg, m.predict(test))
                xte = m.model_inputs(test)
                met["mrmse"] = mrmse_percent(xte, m.reconstruct_inputs(xte)) if dec != "none" else float("nan")
                met["seconds"] = time.perf_counter() - t
                met["best_epoch"] = m.best_epoch_
                rows[dec].append(met)
                print(f"{name:18s} seed {s} {dec:8s} R² {met['r2']:.3f} RMSE {met['rmse']:.2f} g/kg "
                      f"MRMSE {met['mrmse']:.2f} % ({met['seconds']:.0f} s, best epoch {m.best_epoch_})", flush=True)
                if absorb is None:
                    absorb = reflectance_to_absorbance
                    pls = PLSBaseline(seed=s).fit(absorb(m.model_inputs(train)), train.soc_g_kg)
                    pm = regression_metrics(test.soc_g_kg, pls.predict(absorb(xte)))
                    pm["n_components"] = pls.n_components_
                    rows["pls"].append(pm)
                    print(f"{name:18s} seed {s} {'pls':8s} R² {pm['r2']:.3f} RMSE {pm['rmse']:.2f} g/kg "
                          f"({pls.n_components_} components)", flush=True)
                    # the tuned chemometric yardstick: SNV / SG 1st derivative, ≤ 30 components, by CV
                    step = float(np.median(np.diff(m.wavelength_nm_)))
                    tuned = PLSTuned(seed=s, step_nm=step).fit(absorb(m.model_inputs(train)), train.soc_g_kg)
                    tm = regression_metrics(test.soc_g_kg, tuned.predict(absorb(xte)))
                    tm.update(n_components=tuned.n_components_, pretreatment=tuned.pretreatment_)
                    rows["pls_tuned"].append(tm)
                    print(f"{name:18s} seed {s} {'pls_tuned':8s} R² {tm['r2']:.3f} RMSE {tm['rmse']:.2f} g/kg "
                          f"({tuned.n_components_} components, {tuned.pretreatment_})", flush=True)
        results[name] = {who: {"runs": r, **{k: mean_sd([x[k] for x in r]) for k in ("r2", "rmse", "mrmse")
                                             if r and k in r[0]}} for who, r in rows.items()}

    print(f"\nTest set, random 60:40, seeds {args.seeds}, {args.epochs} epochs, H = {args.hidden}")
    print("\n".join(seed_summary_lines(results)))
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                        indent=2, default=float) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
