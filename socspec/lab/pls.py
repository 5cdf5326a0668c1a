"""PLSR baselines: the chemometric standard reported beside every lab model run.

* :class:`PLSBaseline` (``pls``): scikit-learn ``PLSRegression`` on absorbance log10(1/R) of the
  model inputs, with the number of components (up to 30) chosen by k-fold CV (lowest mean squared
  error) on the training rows only.
* :class:`PLSTuned` (``pls_tuned``): the same with the usual chemometric pre-treatment chosen by
  CV too — SNV, Savitzky–Golay first derivative, or SNV then the derivative — and up to 30
  components, so that no model looks good against a weak yardstick.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import GroupKFold, KFold, cross_val_score
from sklearn.utils.validation import check_is_fitted, validate_data

PRETREATMENTS = ("snv", "sg1", "snv_sg1")


def cv_folds(n_rows: int, n_splits: int, seed: int, groups=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs for choosing components: shuffled k-fold, or — when ``groups``
    (sample ids) repeat, i.e. replicate scans — ``GroupKFold``, so that no soil is in both the
    fitting and the scoring part of a fold (that would favour too many components)."""
    if groups is not None:
        groups = np.asarray(groups, dtype=object)
        n_groups = len(set(groups))
        if n_groups < len(groups):
            return list(GroupKFold(n_splits=max(2, min(n_splits, n_groups))).split(np.zeros(n_rows), groups=groups))
    return list(KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(np.zeros(n_rows)))


class PLSBaseline(RegressorMixin, BaseEstimator):
    """PLSR with CV-chosen components. X: absorbance (n, M); y: SOC g/kg (n,).

    Attributes: ``n_components_``, ``cv_rmse_`` (per candidate), ``pls_`` (fitted PLSRegression).
    """

    def __init__(self, max_components: int = 30, cv: int = 5, seed: int = 0):
        self.max_components = max_components
        self.cv = cv
        self.seed = seed

    def fit(self, X, y, groups=None):
        """``groups``: sample ids of the rows (replicate scans share one); folds keep them together."""
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        n_folds = max(2, min(self.cv, len(y)))
        folds = cv_folds(len(y), n_folds, self.seed, groups)
        max_c = int(max(1, min(self.max_components, X.shape[1], len(y) - len(y) // n_folds - 1)))
        self.cv_rmse_ = {}
        for c in range(1, max_c + 1):
            mse = -cross_val_score(PLSRegression(n_components=c, scale=False), X, y, cv=folds,
                                   scoring="neg_mean_squared_error").mean()
            self.cv_rmse_[c] = float(np.sqrt(mse))
        self.n_components_ = min(self.cv_rmse_, key=self.cv_rmse_.get)
        self.pls_ = PLSRegression(n_components=self.n_components_, scale=False).fit(X, y)
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "pls_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return np.asarray(self.pls_.predict(X)).reshape(-1)


def pretreat(x: np.ndarray, how: str, window: int) -> np.ndarray:
    """``snv`` | ``sg1`` (Savitzky–Golay first derivative, quadratic, ``window`` points) | ``snv_sg1``."""
    from scipy.signal import savgol_filter
    if how not in PRETREATMENTS:
        raise ValueError(f"pre-treatment must be one of {PRETREATMENTS}, got {how!r}")
    from ..preprocess import snv_values

    x = snv_values(x) if how.startswith("snv") else np.asarray(x, dtype=np.float64)
    if how.endswith("sg1"):
        w = min(window, x.shape[1] - (1 - x.shape[1] % 2))  # odd and no longer than the spectrum
        x = savgol_filter(x, max(w, 5), 2, deriv=1, axis=1)
    return x


class PLSTuned(RegressorMixin, BaseEstimator):
    """PLSR with the pre-treatment (``PRETREATMENTS``) and the number of components (1..
    ``max_components``) chosen together by k-fold CV RMSE on the training rows.

    X: absorbance (n, M) on a regular grid of ``step_nm``; the derivative window spans about
    ``window_nm`` (odd number of points, at least 5). y: SOC g/kg (n,).
    One PLS fit per fold and pre-treatment scores every component count: NIPALS components are
    extracted one after another, so the first c components of a 30-component fit are the
    c-component model (prediction = x_rotations_[:, :c] @ y_loadings_[:, :c]ᵀ).

    Attributes: ``pretreatment_``, ``n_components_``, ``cv_rmse_`` ({pre-treatment: {c: RMSE}}),
    ``pls_`` (fitted PLSRegression), ``window_``.
    """

    def __init__(self, max_components: int = 30, cv: int = 5, seed: int = 0, step_nm: float = 1.0,
                 window_nm: float = 21.0, pretreatments=PRETREATMENTS):
        self.max_components = max_components
        self.cv = cv
        self.seed = seed
        self.step_nm = step_nm
        self.window_nm = window_nm
        self.pretreatments = pretreatments

    @staticmethod
    def _predict_upto(pls: PLSRegression, x_mean: np.ndarray, y_mean: float, x: np.ndarray, c: int) -> np.ndarray:
        """Prediction of the first ``c`` components of ``pls`` (fitted with scale=False on data
        with means ``x_mean``, ``y_mean``)."""
        return ((x - x_mean) @ pls.x_rotations_[:, :c] @ pls.y_loadings_[:, :c].T).reshape(-1) + y_mean

    def fit(self, X, y, groups=None):
        """``groups``: sample ids of the rows (replicate scans share one); folds keep them together."""
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        w = int(round(self.window_nm / float(self.step_nm)))
        self.window_ = w + 1 - w % 2
        n_folds = max(2, min(self.cv, len(y)))
        max_c = int(max(1, min(self.max_components, X.shape[1], len(y) - len(y) // n_folds - 1)))
        folds = cv_folds(len(y), n_folds, self.seed, groups)
        self.cv_rmse_ = {}
        for how in self.pretreatments:
            xp = pretreat(X, how, self.window_)
            sq = np.zeros(max_c)
            for tr, te in folds:
                c_fold = min(max_c, len(tr) - 1)
                pls = PLSRegression(n_components=c_fold, scale=False).fit(xp[tr], y[tr])
                x_mean, y_mean = xp[tr].mean(axis=0), float(y[tr].mean())
                for c in range(1, max_c + 1):
                    pred = self._predict_upto(pls, x_mean, y_mean, xp[te], min(c, c_fold))
                    sq[c - 1] += np.sum((pred - y[te]) ** 2)
            self.cv_rmse_[how] = {c: float(np.sqrt(sq[c - 1] / len(y))) for c in range(1, max_c + 1)}
        self.pretreatment_, self.n_components_ = min(
            ((how, c) for how, r in self.cv_rmse_.items() for c in r), key=lambda hc: self.cv_rmse_[hc[0]][hc[1]])
        self.pls_ = PLSRegression(n_components=self.n_components_, scale=False).fit(
            pretreat(X, self.pretreatment_, self.window_), y)
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "pls_")
        x = pretreat(validate_data(self, X, dtype=np.float64, reset=False), self.pretreatment_, self.window_)
        return np.asarray(self.pls_.predict(x)).reshape(-1)
