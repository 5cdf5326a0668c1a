"""The bridge on a SIMULATED corpus: planted out-of-distribution regions, latent spectral edges,
dropping/down-weighting flagged nodes' spectral edges, and transfer.

    python benchmarks/bench_bridge.py [--seed 0] [--n 3000] [--sptgnn-n 1000] [--folds 3] [--json OUT.json]

1. **Planted shifts.** ``simulate_corpus`` over north, south, east, west, volcanic and tropic. The
   sensor-band autoencoder (:class:`socspec.remote.bridge.SensorBandAutoencoder`, physics and ANN
   decoders, no pre-training, default OOD score: kNN in floored-whitened [log bands, log
   reconstruction RMSE]; ``physics_combined``: ``novelty="combined"``) is fitted on 1,200 band
   spectra of the first four regions (it holds in 20 % of them for its split-conformal threshold at
   α = 0.05, and 10 % more for early stopping); then, share flagged among

   * ``false_alarm_rate`` — every other held-out point of the four regions (in distribution; the
     west ones as simulated, dry); ``false_alarm_rate_north_south_east`` without the west ones;
   * ``planted_region_flag_rate`` — held-out points of the west region made wet with the lab
     moisture model (:func:`socspec.lab.moisture.moisten`, Lobell & Asner 2002, saturation
     S ~ U(``--saturation``, 1), at the band centres); ``flag_rate_by_saturation`` for fixed S;
   * ``mineralogy_region_flag_rate`` — the volcanic region (soils on basalt: chlorite, magnetite,
     smectite, albite, anatase; west-like climate and cover, never in training);
   * ``tropic_forest_flag_rate`` — the tropic region (kaolinite/goethite/hematite/gibbsite soils,
     but mostly under forest: the soil is a small part of the pixel);
   * ``reconstruction_only`` — the same shares with the reconstruction RMSE alone as the score,
     calibrated the same way on the same held-in pixels (the score before the kNN term);
   * ``shift_score`` — the same shares by the corpus-level shift score
     (:meth:`~socspec.remote.bridge.SensorBandAutoencoder.shift_frame`), scored on one corpus of the
     held-out points + volcanic + tropic, and (for the wet rate) one of the held-out north/south/east
     points + the wet west ones;
   * ``supervised_ceiling`` — share of volcanic / tropic points a random forest TOLD the labels
     catches at 5 % false alarms (5-fold out-of-fold): how separable those band spectra are at all.
     No unsupervised per-point score should be expected above it;
   * ``area_ood`` / ``area_shift`` — the same shares by the area scores (each judged point's OOD /
     shift score pooled with its ``AREA_K`` − 1 nearest judged points within 60 km, calibration
     pixels pooled the same way: :meth:`~socspec.remote.bridge.SensorBandAutoencoder.area_frame`), on
     the same two corpora; top-level ``area_mineralogy_region_flag_rate``, ``area_false_alarm_rate``
     (area shift score);
   * ``area_block`` — a second fit with a contiguous in-distribution area held out (a quarter of one
     training region, by seed: never trained on, never calibrating): false alarms on the scattered
     held-out points and inside that area (``false_alarm_rate_block``), volcanic and tropic shares,
     per point and as areas; top-level ``area_false_alarm_rate_block``;
   * ``conditional_0.9`` (top-level ``conditional``; also inside ``area_block``) — every score again
     at the training-conditional threshold (``false_alarm_confidence=0.9``: false alarms ≤ α for a
     fit with probability ≥ 0.9, :func:`socspec.ood.training_conditional_rank`).

2. **Latent vs raw-band spectral edges.** SpTGNN cross-validated (``socspec.remote.evaluate``,
   spatial blocks, ``--folds``) on a simulated corpus of ``--sptgnn-n`` points without images, once
   with ``spectral_edges="bands"`` and once with ``"latent"``: ``raw_band_edges_rmse`` and
   ``latent_edges_rmse`` (g/kg), same folds and seeds.

3. **Flagged nodes' spectral edges** (``drop_ood_edges``). An SpTGNN with latent edges trained on
   70 % of north/south/east/west predicts the other 30 % (the west ones wet, S ~ U(0.3, 1)) and
   the volcanic region, with the option off, dropping (``ood_spectral_k=0``) and down-weighting
   (``ood_spectral_k=--ood-keep``): ``drop_ood_edges_rmse`` (all test points) and, in
   ``drop_ood_edges``, RMSE on the flagged, volcanic and wet points.

4. **Transfer (seed 004), simulated.** An SpTGNN pre-trained on north, south and east; inside the
   west region, seed 004's design (:mod:`socspec.remote.transfer`): ``--transfer-folds``-fold
   spatial (1° block) CV, a share (``--transfer-fractions``) of the training folds labelled
   (nested draws), the donor fine-tuned on them (``init_from``, at ``--transfer-lr`` 3e-4; the
   default 3e-3 overshoots on 20 labels) against the same SpTGNN trained on them alone, same rows,
   same test fold; MAE/CCC on the pooled out-of-fold predictions. ``--transfer-repeats`` runs (fold
   and model seeds seed + r): ``transfer["shares"]`` holds each gain's mean, sd and per-run values;
   ``transfer_mae_gain_pct`` = 100·(MAE_alone − MAE_tuned)/MAE_alone and ``transfer_ccc_gain`` =
   CCC_tuned − CCC_alone at the 10 % share (means over runs; ``*_sd`` beside them). The same on
   LUCAS: ``examples/remote_lucas_transfer.py``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

AREA_K = 10  # area scores: each judged point pooled with its 9 nearest (bridge.AREA_RADIUS_KM = 60 km)
CONFIDENCE = 0.9  # training-conditional thresholds: false alarms ≤ α for a fit with probability ≥ 0.9


def _supervised_ceiling(x, inside, region_rows, seed: int) -> float:
    """Share of a region a SUPERVISED classifier (random forest, 5-fold out-of-fold probabilities,
    told which points are the region) catches at 5 % false alarms on the in-distribution points:
    an upper reference for how separable the region's band spectra are at all."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import cross_val_predict

    rows = np.concatenate([inside, region_rows])
    y = np.r_[np.zeros(inside.size, bool), np.ones(region_rows.size, bool)]
    p = cross_val_predict(RandomForestClassifier(200, random_state=seed, n_jobs=1), x[rows], y, cv=5,
                          method="predict_proba")[:, 1]
    return float(np.mean(p[y] > np.quantile(p[~y], 0.95)))


