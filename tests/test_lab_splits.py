"""Group-aware splits: no sample id on both sides of the train/test or the held-in split."""
from __future__ import annotations

import numpy as np
import pytest

from socspec.errors import SocspecInputError
from socspec.lab.splits import group_holdout_mask, group_train_test_split


def _replicated_ids(rng, n_ids=40, max_scans=4):
    scans = rng.integers(1, max_scans + 1, n_ids)
    return np.repeat([f"soil{i}" for i in range(n_ids)], scans)


@pytest.mark.parametrize("seed", range(5))
def test_train_test_never_shares_an_id(rng, seed):
    ids = _replicated_ids(rng)
    labelled = rng.random(len(ids)) > 0.2
    train, test = group_train_test_split(ids, labelled, 0.3, seed)
    assert not set(ids[train]) & set(ids[test])
    assert labelled[test].all() and len(test) >= round(0.3 * labelled.sum())
    # nothing of a test id in training, unlabelled scans included; every other row trains
    assert set(range(len(ids))) - set(train) - set(test) == {i for i in range(len(ids))
                                                            if ids[i] in set(ids[test]) and not labelled[i]}


def test_unique_ids_reproduce_the_row_split_of_earlier_versions(rng):
    ids = np.array([f"s{i}" for i in range(50)])
    labelled = np.ones(50, dtype=bool)
    labelled[[3, 7, 20]] = False
    for seed in range(4):
        train, test = group_train_test_split(ids, labelled, 0.4, seed)
        lab = np.flatnonzero(labelled)  # the previous random_split, verbatim
        perm = np.random.default_rng(seed).permutation(lab)
        old_test = np.sort(perm[:max(1, round(0.4 * len(lab)))])
        np.testing.assert_array_equal(test, old_test)
        np.testing.assert_array_equal(train, np.setdiff1d(np.arange(50), old_test))


@pytest.mark.parametrize("seed", range(5))
def test_holdout_keeps_ids_together_and_strata_sizes(rng, seed):
    ids = _replicated_ids(rng, n_ids=60)
    labelled_id = rng.random(60) > 0.3
    labelled = np.array([labelled_id[int(s[4:])] for s in ids])
    val = group_holdout_mask(ids, labelled, 0.2, np.random.default_rng(seed))
    assert not set(ids[val]) & set(ids[~val])
    for kind in (labelled, ~labelled):
        got = val[kind].sum()
        assert 0.2 * kind.sum() - 0.5 <= got <= 0.2 * kind.sum() + 4  # at most one id of overshoot


def test_holdout_with_unique_ids_draws_as_before():
    labelled = np.arange(30) % 4 != 0
    ids = np.array([f"s{i}" for i in range(30)])
    val = group_holdout_mask(ids, labelled, 0.25, np.random.default_rng(7))
    old = np.zeros(30, dtype=bool)
    rng = np.random.default_rng(7)
    for group in (np.flatnonzero(labelled), np.flatnonzero(~labelled)):
        n_val = round(0.25 * len(group))
        old[rng.choice(group, n_val, replace=False)] = True
    np.testing.assert_array_equal(val, old)


def test_one_id_cannot_be_split():
    with pytest.raises(SocspecInputError, match="share one sample id"):
        group_train_test_split(np.array(["a"] * 8), np.ones(8, dtype=bool), 0.4, 0)


def _replicate_table(rng, n_ids=30, scans=3):
    from socspec.spectra import SpectralTable

    wl = np.arange(400.0, 2401.0, 10.0)
    ids = np.repeat([f"soil{i}" for i in range(n_ids)], scans)
    soc = np.repeat(rng.uniform(5, 40, n_ids), scans)
    soc[rng.random(len(ids)) < 0.15] = np.nan  # some scans without a lab value
    R = 0.2 + 0.1 * np.sin(wl / 300.0)[None, :] + rng.normal(0, 0.01, (len(ids), wl.size))
    import pandas as pd
    return SpectralTable(wl, R, "reflectance", pd.DataFrame({"id": ids, "soc_g_kg": soc}))


def test_fit_lab_random_split_keeps_replicates_together(rng):
    from socspec.lab.workflow import random_split

    t = _replicate_table(rng)
    for seed in range(3):
        train, test = random_split(t, 0.4, seed)
        assert not set(t.ids[train]) & set(t.ids[test])
        assert t.labelled_mask()[test].all()


def test_model_held_in_split_keeps_replicates_together(rng):
    from socspec.lab.estimator import LabSOCModel

    t = _replicate_table(rng)
    extra = _replicate_table(rng, n_ids=10).subset(np.arange(30))  # unlabelled scans that reuse ids soil0…
    extra.meta["soc_g_kg"] = np.nan
    for seed in range(3):
        m = LabSOCModel(decoder="none", val_fraction=0.25, seed=seed, device="cpu", progress=False)
        data = m.prepare_training_data(t, unlabeled=extra)
        groups = np.concatenate([t.ids, ["unlabeled:" + i for i in extra.ids]])
        val = data.validation
        assert val.any() and not set(groups[val]) & set(groups[~val])


def test_finetune_labels_take_whole_ids(rng):
    from socspec.lab.experiments import choose_finetune_labels
    from socspec.lab.splits import group_sample

    t = _replicate_table(rng)
    for seed in range(4):
        picked = choose_finetune_labels(t, 10, seed)
        assert len(picked) >= 10 and t.labelled_mask()[picked].all()
        others = np.setdiff1d(np.flatnonzero(t.labelled_mask()), picked)
        assert others.size and not set(t.ids[picked]) & set(t.ids[others])
    rows = np.arange(3, 40)  # unique ids: the draw of earlier versions
    np.testing.assert_array_equal(group_sample([f"s{i}" for i in range(50)], rows, 7, np.random.default_rng(2)),
                                  np.sort(np.random.default_rng(2).choice(rows, 7, replace=False)))


def test_pls_component_cv_keeps_replicates_in_one_fold(rng):
    from sklearn.model_selection import KFold

    from socspec.lab.pls import PLSBaseline, cv_folds

    ids = _replicated_ids(rng, n_ids=25)
    for tr, te in cv_folds(len(ids), 5, 0, ids):
        assert not set(ids[tr]) & set(ids[te])
    unique = [f"s{i}" for i in range(23)]  # unique ids: the shuffled k-fold of before
    for (a, b), (c, d) in zip(cv_folds(23, 5, 3, unique), KFold(5, shuffle=True, random_state=3).split(np.zeros(23)),
                              strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    X = rng.normal(size=(len(ids), 12))
    y = X[:, 0] * 3 + rng.normal(0, 0.1, len(ids))
    assert PLSBaseline(max_components=5).fit(X, y, groups=ids).n_components_ >= 1
