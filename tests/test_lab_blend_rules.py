"""examples/lab_blend_rules.py, the offline scorer of the committee's blend weight λ: on a simulated
committee with a known answer, one member's out-of-fold λ is attenuated by that member's own noise,
while the committee-level rules recover the weight that is right for the members' mean."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from lab_blend_rules import rule_weights, weight  # noqa: E402


def _record(n_oof=20000, n_held=4000, k=5, sd=1.0, seed=0):
    """y = c exactly; one PLSR p = c + N(0, sd²); members n_i = c + N(0, sd²), independent.
    One member against p: λ = sd²/(sd² + sd²) = 1/2. The mean of k members: λ* = sd²/(sd² + sd²/k)."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(5, 50, n_oof)
    ch = rng.uniform(5, 50, n_held)
    ph = ch + rng.normal(0, sd, n_held)
    return {"oof_y": c, "oof_pls": c + rng.normal(0, sd, n_oof), "oof_members": c + rng.normal(0, sd, n_oof),
            "oof_scored": np.ones(n_oof, bool), "held_in_y": ch, "held_in_each_pls": np.tile(ph, (k, 1)),
            "held_in_each_member": ch + rng.normal(0, sd, (k, n_held))}


def test_weight_is_least_squares_less_one_standard_error():
    rng = np.random.default_rng(1)
    y = rng.uniform(5, 40, 50)
    p, n = y + rng.normal(0, 3, 50), y + rng.normal(0, 3, 50)
    d = n - p
    lam = np.dot(y - p, d) / np.dot(d, d)
    se = np.sqrt(np.mean((y - p - lam * d) ** 2) / np.dot(d, d))
    assert weight(y, p, n) == pytest.approx((lam, se), rel=1e-12)
    # a denominator reduced by a third scales λ̂ and its se by 3/2
    assert weight(y, p, n, den_less=np.dot(d, d) / 3) == pytest.approx((1.5 * lam, 1.5 * se), rel=1e-12)


def test_committee_rules_recover_the_members_mean_weight_and_the_member_rule_does_not():
    k = 5
    lams = rule_weights(_record(k=k), k=0.0)
    want = 1.0 / (1.0 + 1.0 / k)  # 0.833
    assert lams["member_oof"] == pytest.approx(0.5, abs=0.02)  # attenuated by one member's noise
    for rule in ("held_in", "ensemble_m", "ensemble_d", "ensemble_full"):
        assert lams[rule] == pytest.approx(want, abs=0.03), rule
    # pooling the two evidence sets mixes two estimands: between them, nearer the more precise
    assert lams["member_oof"] < lams["pooled"] < lams["held_in"]
    assert (lams["members"], lams["base"]) == (1.0, 0.0)
    # with one standard error subtracted every rule sits a little lower, none above its estimate
    shrunk = rule_weights(_record(k=k), k=1.0)
    assert all(shrunk[r] <= lams[r] + 1e-12 for r in lams)
