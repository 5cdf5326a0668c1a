"""`socspec fit-remote` (baselines with spatial CV) and `socspec simulate-remote` (synthetic corpus)."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from socspec_cli._common import echo, flag_names, note, user_errors

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
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="folds fitted in parallel processes "
                    "(threads per process: cores / jobs)")] = 1,
    target_col: Annotated[Optional[str], typer.Option("--target-col", help="SOC column "
                          "(default: soc_g_kg, OC, soc …)")] = None,
    soc_unit: Annotated[Optional[str], typer.Option("--carbon-unit", "--soc-unit", help="unit of the "
                        "SOC column: g/kg, percent or fraction (when the column name does not say); "
                        "--soc-unit is the older spelling")] = None,
    features: Annotated[Optional[str], typer.Option("--features", help="comma-separated covariate "
                        "columns, e.g. lat,lon,LC,LU")] = None,
    max_soc: Annotated[Optional[float], typer.Option("--max-soc", help="drop points with SOC above "
                       "this (g/kg), e.g. 87")] = None,
    models: Annotated[str, typer.Option("--models", help="comma-separated: sptgnn,xgboost,"
                      "random_forest,xgboost_kriged")] = "sptgnn,xgboost,random_forest",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    n_sim: Annotated[int, typer.Option("--n-sim", help="points in the simulated demo corpus")] = 2000,
    device: Annotated[str, typer.Option("--device", help="SpTGNN: auto, cpu or cuda")] = "auto",
    epochs: Annotated[int, typer.Option("--epochs", help="SpTGNN: maximum epochs per member "
                      "(early stopping on an inner validation split)")] = 300,
    members: Annotated[int, typer.Option("--members", help="SpTGNN: deep-ensemble size")] = 5,
    moran_weight: Annotated[float, typer.Option("--moran-weight", help="SpTGNN: weight of the "
                            "Moran's I penalty on training residuals")] = 0.1,
    label_features: Annotated[bool, typer.Option("--label-features/--no-label-features",
                              help="SpTGNN: neighbours' training labels as an input (never a "
                              "point's own)")] = True,
    forest_covariate: Annotated[Optional[bool], typer.Option(
        "--forest-covariate/--no-forest-covariate", help="SpTGNN: a random forest's out-of-fold SOC "
        "estimate from the covariates as one more covariate (stacking; default: the model's)")] = None,
    backbone: Annotated[str, typer.Option("--backbone", help="SpTGNN: TerraMind v1 size: tiny, "
                        "small or base")] = "tiny",
    backbone_ckpt: Annotated[Optional[Path], typer.Option("--backbone-ckpt", help="SpTGNN: local "
                             "TerraMind weights (no downloads)")] = None,
    freeze_backbone: Annotated[Optional[bool], typer.Option("--freeze-backbone/--no-freeze-backbone",
                               help="SpTGNN: image features computed once (default on CPU)")] = None,
    graph: Annotated[bool, typer.Option("--graph/--no-graph", help="SpTGNN ablation: MLP "
                     "instead of relational attention")] = True,
    moe: Annotated[bool, typer.Option("--moe/--no-moe", help="SpTGNN ablation: masked mean "
                   "instead of the sparse mixture of experts")] = True,
    relations: Annotated[str, typer.Option("--relations", help="SpTGNN: comma-separated "
                         "spatial,spectral,elevation")] = "spatial,spectral,elevation",
    images: Annotated[bool, typer.Option("--images/--no-images", help="SpTGNN ablation: "
                      "leave out the chips")] = True,
    position: Annotated[bool, typer.Option("--position/--no-position", help="SpTGNN ablation: "
                        "leave out the position stream")] = True,
    spectral_edges: Annotated[str, typer.Option("--spectral-edges", help="SpTGNN: spectral relation "
                              "as cosine kNN in the band spectra (bands) or in the sensor-band "
                              "autoencoder's abundances (latent)")] = "bands",
    drop_ood_edges: Annotated[bool, typer.Option("--drop-ood-edges", help="SpTGNN: points the "
                              "sensor-band autoencoder flags out-of-distribution lose their spectral "
                              "edges (all, or all but --ood-spectral-k)")] = False,
    ood_spectral_k: Annotated[int, typer.Option("--ood-spectral-k", min=0, help="SpTGNN with "
                              "--drop-ood-edges: a flagged point keeps its K most similar spectral "
                              "partners (down-weighted in the attention) instead of none")] = 0,
    ood_flags: Annotated[bool, typer.Option("--ood-flags/--no-ood-flags", help="SpTGNN: fit the "
                         "sensor-band autoencoder so that predict-remote reports ood_score, "
                         "ood_threshold, ood_flag (on with --spectral-edges latent or "
                         "--drop-ood-edges)")] = False,
    init: Annotated[Optional[Path], typer.Option("--init", help="SpTGNN: fine-tune from this saved model "
                    "folder (e.g. one fitted with --region global); same features and relations")] = None,
    save_model: Annotated[Optional[Path], typer.Option("--save-model", help="SpTGNN: also train "
                          "on all labelled points and write the model folder here")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue an interrupted run in --out "
                      "from its SpTGNN checkpoints")] = False,
    force: Annotated[bool, typer.Option("--force", help="replace an existing --out (and "
                     "--save-model)")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Cross-validate the SpTGNN, XGBoost and random forest on the same folds (spatial-block or
    random); write metrics.json, predictions.csv and PNGs to --out (and, with --save-model, the
    SpTGNN trained on all labelled points)."""
    from socspec.errors import SocspecInputError
    from socspec.remote import evaluate, read_corpus, resolve_region, simulate_corpus, write_outputs
    from socspec.remote.cv import check_cv_options
    from socspec.runs import RunDir, check_run_dir

    check_cv_options(cv, folds, block_deg, block_km)
    reg = resolve_region(region, bbox=bbox, polygon=polygon)
    model_names = tuple(_csv_list(models) or ())
    sptgnn_params = _sptgnn_params(
        device=device, epochs=epochs, members=members, moran_weight=moran_weight,
        label_features=label_features, backbone=backbone, backbone_ckpt=backbone_ckpt,
        freeze_backbone=freeze_backbone, graph=graph, moe=moe, relations=relations, images=images,
        position=position, features=_csv_list(features), progress=not quiet and sys.stderr.isatty(),
        spectral_edges=spectral_edges, drop_ood_edges=drop_ood_edges, ood_flags=ood_flags, init=init,
        ood_spectral_k=ood_spectral_k, forest_covariate=forest_covariate)
    check_run_dir(out, force=force, resume=resume)  # refuse early, before slow work
    if save_model is not None:
        check_run_dir(save_model, force=force)
    t0 = time.perf_counter()
    if data is None:
        note(_SIM_BANNER)
        corpus = simulate_corpus(n=n_sim, seed=seed, chips=False)
    else:
        corpus = read_corpus(data, chips=chips, target_col=target_col, soc_unit=soc_unit,
                             features=_csv_list(features))
    n_all = len(corpus)
    corpus = corpus.select_region(reg).drop_above_soc(max_soc)  # one filter for simulated and real points
    if len(corpus) == 0:
        from socspec.errors import SocspecInputError

        raise SocspecInputError(f"no points inside region {reg.name!r} ({n_all} read)",
                                path=data, hint="check --region/--bbox/--polygon and lat/lon")
    load_s = time.perf_counter() - t0
    n_read = corpus.meta.get("n_read", n_all)
    echo(f"{len(corpus)} points in region {reg.name} ({n_read} read"
         + (f"; {corpus.meta.get('n_dropped_above_max_soc', 0)} above {max_soc:g} g/kg dropped"
            if max_soc is not None else "") + ")")
    with RunDir(out, force=force, resume=resume) as run:
        # checkpoints live in the run (keyed by each fold's training data), so --resume continues
        params = dict(sptgnn_params, checkpoint_dir=str(run.path / "checkpoints"),
                      resume=run.resuming)
        res = evaluate(corpus, features=_csv_list(features), models=model_names, scheme=cv,
                       n_folds=folds, block_deg=block_deg, block_km=block_km, seed=seed,
                       progress=not quiet and sys.stderr.isatty(), model_params={"sptgnn": params},
                       n_jobs=jobs)
        res["metrics"]["timing_seconds"]["load"] = load_s
        res["metrics"]["data"]["region"] = reg.name
        write_outputs(res, run.path)
    m = res["metrics"]
    echo(f"features: {', '.join(m['data']['features'])}; CV: {m['cv']['scheme']}, {folds} folds")
    for name in model_names:
        r = m[name]
        unc = (f"  ECE {r['ece']:.3f}  cover90 {r['coverage90']:.2f}" if "ece" in r else "")
        echo(f"{name:14s} R² {r['r2']:.3f}  RMSE {r['rmse']:.2f} g/kg  MAE {r['mae']:.2f}  "
             f"CCC {r['ccc']:.3f}  Moran's I(resid) {r.get('moran_i_residuals', float('nan')):.3f}"
             f"{unc}  ({m['timing_seconds'][name]:.1f} s)")
    echo(f"wrote {Path(out) / 'metrics.json'} (+ predictions.csv, PNGs)")
    if save_model is not None:
        from socspec.remote.sptgnn import fit_and_save

        model = fit_and_save(corpus, save_model, force=force, **sptgnn_params)
        for line in model.notes_:
            note(line)
        echo(f"SpTGNN trained on all {len(model.train_ids_)} labelled points "
             f"({model.n_members} members): wrote {save_model}")
    if corpus.simulated:
        note("reminder: these numbers are on SIMULATED data")


