"""OOD end to end with the real LabSOCModel (small network, small grid): calibration stored at fit,
moist/offset spectra flagged, re-scans not, save/load keeps the OOD state, ood-report and finetune-lab
through the CLI on a saved model."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _ood_fakes import make_regions, water_bands
from typer.testing import CliRunner

from socspec.io import write_spectra
from socspec.ood import PCAQResidual, conformal_threshold
from socspec.spectra import SpectralTable

lab = pytest.importorskip("socspec.lab.estimator", reason="LabSOCModel (socspec.lab.estimator) not available")

PARAMS = dict(decoder="ann", hidden=64, epochs=150, lr=5e-3, batch_size=None, wl_min_nm=1100.0, wl_max_nm=2490.0,
              step_nm=10.0, val_fraction=0.25, patience=80, device="cpu", progress=False)


def _model(**kw):
    from socspec.lab import LabSOCModel

    return LabSOCModel(**{**PARAMS, **kw})


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(21)
    train = make_regions(rng, {"home": 300})
    model = _model(seed=0).fit(train)
    return model, rng


def test_calibration_stored_at_fit(trained):
    model, _ = trained
    assert model.ood_threshold_ == conformal_threshold(model.val_scores_, 0.05)
    assert isinstance(model.pca_q_, PCAQResidual) and np.isfinite(model.pca_q_.threshold_)


def test_moist_and_offset_flagged_rescans_not(trained):
    model, rng = trained
    soils = make_regions(np.random.default_rng(99), {"home": 200}, noise=0.0)
    R = soils.values.astype(np.float64)
    rescans = soils.with_values(R + rng.normal(0, 0.002, R.shape))
    moist = soils.with_values(0.75 * R * np.exp(-0.5 * water_bands()))
    offset = soils.with_values(R + 0.06)
    fr = model.predict_frame(rescans)
    assert fr["ood_flag"].mean() <= 0.15
    assert model.predict_frame(moist)["ood_flag"].mean() >= 0.9
    assert model.predict_frame(offset)["ood_flag"].mean() >= 0.9
    assert {"ood_score", "ood_threshold", "ood_flag", "pca_q", "pca_q_flag"} <= set(fr.columns)
    np.testing.assert_allclose(fr["ood_score"], model.ood_scores_inputs(model.model_inputs(rescans)), rtol=1e-5)
    np.testing.assert_allclose(fr["recon_rmse"], model.reconstruction_error(rescans), rtol=1e-5)
    parts = model.ood_score_parts(moist)  # the combined score is the largest of its parts
    names = ["residual", "latent", "ratio", "water", "pca_q"]
    np.testing.assert_allclose(parts[names].max(axis=1), model.predict_frame(moist)["ood_score"], rtol=1e-5)
    # the PCA Q part: the model's own PCA Q, one-sided, in units of its training 95 % quantile
    sc = model.ood_scorer_
    q = model.predict_frame(moist)["pca_q"].to_numpy()
    want = np.maximum(q - sc.locations_[3][0], 0.0) * np.sqrt(sc.precisions_[3][0, 0]) / sc.quantiles_[4]
    np.testing.assert_allclose(parts["pca_q"], want, rtol=1e-6)
    # the water part: the water path fitted to the reconstruction ratio, over the mean of the 5
    # training scans nearest in √m̂, one-sided
    from socspec.lab.mixing import fit_scan_terms
    x = model.model_inputs(moist)
    d = fit_scan_terms(x, model.reconstruct(moist), model.wavelength_nm_, nonnegative=False)[1]
    ref = model.ood_water_reference_
    excess = d - ref.baseline(np.sqrt(np.clip(model.latent(moist), 0, None)))
    want = np.maximum(excess - sc.locations_[2][0], 0.0) * np.sqrt(sc.precisions_[2][0, 0]) / sc.quantiles_[3]
    np.testing.assert_allclose(parts["water"], want, rtol=1e-4, atol=1e-6)
    assert ref.n_neighbors == 5 and len(ref.values_) == len(model.val_scores_) * 3  # the training scans


def test_scorer_saved_without_the_pca_q_part_still_scores(trained):
    """A combined scorer of four parts (before the PCA Q part) scores with its own four blocks."""
    import copy

    from socspec.ood import ResidualLatentScore

    model, _ = trained
    soils = make_regions(np.random.default_rng(8), {"home": 30})
    old = copy.copy(model)
    st = model.ood_scorer_.get_state()
    for k in ("locations_", "precisions_", "one_sided_"):
        st[k] = st[k][:3]
    st["quantiles_"] = st["quantiles_"][:4]
    old.ood_scorer_ = ResidualLatentScore.from_state(st)
    parts = old.ood_score_parts(soils)
    assert "pca_q" not in parts
    np.testing.assert_allclose(old.predict_frame(soils)["ood_score"],
                               parts[["residual", "latent", "ratio", "water"]].max(axis=1), rtol=1e-6)


def test_reconstruction_score_is_the_rmse_and_round_trips(trained, tmp_path):
    """ood_score="reconstruction" is seed 003's score; the combined scorer survives save/load."""
    from socspec.lab import LabSOCModel

    model, _ = trained
    soils = make_regions(np.random.default_rng(5), {"home": 40})
    old = _model(seed=0, ood_score="reconstruction").fit(make_regions(np.random.default_rng(21), {"home": 300}))
    assert old.ood_scorer_ is None
    np.testing.assert_allclose(old.predict_frame(soils)["ood_score"], old.reconstruction_error(soils), rtol=1e-5)
    model.save(tmp_path / "m")
    back = LabSOCModel.load(tmp_path / "m")
    np.testing.assert_allclose(back.predict_frame(soils)["ood_score"], model.predict_frame(soils)["ood_score"],
                               rtol=1e-6)


