"""Mixing physics: Hapke reflectance ↔ albedo, intimate vs linear mixing, per-scan photometric
scale and liquid-water term, the embedded USGS library, the tuned PLSR baseline."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from socspec.endmembers import EndmemberLibrary
from socspec.lab.mixing import (
    apply_scan_terms,
    fit_scan_terms,
    hapke_albedo,
    hapke_max_reflectance,
    hapke_reflectance,
    mix_spectra,
    water_absorption_per_cm,
)
from socspec.lab.models import PhysicsDecoder

SHARED_ENDMEMBERS = Path(__file__).resolve().parents[2] / "shared" / "endmembers"
WL = np.arange(400.0, 2451.0, 10.0)


# ------------------------------------------------------------------------------------ Hapke
def test_hapke_reproduces_hand_computed_case():
    # w = 0.5, i = 30°, e = 0°: γ = √0.5, H(μ0) = (1 + √3)/(1 + √2·cos30°), H(1) = 3/(1 + √2),
    # REFF = 0.5 / (4 (cos30° + 1)) · H(μ0) · H(1) = 0.1022225 (worked by hand)
    assert hapke_reflectance(0.5) == pytest.approx(0.1022225, abs=1e-6)
    # w = 1 (γ = 0, H(x) = 1 + 2x): REFF = (1 + √3)·3 / (4 (cos30° + 1)) = 1.0980762
    assert hapke_max_reflectance() == pytest.approx(1.0980762, abs=1e-6)
    assert hapke_reflectance(1.0) == pytest.approx(1.0980762, abs=1e-5)  # γ = √(1e-12) guard
    # normal incidence and emission: REFF = w/8 · (3/(1 + 2γ))²; w = 0.75 → γ = 0.5 → 0.75/8 · 2.25
    assert hapke_reflectance(0.75, 0.0, 0.0) == pytest.approx(0.75 / 8 * 2.25, rel=1e-9)


@pytest.mark.parametrize("incidence, emission", [(30.0, 0.0), (0.0, 0.0), (45.0, 20.0)])
def test_hapke_round_trips_numpy_and_torch(incidence, emission):
    w = np.linspace(0.0, 1.0, 101)
    r = hapke_reflectance(w, incidence, emission)
    assert np.all(np.diff(r) > 0)  # monotone, so the inverse is unique
    np.testing.assert_allclose(hapke_albedo(r, incidence, emission), w, atol=1e-9)
    refl = np.linspace(0.01, 0.95, 50)
    np.testing.assert_allclose(hapke_reflectance(hapke_albedo(refl, incidence, emission), incidence, emission),
                               refl, atol=1e-9)
    t = torch.tensor(refl, dtype=torch.float64, requires_grad=True)
    back = hapke_reflectance(hapke_albedo(t, incidence, emission), incidence, emission)
    back.sum().backward()
    np.testing.assert_allclose(back.detach().numpy(), refl, atol=1e-9)
    np.testing.assert_allclose(t.grad.numpy(), 1.0, atol=1e-6)  # identity map → unit gradient


def test_hapke_rejects_bad_geometry():
    with pytest.raises(ValueError, match="angles"):
        hapke_reflectance(0.5, 95.0, 0.0)


def test_intimate_mix_of_one_endmember_returns_it_and_mixes_darker_than_linear():
    rng = np.random.default_rng(0)
    f = np.clip(rng.uniform(0.05, 0.8, (3, WL.size)), 0.01, 0.99)
    for k in range(3):
        alpha = np.eye(3)[k][None, :]
        np.testing.assert_allclose(mix_spectra(alpha, f, "hapke"), f[k][None], atol=1e-9)
        np.testing.assert_allclose(mix_spectra(alpha, f, "linear"), f[k][None], atol=1e-12)
    # a dark + bright 50:50 intimate mix is darker than the areal one (the dark grains absorb
    # light that multiple scattering would otherwise bring back: Hapke's point)
    dark, bright = np.full(WL.size, 0.03), np.full(WL.size, 0.7)
    half = np.array([[0.5, 0.5]])
    fk = np.vstack([dark, bright])
    assert np.all(mix_spectra(half, fk, "hapke") < mix_spectra(half, fk, "linear") - 0.1)


def test_physics_decoder_hapke_one_hot_returns_the_mineral():
    rng = np.random.default_rng(1)
    f = rng.uniform(0.1, 0.8, (4, WL.size))
    dec = PhysicsDecoder(f, np.array([1.0, 2.0, 3.0, 4.0]), mixing="hapke")
    m = torch.zeros(4, 5)
    m[torch.arange(4), torch.arange(1, 5)] = 1.0  # all mass in one mineral
    np.testing.assert_allclose(dec(m).detach().numpy(), f, atol=2e-5)
    np.testing.assert_allclose(dec.f_soc.detach().numpy(), 0.5, atol=1e-5)  # starts at 0.5 like linear
    # the prior (NNLS in albedo space) recovers a planted intimate mix of the minerals
    a_true = np.array([0.1, 0.5, 0.0, 0.4])
    mean = hapke_reflectance(a_true @ hapke_albedo(f))
    mass = dec.mixture_prior(mean)
    w = mass / np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(w / w.sum(), a_true, atol=1e-3)
    with pytest.raises(ValueError, match="mixing"):
        PhysicsDecoder(f, np.ones(4), mixing="checkerboard")


# ------------------------------------------------------------------------- per-scan terms
def test_water_absorption_has_its_bands_where_liquid_water_absorbs():
    wl = np.arange(1300.0, 2101.0, 5.0)
    k = water_absorption_per_cm(wl)
    near = lambda c: k[np.abs(wl - c) < 120]  # noqa: E731
    assert wl[np.abs(wl - 1450) < 120][np.argmax(near(1450))] == 1450
    assert wl[np.abs(wl - 1940) < 120][np.argmax(near(1940))] == 1940
    # a Hale & Querry node reproduces κ = 4πk/λ: k = 9.89e-6 at 1.2 µm → 1.0357 cm⁻¹
    assert water_absorption_per_cm(1200.0) == pytest.approx(4 * math.pi * 9.89e-6 / 1.2e-4, rel=1e-3)
    assert water_absorption_per_cm(550.0) < 1e-3  # visible water is nearly transparent


def _mixtures(n=40, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.1, 0.8, (5, WL.size))
    alpha = rng.dirichlet(np.ones(5), n)
    return f, alpha, alpha @ f


def test_fit_scan_terms_recovers_planted_scale_and_water():
    f, alpha, mix = _mixtures()
    rng = np.random.default_rng(2)
    s_true, d_true = rng.uniform(0.6, 1.3, len(mix)), rng.uniform(0.0, 80.0, len(mix))
    r = apply_scan_terms(mix, WL, s_true[:, None], d_true[:, None])
    s, d = fit_scan_terms(r, mix, WL)
    np.testing.assert_allclose(s, s_true, rtol=1e-6)
    np.testing.assert_allclose(d, d_true, atol=1e-4)
    # a scan drier than its mixture: d < 0 kept as is without the constraint, clipped to 0 with it
    drier = apply_scan_terms(mix[:3], WL, np.ones((3, 1)), np.full((3, 1), -10.0))
    np.testing.assert_allclose(fit_scan_terms(drier, mix[:3], WL, nonnegative=False)[1], -10.0, atol=1e-4)
    np.testing.assert_array_equal(fit_scan_terms(drier, mix[:3], WL)[1], 0.0)


def test_physics_decoder_scan_terms_recover_planted_values_by_gradient_descent():
    """Decoder maths end to end: with the mass fractions known, optimising only the encoder's
    extras through the decoder recovers the planted photometric scale and water path."""
    f, alpha, _ = _mixtures(n=12, seed=3)
    rr = np.ones(5)
    rng = np.random.default_rng(4)
    s_true, d_true = rng.uniform(0.7, 1.3, 12), rng.uniform(5.0, 60.0, 12)
    for mixing in ("linear", "hapke"):
        dec = PhysicsDecoder(f, rr, mixing=mixing, photometric=True, water=True, wavelength_nm=WL)
        m = torch.as_tensor(np.column_stack([np.zeros(12), alpha]), dtype=torch.float32)  # no SOC
        with torch.no_grad():
            target = dec(m, torch.stack([torch.as_tensor(np.log(s_true)),
                                         torch.as_tensor(np.log(np.expm1(d_true / 20.0)) + 3.0)], 1).float())
        np.testing.assert_allclose(target.numpy(), apply_scan_terms(mix_spectra(alpha, f, mixing), WL,
                                                                    s_true[:, None], d_true[:, None]), rtol=2e-4)
        z = torch.zeros(12, 2, requires_grad=True)
        opt = torch.optim.Adam([z], lr=0.05)
        for _ in range(1500):
            opt.zero_grad()
            loss = ((dec(m, z) - target) ** 2).mean()
            loss.backward()
            opt.step()
        scale, water = dec.scan_terms(z.detach())
        np.testing.assert_allclose(scale.numpy(), s_true, rtol=1e-2)
        np.testing.assert_allclose(water.numpy(), d_true, atol=1.0)
    with pytest.raises(ValueError, match="wavelength_nm"):
        PhysicsDecoder(f, rr, water=True)
    with pytest.raises(ValueError, match="extras"):
        PhysicsDecoder(f, rr, photometric=True)(m)


# --------------------------------------------------------------------------- USGS library
def test_embedded_usgs_library_facts_and_bands():
    lib = EndmemberLibrary.usgs()
    assert lib.n_endmembers == 55
    np.testing.assert_array_equal(lib.wavelength_nm, np.arange(350.0, 2501.0, 5.0))
    assert np.all((lib.spectra >= 0) & (lib.spectra <= 1))
    for m in ("quartz", "kaolinite", "montmorillonite", "illite", "calcite", "goethite", "hematite", "gypsum"):
        assert m in lib.names
    i = lib.names.index("calcite")  # ρ·r = 2.72 g/cm³ × (0.36788 nm³)^(1/3)
    assert lib.rho_r[i] == pytest.approx(2.72 * 0.36788 ** (1 / 3), rel=1e-5)
    assert all(s.startswith("USGS splib07") for s in lib.sources)
    wl, kao = lib.wavelength_nm, lib.spectra[lib.names.index("kaolinite")]
    win = (wl > 2100) & (wl < 2300)
    hull = np.interp(wl[win], [2100, 2295], [kao[wl == 2100][0], kao[wl == 2295][0]])
    assert 2195 <= wl[win][np.argmin(kao[win] / hull)] <= 2215  # Al-OH doublet at 2160/2206 nm
    assert EndmemberLibrary.named("synthetic").n_endmembers == EndmemberLibrary.default().n_endmembers
    with pytest.raises(Exception, match="unknown endmember library"):
        EndmemberLibrary.named("rruff")


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED_ENDMEMBERS / "minerals.csv").is_file(), reason="../shared/endmembers not present")
def test_build_script_reproduces_the_embedded_library(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "build_usgs_library", Path(__file__).resolve().parents[1] / "scripts" / "build_usgs_library.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--shared", str(SHARED_ENDMEMBERS), "--out", str(tmp_path)]) == 0
    from socspec_endmembers import data_dir
    for name in (mod.SPECTRA_NAME, mod.FACTS_NAME):
        assert (tmp_path / name).read_bytes() == (data_dir() / name).read_bytes()


# --------------------------------------------------------------------------- tuned PLSR
def test_pls_tuned_cv_table_equals_scikit_learn_cross_validation():
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from socspec.lab.pls import PLSTuned, pretreat

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 60)).cumsum(axis=1) * rng.uniform(0.8, 1.2, (50, 1))
    y = x[:, 10] - 0.5 * x[:, 40] + rng.normal(0, 0.2, 50)
    m = PLSTuned(max_components=6, step_nm=2.0, window_nm=10.0).fit(x, y)
    assert m.window_ == 5
    folds = KFold(5, shuffle=True, random_state=0)
    for how in ("snv", "sg1"):
        for c in (1, 4, 6):
            pipe = make_pipeline(FunctionTransformer(pretreat, kw_args={"how": how, "window": 5}),
                                 PLSRegression(n_components=c, scale=False))
            # the per-fold RMSEs pooled over all rows: sqrt(Σ fold SSE / n)
            sse = -cross_val_score(pipe, x, y, cv=folds, scoring="neg_mean_squared_error") * 10
            assert m.cv_rmse_[how][c] == pytest.approx(np.sqrt(sse.sum() / 50), rel=1e-8)
    best = min(((h, c) for h, r in m.cv_rmse_.items() for c in r), key=lambda hc: m.cv_rmse_[hc[0]][hc[1]])
    assert (m.pretreatment_, m.n_components_) == best
    assert m.predict(x).shape == (50,)


def test_lab_model_water_term_reads_wet_scans_as_water_not_as_soc():
    """Trained with wet scans among its unlabelled data, the physics decoder's water term (not
    the SOC latent) takes up the moisture: wet scans get a longer water path than dry ones."""
    from socspec.lab import LabSOCModel
    from socspec.lab.moisture import moisten
    from socspec.lab.simulate import simulate_lab_spectra

    dry = simulate_lab_spectra(60, n_unlabelled=60, seed=0, wavelength_nm=WL, endmembers=EndmemberLibrary.synthetic())
    lab, unl = dry.subset(np.arange(60)), dry.subset(np.arange(60, 120))
    rng = np.random.default_rng(0)
    wet_unl = unl.with_values(moisten(unl.values, WL, rng.uniform(0.3, 0.8, 60), 0.6, 60.0))
    m = LabSOCModel(hidden=32, epochs=150, lr=3e-3, patience=None, progress=False, endmembers="synthetic",
                    water=True, photometric=True, val_fraction=0.0, seed=0,
                    soc_blend="none").fit(lab, unlabeled=wet_unl)
    w_dry = m.scan_terms(lab)["water_path_um"].to_numpy()
    w_wet = m.scan_terms(wet_unl)["water_path_um"].to_numpy()
    assert np.median(w_wet) > 3 * np.median(w_dry) + 5.0
    assert list(m.scan_terms(lab).columns) == ["id", "photometric_scale", "water_path_um"]


# ----------------------------------------------------------------------------------- CLI
def test_fit_lab_cli_physics_options_and_earthlib_unlabelled(tmp_path):
    pytest.importorskip("earthlib")
    from typer.testing import CliRunner

    from socspec.io import write_spectra
    from socspec.lab.simulate import simulate_lab_spectra
    from socspec_cli.main import app

    t = simulate_lab_spectra(n=40, seed=1, wavelength_nm=np.arange(350.0, 2501.0, 10.0),
                             endmembers=EndmemberLibrary.synthetic())
    write_spectra(t, tmp_path / "lib.csv")
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(app, ["fit-lab", str(tmp_path / "lib.csv"), "--out", str(out), "--epochs", "2",
                              "--hidden", "8", "--quiet", "--library", "synthetic", "--mixing", "hapke",
                              "--photometric", "--water"])
    assert res.exit_code == 0, res.output
    import json
    m = json.loads((out / "metrics.json").read_text())
    assert (m["config"]["mixing"], m["config"]["photometric"], m["config"]["water"]) == ("hapke", True, True)
    assert len(m["config"]["endmembers"]) == EndmemberLibrary.synthetic().n_endmembers
    # the default Hapke model is the committee stacked on PLSR: its weight and out-of-fold R² are reported
    assert 0.0 <= m["config"]["soc_blend_weight"] <= 1.0
    assert {"pls", "members", "blend", "n"} <= set(m["config"]["soc_blend_out_of_fold"])
    assert {"pls", "pls_tuned"} <= set(m["seeds"]) and m["pls_tuned"]["pretreatment"] in ("snv", "sg1", "snv_sg1")
    res = runner.invoke(app, ["fit-lab", str(tmp_path / "lib.csv"), "--out", str(tmp_path / "e"), "--epochs", "1",
                              "--hidden", "8", "--quiet", "--unlabeled", "earthlib"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert m["data"]["n_unlabelled_extra"] > 4000  # earthlib's ICRAF-ISRIC soils
    assert m["data"]["wavelength_nm"][:2] == [400.0, 2450.0]  # the common window, at 10 nm
    res = runner.invoke(app, ["fit-lab", str(tmp_path / "lib.csv"), "--out", str(tmp_path / "x"),
                              "--mixing", "checkerboard"])
    assert res.exit_code == 2 and "--mixing" in res.output


# ------------------------------------------------------------------------------ ensemble
def test_seed_ensemble_predicts_the_members_average_and_round_trips(tmp_path):
    from socspec.lab import LabSOCModel
    from socspec.lab.models import MemberAverage
    from socspec.lab.simulate import simulate_lab_spectra

    t = simulate_lab_spectra(50, seed=3, wavelength_nm=WL, endmembers=EndmemberLibrary.synthetic())
    m = LabSOCModel(hidden=16, epochs=15, lr=3e-3, progress=False, endmembers="synthetic", n_members=3,
                    seed=2, checkpoint_dir=tmp_path / "ck", soc_blend="none").fit(t)
    assert isinstance(m.net_, MemberAverage) and len(m.net_.members) == 3
    x = torch.as_tensor(m.model_inputs(t))
    with torch.no_grad():
        singles = [mb(x) for mb in m.net_.members]
    soc = [s[0][:, 0].numpy() for s in singles]
    # members differ (their own seeds); SOC less so: every member's readout starts at the same PLSR
    assert np.abs(singles[0][1].numpy() - singles[1][1].numpy()).max() > 1e-4
    assert np.abs(soc[0] - soc[1]).max() > 1e-6
    np.testing.assert_allclose(m.predict(t), 1000 * np.mean(soc, axis=0), rtol=1e-5)
    np.testing.assert_allclose(m.reconstruct(t), np.mean([s[1].numpy() for s in singles], axis=0), atol=1e-6)
    assert (tmp_path / "ck" / "member2").is_dir()  # each member checkpoints beside member 0
    back = LabSOCModel.load(m.save(tmp_path / "model"))
    np.testing.assert_array_equal(back.predict(t), m.predict(t))
