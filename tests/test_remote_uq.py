"""β-NLL on hand cases, the ensemble's variance decomposition, variance scaling lowering ECE on a
planted over-confident case, and regression_ece equal to uncertainty-toolbox's MACE."""
import json
import math

import numpy as np
import pytest
import torch

from socspec.remote import metrics as M
from socspec.remote.uq import VarianceScaler, beta_nll_loss, combine_ensemble


def test_beta_nll_hand_case_value_and_gradients():
    # μ = 0, σ² = 4, y = 2: NLL = ½(ln 4 + 4/4) = 1.1931472; weight 4^0.5 = 2
    mean = torch.tensor([0.0], requires_grad=True)
    log_var = torch.tensor([math.log(4.0)], requires_grad=True)
    y = torch.tensor([2.0])
    loss = beta_nll_loss(mean, log_var, y, beta=0.5)
    assert loss.item() == pytest.approx(2 * 0.5 * (math.log(4.0) + 1.0), rel=1e-6)
    loss.backward()
    # d/dμ = −(y−μ)/σ² · σ^(2β) = −0.5 · 2;  d/dlogσ² = ½(1 − (y−μ)²/σ²) · 2 = 0 here
    assert mean.grad.item() == pytest.approx(-1.0, rel=1e-6)
    assert log_var.grad.item() == pytest.approx(0.0, abs=1e-6)
    # β = 1: the mean gets the MSE gradient −(y − μ), whatever σ² is
    for lv in (-2.0, 0.0, 3.0):
        m = torch.tensor([0.0], requires_grad=True)
        beta_nll_loss(m, torch.tensor([lv]), y, beta=1.0).backward()
        assert m.grad.item() == pytest.approx(-2.0, rel=1e-5)


def test_beta_zero_is_gaussian_nll_and_reductions():
    g = torch.Generator().manual_seed(0)
    mean, target = torch.randn(50, generator=g), torch.randn(50, generator=g)
    log_var = torch.randn(50, generator=g)
    ref = torch.nn.GaussianNLLLoss(reduction="none")(mean, target, log_var.exp())
    torch.testing.assert_close(beta_nll_loss(mean, log_var, target, beta=0.0, reduction="none"), ref)
    torch.testing.assert_close(beta_nll_loss(mean, log_var, target, beta=0.0), ref.mean())
    per = beta_nll_loss(mean, log_var, target, beta=0.5, reduction="none")
    torch.testing.assert_close(per, ref * log_var.exp().sqrt())
    torch.testing.assert_close(beta_nll_loss(mean, log_var, target, reduction="sum"), per.sum())
    with pytest.raises(ValueError, match="same shape"):
        beta_nll_loss(mean, log_var[:3], target)
    with pytest.raises(ValueError, match="beta"):
        beta_nll_loss(mean, log_var, target, beta=2.0)
    with pytest.raises(ValueError, match="reduction"):
        beta_nll_loss(mean, log_var, target, reduction="max")


def test_ensemble_decomposition_hand_case_and_law_of_total_variance():
    means = np.array([[1.0, 0.0], [3.0, 0.0]])
    variances = np.array([[1.0, 2.0], [3.0, 2.0]])
    out = combine_ensemble(means, variances)
    np.testing.assert_allclose(out["mean"], [2.0, 0.0])
    np.testing.assert_allclose(out["aleatoric_variance"], [2.0, 2.0])
    np.testing.assert_allclose(out["epistemic_variance"], [1.0, 0.0])  # population variance
    np.testing.assert_allclose(out["variance"], [3.0, 2.0])
    # the combined variance is the variance of the equal-weight Gaussian mixture (Monte Carlo)
    rng = np.random.default_rng(0)
    mu, var = rng.normal(size=(5, 3)), rng.uniform(0.5, 2, (5, 3))
    comp = rng.integers(0, 5, 400_000)
    draws = mu[comp] + np.sqrt(var[comp]) * rng.standard_normal((400_000, 3))
    np.testing.assert_allclose(combine_ensemble(mu, var)["variance"], draws.var(0), rtol=0.02)
    # torch in, torch out, same numbers
    t = combine_ensemble(torch.tensor(mu), torch.tensor(var))
    assert isinstance(t["variance"], torch.Tensor)
    np.testing.assert_allclose(t["variance"].numpy(), combine_ensemble(mu, var)["variance"])
    with pytest.raises(ValueError, match=r"\(M, N\)"):
        combine_ensemble(mu[0], var[0])
    with pytest.raises(ValueError, match=">= 0"):
        combine_ensemble(mu, -var)


