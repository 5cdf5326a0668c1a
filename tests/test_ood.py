"""socspec.ood: calibrated thresholds, PCA Q-residual, Welch, AUROC, per-region risk."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from socspec.ood import (
    PCAQResidual,
    auroc,
    binomial_excess_p,
    conformal_threshold,
    region_risk_table,
    risk_level,
    welch_test,
)

WL = np.arange(1100.0, 2500.0, 10.0)  # 140 wavelengths


def _dry_soils(rng, n, clean=False):
    """Smooth soil-like reflectance: a few broad Gaussian components with random weights + noise."""
    centres = np.array([1200.0, 1600.0, 2000.0, 2400.0])
    basis = np.exp(-0.5 * ((WL[None, :] - centres[:, None]) / 250.0) ** 2)  # (4, m)
    w = rng.uniform(0.05, 0.15, size=(n, 4))
    r = 0.25 + w @ basis
    return r if clean else r + rng.normal(0, 0.002, size=(n, WL.size))


def _water(width=25.0):
    return (np.exp(-0.5 * ((WL - 1450.0) / width) ** 2) + np.exp(-0.5 * ((WL - 1940.0) / width) ** 2))


# ------------------------------------------------------------------ conformal
def test_conformal_threshold_order_statistic():
    s = np.arange(1, 20, dtype=float)  # n = 19, α = 0.05 → k = ⌈20·0.95⌉ = 19
    assert conformal_threshold(s[::-1], 0.05) == 19.0
    s = np.arange(1, 101, dtype=float)  # n = 100 → k = ⌈101·0.9⌉ = 91
    assert conformal_threshold(s, 0.10) == 91.0
    assert conformal_threshold(np.r_[s, np.nan], 0.10) == 91.0  # NaN ignored


def test_conformal_threshold_too_few_scores_is_inf():
    assert conformal_threshold(np.arange(10.0), 0.05) == np.inf  # k = ⌈11·0.95⌉ = 11 > 10


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_conformal_threshold_rejects_bad_alpha(bad):
    with pytest.raises(ValueError, match="false_alarm"):
        conformal_threshold([1.0, 2.0], bad)


def test_conformal_threshold_rejects_empty():
    with pytest.raises(ValueError, match="finite"):
        conformal_threshold([np.nan])


@pytest.mark.parametrize("alpha", [0.05, 0.10])
def test_conformal_false_alarm_rate_on_exchangeable_draws(alpha):
    rng = np.random.default_rng(0)
    n_cal, n_trials, n_test = 199, 2000, 50
    rates = np.empty(n_trials)
    for i in range(n_trials):
        cal = rng.lognormal(size=n_cal)
        thr = conformal_threshold(cal, alpha)
        rates[i] = np.mean(rng.lognormal(size=n_test) > thr)
    rate = rates.mean()
    k = np.ceil((n_cal + 1) * (1 - alpha))
    exact = (n_cal + 1 - k) / (n_cal + 1)  # exact marginal false-alarm rate of this rule
    se = rates.std() / np.sqrt(n_trials)
    assert rate <= alpha + 4 * se
    assert abs(rate - exact) < 4 * se
    assert rate > alpha - 1.0 / (n_cal + 1) - 4 * se


# ------------------------------------------------------------------ PCA Q
def test_pca_q_matches_numpy_svd(rng):
    X = rng.normal(size=(40, 25)) @ rng.normal(size=(25, 25))
    Y = rng.normal(size=(7, 25))
    q = PCAQResidual(n_components=5).fit(X)
    mu = X.mean(axis=0)
    _, _, vt = np.linalg.svd(X - mu, full_matrices=False)
    P = vt[:5].T
    R = (Y - mu) - (Y - mu) @ P @ P.T
    np.testing.assert_allclose(q.score(Y), np.sum(R ** 2, axis=1), rtol=1e-8)
    assert q.n_components_ == 5


def test_pca_q_variance_rule_and_state_roundtrip(rng):
    X = _dry_soils(rng, 120)
    q = PCAQResidual(variance=0.99).fit(X[:80], X[80:])
    ev = np.linalg.svd(X[:80] - X[:80].mean(0), compute_uv=False) ** 2
    cum = np.cumsum(ev) / ev.sum()
    assert q.n_components_ == int(np.argmax(cum >= 0.99) + 1)
    assert q.calibrated_on_ == "calib"
    assert q.threshold_ == conformal_threshold(q.score(X[80:]), 0.05)
    q2 = PCAQResidual.from_state(json.loads(json.dumps(q.get_state())))
    np.testing.assert_array_equal(q2.score(X), q.score(X))
    assert q2.threshold_ == q.threshold_


def test_pca_q_flags_water_bands_and_offsets_not_rescans(rng):
    soils = _dry_soils(rng, 400, clean=True)
    X = soils + rng.normal(0, 0.002, size=soils.shape)
    q = PCAQResidual(n_components=4).fit(X[:200], X[200:300])
    rescans = soils[300:] + rng.normal(0, 0.002, size=X[300:].shape)  # same soils, new scan noise
    moist = 0.8 * X[300:] - 0.08 * _water()                       # darker + water troughs
    tilted = X[300:] + 0.06 * (WL - WL[0]) / (WL[-1] - WL[0])       # baseline slope
    assert q.flag(rescans).mean() <= 0.10
    assert q.flag(moist).mean() >= 0.95
    assert q.flag(tilted).mean() >= 0.95


def test_pca_q_errors(rng):
    with pytest.raises(ValueError, match="n_components"):
        PCAQResidual(n_components=50).fit(rng.normal(size=(10, 5)))
    with pytest.raises(RuntimeError, match="not fitted"):
        PCAQResidual().score(np.zeros((1, 3)))
    q = PCAQResidual(n_components=2).fit(rng.normal(size=(10, 5)))
    with pytest.raises(ValueError, match="wavelengths"):
        q.score(np.zeros((1, 4)))


# ------------------------------------------------------------------ tests
def test_welch_matches_scipy(rng):
    for na, nb, shift, sd in [(30, 17, 0.5, 2.0), (5, 200, -1.0, 0.3), (12, 12, 0.0, 1.0)]:
        a = rng.normal(size=na)
        b = rng.normal(shift, sd, size=nb)
        ref = stats.ttest_ind(a, b, equal_var=False)
        t, p = welch_test(a, b)
        assert t == pytest.approx(ref.statistic, rel=1e-10)
        assert p == pytest.approx(ref.pvalue, rel=1e-9)


def test_welch_degenerate():
    assert np.isnan(welch_test([1.0], [1.0, 2.0])[0])
    assert np.isnan(welch_test([1.0, 1.0], [2.0, 2.0])[1])


def test_auroc_matches_sklearn_with_ties(rng):
    a = np.round(rng.normal(size=60), 1)
    b = np.round(rng.normal(0.7, 1, size=45), 1)
    ref = roc_auc_score(np.r_[np.zeros(60), np.ones(45)], np.r_[a, b])
    assert auroc(a, b) == pytest.approx(ref, abs=1e-12)
    assert auroc([0, 1], [2, 3]) == 1.0
    assert auroc([2, 3], [0, 1]) == 0.0


# ------------------------------------------------------------------ risk table
def test_risk_rule():
    assert risk_level(0.04, 100, 4, -0.5, 0.6) == "low"
    assert risk_level(0.30, 100, 30, 5.0, 1e-6) == "high"
    assert risk_level(0.60, 5, 3, 1.0, 0.3) == "high"          # more than half flagged
    assert risk_level(0.12, 100, 12, 1.0, 0.3) == "medium"     # excess flags, binom p < 0.05
    assert risk_level(0.05, 100, 5, 4.0, 1e-4) == "medium"     # shifted scores, few flags
    assert binomial_excess_p(0, 10, 0.05) == 1.0
    assert binomial_excess_p(10, 100, 0.05) == pytest.approx(stats.binomtest(10, 100, 0.05, "greater").pvalue)


def test_region_risk_table_values(rng):
    train = rng.normal(1.0, 0.1, size=200)
    thr = conformal_threshold(train)
    scores = np.r_[rng.normal(1.0, 0.1, size=50), rng.normal(1.6, 0.1, size=30)]
    regions = np.array(["home"] * 50 + ["away"] * 30)
    y = rng.uniform(5, 50, size=80)
    yhat = y + np.r_[rng.normal(0, 1, 50), rng.normal(8, 5, 30)]
    q = scores ** 2
    df = region_risk_table(scores, regions, train, thr, soc_true=y, soc_pred=yhat,
                           pca_q=q, pca_q_threshold=conformal_threshold(train ** 2), pca_q_train=train ** 2)
    df = df.set_index("region")
    assert list(df.index) == ["away", "home"]
    assert df.loc["away", "n"] == 30 and df.loc["home", "n"] == 50
    assert df.loc["away", "frac_flagged"] == pytest.approx(np.mean(scores[50:] > thr))
    assert df.loc["away", "median_score"] == pytest.approx(np.median(scores[50:]))
    t, p = stats.ttest_ind(scores[50:], train, equal_var=False)
    assert df.loc["away", "welch_t"] == pytest.approx(t)
    assert df.loc["away", "risk"] == "high" and df.loc["home", "risk"] in ("low", "medium")
    err = yhat[50:] - y[50:]
    assert df.loc["away", "rmse_g_kg"] == pytest.approx(np.sqrt(np.mean(err ** 2)))
    assert df.loc["away", "bias_g_kg"] == pytest.approx(err.mean())
    from sklearn.metrics import r2_score
    assert df.loc["home", "r2"] == pytest.approx(r2_score(y[:50], yhat[:50]))
    assert df.loc["away", "pca_q_risk"] == "high"
    assert {"pca_q_frac_flagged", "pca_q_welch_t", "pca_q_median"} <= set(df.columns)


def test_region_risk_table_length_mismatch():
    with pytest.raises(ValueError, match="regions"):
        region_risk_table([1.0, 2.0], ["a"], [1.0, 2.0, 3.0], 2.0)


def test_conformal_calibration_small_sets_promise_one_over_n_plus_one():
    from socspec.ood import calibration_size_needed, calibration_warning, conformal_calibration

    assert [calibration_size_needed(a) for a in (0.05, 0.1, 0.2)] == [19, 9, 4]
    s = np.arange(1.0, 20.0)  # 19 scores: enough for 5 %
    full = conformal_calibration(s[::-1], 0.05)
    assert full["threshold"] == conformal_threshold(s, 0.05) == 19.0 and full["reached"]
    assert calibration_warning(full) is None
    small = conformal_calibration(np.r_[np.arange(1.0, 10.0), np.nan], 0.05)  # 9 finite scores
    assert small == {"threshold": 9.0, "false_alarm": 0.05, "false_alarm_achievable": 0.1, "reached": False,
                     "n_calibration": 9, "n_needed": 19}
    assert "at most 10.0% false alarms" in calibration_warning(small)
    # the promise holds: a new exchangeable score exceeds the max of 9 with probability 1/10
    rng = np.random.default_rng(1)
    draws = rng.lognormal(size=(40000, 10))
    rate = np.mean(draws[:, 9] > draws[:, :9].max(axis=1))
    assert abs(rate - 0.1) < 4 * np.sqrt(0.1 * 0.9 / 40000)


def test_pca_q_threshold_is_finite_on_a_small_calibration_set(rng):
    X = rng.normal(size=(40, 6))
    q = PCAQResidual(n_components=2, false_alarm=0.05).fit(X[:30], X[30:])
    assert np.isfinite(q.threshold_) and q.threshold_ == q.calib_scores_.max()
    assert q.calibration_["false_alarm_achievable"] == pytest.approx(1 / 11)
    assert PCAQResidual.from_state(q.get_state()).calibration_ == q.calibration_


def test_residual_latent_score_known_answer_and_parts():
    """Hand-computed against numpy + scikit-learn's Ledoit–Wolf; a latent shift is flagged even
    with a perfect reconstruction, and a wavelength that always misses does not dominate."""
    from sklearn.covariance import LedoitWolf

    from socspec.ood import ResidualLatentScore
    rng = np.random.default_rng(0)
    e = rng.normal(0, 0.01, (400, 30))
    e[:, 7] *= 20  # an always-noisy band
    z = rng.normal(0, 1, (400, 4))
    sc = ResidualLatentScore().fit(e, z)
    res = np.sqrt(np.mean((e / np.sqrt(np.mean(e ** 2, 0))) ** 2, 1))
    lw = LedoitWolf().fit(z)
    lat = np.sqrt(lw.mahalanobis(z))
    p_res, p_lat = sc.parts(e, z)
    np.testing.assert_allclose(p_res, res / np.quantile(res, 0.95), rtol=1e-10)
    np.testing.assert_allclose(p_lat, lat / np.quantile(lat, 0.95), rtol=1e-8)
    np.testing.assert_allclose(sc.score(e, z), np.maximum(p_res, p_lat))
    assert np.mean(sc.score(e, z) > 1.0) <= 0.1  # the union of two 5 % tails
    shifted = z[:50] + np.array([4.0, 0, 0, 0])
    assert np.mean(sc.score(e[:50], shifted) > 1.0) > 0.9      # latent part alone
    noisy7 = e[:50].copy()
    noisy7[:, 7] *= 1.5                                          # more of the usual miss: not alarming
    assert np.mean(sc.score(noisy7, z[:50]) > 1.0) < 0.3
    back = ResidualLatentScore.from_state(json.loads(json.dumps(sc.get_state())))
    np.testing.assert_allclose(back.score(e, z), sc.score(e, z))
    with pytest.raises(ValueError, match="disagree"):
        sc.fit(e, z[:10])


def test_residual_latent_score_blocks_keep_one_strong_feature_undiluted():
    """A shift in a 1-feature block is flagged through its own part; appended to a 40-feature block
    the same shift is diluted (flagged far less often)."""
    from socspec.ood import ResidualLatentScore
    rng = np.random.default_rng(1)
    e = rng.normal(0, 0.01, (500, 20))
    many, water = rng.normal(0, 1, (500, 40)), rng.normal(0, 1, (500, 1))
    two = ResidualLatentScore().fit(e, [many, water])
    one = ResidualLatentScore().fit(e, np.hstack([many, water]))
    assert len(two.parts(e, [many, water])) == 3
    wet = water[:100] + 2.5
    frac_two = np.mean(two.score(e[:100], [many[:100], wet]) > 1.0)
    frac_one = np.mean(one.score(e[:100], np.hstack([many[:100], wet])) > 1.0)
    assert frac_two > 0.5 and frac_two > frac_one + 0.2
    back = ResidualLatentScore.from_state(json.loads(json.dumps(two.get_state())))
    np.testing.assert_allclose(back.score(e, [many, water]), two.score(e, [many, water]))


def test_residual_latent_score_one_sided_block_spends_the_budget_on_one_side():
    from socspec.ood import ResidualLatentScore
    rng = np.random.default_rng(2)
    e, z, d = rng.normal(0, 0.01, (600, 10)), rng.normal(0, 1, (600, 3)), rng.normal(0, 1, (600, 1))
    one = ResidualLatentScore().fit(e, [z, d], one_sided=[False, True])
    two = ResidualLatentScore().fit(e, [z, d])
    drier, wetter = d[:200] - 3.0, d[:200] + 2.0
    assert np.all(one.parts(e[:200], [z[:200], drier])[2] == 0.0)         # below the mean: no alarm
    assert np.mean(two.parts(e[:200], [z[:200], drier])[2] > 1.0) > 0.5   # two-sided: alarm
    # the same 95 % quantile sits lower on one side only, so more of the wet side is caught
    assert np.mean(one.parts(e[:200], [z[:200], wetter])[2] > 1.0) > np.mean(
        two.parts(e[:200], [z[:200], wetter])[2] > 1.0)
    back = ResidualLatentScore.from_state(json.loads(json.dumps(one.get_state())))
    np.testing.assert_allclose(back.score(e, [z, d]), one.score(e, [z, d]))
    with pytest.raises(ValueError, match="one_sided"):
        ResidualLatentScore().fit(e, [z, d], one_sided=[True, True])


def test_neighbour_excess_matches_brute_force_and_leaves_itself_out(tmp_path):
    """The baseline is the mean value of the k nearest reference scans in standardised covariates
    (brute-force numpy distances); reference scans scored as references skip their own row; the
    state survives an npz written and read without pickle."""
    from socspec.ood import NeighbourExcess
    rng = np.random.default_rng(3)
    c = rng.normal(0, 1, (120, 4)) * np.array([1.0, 10.0, 0.1, 3.0])  # scales differ: standardised first
    v = rng.normal(0, 1, 120)
    ne = NeighbourExcess(n_neighbors=4).fit(c, v)
    z = (c - c.mean(0)) / c.std(0)
    q = rng.normal(0, 1, (30, 4)) * np.array([1.0, 10.0, 0.1, 3.0])
    dq = np.linalg.norm(((q - c.mean(0)) / c.std(0))[:, None, :] - z[None], axis=2)
    want = v[np.argsort(dq, axis=1)[:, :4]].mean(1)
    np.testing.assert_allclose(ne.baseline(q), want, rtol=1e-12)
    np.testing.assert_allclose(ne.excess(q, np.ones(30)), 1.0 - want, rtol=1e-12)
    d_self = np.linalg.norm(z[:, None] - z[None], axis=2)
    np.fill_diagonal(d_self, np.inf)
    np.testing.assert_allclose(ne.baseline(c, leave_self_out=True), v[np.argsort(d_self, axis=1)[:, :4]].mean(1),
                               rtol=1e-12)
    # without leaving itself out, a reference scan is one of its own neighbours
    assert not np.allclose(ne.baseline(c), ne.baseline(c, leave_self_out=True))
    np.savez(tmp_path / "s.npz", **ne.get_state())
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:
        back = NeighbourExcess.from_state(f)
    np.testing.assert_array_equal(back.baseline(q), ne.baseline(q))
    with pytest.raises(ValueError, match="disagree"):
        NeighbourExcess().fit(c, v[:10])
    with pytest.raises(ValueError, match="more than n_neighbors"):
        NeighbourExcess(n_neighbors=10).fit(c[:10], v[:10])
    with pytest.raises(ValueError, match="reference scans themselves"):
        ne.baseline(q, leave_self_out=True)


def test_neighbour_excess_flags_slight_moisture_one_plain_threshold_misses():
    """Two soil groups: clays hold a water path of ~8 µm when dry, sands ~1 µm. A sand at 5 µm is
    slightly moist: above every dry sand, below most dry clays. Against its compositional
    neighbours it stands out; against one threshold over the merged library it does not."""
    from socspec.ood import NeighbourExcess, conformal_threshold
    rng = np.random.default_rng(4)
    n = 300
    clay = rng.uniform(0, 1, n) < 0.5
    comp = np.column_stack([np.where(clay, 0.6, 0.1), np.where(clay, 0.2, 0.7)]) + rng.normal(0, 0.05, (n, 2))
    water = np.where(clay, 8.0, 1.0) + rng.normal(0, 0.8, n)
    ne = NeighbourExcess(5).fit(comp[:200], water[:200])
    calib, held = np.arange(200, 250), np.arange(250, 300)
    cond_cut = conformal_threshold(ne.excess(comp[calib], water[calib]), 0.05)
    plain_cut = conformal_threshold(water[calib], 0.05)
    sand = held[~clay[held]]
    moist = water[sand] + 4.0
    assert np.mean(ne.excess(comp[sand], moist) > cond_cut) > 0.9
    assert np.mean(moist > plain_cut) < 0.1
