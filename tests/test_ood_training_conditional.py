"""Training-conditional conformal thresholds (socspec.ood.training_conditional_rank and
conformal_calibration(confidence=))."""
from __future__ import annotations

import math

import numpy as np
import pytest

from socspec.ood import conformal_calibration, conformal_threshold, training_conditional_rank


def _binom_tail(k: int, n: int, p: float) -> float:
    """P(Bin(n, p) ≥ k) by exact sums (math.comb): an independent path from scipy.stats.binom."""
    return math.fsum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k, n + 1))


@pytest.mark.parametrize("n, alpha, conf", [(240, 0.05, 0.9), (100, 0.1, 0.8), (60, 0.05, 0.95), (500, 0.01, 0.9)])
def test_rank_is_the_smallest_with_the_exact_binomial_tail_below_one_minus_confidence(n, alpha, conf):
    k = training_conditional_rank(n, alpha, conf)
    want = next((j for j in range(1, n + 1) if _binom_tail(j, n, 1 - alpha) <= 1 - conf + 1e-12), n + 1)
    assert k == want
    assert k >= math.ceil((n + 1) * (1 - alpha) - 1e-12)  # never less conservative than split conformal


def test_a_calibration_set_exceeds_alpha_at_most_one_minus_confidence_of_the_time():
    """Monte Carlo over 20,000 calibration sets of 240 uniform scores: the false-alarm rate of one set
    at threshold s₍ₖ₎ is 1 − s₍ₖ₎. Split conformal: mean 12/241 ≈ 4.98 %, but > 5 % in ~45 % of sets;
    training-conditional (confidence 0.9): > 5 % in ≤ 10 % of sets."""
    rng = np.random.default_rng(0)
    s = np.sort(rng.uniform(size=(20_000, 240)), axis=1)
    marginal = 1.0 - s[:, math.ceil(241 * 0.95) - 1]
    conditional = 1.0 - s[:, training_conditional_rank(240, 0.05, 0.9) - 1]
    assert abs(marginal.mean() - 12 / 241) < 1e-3 and (marginal > 0.05).mean() > 0.3
    assert (conditional > 0.05).mean() <= 0.1 + 0.006  # 3 MC standard errors
    assert conditional.mean() < 0.04


def test_calibration_dict_with_confidence():
    s = np.arange(240.0)[::-1]
    cal = conformal_calibration(s, 0.05, confidence=0.9)
    assert cal["threshold"] == training_conditional_rank(240, 0.05, 0.9) - 1 and cal["reached"]
    assert cal["confidence"] == 0.9 and cal["n_calibration"] == 240
    assert conformal_calibration(s, 0.05)["threshold"] == conformal_threshold(s, 0.05) and \
        "confidence" not in conformal_calibration(s, 0.05)
    few = conformal_calibration(np.arange(30.0), 0.05, confidence=0.9)  # 30 scores cannot promise it
    need = few["n_needed"]
    assert not few["reached"] and few["threshold"] == 29.0 and few["false_alarm_achievable"] == pytest.approx(1 / 31)
    assert training_conditional_rank(need, 0.05, 0.9) <= need < training_conditional_rank(need - 1, 0.05, 0.9) + 1
    with pytest.raises(ValueError):
        training_conditional_rank(100, 0.05, 1.0)
