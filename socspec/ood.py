"""Out-of-distribution risk: calibrated thresholds, the PCA Q-residual reference, tests, per-region risk.

Our OOD score is the lab model's reconstruction error (per-spectrum RMSE of reflectance, see
``LabSOCModel.reconstruction_error``). This module turns scores into decisions:

* :func:`conformal_threshold` — split-conformal quantile of held-in scores at a stated false-alarm
  rate α; ``flag = score > threshold``.
* :class:`PCAQResidual` — the chemometric reference: Q = ‖x − x̂‖² after projecting on the
  leading principal components of the training spectra, with its own conformal threshold.
* :func:`welch_test`, :func:`auroc` — Welch's unequal-variance t-test and the area under the ROC.
* :func:`region_risk_table` — per-region summary with a documented low/medium/high risk rule.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

DEFAULT_FALSE_ALARM = 0.05


# ------------------------------------------------------------------ thresholds
def conformal_threshold(scores, false_alarm: float = DEFAULT_FALSE_ALARM) -> float:
    """Split-conformal threshold of held-in (calibration) scores.

    With n finite calibration scores s₍₁₎ ≤ … ≤ s₍ₙ₎ and α = ``false_alarm``, the threshold is the
    k-th smallest score, k = ⌈(n + 1)(1 − α)⌉. For a new score exchangeable with the calibration
    ones, P(score > threshold) ≤ α (and ≥ α − 1/(n + 1) when there are no ties), so flagging
    ``score > threshold`` has a false-alarm rate of at most α on held-in data.

    When n is too small for the guarantee (k > n, i.e. n < 1/α − 1), the threshold is ``+inf``:
    nothing is flagged rather than a rate we cannot promise. NaN scores are ignored.
    """
    if not (0.0 < float(false_alarm) < 1.0):
        raise ValueError(f"false_alarm must be in (0, 1), got {false_alarm!r}")
    s = np.asarray(scores, dtype=np.float64).ravel()
    s = np.sort(s[np.isfinite(s)])
    n = s.size
    if n == 0:
        raise ValueError("conformal_threshold needs at least one finite calibration score, got none")
    k = math.ceil((n + 1) * (1.0 - float(false_alarm)) - 1e-12)  # guard 0.95*20 = 19.000000000000004
    if k > n:
        return float("inf")
    return float(s[k - 1])


# ---------------------------------------------------------------- PCA Q residual
class PCAQResidual:
    """PCA Q-residual (squared prediction error) with a conformally calibrated threshold.

    Fit: mean μ (m,) and loadings P (m, k) of the training spectra X (n, m) by scikit-learn PCA
    (mean-centred, no scaling). Score of a spectrum x (m,):

        Q(x) = ‖(x − μ) − P Pᵀ (x − μ)‖²        (sum over the m wavelengths)

    k is ``n_components`` when given, else the smallest k whose components explain ≥ ``variance``
    of the training variance (capped at min(n − 1, m)). ``threshold_`` is
    :func:`conformal_threshold` of Q on ``X_calib`` (held-in spectra not used for the PCA); when no
    calibration set is given it is calibrated on ``X_train`` itself, which under-estimates Q for new
    data (in-sample residuals are smaller), so flags are then somewhat too frequent.
    """

    def __init__(self, n_components=None, variance: float = 0.99, false_alarm: float = DEFAULT_FALSE_ALARM):
        self.n_components = n_components
        self.variance = variance
        self.false_alarm = false_alarm

    def fit(self, X_train, X_calib=None) -> "PCAQResidual":
        from sklearn.decomposition import PCA

        X = np.asarray(X_train, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(f"X_train must be (n_samples ≥ 2, n_wavelengths), got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X_train contains NaN or inf")
        kmax = min(X.shape[0] - 1, X.shape[1])
        if self.n_components is not None:
            k = int(self.n_components)
            if not 1 <= k <= kmax:
                raise ValueError(f"n_components must be in 1..{kmax} for X_train of shape {X.shape}, got {k}")
            pca = PCA(n_components=k, svd_solver="full").fit(X)
        else:
            if not 0.0 < float(self.variance) <= 1.0:
                raise ValueError(f"variance must be in (0, 1], got {self.variance!r}")
            pca = PCA(n_components=kmax, svd_solver="full").fit(X)
            cum = np.cumsum(pca.explained_variance_ratio_)
            k = int(min(np.searchsorted(cum, float(self.variance) - 1e-12) + 1, kmax))
        self.mean_ = pca.mean_.astype(np.float64)
        self.components_ = pca.components_[:k].astype(np.float64)  # (k, m), orthonormal rows
        self.n_components_ = k
        self.explained_variance_ratio_ = float(np.sum(pca.explained_variance_ratio_[:k]))
        self.calibrated_on_ = "train" if X_calib is None else "calib"
        calib = X if X_calib is None else np.asarray(X_calib, dtype=np.float64)
        self.calib_scores_ = self.score(calib)
        self.threshold_ = conformal_threshold(self.calib_scores_, self.false_alarm)
        return self

    def _check_fitted(self):
        if not hasattr(self, "components_"):
            raise RuntimeError("PCAQResidual is not fitted; call fit(X_train) first")

    def residuals(self, X) -> np.ndarray:
        """(n, m) residual (x − μ) − P Pᵀ (x − μ)."""
        self._check_fitted()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[None, :]
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} wavelengths, the PCA was fitted on {self.mean_.shape[0]}")
        Xc = X - self.mean_
        return Xc - (Xc @ self.components_.T) @ self.components_

    def score(self, X) -> np.ndarray:
        """Q per spectrum, shape (n,)."""
        r = self.residuals(X)
        return np.einsum("ij,ij->i", r, r)

    def flag(self, X) -> np.ndarray:
        return self.score(X) > self.threshold_

    def get_state(self) -> dict:
        """JSON-able state (lists and floats); ``from_state`` restores an identical scorer."""
        self._check_fitted()
        return {
            "n_components": self.n_components, "variance": float(self.variance),
            "false_alarm": float(self.false_alarm), "n_components_": int(self.n_components_),
            "mean_": self.mean_.tolist(), "components_": self.components_.tolist(),
            "threshold_": float(self.threshold_) if np.isfinite(self.threshold_) else "inf",
            "explained_variance_ratio_": self.explained_variance_ratio_,
            "calibrated_on_": self.calibrated_on_,
        }

    @classmethod
    def from_state(cls, d: dict) -> "PCAQResidual":
        obj = cls(n_components=d.get("n_components"), variance=d.get("variance", 0.99),
                  false_alarm=d.get("false_alarm", DEFAULT_FALSE_ALARM))
        obj.mean_ = np.asarray(d["mean_"], dtype=np.float64)
        obj.components_ = np.asarray(d["components_"], dtype=np.float64).reshape(-1, obj.mean_.shape[0])
        obj.n_components_ = int(d["n_components_"])
        thr = d["threshold_"]
        obj.threshold_ = float("inf") if thr in ("inf", None) else float(thr)
        obj.explained_variance_ratio_ = float(d.get("explained_variance_ratio_", float("nan")))
        obj.calibrated_on_ = d.get("calibrated_on_", "unknown")
        return obj

    def __repr__(self):
        k = getattr(self, "n_components_", None)
        return f"PCAQResidual(n_components={self.n_components!r}, variance={self.variance}, " \
               f"false_alarm={self.false_alarm}, fitted_k={k})"
