"""The stacked SOC head of the default lab model (LabSOCModel soc_blend="cv"): the members form a
cross-validation committee, and SOC = (1 − λ)·PLSR + λ·members with λ the least-squares weight of
their out-of-fold predictions (Breiman 1996, stacked regressions with weights on the simplex)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _lab_models import small_library_and_table, small_physics_model  # noqa: E402

from socspec.errors import SocspecInputError  # noqa: E402
from socspec.lab.estimator import LabSOCModel, LabTrainingData  # noqa: E402
from socspec.lab.models import LabAutoencoder, MemberAverage, build_autoencoder  # noqa: E402
from socspec.spectra import reflectance_to_absorbance  # noqa: E402

WL = np.arange(400.0, 2450.0, 20.0)


def _members(n_wl=12, k=4, n=2):
    torch.manual_seed(0)
    return [build_autoencoder("ann", n_wl, k, hidden=8) for _ in range(n)]


def test_blend_is_the_weighted_pls_and_member_mean_and_keeps_a_composition():
    rng = np.random.default_rng(0)
    members = _members()
    ens = MemberAverage(members, soc_blend=True)
    r = rng.uniform(0.1, 0.6, (20, 12))
    a = reflectance_to_absorbance(r)
    mu, rot = a.mean(0), rng.normal(0, 1, (12, 2))
    q, sd = np.array([0.004, -0.002]), ((a - mu) @ rot).std(0)
    pls_hand = 0.02 + ((a - mu) @ rot) @ q  # the PLSR the blend holds (y loadings q, per unscaled score)
    x = torch.as_tensor(r, dtype=torch.float32)
    with torch.no_grad():
        plain = torch.stack([mb.encode(x) for mb in members]).mean(0).double().numpy()
        for lam in (0.0, 0.3, 1.0):
            ens.set_blend(lam, mu, rot, q, 0.02, sd)
            m = ens.encode(x).double().numpy()
            want = np.clip((1 - lam) * pls_hand + lam * plain[:, 0], 0.0, 0.9)
            np.testing.assert_allclose(m[:, 0], want, atol=2e-6)
            np.testing.assert_allclose(m.sum(1), 1.0, atol=1e-5)
            # the other latents keep their proportions
            np.testing.assert_allclose(m[:, 1:] / m[:, 1:].sum(1, keepdims=True),
                                       plain[:, 1:] / plain[:, 1:].sum(1, keepdims=True), atol=1e-5)
            np.testing.assert_allclose(ens(x)[0].double().numpy(), m, atol=1e-6)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        ens.set_blend(1.5, mu, rot, q, 0.02, sd)
    with pytest.raises(ValueError, match="without soc_blend"):
        MemberAverage(members).set_blend(0.5, mu, rot, q, 0.02, sd)
    assert not any(p.requires_grad for p in ens.pls.parameters())  # the blend's PLSR is not trained


def test_blend_weight_is_the_least_squares_weight_less_one_standard_error():
    m = LabSOCModel(decoder="none", soc_blend="cv", n_members=2, soc_blend_base="pls")  # λ's rule alone
    m.net_ = MemberAverage(_members(), soc_blend=True)
    rng = np.random.default_rng(1)
    n = 40
    data = LabTrainingData(rng.uniform(0.1, 0.6, (n, 12)).astype(np.float32), rng.uniform(5, 40, n),
                           np.zeros(n, dtype=bool))
    y = data.soc_g_kg / 1000.0
    p = y + rng.normal(0, 0.004, n)
    net = y + rng.normal(0, 0.004, n)
    m._fit_soc_blend(data, p, net)
    d = net - p
    lam_hat = np.dot(y - p, d) / np.dot(d, d)
    se = np.sqrt(np.mean((y - p - lam_hat * d) ** 2) / np.dot(d, d))
    assert m.soc_blend_oof_r2_["weight_least_squares"] == pytest.approx(lam_hat, rel=1e-9)
    assert m.soc_blend_weight_ == pytest.approx(np.clip(lam_hat - se, 0, 1), rel=1e-9, abs=1e-12)
    assert m.soc_blend_weight_ < lam_hat
    m._fit_soc_blend(data, p, y + 0.5 * (y - p))  # members overshoot PLSR's error by half: λ = 1/1.5, se 0
    assert m.soc_blend_weight_ == pytest.approx(2.0 / 3.0, rel=1e-9)
    m._fit_soc_blend(data, p, p - (y - p))  # the members point away from y: λ clips at 0 (PLSR alone)
    assert m.soc_blend_weight_ == 0.0
    m._fit_soc_blend(data, p, p.copy())  # members equal to PLSR out of fold: nothing to weigh, members kept
    assert m.soc_blend_weight_ == 1.0
    assert float(m.net_.blend_weight) == 1.0


def test_member_folds_keep_sample_ids_whole_and_cover_the_training_scans():
    m = LabSOCModel(decoder="none", soc_blend="cv", n_members=3, seed=4)
    ids = np.repeat(np.arange(12), 2).astype(str)  # two replicate scans per soil
    soc = np.full(24, 10.0)
    soc[[22, 23]] = np.nan  # one unlabelled soil
    val = np.isin(ids, ["0"])  # soil 0 held in
    data = LabTrainingData(np.zeros((24, 3), np.float32), soc, val)
    m._sample_groups = ids.astype(object)
    fold, stop = m._member_folds(data, 3)
    assert np.all(fold[val] == -1) and np.all(fold[[22, 23]] == -1) and not stop[fold < 0].any()
    inside = fold >= 0
    assert inside.sum() == 20 and set(fold[inside]) == {0, 1, 2}
    for g in np.unique(ids[inside]):  # replicate scans of one soil share a fold and a half
        assert len(set(fold[ids == g])) == 1 and len(set(stop[ids == g])) == 1
    assert sorted(np.bincount(fold[inside]) // 2) == [3, 3, 4]
    for f in range(3):  # early stopping on about half of each fold, the rest scores it out of fold
        n_stop = len(np.unique(ids[(fold == f) & stop]))
        assert n_stop in (len(np.unique(ids[fold == f])) // 2, (len(np.unique(ids[fold == f])) + 1) // 2)
    with pytest.raises(SocspecInputError, match="at least 11"):
        m._member_folds(data, 11)


def test_default_model_is_the_committee_and_needs_two_members():
    m = LabSOCModel()
    assert (m._soc_blend(), m._n_members()) == ("cv", 5)
    assert LabSOCModel(mixing="linear")._soc_blend() == "none"  # seed 003's model stays one network
    assert LabSOCModel(decoder="ann")._n_members() == 1
    with pytest.raises(SocspecInputError, match="n_members ≥ 2"):
        LabSOCModel(n_members=1)._n_members()


def test_committee_predicts_the_blend_of_its_members_and_round_trips(tmp_path):
    lib, tab = small_library_and_table(WL, n=60, seed=1)
    m = small_physics_model(lib, epochs=4, patience=None, soc_blend="cv", n_members=2).fit(tab)
    assert isinstance(m.net_, MemberAverage) and len(m.net_.members) == 2
    lam = m.soc_blend_weight_
    assert 0.0 <= lam <= 1.0 and 0 < m.soc_blend_oof_r2_["n"] < m.n_labelled_ - len(m.val_index_)
    # the stacking data: every labelled fold row, λ fitted on its scored half (never a held-in scan)
    oof = m.soc_blend_oof_
    assert int(oof["scored"].sum()) == m.soc_blend_oof_r2_["n"] and not set(oof["rows"]) & set(m.val_index_)
    from socspec.metrics import r2
    from socspec.units import to_fraction
    y = to_fraction(tab.soc_g_kg[oof["rows"][oof["scored"]]])
    assert r2(y, oof["pls"][oof["scored"]]) == pytest.approx(m.soc_blend_oof_r2_["pls"], rel=1e-9)
    x = torch.as_tensor(m.model_inputs(tab))
    with torch.no_grad():
        members = torch.stack([mb.encode(x)[:, 0] for mb in m.net_.members]).mean(0).double().numpy()
        pls = m.net_.pls(x).double().numpy()
    np.testing.assert_allclose(m.predict(tab), 1000 * np.clip((1 - lam) * pls + lam * members, 0, 0.9),
                               rtol=1e-5, atol=1e-4)
    back = LabSOCModel.load(m.save(tmp_path / "model"))
    np.testing.assert_array_equal(back.predict(tab), m.predict(tab))
    assert back.soc_blend_weight_ == pytest.approx(lam, rel=1e-6)
    assert isinstance(m.net_.members[0], LabAutoencoder)


def test_held_in_scans_carbon_never_reaches_the_ood_score():
    """The held-in scans calibrate the conformal OOD threshold, which holds only if the networks
    treat them as new scans: their SOC may train the blend's PLSR (SOC accuracy) but neither the
    members' readouts nor the latents the OOD score reads."""
    lib, tab = small_library_and_table(WL, n=60, seed=1)
    params = dict(epochs=4, patience=None, soc_blend="cv", n_members=2, val_fraction=0.25)
    a = small_physics_model(lib, **params).fit(tab)
    held = a.val_index_
    assert held.size >= 10
    moved = tab.subset(np.arange(len(tab)))
    soc = moved.meta["soc_g_kg"].to_numpy(dtype=float).copy()
    soc[held] = soc[held] * 3.0 + 20.0  # other carbon for the held-in scans only
    moved.meta["soc_g_kg"] = soc
    b = small_physics_model(lib, **params).fit(moved)
    np.testing.assert_array_equal(b.val_index_, held)
    np.testing.assert_array_equal(b.val_scores_, a.val_scores_)
    assert b.ood_threshold_ == a.ood_threshold_
    np.testing.assert_array_equal(b.predict_frame(tab)["ood_score"], a.predict_frame(tab)["ood_score"])
    # ...while the blend's PLSR (SOC) still learns from every labelled scan
    x = torch.as_tensor(a.model_inputs(tab))
    with torch.no_grad():
        assert not np.allclose(a.net_.pls(x).numpy(), b.net_.pls(x).numpy())


