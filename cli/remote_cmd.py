"""`socspec fit-remote` (baselines with spatial CV) and `socspec simulate-remote` (synthetic corpus)."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from socspec_cli._common import echo, note, user_errors

_SIM_BANNER = "\n".join([
    "*" * 78,
    "*  NO --data GIVEN: using a SIMULATED demo corpus (synthetic, not soil data). *",
    "*  metrics.json says \"simulated\": true.  Pass --data FILE for real points.   *",
    "*" * 78])


def _csv_list(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    return items or None


def fit_remote(
    out: Annotated[Path, typer.Option("--out", help="output run directory (new, or --force)")],
    data: Annotated[Optional[Path], typer.Option("--data", help="points table, CSV or Parquet "
                    "(id, lat, lon, date/year, SOC, covariates); omitted = SIMULATED demo")] = None,
    chips: Annotated[Optional[Path], typer.Option("--chips", help="chips file (.h5/.npz/.zarr) "
                     "keyed by id")] = None,
    region: Annotated[str, typer.Option("--region", help="preset: global, europe, africa")] = "global",
    bbox: Annotated[Optional[str], typer.Option("--bbox", help="minlon,minlat,maxlon,maxlat "
                    "(replaces --region)")] = None,
    polygon: Annotated[Optional[Path], typer.Option("--polygon", help="GeoJSON Polygon/"
                       "MultiPolygon file (replaces --region)")] = None,
    cv: Annotated[str, typer.Option("--cv", help="spatial (whole blocks per fold) or random")] = "spatial",
    block_deg: Annotated[float, typer.Option("--block-deg", help="spatial block size, degrees")] = 1.0,
    block_km: Annotated[Optional[float], typer.Option("--block-km", help="spatial block size, km "
                        "(replaces --block-deg)")] = None,
    folds: Annotated[int, typer.Option("--folds", help="number of CV folds")] = 5,
    target_col: Annotated[Optional[str], typer.Option("--target-col", help="SOC column "
                          "(default: soc_g_kg, OC, soc …)")] = None,
    soc_unit: Annotated[Optional[str], typer.Option("--soc-unit", help="g/kg, percent or fraction "
                        "(when the column name does not say)")] = None,
    features: Annotated[Optional[str], typer.Option("--features", help="comma-separated covariate "
                        "columns, e.g. lat,lon,LC,LU")] = None,
    max_soc: Annotated[Optional[float], typer.Option("--max-soc", help="drop points with SOC above "
                       "this (g/kg), e.g. 87")] = None,
    models: Annotated[str, typer.Option("--models", help="comma-separated: xgboost,random_forest")]
    = "xgboost,random_forest",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    n_sim: Annotated[int, typer.Option("--n-sim", help="points in the simulated demo corpus")] = 2000,
    force: Annotated[bool, typer.Option("--force", help="write into an existing --out")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Cross-validate XGBoost and random forest on a corpus's covariates (spatial-block or random
    folds); write metrics.json, predictions.csv and PNGs to --out."""
    from socspec.remote import evaluate, read_corpus, resolve_region, simulate_corpus, write_outputs
    from socspec.remote.cv import check_cv_options
    from socspec.runs import RunDir, check_run_dir

    check_cv_options(cv, folds, block_deg, block_km)
    reg = resolve_region(region, bbox=bbox, polygon=polygon)
    check_run_dir(out, force=force)  # refuse early; the run is written under a lock at the end
    t0 = time.perf_counter()
    if data is None:
        note(_SIM_BANNER)
        corpus = simulate_corpus(n=n_sim, seed=seed, chips=False)
    else:
        corpus = read_corpus(data, chips=chips, target_col=target_col, soc_unit=soc_unit,
                             features=_csv_list(features), max_soc_g_kg=max_soc)
    n_all = len(corpus)
    corpus = corpus.select_region(reg)
    if max_soc is not None and data is None:
        corpus = corpus.subset(~(corpus.soc_g_kg > max_soc))
    if len(corpus) == 0:
        from socspec.errors import SocspecInputError

        raise SocspecInputError(f"no points inside region {reg.name!r} ({n_all} read)",
                                path=data, hint="check --region/--bbox/--polygon and lat/lon")
    load_s = time.perf_counter() - t0
    n_read = corpus.meta.get("n_read", n_all)
    echo(f"{len(corpus)} points in region {reg.name} ({n_read} read"
         + (f"; {corpus.meta.get('n_dropped_above_max_soc', 0)} above {max_soc:g} g/kg dropped"
            if max_soc is not None and data is not None else "") + ")")
    res = evaluate(corpus, features=_csv_list(features), models=tuple(_csv_list(models) or ()),
                   scheme=cv, n_folds=folds, block_deg=block_deg, block_km=block_km, seed=seed,
                   progress=not quiet and sys.stderr.isatty())
    res["metrics"]["timing_seconds"]["load"] = load_s
    res["metrics"]["data"]["region"] = reg.name
    with RunDir(out, force=force) as run:
        write_outputs(res, run.path)
    m = res["metrics"]
    echo(f"features: {', '.join(m['data']['features'])}; CV: {m['cv']['scheme']}, {folds} folds")
    for name in _csv_list(models) or ():
        r = m[name]
        echo(f"{name:14s} R² {r['r2']:.3f}  RMSE {r['rmse']:.2f} g/kg  MAE {r['mae']:.2f}  "
             f"CCC {r['ccc']:.3f}  Moran's I(resid) {r.get('moran_i_residuals', float('nan')):.3f}"
             f"  ({m['timing_seconds'][name]:.1f} s)")
    echo(f"wrote {Path(out) / 'metrics.json'} (+ predictions.csv, PNGs)")
    if corpus.simulated:
        note("reminder: these numbers are on SIMULATED data")


