"""Per-region out-of-distribution report for a remote model on a corpus of points.

The score is the bridge's per-point OOD score (:meth:`socspec.remote.bridge.SensorBandAutoencoder.ood_score`:
reconstruction error and kNN novelty in one score; the reconstruction RMSE is in ``points.csv`` too), from a
:class:`~socspec.remote.bridge.SensorBandAutoencoder` saved inside an SpTGNN model folder fitted
with ``--ood-flags``/``--spectral-edges latent``/``--drop-ood-edges``, or on its own); the table is
the lab report's :func:`socspec.ood.region_risk_table` with the same documented risk rule
(:data:`socspec.ood.RISK_RULE_TEXT`), and the HTML report has the same layout (:class:`socspec.report.Report`).

Regions: a column of the points (``"NUTS_0"``, ``"region"``), square cells ``"grid:DEG"`` (cell
label ``"lat0,lon0"``: the cell's south-west corner in degrees), or region presets
``"preset:europe,africa"`` (:data:`socspec.remote.regions.PRESETS`; each point gets the first listed
preset whose outline holds it, ``"outside"`` otherwise; ``"preset"`` alone lists every preset but
``global``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SocspecInputError

REMOTE_FORMATS = ("socspec-sptgnn-model", "socspec-sensor-autoencoder")
AREA_K = 10  # area scores' neighbours (the point included): simulated planted regions, bench_bridge.py


def remote_model_format(folder) -> str | None:
    """The remote model format named by ``folder/manifest.json``, or None (not a remote model folder)."""
    man = Path(folder) / "manifest.json"
    try:
        fmt = json.loads(man.read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return None
    return fmt if fmt in REMOTE_FORMATS else None


def load_remote_ood_model(folder):
    """``(bridge, sptgnn or None)`` from an SpTGNN folder (its ``bridge/``) or a bridge folder."""
    from ..runs import ModelFolderError
    from .bridge import SensorBandAutoencoder
    from .sptgnn import SpTGNNRegressor

    fmt = remote_model_format(folder)
    if fmt == "socspec-sensor-autoencoder":
        return SensorBandAutoencoder.load(folder), None
    model = SpTGNNRegressor.load(folder, device="cpu")
    if model.bridge_ is None:
        raise ModelFolderError("this SpTGNN has no sensor-band autoencoder, so no OOD score", path=folder,
                               hint="refit with fit-remote --ood-flags (or --spectral-edges latent)")
    return model.bridge_, model


def point_regions(corpus, region: str) -> np.ndarray:
    """(n,) region label per point: the values of column ``region``, ``"grid:DEG"`` cells or
    ``"preset[:NAME,…]"`` presets (module docstring)."""
    if region == "preset" or region.startswith("preset:"):
        from .regions import PRESETS, preset

        names = [r for r in region[7:].split(",") if r.strip()] or [r for r in PRESETS if r != "global"]
        labels = np.full(len(corpus), "outside", dtype=object)
        for name in reversed(names):  # the first listed preset wins where outlines overlap
            reg = preset(name)
            labels[reg.contains(corpus.lat, corpus.lon)] = reg.name
        return labels.astype(str)
    if region.startswith("grid:"):
        try:
            deg = float(region[5:])
        except ValueError:
            deg = float("nan")
        if not np.isfinite(deg) or deg <= 0:
            raise SocspecInputError(f"region {region!r}: a grid cell size must be a positive number of degrees",
                                    hint="e.g. grid:1.0")
        lat0 = np.floor(corpus.lat / deg) * deg
        lon0 = np.floor(corpus.lon / deg) * deg
        return np.array([f"{a:g},{b:g}" for a, b in zip(lat0, lon0)])
    if region not in corpus.points.columns:
        raise SocspecInputError(f"region column {region!r} not in the points", column=region,
                                path=corpus.meta.get("source"),
                                hint=f"use a column ({', '.join(map(str, corpus.points.columns))}) or grid:DEG")
    return corpus.points[region].astype(str).to_numpy()


def remote_ood_report(folder, corpus, out_dir, *, region: str = "region", force: bool = False,
                      inputs=(), area_k: int = AREA_K, area_radius_km: float | None = None
                      ) -> tuple[pd.DataFrame, dict]:
    """Score ``corpus``'s band spectra with the model in ``folder`` and write the per-region report:
    ``index.html``, ``report.md``, ``regions.csv``/``regions.json`` (same values), ``points.csv``
    (id, region, lat, lon, ood_score, ood_threshold, ood_flag, reconstruction_error, shift_score, shift_threshold,
    shift_flag [, soc_pred, soc_g_kg]) and PNGs
    ``scores_by_region.png``, ``map.png``. RMSE and bias per region where the points have SOC and
    the folder holds an SpTGNN. ``frac_shift_flagged`` per region: the share flagged by the corpus-level
    shift score (:meth:`~socspec.remote.bridge.SensorBandAutoencoder.shift_frame`: a forest told these
    points from the training pixels; same false-alarm rate), absent for folders saved before it.
    With ``area_k`` ≥ 2 (default :data:`AREA_K`) and a bridge fitted with positions, the area scores
    too (:meth:`~socspec.remote.bridge.SensorBandAutoencoder.area_frame`: each point's score pooled
    with its ``area_k`` nearest judged points within ``area_radius_km``): per point ``area_ood_*`` and
    ``area_shift_*``, per region ``frac_area_flagged`` and ``frac_area_shift_flagged``.
    Returns ``(region_table, summary)``."""
    if int(area_k) < 0 or (area_radius_km is not None and not float(area_radius_km) > 0):
        raise SocspecInputError(f"area_k={area_k} must be ≥ 0 (0, 1: no area scores) and area_radius_km "
                                f"({area_radius_km}) > 0")
    from ..runs import RunDir

    if corpus.band_spectra is None:
        raise SocspecInputError("the points have no band spectra (B1…B12 columns or S2 chips)",
                                path=corpus.meta.get("source"), hint="pass --chips or add the S2 band columns")
    labels = point_regions(corpus, region)
    bridge, sptgnn = load_remote_ood_model(folder)
    with RunDir(out_dir, force=force, inputs=(folder, corpus.meta.get("source"), *inputs)) as run:
        return _write(bridge, sptgnn, corpus, labels, Path(run.path), str(folder), region, int(area_k),
                      area_radius_km)


def _write(bridge, sptgnn, corpus, labels, out_dir: Path, model_label: str, region: str, area_k: int = 0,
           area_radius_km: float | None = None):
    from ..ood import RISK_RULE_TEXT, region_risk_table
    from ..outputs import atomic_path, write_json
    from ..report import Report, plot_map, plot_scores_by_group
    from .bridge import AREA_RADIUS_KM

    # area scores need the calibration pixels' positions (bridges fitted before them have none)
    area = area_k >= 2 and getattr(bridge, "calibration_lat_", None) is not None
    where = dict(lat_deg=corpus.lat, lon_deg=corpus.lon, area_k=area_k,
                 area_radius_km=AREA_RADIUS_KM if area_radius_km is None else float(area_radius_km)) if area else {}
    frame = bridge.score_frame(corpus.band_spectra, **where)
    scores = frame["ood_score"].to_numpy(np.float64)
    thr, alpha = float(bridge.ood_threshold_), float(bridge.false_alarm)
    soc = corpus.soc_g_kg if "soc_g_kg" in corpus.points else None
    pred = None
    if sptgnn is not None and soc is not None and np.isfinite(soc).any():
        pred = sptgnn.predict_detail(corpus)["soc_pred"].to_numpy(np.float64)
    df = region_risk_table(scores, labels, bridge.val_scores_, thr, soc_true=soc if pred is not None else None,
                           soc_pred=pred, false_alarm=alpha)
    points = pd.DataFrame({"id": corpus.ids, "region": labels, "lat": corpus.lat, "lon": corpus.lon})
    shift = None
    if getattr(bridge, "shift_reference_", None) is not None:
        shift = bridge.shift_frame(corpus.band_spectra, **where)
    scored = frame["ood_score"].notna().to_numpy()  # as the table: points with band spectra
    for col, flag in (("frac_shift_flagged", "shift_flag"), ("frac_area_flagged", "area_ood_flag"),
                      ("frac_area_shift_flagged", "area_shift_flag")):
        source = frame if flag in frame.columns else shift
        if source is None or flag not in source.columns:
            continue
        flagged = pd.Series(source[flag].to_numpy(bool)[scored]).groupby(np.asarray(labels)[scored]).mean()
        df[col] = df["region"].astype(str).map(flagged).astype(float)
    points = pd.concat([points, frame] + ([] if shift is None else [shift]), axis=1)
    if pred is not None:
        points["soc_pred"], points["soc_g_kg"] = pred, soc
    with atomic_path(out_dir / "regions.csv") as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(out_dir / "points.csv") as tmp:
        points.to_csv(tmp, index=False)
    ok = np.isfinite(scores)
    summary = {"n_points": int(len(corpus)), "n_scored": int(ok.sum()), "n_regions": int(df.shape[0]),
               "regions_from": region, "threshold": thr, "false_alarm": alpha,
               "frac_flagged": float(np.mean(scores[ok] > thr)) if ok.any() else float("nan"),
               "source": corpus.meta.get("source"), "model": model_label, "risk_rule": RISK_RULE_TEXT,
               "score": f"sensor-band autoencoder: {bridge.score_description}"}
    if shift is not None:
        summary["shift_threshold"] = float(shift["shift_threshold"].iloc[0]) if len(shift) else float("nan")
        summary["frac_shift_flagged"] = float(shift["shift_flag"].mean()) if len(shift) else float("nan")
    if area:
        summary.update(area_k=area_k, area_radius_km=where["area_radius_km"],
                       area_threshold=float(frame["area_ood_threshold"].iloc[0]) if len(frame) else float("nan"),
                       frac_area_flagged=float(frame["area_ood_flag"][scored].mean()) if scored.any() else float("nan"))
        if shift is not None:
            summary["frac_area_shift_flagged"] = float(shift["area_shift_flag"][scored].mean()) \
                if scored.any() else float("nan")
    write_json(out_dir / "regions.json", {"summary": summary, "regions": df.to_dict(orient="records")})
    rep = Report("Out-of-distribution risk by region (remote)")
    rep.add_text(f"Points: {corpus.meta.get('source') or '(in memory)'} — {len(corpus)} points "
                 f"({int(ok.sum())} with band spectra) in {df.shape[0]} regions ({region}). Model: {model_label}. "
                 f"OOD score: {bridge.score_description}. "
                 f"Threshold {thr:.4g}, calibrated on held-in band spectra at a "
                 f"{alpha:.0%} false-alarm rate.")
    rep.add_text(RISK_RULE_TEXT)
    if shift is not None:
        rep.add_text("frac_shift_flagged: share of a region's points that a random forest tells apart from the "
                     "training pixels (corpus-level shift score, out-of-bag, threshold at the same false-alarm "
                     "rate on held-in pixels); it sees which band combination sets these points apart.")
    if area:
        rep.add_text(f"frac_area_flagged / frac_area_shift_flagged: share of a region's points whose score (OOD / "
                     f"shift), pooled with their {area_k} nearest judged points within {where['area_radius_km']:g} "
                     "km, passes the threshold of the held-in pixels' scores pooled the same way (same false-alarm "
                     "rate): where on the map a whole area is unlike the training pixels; a lone odd point is "
                     "averaged away there, so read it beside frac_flagged.")
    cols = [c for c in ["region", "n", "mean_score", "median_score", "frac_flagged", "frac_shift_flagged",
                        "frac_area_flagged", "frac_area_shift_flagged",
                        "welch_t", "welch_p", "risk",
                        "n_labelled", "rmse_g_kg", "r2", "bias_g_kg"] if c in df.columns]
    rep.add_table(df[cols], "Per-region risk (full table in regions.csv / regions.json)")
    rep.add_figure(plot_scores_by_group(scores, labels, thr, reference=bridge.val_scores_,
                                        ylabel="OOD score",
                                        title="OOD score by region (dashed: calibrated threshold)"),
                   "scores_by_region", "OOD score per point, by region; first box = held-in band spectra.")
    rep.add_figure(plot_map(corpus.lat, corpus.lon, scores, title="OOD score by location",
                            cbar_label="OOD score", flagged=scores > thr),
                   "map", "Points by position; red rings = flagged.")
    rep.write(out_dir)
    return df, summary
