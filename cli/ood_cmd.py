"""`socspec ood-report` — per-region OOD risk of a lab model on new spectra."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

from ._common import echo, flag_names, note, user_errors
from ._read_options import (
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
    WavelengthUnitOpt,
    read_kwargs,
)


def _print_table(df, cols):
    cols = [c for c in cols if c in df.columns]
    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.float_format", "{:.4g}".format):
        echo(df[cols].to_string(index=False))


def ood_report(
    model_dir: Annotated[Path, typer.Argument(help="fit-lab --out directory (or its model/ artifact), or a "
                         "remote model folder (fit-remote --save-model with --ood-flags)")],
    spectra: Annotated[Path, typer.Argument(
        help="spectra file to score (CSV/Parquet; reflectance, % or absorbance); remote: the points table")],
    region_col: Annotated[str, typer.Option("--region-col", help="column naming each scan's region "
                          "(remote models also take grid:DEG, square cells of DEG degrees, or "
                          "preset:europe,africa, the region presets)")],
    out: Annotated[Path, typer.Option("--out", help="report directory (index.html, regions.csv/json, PNGs)")],
    force: Annotated[bool, typer.Option("--force", help="write into an existing non-empty --out")] = False,
    kind: KindOpt = None, percent: PercentOpt = None, wavelength_unit: WavelengthUnitOpt = None,
    carbon_col: CarbonColOpt = None, carbon_unit: CarbonUnitOpt = None, id_col: IdColOpt = None,
    lat_col: LatColOpt = None, lon_col: LonColOpt = None, date_col: DateColOpt = None,
    drop_bad_rows: DropBadRowsOpt = False, sep: SepOpt = None,
    chips: Annotated[Optional[Path], typer.Option("--chips", help="remote models: chips file keyed by id "
                     "(band spectra from the S2 chips when the points have no B1…B12 columns)")] = None,
    area_k: Annotated[int, typer.Option("--area-k", help="remote models: area scores — each point's OOD and "
                      "shift score pooled with its K nearest judged points (itself included), flagged at the "
                      "same false-alarm rate (frac_area_flagged, frac_area_shift_flagged); 0: off")] = 10,
    area_radius_km: Annotated[float, typer.Option("--area-radius-km", help="remote models: neighbours farther "
                              "than this do not pool into a point's area score")] = 60.0,
) -> None:
    """Per-region OOD risk of a lab model on new spectra (or of a remote model's sensor-band
    autoencoder on points): table, HTML report with plots."""
    from socspec.io import read_spectra
    from socspec.lab.workflow import load_lab_model
    from socspec.ood import ood_report as write_ood_report
    from socspec.runs import check_run_dir

    check_run_dir(out, force=force, inputs=(spectra, model_dir))  # refuse early; creates nothing
    from socspec.remote.ood_report import remote_model_format

    if remote_model_format(model_dir):
        return _remote_report(model_dir, spectra, region_col, out, force, chips, id_col, lat_col, lon_col, date_col,
                              area_k, area_radius_km)
    table = read_spectra(spectra, **read_kwargs(**locals()))  # input errors first, before loading torch
    with flag_names(region_col="--region-col"):
        table.region_labels(region_col)
    model = load_lab_model(model_dir)
    df, summary = write_ood_report(model, table, out, region_col=region_col, force=force, model_label=str(model_dir),
                                   inputs=(model_dir,))
    _print_table(df, ["region", "n", "median_score", "frac_flagged", "welch_t", "welch_p", "risk",
                      "rmse_g_kg", "r2", "bias_g_kg", "pca_q_frac_flagged", "pca_q_risk"])
    echo(f"threshold {summary['threshold']:.4g} (reflectance RMSE, {summary['false_alarm']:.0%} false alarms "
         f"on held-in scans); {summary['frac_flagged']:.1%} of {summary['n_scans']} scans flagged")
    for w in getattr(model, "ood_warnings", list)():  # any model ood_report scores; lab models say more
        note("warning: " + w)
    echo(f"report: {Path(out) / 'index.html'}  (regions.csv, regions.json, scans.csv, PNGs)")


def _remote_report(model_dir, points, region, out, force, chips, id_col, lat_col, lon_col, date_col, area_k,
                   area_radius_km) -> None:
    from socspec.remote import read_corpus
    from socspec.remote.ood_report import remote_ood_report

    corpus = read_corpus(points, chips=chips, require_target=False, id_col=id_col, lat_col=lat_col,
                         lon_col=lon_col, date_col=date_col)
    with flag_names(area_k="--area-k", area_radius_km="--area-radius-km"):
        df, summary = remote_ood_report(model_dir, corpus, out, region=region, force=force, inputs=(chips,),
                                        area_k=area_k, area_radius_km=area_radius_km)
    _print_table(df, ["region", "n", "median_score", "frac_flagged", "frac_shift_flagged", "frac_area_flagged",
                      "frac_area_shift_flagged", "welch_t", "welch_p", "risk", "rmse_g_kg", "bias_g_kg"])
    echo(f"threshold {summary['threshold']:.4g} (OOD score, {summary['false_alarm']:.0%} false alarms "
         f"on held-in band spectra); {summary['frac_flagged']:.1%} of {summary['n_scored']} points flagged")
    if "frac_area_flagged" in summary:
        echo(f"as areas ({summary['area_k']} nearest points within {summary['area_radius_km']:g} km): "
             f"{summary['frac_area_flagged']:.1%} flagged by the OOD score"
             + (f", {summary['frac_area_shift_flagged']:.1%} by the shift score"
                if "frac_area_shift_flagged" in summary else ""))
    echo(f"report: {Path(out) / 'index.html'}  (regions.csv, regions.json, points.csv, PNGs)")


def register(app: typer.Typer) -> None:
    app.command("ood-report")(user_errors(ood_report))
