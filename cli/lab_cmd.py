"""`socspec fit-lab`, `socspec predict-lab` and `socspec finetune-lab` — the lab path (seed 003)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from ._common import carbon_line, echo, flag_names, is_tty, note, parse_int_list, user_errors
from ._read_options import (
    AverageReplicatesOpt,
    CarbonColOpt,
    CarbonUnitOpt,
    DateColOpt,
    DropBadRowsOpt,
    IdColOpt,
    KindOpt,
    LatColOpt,
    LonColOpt,
    PercentOpt,
    SepOpt,
    UniqueIdsOpt,
    WavelengthUnitOpt,
    read_kwargs,
)

ModelDirArg = Annotated[Path, typer.Argument(help="fit-lab --out directory (or its model/ artifact)")]
ForceOpt = Annotated[bool, typer.Option("--force", help="write into an existing non-empty --out")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="no progress bars")]
TargetColOpt = Annotated[Optional[str], typer.Option(
    "--target-col", "--carbon-col", help="carbon column (default: detected by name: soc, oc, carbon…)")]


def fit_lab(
    spectra: Annotated[Path, typer.Argument(help="labelled spectra (CSV/Parquet/ENVI; reflectance, % or absorbance)")],
    out: Annotated[Path, typer.Option("--out", help="run directory (model/, metrics.json, predictions.csv, PNGs)")],
    force: ForceOpt = False,
    decoder: Annotated[str, typer.Option("--decoder", help="none | ann | physics")] = "physics",
    target_col: TargetColOpt = None,
    carbon_unit: CarbonUnitOpt = None,
    unlabeled: Annotated[Optional[Path], typer.Option(
        "--unlabeled", help="extra unlabelled scans (reconstruction term only); 'earthlib' = earthlib's 4,168 "
        "ICRAF-ISRIC soil spectra (model grid: 10 nm on the common window, water-band gaps interpolated)")] = None,
    split: Annotated[str, typer.Option("--split", help="random (train/test) — see also --cv region")] = "random",
    test_size: Annotated[float, typer.Option(
        "--test-size", help="fraction of labelled scans held out for testing")] = 0.4,
    seed: Annotated[int, typer.Option("--seed", help="split + model seed")] = 0,
    seeds: Annotated[Optional[List[str]], typer.Option(
        "--seeds", help="several seeds, mean ± sd reported: --seeds 0,1,2,3 (or --seeds 0 --seeds 1 …)")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="maximum training epochs")] = 1000,
    hidden: Annotated[int, typer.Option("--hidden", help="encoder/decoder hidden width H")] = 512,
    lr: Annotated[float, typer.Option(
        "--lr", help="Adam learning rate (1e-3 diverges on real libraries with σ_SOC = 0.0041)")] = 1e-4,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", help="mini-batch drawn from the device-resident data; 0 = full batch")] = 64,
    patience: Annotated[int, typer.Option("--patience", help="early-stopping patience in epochs (0 = off)")] = 100,
    wl_min: Annotated[float, typer.Option("--wl-min", help="model window start (nm; clipped to the data)")] = 365.0,
    wl_max: Annotated[float, typer.Option("--wl-max", help="model window end (nm; clipped to the data)")] = 2500.0,
    step: Annotated[Optional[float], typer.Option(
        "--step", help="model grid step in nm (default: the data's, at least 1 nm)")] = None,
    no_alpha_conversion: Annotated[bool, typer.Option(
        "--no-alpha-conversion", help="appendix B ablation: mix mass fractions directly (α = m̂)")] = False,
    no_init_decoder: Annotated[bool, typer.Option(
        "--no-init-decoder", help="start the decoder from scratch (uniform mix / untrained MLP) instead of at the "
        "mean training spectrum")] = False,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    resume: Annotated[bool, typer.Option(
        "--resume", help="continue a killed run from its checkpoints in --out")] = False,
    ood_calibration: Annotated[str, typer.Option(
        "--ood-calibration", help="split: OOD thresholds from held-in + test scans; cv: also out-of-fold scores of "
        "every training scan (5 extra short trainings; small libraries then reach the 5 % false-alarm rate)")
    ] = "split",
    ood_confidence: Annotated[Optional[float], typer.Option(
        "--ood-confidence", help="OOD thresholds at the training-conditional rank: at most 5 % false alarms for "
        "this calibration set with this probability (e.g. 0.9; needs 45 calibration scans); default: the "
        "split-conformal rank (5 % on average over calibration sets)")] = None,
    endmembers: Annotated[Optional[Path], typer.Option(
        "--endmembers", help="endmember spectra CSV (default: embedded)")] = None,
    minerals: Annotated[Optional[Path], typer.Option(
        "--minerals", help="mineral table CSV (density, size) for --endmembers")] = None,
    library: Annotated[str, typer.Option(
        "--library", help="embedded endmember library: usgs (55 measured USGS v7 minerals) | synthetic")] = "usgs",
    mixing: Annotated[str, typer.Option(
        "--mixing", help="physics decoder: hapke (intimate mixing of albedos, with the per-scan terms and a dark "
        "f_SOC start) | linear (seed 003 eq. 2 exactly)")] = "hapke",
    photometric: Annotated[Optional[bool], typer.Option(
        "--photometric/--no-photometric", help="physics decoder: per-scan brightness factor (grain size, packing, "
        "light); default: on with --mixing hapke, off with linear")] = None,
    members: Annotated[Optional[int], typer.Option(
        "--members", help="ensemble: train N models (seeds S, S+1000, …) and predict with their average; "
        "default: 5 with --soc-blend cv, else 1")] = None,
    soc_blend: Annotated[Optional[str], typer.Option(
        "--soc-blend", help="cv: the members form a cross-validation committee (member i stops early on fold i) "
        "and SOC = (1 − λ)·PLSR + λ·members, λ fitted on their out-of-fold predictions | none: the members' "
        "mean alone; default: cv for the physics decoder with --mixing hapke, none otherwise")] = None,
    soc_blend_base: Annotated[Optional[str], typer.Option(
        "--soc-blend-base", help="the PLSR of --soc-blend cv: auto: plain or tuned (SNV / Savitzky–Golay "
        "derivative), whichever has the lower CV RMSE on the training scans | pls: plain absorbance PLSR; "
        "default: the model's (auto)")] = None,
    soc_readout: Annotated[Optional[str], typer.Option(
        "--soc-readout", help="pls: SOC = a linear readout of absorbance started at the training scans' PLSR + the "
        "encoder's SOC output (wide & deep) | pls_fixed: the readout kept at that PLSR | none: the softmax latent "
        "alone (seed 003); default: pls for the physics decoder with --mixing hapke, none otherwise")] = None,
    ood_score: Annotated[str, typer.Option(
        "--ood-score", help="combined: standardised reconstruction residual, latent Mahalanobis distance or fitted "
        "water path, whichever is furthest beyond the training scans' | reconstruction: reconstruction RMSE "
        "(seed 003)")
    ] = "combined",
    water: Annotated[Optional[bool], typer.Option(
        "--water/--no-water", help="physics decoder: per-scan liquid-water path (1450/1940 nm absorption); "
        "default: on with --mixing hapke, off with linear")] = None,
    cv: Annotated[Optional[str], typer.Option(
        "--cv", help="'region': leave-one-region-out (seed 003 experiment 1)")] = None,
    region_col: Annotated[Optional[str], typer.Option("--region-col", help="region column for --cv region")] = None,
    quiet: QuietOpt = False,
    kind: KindOpt = None, percent: PercentOpt = None, wavelength_unit: WavelengthUnitOpt = None,
    id_col: IdColOpt = None, lat_col: LatColOpt = None, lon_col: LonColOpt = None, date_col: DateColOpt = None,
    drop_bad_rows: DropBadRowsOpt = False, sep: SepOpt = None,
    unique_ids: UniqueIdsOpt = False, average_replicates: AverageReplicatesOpt = False,
) -> None:
    """Train the seed-003 SOC model (encoder + none/ann/physics decoder) beside a PLSR baseline."""
    from socspec.errors import SocspecInputError
    from socspec.io import read_spectra
    from socspec.lab.experiments import loro_table
    from socspec.lab.workflow import fit_lab_run, summary_table
    from socspec.ood import calibration_warning

    if decoder not in ("none", "ann", "physics"):
        raise SocspecInputError(f"--decoder must be none, ann or physics, got {decoder!r}")
    if split != "random":
        raise SocspecInputError(f"--split {split!r} is not supported", hint="use --split random or --cv region")
    if cv not in (None, "region"):
        raise SocspecInputError(f"--cv {cv!r} is not supported", hint="use --cv region --region-col COL")
    if cv == "region" and not region_col:
        raise SocspecInputError("--cv region needs --region-col COL")
    carbon_col = target_col  # noqa: F841 — read_kwargs picks it from locals()
    rk = read_kwargs(**locals())
    run_seeds = parse_int_list(seeds, "--seeds") if seeds else [seed]
    table = read_spectra(spectra, require_carbon_column=True, **rk)
    if not table.has_soc:
        raise SocspecInputError("no carbon column found", path=spectra,
                                hint="name it with --target-col COL (and --carbon-unit)")
    echo(carbon_line(table.detection))
    reps = table.detection.get("replicates") or {}
    if reps.get("n_ids_with_replicates") and not reps.get("averaged"):
        echo(f"replicates: {reps['n_ids_with_replicates']} id(s) with up to {reps['max_scans_per_id']} scans each — "
             "every split keeps the scans of one id together (--average-replicates averages them)")
    unl = None
    if unlabeled is not None and str(unlabeled) == "earthlib" and not unlabeled.exists():
        from socspec.lab.unlabeled import with_earthlib

        table, unl = with_earthlib(table)
        note(f"--unlabeled earthlib: {len(unl)} ICRAF-ISRIC soil scans; model grid {table.wavelength_nm[0]:g}–"
             f"{table.wavelength_nm[-1]:g} nm at 10 nm, earthlib's water-band gaps interpolated in both")
    elif unlabeled is not None:
        unl = read_spectra(unlabeled, **{k: v for k, v in rk.items() if k not in ("carbon_col", "carbon_unit")},
                           carbon_col="")
    lib = None
    if endmembers is not None:
        from socspec.endmembers import EndmemberLibrary

        lib = EndmemberLibrary.from_csv(endmembers, minerals)
    params = dict(decoder=decoder, hidden=hidden, epochs=epochs, lr=lr, batch_size=batch_size or None,
                  patience=patience or None, wl_min_nm=wl_min, wl_max_nm=wl_max, step_nm=step,
                  alpha_conversion=not no_alpha_conversion, init_decoder=not no_init_decoder,
                  device=device, endmembers=lib if lib is not None else library, mixing=mixing,
                  photometric=photometric, water=water, ood_calibration=ood_calibration, n_members=members,
                  soc_readout=soc_readout, ood_score=ood_score, soc_blend=soc_blend,
                  ood_confidence=ood_confidence,
                  **({} if soc_blend_base is None else {"soc_blend_base": soc_blend_base}))
    if table.detection.get("synthetic"):
        note("using SIMULATED spectra")
    with flag_names(test_size="--test-size", wl_min_nm="--wl-min", wl_max_nm="--wl-max", step_nm="--step",
                    region_col="--region-col", mixing="--mixing", ood_calibration="--ood-calibration",
                    n_members="--members", soc_readout="--soc-readout", ood_score="--ood-score",
                    soc_blend="--soc-blend", soc_blend_base="--soc-blend-base", ood_confidence="--ood-confidence",
                    decoder="--decoder", hidden="--hidden", epochs="--epochs", lr="--lr", batch_size="--batch-size",
                    patience="--patience", device="--device"):
        metrics = fit_lab_run(table, out, model_params=params, unlabeled=unl, test_size=test_size, seeds=run_seeds,
                              force=force, resume=resume, progress=not quiet and is_tty(),
                              region_col=region_col if cv == "region" else None)
    if cv == "region":
        echo("leave-one-region-out (held-out region: R², MRMSE %, AUROC ours vs PCA Q):")
        echo(loro_table(metrics).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        t = metrics.get("loro_test") or {}
        if t.get("t") is not None:
            echo(f"Welch t-test of MRMSE, failing vs generalising regions: t = {t['t']:.3f}, p = {t['p']:.3g}")
    d = metrics["data"]
    echo(f"{d['n_labelled']} labelled spectra ({d['n_train_labelled']} train / {d['n_test']} test), "
         f"{d['n_unlabelled_in_file'] + d['n_unlabelled_extra']} unlabelled; model grid "
         f"{d['wavelength_nm'][0]:g}–{d['wavelength_nm'][1]:g} nm ({d['wavelength_nm'][2]} bands); "
         f"decoder {decoder}; seeds {run_seeds}")
    echo(summary_table(metrics))
    for what, cal in (("OOD threshold", metrics["ood"].get("calibration")),
                      ("PCA Q threshold", metrics["ood"].get("pca_q_calibration"))):
        if calibration_warning(cal, what):
            note("warning: " + calibration_warning(cal, what))
    echo(f"wrote {out}/ (model/, metrics.json, predictions.csv, PNGs)")


def predict_lab(
    model_dir: ModelDirArg,
    spectra: Annotated[Path, typer.Argument(help="spectra to score")],
    out: Annotated[Path, typer.Option("--out", help="predictions CSV")],
    force: Annotated[bool, typer.Option("--force", help="replace an existing --out file")] = False,
    device: Annotated[Optional[str], typer.Option(
        "--device", help="auto | cpu | cuda (default: as trained)")] = None,
    carbon_col: Annotated[Optional[str], typer.Option(
        "--target-col", "--carbon-col", help="carbon column, if known (adds soc_g_kg to the output)")] = None,
    carbon_unit: CarbonUnitOpt = None,
    kind: KindOpt = None, percent: PercentOpt = None, wavelength_unit: WavelengthUnitOpt = None,
    id_col: IdColOpt = None, drop_bad_rows: DropBadRowsOpt = False, sep: SepOpt = None,
) -> None:
    """Predict SOC (g/kg) with an OOD score, threshold and flag per sample (+ PCA Q-residual)."""
    from socspec.io import read_spectra
    from socspec.lab.workflow import load_lab_model
    from socspec.outputs import atomic_path, check_output_file

    check_output_file(out, force, inputs=(spectra,))
    table = read_spectra(spectra, **read_kwargs(**locals()))
    model = load_lab_model(model_dir, device=device)
    df = model.predict_frame(table)
    with atomic_path(out) as tmp:
        df.to_csv(tmp, index=False)
    echo(model.ood_summary(df))
    for w in model.ood_warnings():
        note("warning: " + w)
    echo(f"wrote {out}")


def finetune_lab(
    model_dir: ModelDirArg,
    new: Annotated[Path, typer.Argument(help="spectra of the new region (some labelled, the rest unlabelled)")],
    labels: Annotated[int, typer.Option(
        "--labels", help="number of labelled scans to fine-tune with (random, seeded)")],
    out: Annotated[Path, typer.Option("--out", help="output directory: model/ and metrics.json")],
    seed: Annotated[int, typer.Option("--seed", help="seed for choosing the labelled scans")] = 0,
    epochs: Annotated[int, typer.Option("--epochs", help="fine-tuning epochs (seed 003: 25)")] = 25,
    lr: Annotated[Optional[float], typer.Option("--lr", help="learning rate (default: the model's)")] = None,
    force: ForceOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    kind: KindOpt = None, percent: PercentOpt = None, wavelength_unit: WavelengthUnitOpt = None,
    carbon_col: CarbonColOpt = None, carbon_unit: CarbonUnitOpt = None, id_col: IdColOpt = None,
    drop_bad_rows: DropBadRowsOpt = False, sep: SepOpt = None,
) -> None:
    """Fine-tune a lab model on N labelled scans of a new region plus all its scans (experiment 3)."""
    from socspec.io import read_spectra
    from socspec.lab.workflow import finetune_run

    table = read_spectra(new, **read_kwargs(**locals()))  # unlabelled rows welcome
    with flag_names(n_labels="--labels"):
        metrics = finetune_run(model_dir, table, out, n_labels=labels, seed=seed, epochs=epochs, lr=lr, force=force,
                               progress=not quiet)
    b, a = metrics["before"], metrics["after"]
    echo(f"fine-tuned on {labels} labelled + {metrics['n_scans']} scans for {epochs} epochs; "
         f"evaluated on the other {metrics['n_eval']} labelled scans")
    echo(f"{'':8s}{'R²':>9s}{'RMSE g/kg':>11s}{'bias':>9s}{'MRMSE %':>9s}{'flagged':>9s}")
    for name, d in (("before", b), ("after", a)):
        echo(f"{name:8s}{d['r2']:9.3f}{d['rmse']:11.3f}{d['bias']:9.3f}{d['mrmse']:9.3f}{d['frac_flagged']:9.1%}")
    echo(f"model: {Path(out) / 'model'}  metrics: {Path(out) / 'metrics.json'}")
    if a["rmse"] > b["rmse"]:
        note("fine-tuning did not lower the RMSE on the held-back scans (few labels / epochs?)")


def register(app: typer.Typer) -> None:
    app.command("fit-lab")(user_errors(fit_lab))
    app.command("predict-lab")(user_errors(predict_lab))
    app.command("finetune-lab")(user_errors(finetune_lab))
