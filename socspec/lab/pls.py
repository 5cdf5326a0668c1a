"""PLSR baseline: the chemometric standard reported beside every lab model run.

scikit-learn ``PLSRegression`` on absorbance log10(1/R) of the model inputs, with the number of
components chosen by k-fold CV (lowest mean squared error) on the training rows only.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import KFold, cross_val_score


class PLSBaseline(BaseEstimator, RegressorMixin):
    """PLSR with CV-chosen components. X: absorbance (n, M); y: SOC g/kg (n,).

    Attributes: ``n_components_``, ``cv_rmse_`` (per candidate), ``pls_`` (fitted PLSRegression).
    """

    def __init__(self, max_components: int = 20, cv: int = 5, seed: int = 0):
        self.max_components = max_components
        self.cv = cv
        self.seed = seed

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        n_folds = max(2, min(self.cv, len(y)))
        max_c = int(max(1, min(self.max_components, X.shape[1], len(y) - len(y) // n_folds - 1)))
        folds = KFold(n_splits=n_folds, shuffle=True, random_state=self.seed)
        self.cv_rmse_ = {}
        for c in range(1, max_c + 1):
            mse = -cross_val_score(PLSRegression(n_components=c, scale=False), X, y, cv=folds,
                                   scoring="neg_mean_squared_error").mean()
            self.cv_rmse_[c] = float(np.sqrt(mse))
        self.n_components_ = min(self.cv_rmse_, key=self.cv_rmse_.get)
        self.pls_ = PLSRegression(n_components=self.n_components_, scale=False).fit(X, y)
        return self

    def predict(self, X) -> np.ndarray:
        return np.asarray(self.pls_.predict(np.asarray(X, dtype=np.float64))).reshape(-1)