def _sptgnn_params(*, device, epochs, members, moran_weight, label_features, backbone,
                   backbone_ckpt, freeze_backbone, graph, moe, relations, images, position,
                   features, progress, spectral_edges="bands", drop_ood_edges=False,
                   ood_flags=False, init=None, ood_spectral_k=0, forest_covariate=None) -> dict:
    """SpTGNN hyper-parameters from the CLI options, checked (bad ones: SocspecInputError)."""
    from socspec.errors import SocspecInputError
    from socspec.remote.graph import RELATIONS
    from socspec.remote.sptgnn import BACKBONES

    rel = tuple(_csv_list(relations) or ())
    bad = [r for r in rel if r not in RELATIONS]
    if bad or not rel:
        raise SocspecInputError(f"--relations {relations!r}", hint=f"use a comma-separated subset "
                                f"of {','.join(RELATIONS)}")
    if label_features and "spatial" not in rel:
        raise SocspecInputError("--label-features needs the spatial relation",
                                hint="add spatial to --relations or pass --no-label-features")
    if device not in ("auto", "cpu", "cuda"):
        raise SocspecInputError(f"--device {device!r}", hint="use auto, cpu or cuda")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SocspecInputError("--device cuda: torch sees no CUDA device", hint="use --device auto")
    if backbone not in BACKBONES:
        raise SocspecInputError(f"--backbone {backbone!r}", hint=f"use {', '.join(BACKBONES)}")
    if backbone_ckpt is not None and not Path(backbone_ckpt).is_file():
        raise SocspecInputError("backbone checkpoint not found", path=backbone_ckpt)
    for opt, v in (("--epochs", epochs), ("--members", members)):
        if v < 1:
            raise SocspecInputError(f"{opt} {v}: must be at least 1")
    if not moran_weight >= 0:
        raise SocspecInputError(f"--moran-weight {moran_weight}: must be >= 0")
    if spectral_edges not in ("bands", "latent"):
        raise SocspecInputError(f"--spectral-edges {spectral_edges!r}", hint="use bands or latent")
    if init is not None:
        from socspec.remote.sptgnn import MODEL_FORMAT, MODEL_FORMAT_VERSION
        from socspec.runs import verify_model_folder

        verify_model_folder(init, MODEL_FORMAT, MODEL_FORMAT_VERSION)  # a bad --init fails before any work
    extra = {} if forest_covariate is None else {"forest_covariate": bool(forest_covariate)}
    return {**extra, "device": device, "epochs": epochs, "n_members": members, "moran_weight": moran_weight,
            "label_features": label_features, "backbone": backbone,
            "backbone_ckpt": None if backbone_ckpt is None else str(backbone_ckpt),
            "freeze_backbone": freeze_backbone, "graph": graph, "moe": moe, "relations": rel,
            "images": images, "position": position, "features": features, "progress": progress,
            "spectral_edges": spectral_edges, "drop_ood_edges": drop_ood_edges, "ood_flags": ood_flags,
            "ood_spectral_k": ood_spectral_k,
            "init_from": None if init is None else str(init)}