@pytest.mark.parametrize("how", ["snv", "sg1", "snv_sg1"])
def test_blend_readout_reproduces_the_tuned_pls(how):
    """The tuned chemometric PLSR as the blend's base: SNV in the readout, the Savitzky–Golay
    derivative folded into its rotations — the same predictions as PLSTuned itself."""
    from socspec.lab.models import LinearSOCReadout
    from socspec.lab.pls import PLSTuned
    lib, tab = small_library_and_table(WL, n=50, seed=2)
    m = LabSOCModel(decoder="none", seed=3)
    m.wavelength_nm_ = WL
    x = np.asarray(tab.values, dtype=np.float64)
    state, snv, tuned = m._tuned_readout_state(x, tab.soc_g_kg, None, pretreatments=(how,))
    assert tuned.pretreatment_ == how and snv == how.startswith("snv")
    want = PLSTuned(seed=3, step_nm=20.0, pretreatments=(how,)).fit(
        reflectance_to_absorbance(x), tab.soc_g_kg / 1000.0).predict(reflectance_to_absorbance(x))
    np.testing.assert_allclose(tuned.predict(reflectance_to_absorbance(x)), want, rtol=1e-10, atol=1e-12)
    readout = LinearSOCReadout(len(WL), allow_snv=True)
    readout.set_from_pls(*state, snv=snv)
    with torch.no_grad():
        got = readout(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(got, want, atol=2e-4 * np.ptp(want))
    with pytest.raises(ValueError, match="allow_snv"):
        LinearSOCReadout(len(WL)).set_from_pls(*state, snv=True)


def test_auto_blend_base_is_the_pls_with_the_lower_cv_error(tmp_path):
    """soc_blend_base="auto": the committee's base is the tuned PLSR when its CV RMSE is lower,
    else the plain one — fitted on every labelled training scan — and it survives save/load."""
    from socspec.lab.pls import PLSBaseline, PLSTuned
    lib, tab = small_library_and_table(WL, n=60, seed=1)
    rng = np.random.default_rng(0)  # multiplicative scatter per scan: what SNV is for
    tab = tab.with_values(np.clip(tab.values * rng.uniform(0.7, 1.3, (len(tab), 1)), 1e-3, 0.99))
    m = small_physics_model(lib, epochs=2, patience=None, soc_blend="cv", n_members=2, seed=5,
                            soc_blend_base="auto").fit(tab)
    a = reflectance_to_absorbance(np.asarray(m.model_inputs(tab), dtype=np.float64))
    y = tab.soc_g_kg / 1000.0
    plain = PLSBaseline(seed=5).fit(a, y)
    tuned = PLSTuned(seed=5, step_nm=20.0).fit(a, y)
    cv_plain, cv_tuned = min(plain.cv_rmse_.values()), min(min(r.values()) for r in tuned.cv_rmse_.values())
    chosen = tuned if cv_tuned < cv_plain else plain
    assert m.soc_blend_base_ == ("pls" if chosen is plain else f"pls_tuned:{tuned.pretreatment_}")
    assert m.soc_blend_base_.startswith("pls_tuned")  # scatter makes the pre-treatment win here
    x = torch.as_tensor(m.model_inputs(tab))
    with torch.no_grad():
        np.testing.assert_allclose(m.net_.pls(x).double().numpy(), chosen.predict(a), atol=2e-4 * np.ptp(y))
    back = LabSOCModel.load(m.save(tmp_path / "model"))
    np.testing.assert_array_equal(back.predict(tab), m.predict(tab))
    assert back.soc_blend_base_ == m.soc_blend_base_
    plain_only = small_physics_model(lib, epochs=2, patience=None, soc_blend="cv", n_members=2, seed=5,
                                     soc_blend_base="pls").fit(tab)
    assert plain_only.soc_blend_base_ == "pls"


def test_committee_folder_saved_before_the_tuned_base_loads_and_scores_as_before(tmp_path):
    """A committee folder written before ``pls.snv_`` and ``ood_latents`` existed: the blend's
    PLSR is the plain one (no SNV) and its OOD score reads the blended latents, as when it was fitted."""
    import json

    from socspec.lab.estimator import MODEL_FORMAT, MODEL_FORMAT_VERSION
    from socspec.runs import write_manifest
    lib, tab = small_library_and_table(WL, n=60, seed=1)
    m = small_physics_model(lib, epochs=3, patience=None, soc_blend="cv", n_members=2).fit(tab)
    d = m.save(tmp_path / "model")
    w = torch.load(d / "weights.pt", weights_only=True)
    del w["pls.snv_"]
    torch.save(w, d / "weights.pt")
    cfg = json.loads((d / "config.json").read_text())
    for k in ("ood_latents", "soc_blend_base", "ood_water_reference"):
        del cfg[k]
    del cfg["params"]["soc_blend_base"]
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "ood_water_reference.npz").unlink()
    write_manifest(d, MODEL_FORMAT, MODEL_FORMAT_VERSION)
    old = LabSOCModel.load(d)
    assert old.ood_latents_ == "blend" and float(old.net_.pls.snv_) == 0.0
    assert old.ood_water_reference_ is None
    np.testing.assert_array_equal(old.predict(tab), m.predict(tab))
    # what the fitted model scored with before the members' latents and the water path's neighbours
    m.ood_latents_, water = "blend", m.ood_water_reference_
    m.ood_water_reference_ = None
    np.testing.assert_allclose(old.predict_frame(tab)["ood_score"], m.predict_frame(tab)["ood_score"], rtol=1e-6)
    m.ood_latents_, m.ood_water_reference_ = "members", water  # a folder saved now scores with both
    assert not np.allclose(LabSOCModel.load(m.save(tmp_path / "new")).predict_frame(tab)["ood_score"],
                           old.predict_frame(tab)["ood_score"])


