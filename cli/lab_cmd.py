"""`socspec fit-lab` and `socspec predict-lab` — the lab path (seed 003)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ._common import echo, is_tty, note, user_errors
from ._read_options import (CarbonUnitOpt, DateColOpt, DropBadRowsOpt, IdColOpt, KindOpt, LatColOpt, LonColOpt,
                            PercentOpt, SepOpt, WavelengthUnitOpt, read_kwargs)


def _read(path, **kw):
    from socspec.io import read_spectra
    return read_spectra(path, **kw)


def register(app: typer.Typer) -> None:
    @app.command("fit-lab")
    @user_errors
    def fit_lab(
        spectra: Path = typer.Argument(..., help="labelled spectra (CSV/Parquet/ENVI; reflectance, % or absorbance)"),
        out: Path = typer.Option(..., "--out", help="run directory (model/, metrics.json, predictions.csv, PNGs)"),
        force: bool = typer.Option(False, "--force", help="write into an existing non-empty --out"),
        decoder: str = typer.Option("physics", "--decoder", help="none | ann | physics"),
        target_col: Optional[str] = typer.Option(None, "--target-col", "--carbon-col",
                                                 help="carbon column (default: detected by name)"),
        carbon_unit: CarbonUnitOpt = None,
        unlabeled: Optional[Path] = typer.Option(None, "--unlabeled", help="extra unlabelled scans (reconstruction term only)"),
        split: str = typer.Option("random", "--split", help="random (train/test) — see also --cv region"),
        test_size: float = typer.Option(0.4, "--test-size", help="fraction of labelled scans held out for testing"),
        seed: int = typer.Option(0, "--seed", help="split + model seed"),
        seeds: Optional[List[int]] = typer.Option(None, "--seeds", help="several seeds: --seeds 0 --seeds 1 … or --seeds 0 1 2 3"),
        epochs: int = typer.Option(1000, "--epochs"),
        hidden: int = typer.Option(512, "--hidden", help="encoder/decoder hidden width H"),
        lr: float = typer.Option(1e-4, "--lr", help="Adam learning rate (1e-3 diverges on real libraries with σ_SOC = 0.0041)"),
        batch_size: int = typer.Option(64, "--batch-size", help="mini-batch drawn from the device-resident data; 0 = full batch"),
        patience: int = typer.Option(100, "--patience", help="early-stopping patience in epochs (0 = off)"),
        wl_min: float = typer.Option(365.0, "--wl-min", help="model window start (nm; clipped to the data)"),
        wl_max: float = typer.Option(2500.0, "--wl-max", help="model window end (nm; clipped to the data)"),
        step: Optional[float] = typer.Option(None, "--step", help="model grid step in nm (default: the data's)"),
        no_alpha_conversion: bool = typer.Option(False, "--no-alpha-conversion", help="appendix B ablation: α = m̂"),
        no_init_decoder: bool = typer.Option(False, "--no-init-decoder",
                                             help="start the decoder from scratch (uniform mix / untrained MLP) instead of at the mean training spectrum"),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
        resume: bool = typer.Option(False, "--resume", help="continue a killed run from its checkpoints in --out"),
        endmembers: Optional[Path] = typer.Option(None, "--endmembers", help="endmember spectra CSV (default: embedded)"),
        minerals: Optional[Path] = typer.Option(None, "--minerals", help="mineral table CSV (density, size) for --endmembers"),
        cv: Optional[str] = typer.Option(None, "--cv", help="'region': leave-one-region-out (seed 003 experiment 1)"),
        region_col: Optional[str] = typer.Option(None, "--region-col", help="region column for --cv region"),
        quiet: bool = typer.Option(False, "--quiet", help="no progress bars"),
        kind: KindOpt = None, percent: PercentOpt = None, wavelength_unit: WavelengthUnitOpt = None,
        id_col: IdColOpt = None, lat_col: LatColOpt = None, lon_col: LonColOpt = None, date_col: DateColOpt = None,
        drop_bad_rows: DropBadRowsOpt = False, sep: SepOpt = None,
    ):
        """Train the seed-003 SOC model (encoder + none/ann/physics decoder) beside a PLSR baseline."""
        from socspec.errors import SocspecInputError

        if decoder not in ("none", "ann", "physics"):
            raise SocspecInputError(f"--decoder must be none, ann or physics, got {decoder!r}")
        if split != "random":
            raise SocspecInputError(f"--split {split!r} is not supported", hint="use --split random or --cv region")
        if cv not in (None, "region"):
            raise SocspecInputError(f"--cv {cv!r} is not supported", hint="use --cv region --region-col COL")
        if cv == "region" and not region_col:
            raise SocspecInputError("--cv region needs --region-col COL")
        carbon_col = target_col
        rk = read_kwargs(**locals())
        table = _read(spectra, **rk)
        if not table.has_soc:
            raise SocspecInputError("no carbon column found", path=spectra,
                                    hint="name it with --target-col COL (and --carbon-unit)")
        unl = None
        if unlabeled is not None:
            unl = _read(unlabeled, **{k: v for k, v in rk.items() if k not in ("carbon_col", "carbon_unit")},
                        carbon_col="")
        lib = None
        if endmembers is not None:
            from socspec.endmembers import EndmemberLibrary
            lib = EndmemberLibrary.from_csv(endmembers, minerals) if hasattr(EndmemberLibrary, "from_csv") \
                else EndmemberLibrary.load(endmembers)
        progress = not quiet and is_tty()
        params = dict(decoder=decoder, hidden=hidden, epochs=epochs, lr=lr, batch_size=batch_size or None,
                      patience=patience or None, wl_min_nm=wl_min, wl_max_nm=wl_max, step_nm=step,
                      alpha_conversion=not no_alpha_conversion, init_decoder=not no_init_decoder,
                      device=device, endmembers=lib)
        run_seeds = list(seeds) if seeds else [seed]
        if table.detection.get("synthetic"):
            note("using SIMULATED spectra")
        from socspec.lab.workflow import fit_lab_run, summary_table
        metrics = fit_lab_run(table, out, model_params=params, unlabeled=unl, test_size=test_size, seeds=run_seeds,
                              force=force, resume=resume, progress=progress)
        if cv == "region":
            try:
                from socspec.lab.experiments import leave_one_region_out, loro_table, write_loro_plots
            except ImportError:
                raise SocspecInputError("--cv region is not available yet (socspec.lab.experiments missing)")
            from socspec.outputs import write_json
            loro = leave_one_region_out(table, region_col=region_col, unlabeled=unl,
                                        model_params={k: v for k, v in params.items() if k != "seed"},
                                        seeds=tuple(run_seeds), progress=progress)
            metrics.update(loro)
            write_json(Path(out) / "metrics.json", metrics)
            write_loro_plots(loro, out)  # per-region bars and the f_SOC of every fold (experiment 2)
            echo("leave-one-region-out (held-out region: R², MRMSE %, AUROC ours vs PCA Q):")
            echo(loro_table(loro).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            t = loro.get("loro_test") or {}
            if t.get("t") is not None:
                echo(f"Welch t-test of MRMSE, failing vs generalising regions: t = {t['t']:.3f}, p = {t['p']:.3g}")
        d = metrics["data"]
        echo(f"{d['n_labelled']} labelled spectra ({d['n_train_labelled']} train / {d['n_test']} test), "
             f"{d['n_unlabelled_in_file'] + d['n_unlabelled_extra']} unlabelled; model grid "
             f"{d['wavelength_nm'][0]:g}–{d['wavelength_nm'][1]:g} nm ({d['wavelength_nm'][2]} bands); "
             f"decoder {decoder}; seeds {run_seeds}")
        echo(summary_table(metrics))
        echo(f"wrote {out}/ (model/, metrics.json, predictions.csv, PNGs)")

    @app.command("predict-lab")
    @user_errors
    def predict_lab(
        model_dir: Path = typer.Argument(..., help="fit-lab --out directory (or its model/ artifact)"),
        spectra: Path = typer.Argument(..., help="spectra to score"),
        out: Path = typer.Option(..., "--out", help="predictions CSV"),
        force: bool = typer.Option(False, "--force", help="replace an existing --out file"),
        device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda (default: as trained)"),
        carbon_col: Optional[str] = typer.Option(None, "--target-col", "--carbon-col",
                                                 help="carbon column, if known (adds soc_g_kg to the output)"),
        carbon_unit: CarbonUnitOpt = None,
        kind: KindOpt = None, percent: PercentOpt = None, wavelength_unit: WavelengthUnitOpt = None,
        id_col: IdColOpt = None, drop_bad_rows: DropBadRowsOpt = False, sep: SepOpt = None,
    ):
        """Predict SOC (g/kg) with an OOD score, threshold and flag per sample (+ PCA Q-residual)."""
        from socspec.errors import SocspecInputError
        from socspec.outputs import atomic_path, check_output_file

        check_output_file(out, force)
        table = _read(spectra, **read_kwargs(**locals()))
        model_dir = Path(model_dir)
        if not model_dir.exists():
            raise SocspecInputError("model directory not found", path=model_dir,
                                    hint="pass the --out directory of `socspec fit-lab`")
        from socspec.lab import LabSOCModel
        art = model_dir / "model" if (model_dir / "model").is_dir() else model_dir
        model = LabSOCModel.load(art, device=device)
        df = model.predict_frame(table)
        with atomic_path(out) as tmp:
            df.to_csv(tmp, index=False)
        n_flag = int(df["ood_flag"].sum())
        echo(f"{len(df)} spectra scored; {n_flag} flagged out-of-distribution "
             f"(reconstruction RMSE > {model.ood_threshold_:.4g}); {int(df['pca_q_flag'].sum())} by PCA Q")
        if model.decoder == "none":
            note("decoder 'none' has no reconstruction: ood_score is NaN (use pca_q)")
        echo(f"wrote {out}")