def predict_remote(
    model: Annotated[Path, typer.Argument(help="SpTGNN model folder (fit-remote --save-model)")],
    points: Annotated[Path, typer.Argument(help="points to predict, CSV or Parquet (id, lat, lon, "
                      "date/year, the model's covariates; SOC optional, never used)")],
    out: Annotated[Path, typer.Option("--out", help="predictions CSV to write")],
    chips: Annotated[Optional[Path], typer.Option("--chips", help="chips file (.h5/.npz/.zarr) "
                     "keyed by id")] = None,
    map_png: Annotated[Optional[Path], typer.Option("--map", help="map PNG (default: beside --out, "
                       "<out>_map.png)")] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda")] = "auto",
    force: Annotated[bool, typer.Option("--force", help="replace existing output files")] = False,
    shift_scores: Annotated[bool, typer.Option("--shift-scores", help="also judge the points together: "
                            "shift_score, shift_threshold, shift_flag (a forest told these points from the "
                            "training pixels; needs a sensor-band autoencoder in the model)")] = False,
    area_k: Annotated[int, typer.Option("--area-k", help="also area scores: each point's OOD score (and shift "
                      "score with --shift-scores) pooled with its K nearest points, same false-alarm rate "
                      "(area_ood_*, area_shift_*); 0: off")] = 0,
) -> None:
    """Predict SOC with uncertainty at new points: soc_pred, soc_sd, aleatoric_sd, epistemic_sd
    (g/kg) per point in --out (+ ood_score, ood_threshold, ood_flag when the model has a sensor-band
    autoencoder), and a map PNG. New points join the training graph inductively."""
    from socspec.errors import SocspecInputError
    from socspec.outputs import atomic_path, check_output_file
    from socspec.remote.plots import prediction_map
    from socspec.remote.sptgnn import predict_points

    if device not in ("auto", "cpu", "cuda"):
        raise SocspecInputError(f"--device {device!r}", hint="use auto, cpu or cuda")
    map_png = map_png or out.with_name(out.stem + "_map.png")
    check_output_file(out, force)
    check_output_file(map_png, force)
    with flag_names(area_k="--area-k"):
        table, fitted = predict_points(model, points, chips=chips, device=device, shift_scores=shift_scores,
                                       area_k=area_k)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    prediction_map(table["lat"], table["lon"], table["soc_pred"], table["soc_sd"], map_png,
                   title=f"SpTGNN ({len(fitted.members_)} members): {len(table)} points")
    for line in fitted.notes_:
        if "no --chips" in line:
            note(line)
    echo(f"predicted {len(table)} points: SOC median {table['soc_pred'].median():.1f} g/kg, "
         f"median sd {table['soc_sd'].median():.1f} g/kg")
    if "ood_flag" in table.columns:
        echo(f"{int(table['ood_flag'].sum())} of {len(table)} points flagged out-of-distribution by the "
             f"sensor-band autoencoder (OOD score > {table['ood_threshold'].iloc[0]:.4g})")
    for col, what in (("shift_flag", "the corpus-level shift score"), ("area_ood_flag", "the area OOD score"),
                      ("area_shift_flag", "the area shift score")):
        if col in table.columns:
            echo(f"{int(table[col].sum())} of {len(table)} points flagged by {what}")
    echo(f"wrote {out} and {map_png}")


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
    with flag_names(chip_size="--chip-size", nugget="--nugget", range_km="--range-km"):
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
    app.command("predict-remote")(user_errors(predict_remote))
