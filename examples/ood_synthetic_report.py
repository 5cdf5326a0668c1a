"""OOD report and fine-tuning on SYNTHETIC spectra (socspec's simulator) — runs anywhere in ~1–2 min.

    MPLBACKEND=Agg python examples/ood_synthetic_report.py --out runs/ood_synth

Writes OUT/train.csv (3 regions), OUT/new.csv (the same regions re-scanned, a moist region and a
region with a +0.05 reflectance offset; all drawn from held-out scans of the training regions),
fits a small lab model (OUT/fit/model), then runs the same steps as the CLI::

    socspec ood-report OUT/fit OUT/new.csv --region-col region --out OUT/report
    socspec finetune-lab OUT/fit OUT/shifted.csv --labels 10 --out OUT/finetune
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from socspec.io import write_spectra
from socspec.lab import LabSOCModel, simulate_lab_spectra
from socspec.lab.experiments import finetune_new_region
from socspec.ood import ood_report
from socspec.outputs import prepare_run_dir, write_json
from socspec.spectra import SpectralTable


def moisten(R, wl, rng):
    g = np.exp(-0.5 * ((wl - 1450.0) / 25.0) ** 2) + 1.6 * np.exp(-0.5 * ((wl - 1940.0) / 38.0) ** 2)
    depth = rng.uniform(0.3, 0.6, (len(R), 1))
    dark = rng.uniform(0.15, 0.35, (len(R), 1))
    return (1 - dark) * R * np.exp(-depth * g)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/ood_synth"))
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=64)
    args = ap.parse_args(argv)
    out = prepare_run_dir(args.out, args.force)
    rng = np.random.default_rng(0)
    wl = np.arange(400.0, 2500.0 + 1e-9, 10.0)
    sim = simulate_lab_spectra(n=900, regions=3, seed=0, wavelength_nm=wl)  # region mineralogy is seed-specific
    held_mask = np.zeros(len(sim), dtype=bool)
    held_mask[rng.choice(len(sim), 300, replace=False)] = True
    train = sim.subset(~held_mask)
    write_spectra(train, out / "train.csv")
    model = LabSOCModel(decoder="ann", hidden=args.hidden, epochs=args.epochs, lr=2e-3, batch_size=64,
                        val_fraction=0.2, wl_min_nm=400.0, wl_max_nm=2500.0, step_nm=10.0, patience=60, seed=0,
                        progress=True).fit(train)
    model.save(out / "fit" / "model")
    held = sim.subset(held_mask)
    R = held.values.astype(float)
    rescans = held.subset(np.arange(0, 150))  # new scans of soils like the training ones (own scan noise)
    moist = held.subset(np.arange(150, 210)).with_values(moisten(R[150:210], wl, rng))
    moist.meta["region"] = "moist"
    shifted = held.subset(np.arange(210, 300)).with_values(R[210:300] + 0.05)  # same soils, +0.05 offset
    shifted.meta["region"] = "offset+0.05"
    parts = [rescans, moist, shifted]
    meta = pd.concat([p.meta for p in parts], ignore_index=True)
    meta["id"] = [f"new{i}" for i in range(len(meta))]
    new = SpectralTable(wl, np.vstack([p.values for p in parts]), "reflectance", meta, source=str(out / "new.csv"))
    write_spectra(new, out / "new.csv")
    write_spectra(shifted, out / "shifted.csv")
    df, summary = ood_report(model, new, out / "report", region_col="region", force=True, model_label=str(out / "fit"))
    with pd.option_context("display.width", 200, "display.float_format", "{:.3g}".format):
        print(df[["region", "n", "median_score", "frac_flagged", "welch_t", "risk", "rmse_g_kg", "r2",
                  "pca_q_frac_flagged", "pca_q_risk"]].to_string(index=False))
    tuned, m = finetune_new_region(model, shifted, n_labels=10, seed=0, epochs=50)
    print("fine-tune on the offset region (10 labels):",
          {k: {q: round(v, 3) for q, v in m[k].items() if q in ("r2", "rmse", "mrmse", "frac_flagged")}
           for k in ("before", "after")})
    write_json(out / "finetune_metrics.json", m)
    print(f"report: {out / 'report' / 'index.html'}")


if __name__ == "__main__":
    main()