def test_variance_scaling_recovers_the_factor_and_lowers_ece():
    rng = np.random.default_rng(1)
    n = 4000
    mu = rng.normal(0, 5, n)
    sd_true = rng.uniform(1.0, 3.0, n)
    y = mu + sd_true * rng.standard_normal(n)
    sd_claimed = sd_true / 2.5  # planted over-confidence
    cal, test = slice(0, n // 2), slice(n // 2, None)
    scaler = VarianceScaler().fit(y[cal], mu[cal], sd_claimed[cal])
    assert scaler.scale_ == pytest.approx(2.5, rel=0.05)
    ece_before = M.regression_ece(y[test], mu[test], sd_claimed[test])
    ece_after = M.regression_ece(y[test], mu[test], scaler.transform(sd_claimed[test]))
    assert ece_before > 0.2 and ece_after < 0.03
    cov = M.interval_coverage(y[test], mu[test], scaler.transform(sd_claimed[test]), 0.9)
    assert cov == pytest.approx(0.9, abs=0.03)
    # closed form is the NLL minimiser: nearby factors give a higher NLL
    def nll(s):
        v = (s * sd_claimed[cal]) ** 2
        return np.mean(0.5 * np.log(v) + 0.5 * (y[cal] - mu[cal]) ** 2 / v)
    assert nll(scaler.scale_) < min(nll(scaler.scale_ * 0.97), nll(scaler.scale_ * 1.03))
    # JSON round trip
    back = VarianceScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert back.scale_ == scaler.scale_
    np.testing.assert_array_equal(back.transform(sd_claimed), scaler.transform(sd_claimed))
    assert back.transform_variance(4.0) == pytest.approx(4.0 * scaler.scale_ ** 2)


def test_variance_scaler_errors():
    with pytest.raises(ValueError, match="not fitted"):
        VarianceScaler().transform(np.ones(3))
    with pytest.raises(ValueError, match="std must be > 0"):
        VarianceScaler().fit([1.0], [1.0], [0.0])
    with pytest.raises(ValueError, match="differ in length"):
        VarianceScaler().fit([1.0, 2.0], [1.0], [1.0])
    with pytest.raises(ValueError, match="not a variance-scaling"):
        VarianceScaler.from_dict({"scale": 2.0})


def test_regression_ece_equals_uncertainty_toolbox():
    uct = pytest.importorskip("uncertainty_toolbox")
    rng = np.random.default_rng(2)
    for n, shrink in ((300, 1.0), (500, 0.4), (200, 3.0)):
        mu = rng.normal(size=n)
        sd = rng.uniform(0.5, 2.0, n)
        y = mu + sd * rng.standard_normal(n)
        ref = uct.mean_absolute_calibration_error(mu, sd * shrink, y, prop_type="interval")
        assert M.regression_ece(y, mu, sd * shrink) == pytest.approx(ref, abs=1e-12)
    # ties on interval ends and a residual of exactly 0 (the τ = 0 interval)
    mu = np.zeros(4)
    y = np.array([0.0, 1.0, -1.0, 2.0])
    sd = np.ones(4)
    ref = uct.mean_absolute_calibration_error(mu, sd, y, prop_type="interval")
    assert M.regression_ece(y, mu, sd) == pytest.approx(ref, abs=1e-12)
