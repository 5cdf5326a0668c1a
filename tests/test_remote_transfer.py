"""Seed 004's transfer evaluation (socspec.remote.transfer): gains, nested labelled draws, same folds."""
import numpy as np
import pandas as pd
import pytest

from socspec.remote.corpus import Corpus
from socspec.remote.transfer import labelled_rows, mean_over_regions, regional_transfer_cv, transfer_gains


def _lin_ccc(y, p):
    # Lin (1989) written out: 2 s_yp / (s_y² + s_p² + (ȳ − p̄)²), population moments
    y, p = np.asarray(y, float), np.asarray(p, float)
    syp = np.mean((y - y.mean()) * (p - p.mean()))
    return 2 * syp / (y.var() + p.var() + (y.mean() - p.mean()) ** 2)


def test_transfer_gains_known_answer():
    y = np.array([10.0, 20.0, 30.0, 40.0])
    alone = np.array([14.0, 16.0, 34.0, 36.0])  # |e| = 4 each: MAE 4
    tuned = np.array([11.0, 19.0, 31.0, 41.0])  # |e| = 1 each: MAE 1
    g = transfer_gains(y, alone, tuned)
    assert g["mae_alone"] == pytest.approx(4.0) and g["mae_tuned"] == pytest.approx(1.0)
    assert g["mae_gain"] == pytest.approx(3.0) and g["mae_gain_pct"] == pytest.approx(75.0)
    assert g["ccc_alone"] == pytest.approx(_lin_ccc(y, alone)) and g["ccc_tuned"] == pytest.approx(_lin_ccc(y, tuned))
    assert g["ccc_gain"] == pytest.approx(_lin_ccc(y, tuned) - _lin_ccc(y, alone))
    assert g["ccc_gain_pct"] == pytest.approx(100 * g["ccc_gain"] / abs(g["ccc_alone"]))


def test_labelled_rows_are_nested_and_sized():
    train = np.arange(100, 300)
    small, mid, full = (labelled_rows(train, s, seed=7) for s in (0.1, 0.25, 1.0))
    assert small.size == 20 and mid.size == 50 and full.size == 200
    assert set(small) <= set(mid) <= set(full) == set(train)
    assert labelled_rows(train, 0.01, seed=7, min_labels=20).size == 20  # floor of labels
    assert labelled_rows(train[:10], 0.5, seed=7, min_labels=20).size == 10  # never more than there are
    with pytest.raises(ValueError, match="share"):
        labelled_rows(train, 0.0, seed=0)
    with pytest.raises(ValueError, match="share"):
        labelled_rows(train, 1.5, seed=0)


class _Fake:
    """'alone' predicts its training mean; 'tuned' predicts the truth + 1 (looked up by id)."""
    log: list = []

    def __init__(self, arm, truth):
        self.arm, self.truth = arm, truth

    def fit(self, corpus):
        self.mean_ = float(corpus.soc_g_kg.mean())
        _Fake.log.append((self.arm, tuple(corpus.ids)))
        return self

    def predict(self, corpus):
        if self.arm == "alone":
            return np.full(len(corpus), self.mean_), np.ones(len(corpus))
        return np.array([self.truth[i] + 1.0 for i in corpus.ids])


def _region(n=120, seed=0):
    rng = np.random.default_rng(seed)
    pts = pd.DataFrame({"id": [f"p{i}" for i in range(n)], "lat": rng.uniform(45, 50, n),
                        "lon": rng.uniform(5, 12, n), "soc_g_kg": rng.gamma(3.0, 5.0, n)})
    return Corpus(points=pts)


def test_regional_transfer_cv_same_folds_every_point_once_and_pooled_gain():
    region = _region()
    truth = dict(zip(region.ids, region.soc_g_kg))
    _Fake.log = []
    res = regional_transfer_cv(region, lambda arm: _Fake(arm, truth), shares=(0.25, 1.0), n_folds=4,
                               scheme="random", seed=3, min_labels=5, reference=_Fake("tuned", truth))
    folds = np.asarray(res["folds"])
    assert res["mae_reference"] == pytest.approx(1.0)
    # both arms were fitted on identical labelled rows, fold by fold, share by share
    assert len(_Fake.log) == 2 * 4 * 2
    for a, b in zip(_Fake.log[0::2], _Fake.log[1::2]):
        assert a[0] == "alone" and b[0] == "tuned" and a[1] == b[1]
    # no labelled row is in its own test fold; 25 % draws sit inside the 100 % ones
    ids = region.ids
    for k in range(4):
        lab25, lab100 = set(_Fake.log[2 * k][1]), set(_Fake.log[8 + 2 * k][1])
        assert lab25 <= lab100 == set(ids[folds != k])
    # pooled out-of-fold answer, recomputed from the folds: 'alone' predicts the labelled mean
    y = region.soc_g_kg
    full = res["shares"]["1"]
    pred_alone = np.empty(len(y))
    for k in range(4):
        pred_alone[folds == k] = y[folds != k].mean()
    assert full["mae_alone"] == pytest.approx(np.mean(np.abs(y - pred_alone)))
    assert full["mae_tuned"] == pytest.approx(1.0)
    assert full["mae_gain_pct"] == pytest.approx(100 * (full["mae_alone"] - 1.0) / full["mae_alone"])
    assert full["n_labelled"] == [int((folds != k).sum()) for k in range(4)]
    assert [f["n_test"] for f in full["per_fold"]] == [int((folds == k).sum()) for k in range(4)]
    m = mean_over_regions({"a": res, "b": res}, 1.0)
    assert m["mae_gain_pct"] == pytest.approx(full["mae_gain_pct"]) and m["n_regions"] == 2


def test_regional_transfer_cv_refuses_bad_shares():
    with pytest.raises(ValueError, match="shares"):
        regional_transfer_cv(_region(), lambda arm: None, shares=(0.1, 0.0), scheme="random")