def planted_shifts(n: int, saturation: float, seed: int) -> dict:
    from socspec.lab.moisture import moisten
    from socspec.ood import conformal_calibration
    from socspec.preprocess import sensor_bands
    from socspec.remote.bridge import SensorBandAutoencoder
    from socspec.remote.simulate import simulate_corpus

    c = simulate_corpus(n=n, regions=("north", "south", "east", "west", "volcanic", "tropic"), seed=seed, chip_size=4)
    reg, x = c.points["region"].to_numpy(), c.band_spectra
    rng = np.random.default_rng(seed + 1)
    inside = np.flatnonzero(~np.isin(reg, ("volcanic", "tropic")))
    rng.shuffle(inside)
    train, held = inside[:1200], inside[1200:]
    wet_rows, dry_rows = held[reg[held] == "west"], held[reg[held] != "west"]
    wl = sensor_bands("sentinel2")[0]
    wet = moisten(x[wet_rows], wl, rng.uniform(saturation, 1.0, (wet_rows.size, 1)))
    volcanic, tropic = x[reg == "volcanic"], x[reg == "tropic"]
    # false alarms: every held-out in-distribution point (the west ones dry, as they were simulated)
    sets = {"false_alarm_rate": x[held], "false_alarm_rate_north_south_east": x[dry_rows],
            "west_dry_flag_rate": x[wet_rows], "planted_region_flag_rate": wet,
            "mineralogy_region_flag_rate": volcanic, "tropic_forest_flag_rate": tropic}
    ceiling = {r: _supervised_ceiling(x, held, np.flatnonzero(reg == r), seed) for r in ("volcanic", "tropic")}
    print(f"supervised ceiling (RF told the labels, 5 % false alarms): {ceiling}", flush=True)
    out = {"supervised_ceiling": ceiling, "n_false_alarm_points": int(held.size),
           "n_planted_points": int(wet_rows.size), "n_mineralogy_points": int(volcanic.shape[0]),
           "n_tropic_points": int(tropic.shape[0])}
    for decoder, novelty in (("physics", "knn"), ("physics", "combined"), ("ann", "knn")):
        t0 = time.perf_counter()
        ae = SensorBandAutoencoder(decoder=decoder, novelty=novelty, seed=seed).fit(
            x[train], lat_deg=c.lat[train], lon_deg=c.lon[train])  # positions: the area scores' calibration
        row = {k: float(ae.flag(v).mean()) for k, v in sets.items()}
        row.update(threshold=ae.ood_threshold_, score=ae.score_description,
                   n_calibration=ae.ood_calibration_["n_calibration"], fit_seconds=time.perf_counter() - t0)
        name = decoder if novelty == "knn" else f"{decoder}_{novelty}"
        out[name] = row
        if name == "physics":
            # the reconstruction error alone, calibrated the same way on the same held-in pixels
            rec_thr = conformal_calibration(ae.reconstruction_error(x[train][ae.val_index_]),
                                            ae.false_alarm)["threshold"]
            row["reconstruction_only"] = {k: float(np.mean(ae.reconstruction_error(v) > rec_thr))
                                          for k, v in sets.items()}
            row["flag_rate_by_saturation"] = {f"{s:g}": float(ae.flag(moisten(x[wet_rows], wl, s)).mean())
                                              for s in (0.05, 0.1, 0.2, 0.3, 0.5)}
            # corpus-level shift score (transductive): corpus A = held-out points (dry) + volcanic +
            # tropic; corpus B = held-out north/south/east + the wet west points
            t0 = time.perf_counter()
            fa = ae.shift_frame(np.vstack([x[held], volcanic, tropic]))["shift_flag"].to_numpy()
            fb = ae.shift_frame(np.vstack([x[dry_rows], wet]))["shift_flag"].to_numpy()
            n1, n2 = held.size, held.size + volcanic.shape[0]
            out["shift_score"] = {"false_alarm_rate": float(fa[:n1].mean()),
                                  "mineralogy_region_flag_rate": float(fa[n1:n2].mean()),
                                  "tropic_forest_flag_rate": float(fa[n2:].mean()),
                                  "false_alarm_rate_north_south_east": float(fb[:dry_rows.size].mean()),
                                  "planted_region_flag_rate": float(fb[dry_rows.size:].mean()),
                                  "seconds": time.perf_counter() - t0}
            # area scores (each point's score pooled over its AREA_K nearest judged points), same corpora;
            # then every score again at the training-conditional threshold (CONFIDENCE)
            rows_a = np.r_[held, np.flatnonzero(reg == "volcanic"), np.flatnonzero(reg == "tropic")]
            rows_b = np.r_[dry_rows, wet_rows]
            xa, xb = np.vstack([x[held], volcanic, tropic]), np.vstack([x[dry_rows], wet])
            pa = dict(lat_deg=c.lat[rows_a], lon_deg=c.lon[rows_a], area_k=AREA_K)
            pb = dict(lat_deg=c.lat[rows_b], lon_deg=c.lon[rows_b], area_k=AREA_K)
            for confidence in (None, CONFIDENCE):
                ae.set_params(false_alarm_confidence=confidence)
                ae.calibrate(x[train][ae.val_index_])  # the per-point threshold at this rank (same scores)
                fa = pd.concat([ae.score_frame(xa, **pa), ae.shift_frame(xa, **pa)], axis=1)
                fb = pd.concat([ae.score_frame(xb, **pb), ae.shift_frame(xb, **pb)], axis=1)
                rates = {}
                for col in ("ood_flag", "shift_flag", "area_ood_flag", "area_shift_flag"):
                    a, b = fa[col].to_numpy(bool), fb[col].to_numpy(bool)
                    rates[col[:-5]] = {"false_alarm_rate": float(a[:n1].mean()),
                                       "mineralogy_region_flag_rate": float(a[n1:n2].mean()),
                                       "tropic_forest_flag_rate": float(a[n2:].mean()),
                                       "false_alarm_rate_north_south_east": float(b[:dry_rows.size].mean()),
                                       "planted_region_flag_rate": float(b[dry_rows.size:].mean())}
                if confidence is None:
                    out["area_ood"], out["area_shift"] = rates["area_ood"], rates["area_shift"]
                else:
                    out[f"conditional_{confidence:g}"] = rates
            ae.set_params(false_alarm_confidence=None)
            ae.calibrate(x[train][ae.val_index_])
        print(f"{name:17s} false alarms {row['false_alarm_rate']:.3f} (n={held.size}); wet west "
              f"{row['planted_region_flag_rate']:.3f} (n={wet_rows.size}, S≥{saturation}); volcanic "
              f"{row['mineralogy_region_flag_rate']:.3f}; tropic forest {row['tropic_forest_flag_rate']:.3f}",
              flush=True)
    out["area_block"] = area_block(c, seed)
    r0, sh = out["physics"]["reconstruction_only"], out["shift_score"]
    print(f"{'reconstruction':17s} false alarms {r0['false_alarm_rate']:.3f}; "
          f"wet west {r0['planted_region_flag_rate']:.3f}; "
          f"volcanic {r0['mineralogy_region_flag_rate']:.3f}; tropic forest {r0['tropic_forest_flag_rate']:.3f}")
    print(f"{'corpus shift':17s} false alarms {sh['false_alarm_rate']:.3f}; "
          f"wet west {sh['planted_region_flag_rate']:.3f}; "
          f"volcanic {sh['mineralogy_region_flag_rate']:.3f}; tropic forest {sh['tropic_forest_flag_rate']:.3f}",
          flush=True)
    for base in ("ood", "shift", "conditional"):
        a = out[f"area_{base}"] if base != "conditional" else out[f"conditional_{CONFIDENCE:g}"]["area_shift"]
        print(f"{'area ' + base:17s} false alarms {a['false_alarm_rate']:.3f}; wet west "
              f"{a['planted_region_flag_rate']:.3f}; volcanic {a['mineralogy_region_flag_rate']:.3f}; "
              f"tropic forest {a['tropic_forest_flag_rate']:.3f}", flush=True)
    return out