def simulate_remote(
    out: Annotated[Path, typer.Option("--out", help="output directory (new, or --force)")],
    n: Annotated[int, typer.Option("--n", help="number of points")] = 2000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    regions: Annotated[str, typer.Option("--regions", help="comma-separated: north,south,east,"
                       "west,tropic")] = "north,south,east,west",
    chip_size: Annotated[int, typer.Option("--chip-size", help="chip height = width, pixels")] = 8,
    range_km: Annotated[float, typer.Option("--range-km", help="range of the SOC field's "
                        "exponential covariance, km")] = 120.0,
    nugget: Annotated[float, typer.Option("--nugget", help="share of the SOC field that is "
                      "spatially white, 0–1")] = 0.1,
    chips_format: Annotated[str, typer.Option("--chips-format", help="npz or h5")] = "npz",
    force: Annotated[bool, typer.Option("--force", help="write into an existing --out")] = False,
) -> None:
    """Write a SYNTHETIC corpus (points.csv, chips, README.txt) for demos and tests."""
    from socspec.errors import SocspecInputError
    from socspec.outputs import prepare_run_dir
    from socspec.remote import SIM_REGIONS, simulate_corpus, write_corpus

    regs = _csv_list(regions) or []
    bad = [r for r in regs if r not in SIM_REGIONS]
    if bad:
        raise SocspecInputError(f"--regions: unknown {', '.join(bad)}",
                                hint=f"use {', '.join(SIM_REGIONS)}")
    if chips_format not in ("npz", "h5"):
        raise SocspecInputError(f"--chips-format {chips_format!r}", hint="use npz or h5")
    try:
        corpus = simulate_corpus(n=n, regions=tuple(regs), seed=seed, chip_size=chip_size,
                                 range_km=range_km, nugget=nugget)
    except ValueError as exc:
        raise SocspecInputError(str(exc)) from None
    out_dir = prepare_run_dir(out, force)
    files = write_corpus(corpus, out_dir, chips_format=chips_format)
    note("SYNTHETIC corpus (not measurements) — see README.txt")
    echo(f"wrote {len(corpus)} synthetic points to {files['points']}"
         + (f", chips to {files['chips']}" if "chips" in files else ""))


def register(app: typer.Typer) -> None:
    app.command("fit-remote")(user_errors(fit_remote))
    app.command("simulate-remote")(user_errors(simulate_remote))
