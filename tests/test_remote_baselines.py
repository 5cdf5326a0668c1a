"""The random forest saved as plain arrays predicts exactly as scikit-learn does."""
import numpy as np
import pandas as pd
import pytest

from socspec.remote.baselines import ForestArrays, RandomForestBaseline


def _frame(n, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"lat": rng.uniform(40, 60, n), "lon": rng.uniform(0, 20, n),
                      "LC": pd.Categorical(rng.choice(list("ABCD"), n))})
    X.loc[::13, "lon"] = np.nan  # forests route NaN by the side learned in training
    y = 0.3 * X["lat"].to_numpy() + 5.0 * (X["LC"] == "A").to_numpy() + rng.normal(size=n)
    return X, y


def test_forest_arrays_predict_as_sklearn_and_round_trip_through_npz(tmp_path):
    X, y = _frame(800, 0)
    rf = RandomForestBaseline(n_estimators=25, n_jobs=1).fit(X, y)
    arrays, meta = rf.to_arrays()
    path = tmp_path / "forest.npz"
    np.savez(path, **arrays)
    with np.load(path, allow_pickle=False) as z:
        back = RandomForestBaseline.from_arrays({k: z[k] for k in z.files}, meta)
    Xq, _ = _frame(300, 1)
    Xq.loc[::7, "LC"] = np.nan
    Xq.loc[3, "LC"] = "A"
    np.testing.assert_allclose(back.predict(Xq), rf.predict(Xq), rtol=0, atol=1e-12)
    assert arrays["roots"].size == 25 and set(arrays) == set(ForestArrays.KEYS)


def test_forest_arrays_refuse_incomplete_or_ragged_arrays():
    X, y = _frame(200, 2)
    arrays, _ = RandomForestBaseline(n_estimators=3, n_jobs=1).fit(X, y).to_arrays()
    with pytest.raises(ValueError, match="lack threshold"):
        ForestArrays({k: v for k, v in arrays.items() if k != "threshold"})
    with pytest.raises(ValueError, match="one length"):
        ForestArrays({**arrays, "value": arrays["value"][:-1]})