def test_ood_confidence_thresholds_both_scores_at_the_training_conditional_rank():
    """ood_confidence=c: our threshold and PCA Q's are the k-th smallest held-in scores with k the
    training-conditional rank (a false-alarm rate ≤ α for this calibration set with probability ≥ c),
    above the split-conformal ones."""
    from socspec.ood import conformal_threshold, training_conditional_rank
    lib, tab = small_library_and_table(WL, n=120, seed=1)
    m = small_physics_model(lib, epochs=3, patience=None, val_fraction=0.5, ood_confidence=0.9).fit(tab)
    val = np.sort(m.val_scores_)
    q = np.sort(m.pca_q_.calib_scores_)
    k = training_conditional_rank(len(val), 0.05, 0.9)
    assert len(val) >= 45 and k <= len(val)
    assert m.ood_threshold_ == val[k - 1] and m.pca_q_.threshold_ == q[k - 1]
    assert m.ood_calibration_["reached"] and m.ood_threshold_ >= conformal_threshold(val, 0.05)
    plain = small_physics_model(lib, epochs=3, patience=None, val_fraction=0.5).fit(tab)
    np.testing.assert_array_equal(plain.val_scores_, m.val_scores_)  # same model, other rank only
    assert plain.ood_threshold_ == conformal_threshold(val, 0.05) < m.ood_threshold_


