"""`socspec ood-report` (per-region OOD risk) and `socspec finetune-lab` (seed 003 experiment 3)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import echo, note, user_errors
from ._read_options import (CarbonColOpt, CarbonUnitOpt, DateColOpt, DropBadRowsOpt, IdColOpt, KindOpt, LatColOpt,
                            LonColOpt, PercentOpt, SepOpt, WavelengthUnitOpt, read_kwargs)


def _load_model(model_dir: Path):
    """A fit-lab run directory (holding ``model/``) or the model artifact directory itself."""
    from socspec.errors import SocspecInputError
    from socspec.lab import LabSOCModel

    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise SocspecInputError("model directory not found", path=model_dir,
                                hint="pass the --out directory of `socspec fit-lab`")
    artifact = model_dir / "model" if (model_dir / "model").is_dir() else model_dir
    return LabSOCModel.load(artifact)


def _with_region_column(table, region_col: str):
    """The reader maps the user's region column (``region_col=``) to meta ``region``."""
    from socspec.errors import SocspecInputError

    meta = table.meta
    if "region" in meta.columns and (table.detection or {}).get("region_column") == region_col:
        return table, "region"
    if region_col in meta.columns:
        return table, region_col
    raise SocspecInputError(f"no region column {region_col!r}", path=table.source, column=region_col,
                            hint="pass --region-col with the column naming each scan's region "
                                 f"(columns: {', '.join(map(str, meta.columns))})")


def _print_table(df, cols):
    cols = [c for c in cols if c in df.columns]
    with __import__("pandas").option_context("display.width", 160, "display.max_columns", 30,
                                             "display.float_format", "{:.4g}".format):
        echo(df[cols].to_string(index=False))


def register(app: typer.Typer) -> None:
    @app.command("ood-report")
    @user_errors
    def ood_report_cmd(
        model_dir: Path = typer.Argument(..., help="fit-lab --out directory (or its model/ artifact)"),
        spectra: Path = typer.Argument(..., help="spectra file to score (CSV/Parquet; reflectance, % or absorbance)"),
        region_col: str = typer.Option(..., "--region-col", help="column naming each scan's region"),
        out: Path = typer.Option(..., "--out", help="report directory (index.html, regions.csv/json, PNGs)"),
        force: bool = typer.Option(False, "--force", help="write into an existing non-empty --out"),
        kind: KindOpt = None, percent: PercentOpt = None, wavelength_unit: WavelengthUnitOpt = None,
        carbon_col: CarbonColOpt = None, carbon_unit: CarbonUnitOpt = None, id_col: IdColOpt = None,
        lat_col: LatColOpt = None, lon_col: LonColOpt = None, date_col: DateColOpt = None,
        drop_bad_rows: DropBadRowsOpt = False, sep: SepOpt = None,
    ) -> None:
        """Per-region OOD risk of a lab model on new spectra: table, HTML report with plots."""
        from socspec.io import read_spectra
        from socspec.ood import ood_report
        from socspec.outputs import prepare_run_dir

        prepare_run_dir(out, force)  # refuse early, before the expensive part
        table = read_spectra(spectra, **read_kwargs(**locals()))  # input errors first, before loading torch
        table, col = _with_region_column(table, region_col)
        model = _load_model(model_dir)
        df, summary = ood_report(model, table, out, region_col=col, force=True, model_label=str(model_dir))
        _print_table(df, ["region", "n", "median_score", "frac_flagged", "welch_t", "welch_p", "risk",
                          "rmse_g_kg", "r2", "bias_g_kg", "pca_q_frac_flagged", "pca_q_risk"])
        echo(f"threshold {summary['threshold']:.4g} (reflectance RMSE, {summary['false_alarm']:.0%} false alarms "
             f"on held-in scans); {summary['frac_flagged']:.1%} of {summary['n_scans']} scans flagged")
        echo(f"report: {Path(out) / 'index.html'}  (regions.csv, regions.json, scans.csv, PNGs)")

    @app.command("finetune-lab")
    @user_errors
    def finetune_lab_cmd(
        model_dir: Path = typer.Argument(..., help="fit-lab --out directory (or its model/ artifact)"),
        new: Path = typer.Argument(..., help="spectra of the new region (some labelled, the rest unlabelled)"),
        labels: int = typer.Option(..., "--labels", help="number of labelled scans to fine-tune with (random, seeded)"),
        out: Path = typer.Option(..., "--out", help="output directory: model/ and metrics.json"),
        seed: int = typer.Option(0, "--seed", help="seed for choosing the labelled scans"),
        epochs: int = typer.Option(25, "--epochs", help="fine-tuning epochs (seed 003: 25)"),
        lr: Optional[float] = typer.Option(None, "--lr", help="learning rate (default: the model's)"),
        force: bool = typer.Option(False, "--force", help="write into an existing non-empty --out"),
        quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
        kind: KindOpt = None, percent: PercentOpt = None, wavelength_unit: WavelengthUnitOpt = None,
        carbon_col: CarbonColOpt = None, carbon_unit: CarbonUnitOpt = None, id_col: IdColOpt = None,
        drop_bad_rows: DropBadRowsOpt = False, sep: SepOpt = None,
    ) -> None:
        """Fine-tune a lab model on N labelled scans of a new region plus all its scans (experiment 3)."""
        from socspec.io import read_spectra
        from socspec.lab.experiments import finetune_new_region
        from socspec.outputs import atomic_path, prepare_run_dir, write_json

        out = prepare_run_dir(out, force)
        table = read_spectra(new, **read_kwargs(**locals()))  # unlabelled rows welcome
        model = _load_model(model_dir)
        if hasattr(model, "progress"):
            model.progress = not quiet
        tuned, metrics = finetune_new_region(model, table, n_labels=labels, seed=seed, epochs=epochs, lr=lr)
        metrics["base_model"] = str(model_dir)
        metrics["source"] = str(new)
        tuned.save(out / "model")
        write_json(out / "metrics.json", {"finetune": metrics})
        frame = tuned.predict_frame(table)
        with atomic_path(out / "predictions.csv") as tmp:
            frame.to_csv(tmp, index=False)
        b, a = metrics["before"], metrics["after"]
        echo(f"fine-tuned on {labels} labelled + {metrics['n_scans']} scans for {epochs} epochs; "
             f"evaluated on the other {metrics['n_eval']} labelled scans")
        echo(f"{'':8s}{'R²':>9s}{'RMSE g/kg':>11s}{'bias':>9s}{'MRMSE %':>9s}{'flagged':>9s}")
        for name, d in (("before", b), ("after", a)):
            echo(f"{name:8s}{d['r2']:9.3f}{d['rmse']:11.3f}{d['bias']:9.3f}{d['mrmse']:9.3f}{d['frac_flagged']:9.1%}")
        echo(f"model: {out / 'model'}  metrics: {out / 'metrics.json'}")
        if a["rmse"] > b["rmse"]:
            note("fine-tuning did not lower the RMSE on the held-back scans (few labels / epochs?)")
