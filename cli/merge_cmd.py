"""`socspec merge A.csv B.csv … --out merged.csv` — libraries from different instruments on one grid."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from socspec_cli._common import echo, user_errors
from socspec_cli._read_options import DropBadRowsOpt, RegionColOpt, read_kwargs


def merge(
    files: Annotated[list[Path], typer.Argument(help="Two or more spectra files (any layout `inspect` reads).")],
    out: Annotated[Path, typer.Option("--out", help="Merged spectra file (.csv, .tsv or .parquet).")],
    step_nm: Annotated[Optional[float], typer.Option(
        "--step-nm", help="Grid step in nm (default: the coarsest library's step, so none is upsampled).")] = None,
    report: Annotated[Optional[Path], typer.Option(
        "--report", help="Write the merge report (common window, per-library ranges) as JSON here.")] = None,
    region_col: RegionColOpt = None,
    drop_bad_rows: DropBadRowsOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Replace existing output files.")] = False,
) -> None:
    """Resample spectral libraries onto their common window (reflectance 0–1) and stack them."""
    from socspec.io import read_spectra, write_spectra
    from socspec.outputs import check_output_file, write_json
    from socspec.preprocess import merge_libraries

    if len(files) < 2:
        raise typer.BadParameter("give at least two files to merge")
    check_output_file(out, force)
    if report is not None:
        check_output_file(report, force)
    tables = [read_spectra(f, **read_kwargs(region_col=region_col, drop_bad_rows=drop_bad_rows)) for f in files]
    merged, rep = merge_libraries(tables, step_nm=step_nm)
    write_spectra(merged, out)
    if report is not None:
        write_json(report, rep)
    lo, hi = rep["window_nm"]
    echo(f"common window: {lo:g}–{hi:g} nm at {rep['step_nm']:g} nm ({rep['n_wavelengths']} wavelengths)")
    for lib in rep["libraries"]:
        kind = lib["kind"] + (" %" if lib.get("percent") else "")
        echo(f"  {lib['name']:<24} {lib['n_samples']:>6} samples  {lib['wl_min_nm']:g}–{lib['wl_max_nm']:g} nm"
             f"  step {lib['step_nm']:.3g} nm  {kind}  → {lib.get('resample_method')}")
    echo(f"wrote {merged.n_samples} samples to {out}")


def register(app: typer.Typer) -> None:
    app.command("merge")(user_errors(merge))