def test_report_and_finetune_cli_with_real_model(trained, tmp_path):
    from socspec.lab import LabSOCModel
    from socspec_cli.main import app

    model, rng = trained
    run = tmp_path / "run"
    model.save(run / "model")
    loaded = LabSOCModel.load(run / "model")
    assert loaded.ood_threshold_ == model.ood_threshold_
    assert loaded.pca_q_.threshold_ == pytest.approx(model.pca_q_.threshold_)

    # a new region with a mineral the model never saw, given as ABSORBANCE: flagged, and fine-tuning helps
    new = make_regions(np.random.default_rng(3), {"karst": 150}, shifted=("karst",))
    new_abs = write_spectra(new.as_absorbance(), tmp_path / "karst.csv")
    home = make_regions(np.random.default_rng(4), {"home": 60})
    both = SpectralTable(new.wavelength_nm, np.vstack([home.values, new.values]), "reflectance",
                         pd.concat([home.meta, new.meta], ignore_index=True)
                         .assign(id=lambda d: [f"r{i}" for i in range(len(d))]))
    f_both = write_spectra(both, tmp_path / "both.csv")
    runner = CliRunner()
    res = runner.invoke(app, ["ood-report", str(run), str(f_both), "--region-col", "region",
                              "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    d = pd.read_csv(tmp_path / "rep" / "regions.csv").set_index("region")
    assert d.loc["karst", "frac_flagged"] > 0.8 > 0.2 > d.loc["home", "frac_flagged"]
    assert d.loc["karst", "risk"] == "high"

    res = runner.invoke(app, ["finetune-lab", str(run), str(new_abs), "--labels", "20", "--epochs", "60",
                              "--out", str(tmp_path / "ft"), "--quiet"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "ft" / "metrics.json").read_text())["finetune"]
    assert m["after"]["rmse"] < m["before"]["rmse"]
    assert m["after"]["mrmse"] < m["before"]["mrmse"]  # its unlabelled scans taught the decoder the new mineral
    assert (tmp_path / "ft" / "model").is_dir()