def test_held_in_stacking_data_is_every_member_and_fold_pls_on_scans_none_of_them_saw():
    """soc_blend_oof_'s held-in part: the labelled held-in rows, each member's own SOC and its
    fold's PLSR there — the evidence for the committee's mean (all members out of sample), which the
    out-of-fold rows (one member out of sample) cannot give."""
    lib, tab = small_library_and_table(WL, n=60, seed=1)
    m = small_physics_model(lib, epochs=3, patience=None, soc_blend="cv", n_members=3, val_fraction=0.25).fit(tab)
    oof = m.soc_blend_oof_
    held = oof["held_in_rows"]
    np.testing.assert_array_equal(held, m.val_index_)  # every row of the table is labelled here
    assert held.size >= 10 and not set(held) & set(oof["rows"])
    assert oof["held_in_members"].shape == oof["held_in_pls"].shape == (3, held.size)
    x = m.model_inputs(tab)[held]
    with torch.no_grad():
        own = np.stack([mb.encode(torch.as_tensor(x))[:, 0].double().numpy() for mb in m.net_.members])
    np.testing.assert_allclose(oof["held_in_members"], own, rtol=1e-5, atol=1e-7)
    # member i's fold PLSR: fitted on the labelled rows outside fold i and outside the held-in split
    from socspec.lab.estimator import LabTrainingData
    data = LabTrainingData(m.model_inputs(tab), np.asarray(tab.soc_g_kg, dtype=np.float64),
                           np.isin(np.arange(len(tab)), held))
    fold, _ = m._member_folds(data, 3)
    groups = m._row_groups(data)
    for i in range(3):
        lab = data.labelled & (fold != i) & ~data.validation
        state = m._pls_readout_state(data.reflectance[lab], data.soc_g_kg[lab], groups[lab])
        np.testing.assert_allclose(oof["held_in_pls"][i], m._pls_state_predict(state, x), rtol=1e-6, atol=1e-9)