def area_block(c, seed: int) -> dict:
    """Area scores when an in-distribution AREA is held out: a quarter of one training region (the
    region and the quarter by seed) never trains the autoencoder nor calibrates it; the judged corpus
    is that block + the other held-out in-distribution points + volcanic + tropic. False alarms in
    the block test what pooling risks: a new area whose per-point scores all run a little high."""
    from socspec.remote.bridge import SensorBandAutoencoder

    reg, x, lat, lon = c.points["region"].to_numpy(), c.band_spectra, c.lat, c.lon
    inside = np.flatnonzero(~np.isin(reg, ("volcanic", "tropic")))
    name = ("north", "south", "east", "west")[seed % 4]
    quarter = seed // 4 % 4
    mine = reg == name
    north_half, east_half = lat >= np.median(lat[mine]), lon >= np.median(lon[mine])
    block = np.flatnonzero(mine & (north_half if quarter % 2 else ~north_half)
                           & (east_half if quarter // 2 else ~east_half))
    rest = np.setdiff1d(inside, block)
    np.random.default_rng(seed + 1).shuffle(rest)
    train, held = rest[:1200], rest[1200:]
    ae = SensorBandAutoencoder(seed=seed).fit(x[train], lat_deg=lat[train], lon_deg=lon[train])
    rows = np.r_[held, block, np.flatnonzero(reg == "volcanic"), np.flatnonzero(reg == "tropic")]
    part = np.r_[np.full(held.size, "held"), np.full(block.size, "block"),
                 np.full((reg == "volcanic").sum(), "volcanic"), np.full((reg == "tropic").sum(), "tropic")]
    where = dict(lat_deg=lat[rows], lon_deg=lon[rows], area_k=AREA_K)
    keys = {"held": "false_alarm_rate", "block": "false_alarm_rate_block", "volcanic": "mineralogy_region_flag_rate",
            "tropic": "tropic_forest_flag_rate"}
    out = {"region": name, "quarter": quarter, "n_block": int(block.size), "n_held": int(held.size)}
    for confidence in (CONFIDENCE, None):  # the training-conditional thresholds first, then as fitted
        ae.set_params(false_alarm_confidence=confidence)
        ae.calibrate(x[train][ae.val_index_])
        pf, sf = ae.score_frame(x[rows], **where), ae.shift_frame(x[rows], **where)
        flags = {"per_point": pf["ood_flag"], "area_ood": pf["area_ood_flag"], "shift": sf["shift_flag"],
                 "area_shift": sf["area_shift_flag"]}
        rates = {score: {keys[p]: float(f.to_numpy(bool)[part == p].mean()) for p in keys}
                 for score, f in flags.items()}
        if confidence is not None:
            out[f"conditional_{confidence:g}"] = rates
    out.update(rates)
    for score in flags:
        print(f"block design {score:10s} false alarms {out[score]['false_alarm_rate']:.3f}, in the held-out "
              f"{name} quarter ({block.size} points) {out[score]['false_alarm_rate_block']:.3f}; volcanic "
              f"{out[score]['mineralogy_region_flag_rate']:.3f}; tropic {out[score]['tropic_forest_flag_rate']:.3f}",
              flush=True)
    return out


def edges_rmse(n: int, folds: int, members: int, epochs: int, seed: int) -> dict:
    from socspec.remote import evaluate
    from socspec.remote.simulate import simulate_corpus

    c = simulate_corpus(n=n, seed=seed, chip_size=4)
    out = {}
    for edges in ("bands", "latent"):
        t0 = time.perf_counter()
        params = {"n_members": members, "epochs": epochs, "images": False, "device": "cpu", "hidden": 32,
                  "spectral_edges": edges, "random_state": seed}
        res = evaluate(c, models=("sptgnn",), scheme="spatial", n_folds=folds, seed=seed,
                       model_params={"sptgnn": params})
        m = res["metrics"]["sptgnn"]
        out[edges] = {"rmse": m["rmse"], "mae": m["mae"], "r2": m["r2"], "ccc": m["ccc"],
                      "per_fold_rmse": [f["rmse"] for f in m["folds"]], "seconds": time.perf_counter() - t0}
        print(f"spectral edges {edges:6s}: RMSE {m['rmse']:.3f} g/kg  R² {m['r2']:.3f}  "
              f"per fold {[round(f['rmse'], 2) for f in m['folds']]}", flush=True)
    return out


def ood_edges(n: int, members: int, epochs: int, seed: int, keep: int) -> dict:
    """SpTGNN (latent spectral edges) trained on 70 % of north/south/east/west and predicting the
    other 30 % — the west ones wet (saturation U(0.3, 1): images after rain) — and the volcanic
    region, with ``drop_ood_edges`` off, on with ``ood_spectral_k=0`` (drop) and with
    ``ood_spectral_k=keep`` (down-weight). RMSE (g/kg) on all test points and on the flagged ones."""
    from socspec.lab.moisture import moisten
    from socspec.metrics import rmse
    from socspec.preprocess import sensor_bands
    from socspec.remote.simulate import simulate_corpus
    from socspec.remote.sptgnn import SpTGNNRegressor

    c = simulate_corpus(n=n, regions=("north", "south", "east", "west", "volcanic"), seed=seed, chip_size=4)
    reg = c.points["region"].to_numpy()
    rng = np.random.default_rng(seed + 2)
    inside = np.flatnonzero(reg != "volcanic")
    rng.shuffle(inside)
    n_train = int(0.7 * inside.size)
    train, test = np.sort(inside[:n_train]), np.sort(np.r_[inside[n_train:], np.flatnonzero(reg == "volcanic")])
    query = c.subset(test)
    wet = np.flatnonzero(reg[test] == "west")
    query.band_spectra[wet] = moisten(query.band_spectra[wet], sensor_bands("sentinel2")[0],
                                      rng.uniform(0.3, 1.0, (wet.size, 1)))
    y = query.soc_g_kg
    base = {"n_members": members, "epochs": epochs, "images": False, "device": "cpu", "hidden": 32,
            "spectral_edges": "latent", "random_state": seed}
    out = {"n_train": int(train.size), "n_test": int(test.size), "n_wet": int(wet.size),
           "n_volcanic": int((reg == "volcanic").sum())}
    for name, extra in (("off", {}), ("drop", {"drop_ood_edges": True}),
                        (f"down_weight_{keep}", {"drop_ood_edges": True, "ood_spectral_k": keep})):
        t0 = time.perf_counter()
        d = SpTGNNRegressor(**base, **extra).fit(c.subset(train)).predict_detail(query)
        pred, flag = d["soc_pred"].to_numpy(), d["ood_flag"].to_numpy(bool)
        groups = {"all": np.ones(len(y), bool), "flagged": flag, "volcanic": reg[test] == "volcanic",
                  "wet_west": np.isin(np.arange(len(y)), wet)}
        out[name] = {f"rmse_{g}": float(rmse(y[m], pred[m])) if m.any() else None for g, m in groups.items()}
        out[name].update(frac_flagged=float(flag.mean()), seconds=time.perf_counter() - t0)
        print(f"ood edges {name:14s}: RMSE all {out[name]['rmse_all']:.3f}, flagged {out[name]['rmse_flagged']:.3f} "
              f"({flag.mean():.0%} flagged), volcanic {out[name]['rmse_volcanic']:.3f}, wet west "
              f"{out[name]['rmse_wet_west']:.3f} g/kg", flush=True)
    return out


def transfer(n: int, fractions, members: int, epochs: int, seed: int, tune_lr: float, repeats: int = 3,
             folds: int = 5) -> dict:
    """Seed 004's design (:func:`socspec.remote.transfer.regional_transfer_cv`) on the west region:
    one donor pre-trained on north/south/east; ``repeats`` runs of ``folds``-fold spatial CV inside
    west (fold seed and model seed = seed + r); per share the pooled gains of each run and their
    mean ± sd over runs."""
    import tempfile

    from socspec.remote.simulate import simulate_corpus
    from socspec.remote.sptgnn import SpTGNNRegressor
    from socspec.remote.transfer import regional_transfer_cv

    c = simulate_corpus(n=n, seed=seed, chip_size=4)
    reg = c.points["region"].to_numpy()
    params = {"n_members": members, "epochs": epochs, "images": False, "device": "cpu", "hidden": 32}
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        donor = Path(tmp) / "donor"
        SpTGNNRegressor(**params, random_state=seed).fit(c.subset(reg != "west")).save(donor)
        west = c.subset(reg == "west")
        for r in range(repeats):
            def make_model(arm, r=r):
                extra = {"init_from": donor, "lr": tune_lr} if arm == "tuned" else {}
                return SpTGNNRegressor(**params, random_state=seed + r, **extra)

            res = regional_transfer_cv(west, make_model, shares=fractions, n_folds=folds, scheme="spatial",
                                       seed=seed + r, reference=SpTGNNRegressor.load(donor, device="cpu"))
            res.pop("folds")
            runs.append(res)
    out = {"design": runs[0]["design"], "n_region": runs[0]["n"], "repeats": runs, "shares": {}}
    for f in fractions:
        key = f"{f:g}"
        rows = [r["shares"][key] for r in runs]
        agg = {"n_labelled_per_fold": rows[0]["n_labelled"]}
        for k in ("mae_alone", "mae_tuned", "mae_gain_pct", "mae_gain", "ccc_alone", "ccc_tuned", "ccc_gain",
                  "ccc_gain_pct"):
            v = np.array([row[k] for row in rows])
            agg[k], agg[k + "_sd"], agg[k + "_runs"] = float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, \
                v.tolist()
        out["shares"][key] = agg
        print(f"transfer {f:.0%} of west's training folds labelled ({min(agg['n_labelled_per_fold'])}-"
              f"{max(agg['n_labelled_per_fold'])} per fold, {repeats} runs): MAE alone {agg['mae_alone']:.2f} → "
              f"tuned {agg['mae_tuned']:.2f} g/kg (gain {agg['mae_gain_pct']:+.1f} ± {agg['mae_gain_pct_sd']:.1f} %); "
              f"CCC {agg['ccc_alone']:.3f} → {agg['ccc_tuned']:.3f} ({agg['ccc_gain']:+.3f} ± "
              f"{agg['ccc_gain_sd']:.3f})", flush=True)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3000, help="points of the planted-shift corpus")
    ap.add_argument("--saturation", type=float, default=0.5, help="lowest saturation of the wet region")
    ap.add_argument("--sptgnn-n", type=int, default=1000, help="points of the edges comparison corpus")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--members", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-sptgnn", action="store_true")
    ap.add_argument("--skip-shifts", action="store_true")
    ap.add_argument("--ood-edges-n", type=int, default=1000, help="points of the drop-ood-edges corpus (0: skip)")
    ap.add_argument("--ood-keep", type=int, default=2, help="ood_spectral_k of the down-weighting variant")
    ap.add_argument("--ood-edges-members", type=int, default=1)
    ap.add_argument("--transfer-n", type=int, default=2000, help="points of the transfer corpus (0: skip)")
    ap.add_argument("--transfer-fractions", default="0.05,0.1,0.25")
    ap.add_argument("--transfer-repeats", type=int, default=3, help="CV runs of the transfer (mean ± sd)")
    ap.add_argument("--transfer-folds", type=int, default=5)
    ap.add_argument("--transfer-lr", type=float, default=3e-4,
                    help="fine-tuning learning rate (region-only training keeps the default 3e-3)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    shifts = None if a.skip_shifts else planted_shifts(a.n, a.saturation, a.seed)
    edges = None if a.skip_sptgnn else edges_rmse(a.sptgnn_n, a.folds, a.members, a.epochs, a.seed)
    drops = (ood_edges(a.ood_edges_n, a.ood_edges_members, a.epochs, a.seed, a.ood_keep)
             if a.ood_edges_n else None)
    fractions = [float(f) for f in a.transfer_fractions.split(",")]
    trans = (transfer(a.transfer_n, fractions, a.members, a.epochs, a.seed, a.transfer_lr, a.transfer_repeats,
                      a.transfer_folds) if a.transfer_n else None)
    phys = (shifts or {}).get("physics", {})
    res = {"simulated": True, "decoder": "physics",
           "planted_region_flag_rate": phys.get("planted_region_flag_rate"),
           "false_alarm_rate": phys.get("false_alarm_rate"), "nominal_false_alarm": 0.05,
           "mineralogy_region_flag_rate": phys.get("mineralogy_region_flag_rate"),
           "tropic_forest_flag_rate": phys.get("tropic_forest_flag_rate"),
           "reconstruction_only": phys.get("reconstruction_only"),
           "combined_score": (shifts or {}).get("physics_combined"),
           "shift_score": (shifts or {}).get("shift_score"),
           "area_ood": (shifts or {}).get("area_ood"),
           "area_shift": (shifts or {}).get("area_shift"),
           "area_block": (shifts or {}).get("area_block"),
           "area_mineralogy_region_flag_rate": (shifts or {}).get("area_shift", {}).get("mineralogy_region_flag_rate"),
           "area_false_alarm_rate": (shifts or {}).get("area_shift", {}).get("false_alarm_rate"),
           "area_false_alarm_rate_block": (shifts or {}).get("area_block", {}).get("area_shift", {}).get(
               "false_alarm_rate_block"),
           "conditional": (shifts or {}).get(f"conditional_{CONFIDENCE:g}"),
           "supervised_ceiling": (shifts or {}).get("supervised_ceiling"),
           "latent_edges_rmse": None if edges is None else edges["latent"]["rmse"],
           "raw_band_edges_rmse": None if edges is None else edges["bands"]["rmse"],
           "drop_ood_edges_rmse": None if drops is None else {
               k: v["rmse_all"] for k, v in drops.items() if isinstance(v, dict)},
           "drop_ood_edges": drops,
           "transfer_mae_gain_pct": (trans or {}).get("shares", {}).get("0.1", {}).get("mae_gain_pct"),
           "transfer_mae_gain_pct_sd": (trans or {}).get("shares", {}).get("0.1", {}).get("mae_gain_pct_sd"),
           "transfer_ccc_gain": (trans or {}).get("shares", {}).get("0.1", {}).get("ccc_gain"),
           "transfer_ccc_gain_sd": (trans or {}).get("shares", {}).get("0.1", {}).get("ccc_gain_sd"),
           "transfer": trans,
           "planted_shifts": shifts, "edges": edges,
           "settings": vars(a), "machine": platform.platform(), "torch": torch.__version__}
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=2)
        print(f"wrote {a.json}")
    return res


if __name__ == "__main__":
    main()
