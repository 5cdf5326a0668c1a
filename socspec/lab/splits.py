"""Group-aware splits: every scan of one sample id stays on one side of a split.

Labs scan one soil several times (replicates; the same soil dry and wet). A random split by scan
would put replicates of one soil in training and test, and the test score would measure how well
the model recognises a soil it has seen. Both the train/test split of ``fit-lab`` and the held-in
(early stopping + OOD calibration) split of :class:`~socspec.lab.estimator.LabSOCModel` go
through here.

scikit-learn's ``GroupShuffleSplit`` does the grouping, but sizes the test set in *groups* and
draws another permutation; these keep the test size in scans and, when every id is unique, the
exact split of earlier versions (so existing runs and seeds reproduce).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import SocspecInputError


def _take_groups(rng: np.random.Generator, codes: np.ndarray, n_groups: int, n_rows: int) -> np.ndarray:
    """Group codes drawn in random order until they hold ≥ ``n_rows`` rows; at least one group left out."""
    sizes = np.bincount(codes, minlength=n_groups)
    order = rng.permutation(n_groups)
    cum = np.cumsum(sizes[order])
    k = int(np.searchsorted(cum, n_rows)) + 1  # smallest prefix holding n_rows rows
    return order[:min(k, n_groups - 1)]


def group_train_test_split(groups, labelled, test_size: float, seed: int, source=None):
    """Indices (train, test). Test: labelled rows of randomly drawn ids, ≈ ``test_size`` of the labelled
    scans. Train: every row of the other ids (unlabelled rows included). Unlabelled scans of a test id
    are in neither (they would put that soil's spectrum into training).

    ``groups`` (n,) sample ids; ``labelled`` (n,) bool. With unique ids this equals a random split of
    the labelled rows by ``np.random.default_rng(seed).permutation``.
    """
    if not 0.0 < float(test_size) < 1.0:
        raise SocspecInputError(f"test_size must be between 0 and 1, got {test_size}",
                                hint="on the command line: --test-size")
    groups = np.asarray(groups, dtype=object)
    labelled = np.asarray(labelled, dtype=bool)
    lab = np.flatnonzero(labelled)
    if len(lab) < 5:
        raise SocspecInputError(f"only {len(lab)} labelled spectra; need at least 5 to split train/test", path=source)
    codes, uniques = pd.factorize(groups[lab])
    if len(uniques) < 2:
        raise SocspecInputError(f"all {len(lab)} labelled spectra share one sample id ({uniques[0]!r}); "
                                "a split needs at least two ids", path=source,
                                hint="check the id column (--id-col)")
    rng = np.random.default_rng(int(seed))
    n_test = max(1, round(test_size * len(lab)))
    chosen = _take_groups(rng, codes, len(uniques), n_test)
    test_ids = set(uniques[chosen])
    in_test_group = np.array([g in test_ids for g in groups], dtype=bool)
    test = np.flatnonzero(in_test_group & labelled)
    train = np.flatnonzero(~in_test_group)
    return train, test


def group_holdout_mask(groups, labelled, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Held-in mask (n,) bool: ≈ ``fraction`` of the labelled and of the unlabelled scans, whole ids at a
    time, at least one id of each kind left for training. With unique ids it draws exactly what
    ``rng.choice(rows, n_val, replace=False)`` per kind drew before."""
    groups = np.asarray(groups, dtype=object)
    labelled = np.asarray(labelled, dtype=bool)
    val = np.zeros(len(groups), dtype=bool)
    codes, uniques = pd.factorize(groups)
    unique_ids = len(uniques) == len(groups)
    for kind_rows in (np.flatnonzero(labelled), np.flatnonzero(~labelled)):
        n_val = round(fraction * len(kind_rows))
        if not n_val or len(kind_rows) - n_val < 1:
            continue
        if unique_ids:
            val[rng.choice(kind_rows, n_val, replace=False)] = True
            continue
        free = kind_rows[~val[kind_rows]]               # rows of this kind not yet held in by a shared id
        need = n_val - int(val[kind_rows].sum())
        if need <= 0 or free.size == 0:
            continue
        sub_codes, sub_uniques = pd.factorize(codes[free])
        if len(sub_uniques) < 2:
            continue
        chosen = sub_uniques[_take_groups(rng, sub_codes, len(sub_uniques), need)]
        val |= np.isin(codes, chosen)
    return val


def group_sample(groups, rows, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices out of ``rows``: the rows of whole ids drawn at random until they hold
    ≥ ``n_rows`` rows, at least one id left out (to evaluate on). With unique ids this is
    ``np.sort(rng.choice(rows, n_rows, replace=False))``, as before."""
    groups = np.asarray(groups, dtype=object)
    rows = np.asarray(rows)
    codes, uniques = pd.factorize(groups[rows])
    if len(uniques) == len(rows):
        return np.sort(rng.choice(rows, n_rows, replace=False))
    if len(uniques) < 2:
        raise SocspecInputError(f"all {len(rows)} scans share one sample id ({uniques[0]!r}); none would be left "
                                "to evaluate on", hint="check the id column (--id-col)")
    chosen = _take_groups(rng, codes, len(uniques), n_rows)
    return np.sort(rows[np.isin(codes, chosen)])
