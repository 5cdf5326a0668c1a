"""Out-of-distribution risk: calibrated thresholds, the PCA Q-residual reference, tests, per-region risk.

Our OOD score is the lab model's reconstruction error (per-spectrum RMSE of reflectance, see
``LabSOCModel.reconstruction_error``). This module turns scores into decisions:

* :func:`conformal_threshold` — split-conformal quantile of held-in scores at a stated false-alarm
  rate α; ``flag = score > threshold``.
* :func:`conformal_calibration` — the same threshold when the calibration set is large enough, and
  otherwise the largest calibration score with the false-alarm rate that *can* be promised
  (1/(n + 1)); never ``inf``/NaN, and it says whether the asked rate was reached.
* :class:`PCAQResidual` — the chemometric reference: Q = ‖x − x̂‖² after projecting on the
  leading principal components of the training spectra, with its own conformal threshold.
* :func:`welch_test`, :func:`auroc` — Welch's unequal-variance t-test and the area under the ROC.
* :func:`region_risk_table` — per-region summary with a documented low/medium/high risk rule.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import regression_metrics

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


def calibration_size_needed(false_alarm: float = DEFAULT_FALSE_ALARM) -> int:
    """Smallest number n of calibration scores for which ⌈(n + 1)(1 − α)⌉ ≤ n, i.e. n ≥ (1 − α)/α
    (19 at α = 0.05, 9 at α = 0.1)."""
    a = float(false_alarm)
    return int(math.ceil((1.0 - a) / a - 1e-9))


def training_conditional_rank(n: int, false_alarm: float = DEFAULT_FALSE_ALARM, confidence: float = 0.9) -> int:
    """Rank k (1-based; n + 1 when none will do) of the calibration score to threshold at, so that the
    false-alarm rate of *this* calibration set exceeds α with probability at most 1 − ``confidence``.

    The split-conformal rank ⌈(n + 1)(1 − α)⌉ promises E[rate] ≤ α over calibration draws; the rate of
    one draw scatters around it (sd ≈ √(α(1 − α)/n): 1.4 % at n = 240, α = 5 %). With continuous
    exchangeable scores F(s₍ₖ₎) ~ Beta(k, n + 1 − k), so P(rate > α) = P(U₍ₖ₎ < 1 − α) = P(Bin(n, 1 − α) ≥ k)
    (Vovk 2012, "Conditional validity of inductive conformal predictors"); k is the smallest with
    ``scipy.stats.binom.sf(k − 1, n, 1 − α)`` ≤ 1 − confidence."""
    from scipy.stats import binom

    a, c, n = float(false_alarm), float(confidence), int(n)
    if not (0.0 < a < 1.0) or not (0.0 < c < 1.0) or n < 1:
        raise ValueError(f"need 0 < false_alarm < 1, 0 < confidence < 1 and n ≥ 1, got {false_alarm}, "
                         f"{confidence}, {n}")
    k = np.arange(1, n + 1)
    ok = binom.sf(k - 1, n, 1.0 - a) <= 1.0 - c
    return int(k[np.argmax(ok)]) if ok.any() else n + 1


def conformal_calibration(scores, false_alarm: float = DEFAULT_FALSE_ALARM, confidence: float | None = None) -> dict:
    """A finite threshold from calibration scores, and what it promises.

    ``confidence`` (None: the split-conformal rank, a false-alarm rate ≤ α on average over
    calibration draws): the threshold at :func:`training_conditional_rank`, a rate ≤ α for this
    calibration set with probability ≥ ``confidence`` (more conservative; ``"confidence"`` in the dict).

    With n ≥ :func:`calibration_size_needed` finite scores this is :func:`conformal_threshold`
    (false-alarm rate ≤ α for exchangeable new scores). With fewer, the rate α cannot be promised by
    any threshold on n scores; the threshold is then the largest calibration score, for which
    P(new score > max of n) ≤ 1/(n + 1) — the smallest rate these n scans can guarantee. Flags stay
    on (rather than a silent ``+inf`` that never flags) and the caller is told.

    Returns ``{"threshold", "false_alarm" (asked α), "false_alarm_achievable" (α, or 1/(n + 1)),
    "reached" (bool), "n_calibration", "n_needed"}``. Raises ValueError without a finite score.
    """
    a = float(false_alarm)
    if not (0.0 < a < 1.0):
        raise ValueError(f"false_alarm must be in (0, 1), got {false_alarm!r}")
    s = np.asarray(scores, dtype=np.float64).ravel()
    s = np.sort(s[np.isfinite(s)])
    n = int(s.size)
    if n == 0:
        raise ValueError("conformal_calibration needs at least one finite calibration score, got none")
    need = calibration_size_needed(a)
    if confidence is not None:
        k = training_conditional_rank(n, a, confidence)
        need = next(m for m in range(n, 100 * need + n + 2)
                    if training_conditional_rank(m, a, confidence) <= m) if k > n else need
        thr, reached = (float(s[k - 1]), True) if k <= n else (float(s[-1]), False)
        return {"threshold": thr, "false_alarm": a, "false_alarm_achievable": a if reached else 1.0 / (n + 1),
                "reached": reached, "n_calibration": n, "n_needed": int(need), "confidence": float(confidence)}
    if n >= need:
        thr, achievable, reached = conformal_threshold(s, a), a, True
    else:
        thr, achievable, reached = float(s[-1]), 1.0 / (n + 1), False
    return {"threshold": float(thr), "false_alarm": a, "false_alarm_achievable": float(achievable),
            "reached": bool(reached), "n_calibration": n, "n_needed": need}


def calibration_warning(cal: dict, what: str = "OOD threshold") -> str | None:
    """One sentence for the user when ``cal`` (from :func:`conformal_calibration`) could not reach the
    asked false-alarm rate; None when it did."""
    if cal is None or cal.get("reached", True):
        return None
    return (f"{what}: only {cal['n_calibration']} held-out calibration scans, so the asked false-alarm rate "
            f"{cal['false_alarm']:.0%} cannot be guaranteed (needs ≥ {cal['n_needed']}); the threshold is the "
            f"largest calibration score, which promises at most {cal['false_alarm_achievable']:.1%} false alarms"
            + ("" if "out-of-fold" in str(cal.get("scores", "")) else
               " (--ood-calibration cv adds out-of-fold scores of every training scan)"))


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
        # (k, m), orthonormal rows; C order as after a JSON load, so scores match bit for bit
        self.components_ = np.ascontiguousarray(pca.components_[:k], dtype=np.float64)
        self.n_components_ = k
        self.explained_variance_ratio_ = float(np.sum(pca.explained_variance_ratio_[:k]))
        self.calibrated_on_ = "train" if X_calib is None else "calib"
        calib = X if X_calib is None else np.asarray(X_calib, dtype=np.float64)
        self.calib_scores_ = self.score(calib)
        self.calibrate(self.calib_scores_)
        return self

    def calibrate(self, calib_scores) -> "PCAQResidual":
        """Set ``threshold_`` from Q scores of held-out spectra (:func:`conformal_calibration`:
        finite, with ``calibration_`` saying which false-alarm rate it promises)."""
        self.calib_scores_ = np.asarray(calib_scores, dtype=np.float64).ravel()
        self.calibration_ = conformal_calibration(self.calib_scores_, self.false_alarm)
        self.threshold_ = self.calibration_["threshold"]
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
            "calib_scores_": np.asarray(getattr(self, "calib_scores_", []), dtype=np.float64).tolist(),
            "calibration_": getattr(self, "calibration_", None),
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
        obj.calib_scores_ = np.asarray(d.get("calib_scores_", []), dtype=np.float64)
        obj.calibration_ = d.get("calibration_")
        return obj

    def __repr__(self):
        k = getattr(self, "n_components_", None)
        return f"PCAQResidual(n_components={self.n_components!r}, variance={self.variance}, " \
               f"false_alarm={self.false_alarm}, fitted_k={k})"


# ---------------------------------------------------- residual + latent score
class ResidualLatentScore:
    """A lab model's combined OOD score: standardised reconstruction residual and latent Mahalanobis.

    Fit on the training scans' residuals E (n, m) = R − R̂ and B blocks of latent features
    Z_b (n, d_b) (e.g. the encoder's mass fractions; a fitted water path):

        s_res(e)   = sqrt(mean_j (e_j / σ_j)²),   σ_j = RMS over training scans of E[:, j] (≥ ``floor``)
        s_b(z)     = sqrt((z − μ_b)ᵀ Σ_b⁻¹ (z − μ_b)),  μ_b, Σ_b by scikit-learn's Ledoit–Wolf shrinkage
                     (a one-sided 1-feature block: max(z − μ_b, 0) / σ_b — only "more than usual" counts)
        score      = max(s_res / q_res, s_1 / q_1, …, s_B / q_B)

    q_* are the ``quantile`` quantiles of each part on the training scans, so each part is in
    units of "how far beyond the usual". Why σ_j: a wavelength where the model always misses
    (water bands of a dry library, an instrument's noisy edge) should not dominate; why the
    latent parts: a wet or foreign soil the decoder *can* reconstruct (a water path, an odd
    mixture) still sits far from the training scans' latents; why separate blocks: one strong
    feature (a water path) is not diluted among fifty mass fractions. The score is thresholded
    like any other (``conformal_calibration`` on held-in scans). State is JSON (``get_state``).
    """

    def __init__(self, quantile: float = 0.95, floor: float = 1e-4):
        self.quantile = quantile
        self.floor = floor

    @staticmethod
    def _blocks(features) -> list[np.ndarray]:
        blocks = list(features) if isinstance(features, (list, tuple)) else [features]
        return [np.asarray(z, dtype=np.float64).reshape(len(z), -1) for z in blocks]

    def fit(self, residuals, features, one_sided=None) -> "ResidualLatentScore":
        """``features``: one (n, d) array or a list of blocks (n, d_b); ``one_sided``: per block,
        True for a 1-feature block scored only above its mean (e.g. a water path: a drier scan is
        no alarm, so the whole false-alarm budget goes to the wet side)."""
        from sklearn.covariance import LedoitWolf

        e = np.asarray(residuals, dtype=np.float64)
        blocks = self._blocks(features)
        if e.ndim != 2 or e.shape[0] < 3 or any(z.shape[0] != e.shape[0] for z in blocks):
            raise ValueError(f"residuals (n ≥ 3, m) and features (n, d) disagree: {e.shape} vs "
                             f"{[z.shape for z in blocks]}")
        if not (np.all(np.isfinite(e)) and all(np.all(np.isfinite(z)) for z in blocks)):
            raise ValueError("residuals and features must be finite")
        self.residual_scale_ = np.maximum(np.sqrt(np.mean(e * e, axis=0)), float(self.floor))
        sided = [False] * len(blocks) if one_sided is None else [bool(o) for o in one_sided]
        if len(sided) != len(blocks) or any(o and z.shape[1] != 1 for o, z in zip(sided, blocks)):
            raise ValueError("one_sided needs one flag per block, and one-sided blocks have one feature")
        self.one_sided_ = sided
        fits = [LedoitWolf().fit(z) for z in blocks]
        self.locations_ = [f.location_ for f in fits]
        self.precisions_ = [f.precision_ for f in fits]
        self.quantiles_ = [1.0] * (1 + len(blocks))
        parts = self.parts(e, blocks)
        self.quantiles_ = [max(float(np.quantile(p, self.quantile)), 1e-12) for p in parts]
        return self

    def parts(self, residuals, features) -> list[np.ndarray]:
        """[s_res / q_res, s_1 / q_1, …], each (n,)."""
        e = np.asarray(residuals, dtype=np.float64) / self.residual_scale_
        out = [np.sqrt(np.mean(e * e, axis=1))]
        sided = getattr(self, "one_sided_", None) or [False] * len(self.locations_)
        for z, mu, prec, one in zip(self._blocks(features), self.locations_, self.precisions_, sided):
            zc = z - mu
            if one:
                out.append(np.maximum(zc[:, 0], 0.0) * np.sqrt(prec[0, 0]))
            else:
                out.append(np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", zc, prec, zc), 0.0)))
        return [p / q for p, q in zip(out, self.quantiles_)]

    def score(self, residuals, features) -> np.ndarray:
        """Combined score (n,): the largest of the normalised parts."""
        return np.max(np.vstack(self.parts(residuals, features)), axis=0)

    def get_state(self) -> dict:
        return {"quantile": float(self.quantile), "floor": float(self.floor),
                "residual_scale_": self.residual_scale_.tolist(), "locations_": [m.tolist() for m in self.locations_],
                "precisions_": [p.tolist() for p in self.precisions_], "quantiles_": list(self.quantiles_),
                "one_sided_": list(getattr(self, "one_sided_", [False] * len(self.locations_)))}

    @classmethod
    def from_state(cls, d: dict) -> "ResidualLatentScore":
        obj = cls(quantile=d["quantile"], floor=d["floor"])
        obj.residual_scale_ = np.asarray(d["residual_scale_"], dtype=np.float64)
        obj.locations_ = [np.asarray(m, dtype=np.float64) for m in d["locations_"]]
        obj.precisions_ = [np.asarray(p, dtype=np.float64).reshape(m.size, m.size)
                           for p, m in zip(d["precisions_"], obj.locations_)]
        obj.quantiles_ = [float(q) for q in d["quantiles_"]]
        obj.one_sided_ = [bool(o) for o in d.get("one_sided_", [False] * len(obj.locations_))]
        return obj


class NeighbourExcess:
    """A feature's excess over what reference scans of like composition show.

    Fit on reference scans' covariates C (n, p) (e.g. √ mass fractions) and one feature v (n,)
    (e.g. a fitted liquid-water path). For a scan (c, v):

        c̃          = (c − mean(C)) / sd(C)                      (per column; sd ≥ 1e-12)
        N_k(c)     = the k reference scans nearest to c̃ (Euclidean, scikit-learn NearestNeighbors)
        excess     = v − mean_{j ∈ N_k(c)} v_j

    ``excess(..., leave_self_out=True)`` scores the reference scans themselves without their own
    row among the neighbours (their k nearest *other* scans), so their excesses are out of sample
    like a new scan's. Why: soils differ in how much water their dry spectra hold (clays and
    organic matter keep hygroscopic water; one of the shared libraries shows deeper water bands
    than the others when dry), so one threshold on the water path over a merged library either
    flags the water-rich dry soils or misses slightly moist sandy ones; measured against soils of
    like composition, slight moisture stands out. State is two arrays and k (``get_state``;
    npz-ready, no pickle).
    """

    def __init__(self, n_neighbors: int = 5):
        self.n_neighbors = n_neighbors

    def fit(self, covariates, values) -> "NeighbourExcess":
        c = np.asarray(covariates, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if c.ndim != 2 or c.shape[0] != v.size:
            raise ValueError(f"covariates (n, p) and values (n,) disagree: {c.shape} vs {v.shape}")
        if not isinstance(self.n_neighbors, (int, np.integer)) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be an integer ≥ 1, got {self.n_neighbors!r}")
        if v.size < self.n_neighbors + 1:
            raise ValueError(f"NeighbourExcess needs more than n_neighbors={self.n_neighbors} reference scans, "
                             f"got {v.size}")
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(v))):
            raise ValueError("covariates and values must be finite")
        self.covariates_, self.values_ = c, v
        self._index()
        return self

    def _index(self):
        from sklearn.neighbors import NearestNeighbors
        self.mean_ = self.covariates_.mean(axis=0)
        self.scale_ = np.maximum(self.covariates_.std(axis=0), 1e-12)
        self.nn_ = NearestNeighbors(n_neighbors=int(self.n_neighbors) + 1).fit(
            (self.covariates_ - self.mean_) / self.scale_)

    def baseline(self, covariates, leave_self_out: bool = False) -> np.ndarray:
        """(n,) mean value of each scan's k nearest reference scans (``leave_self_out``: the
        scans are the reference rows, in order, and each skips its own row)."""
        c = np.asarray(covariates, dtype=np.float64)
        if c.ndim != 2 or c.shape[1] != self.covariates_.shape[1]:
            raise ValueError(f"covariates must be (n, {self.covariates_.shape[1]}), got {c.shape}")
        if len(c) == 0:
            return np.zeros(0)
        k = int(self.n_neighbors)
        _, idx = self.nn_.kneighbors((c - self.mean_) / self.scale_)
        if leave_self_out:
            if len(c) != len(self.values_):
                raise ValueError("leave_self_out scores the reference scans themselves")
            own = idx == np.arange(len(c))[:, None]
            # a duplicate scan may come first in the order: drop the own row wherever it is, else the last
            drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
            keep = np.ones_like(idx, dtype=bool)
            keep[np.arange(len(c)), drop] = False
            idx = idx[keep].reshape(len(c), k)
        else:
            idx = idx[:, :k]
        return self.values_[idx].mean(axis=1)

    def excess(self, covariates, values, leave_self_out: bool = False) -> np.ndarray:
        """(n,) value − :meth:`baseline`."""
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        return v - self.baseline(covariates, leave_self_out)

    def get_state(self) -> dict:
        return {"n_neighbors": np.asarray(int(self.n_neighbors)), "covariates": self.covariates_,
                "values": self.values_}

    @classmethod
    def from_state(cls, d) -> "NeighbourExcess":
        obj = cls(n_neighbors=int(np.asarray(d["n_neighbors"])))
        obj.covariates_ = np.asarray(d["covariates"], dtype=np.float64)
        obj.values_ = np.asarray(d["values"], dtype=np.float64).reshape(-1)
        if obj.covariates_.ndim != 2 or obj.covariates_.shape[0] != obj.values_.size \
                or obj.values_.size < obj.n_neighbors + 1:
            raise ValueError("NeighbourExcess state: covariates (n, p) and values (n,) disagree")
        obj._index()
        return obj


# ------------------------------------------------------------------ statistics
def welch_test(a, b) -> tuple[float, float]:
    """Two-sided Welch's unequal-variance t-test of mean(a) vs mean(b) (NaNs dropped).

    t = (ā − b̄) / √(s_a²/n_a + s_b²/n_b), ν = (s_a²/n_a + s_b²/n_b)² /
    ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1)) (Welch–Satterthwaite), p = 2·P(T_ν > |t|).
    Same numbers as ``scipy.stats.ttest_ind(a, b, equal_var=False)``; (nan, nan) when either
    sample has fewer than 2 values or both have zero variance.
    """
    from scipy import stats

    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    na, nb = a.size, b.size
    if na < 2 or nb < 2:
        return float("nan"), float("nan")
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    se2 = va + vb
    if se2 <= 0:
        return float("nan"), float("nan")
    t = (a.mean() - b.mean()) / math.sqrt(se2)
    dof = se2 ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
    p = 2.0 * stats.t.sf(abs(t), dof)
    return float(t), float(p)


def auroc(scores_in, scores_out) -> float:
    """Area under the ROC for telling ``scores_out`` (positives, should score high) from ``scores_in``.

    AUROC = P(S_out > S_in) + ½·P(S_out = S_in) (Mann–Whitney U / (n_in·n_out)); equals
    ``sklearn.metrics.roc_auc_score`` with out = 1. NaNs dropped; nan when either side is empty.
    """
    from scipy.stats import rankdata

    a = np.asarray(scores_in, dtype=np.float64).ravel()
    b = np.asarray(scores_out, dtype=np.float64).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([a, b]))  # average ranks handle ties as ½
    u = ranks[a.size:].sum() - b.size * (b.size + 1) / 2.0
    return float(u / (a.size * b.size))


def binomial_excess_p(n_flagged: int, n: int, false_alarm: float) -> float:
    """One-sided p-value P(X ≥ n_flagged), X ~ Binomial(n, α): is the flag rate above nominal?"""
    from scipy.stats import binom

    if n <= 0:
        return float("nan")
    return float(binom.sf(int(n_flagged) - 1, int(n), float(false_alarm)))


def risk_level(frac_flagged: float, n: int, n_flagged: int, welch_t: float, welch_p: float,
               false_alarm: float = DEFAULT_FALSE_ALARM) -> str:
    """Risk rule (α = nominal false-alarm rate; p_bin = :func:`binomial_excess_p`):

    * **high** — the region is flagged far more often than chance: fraction flagged ≥ 3α and
      p_bin < 0.01, or more than half of its scans flagged (median score above the threshold).
    * **medium** — fraction flagged > α with p_bin < 0.05, or its scores are significantly higher
      than the held-in scores (Welch t > 0 and p < 0.01) even though few cross the threshold.
    * **low** — otherwise (flag rate compatible with α and no significant upward shift).
    """
    if n <= 0 or not np.isfinite(frac_flagged):
        return "unknown"
    p_bin = binomial_excess_p(n_flagged, n, false_alarm)
    if frac_flagged > 0.5 or (frac_flagged >= 3 * false_alarm and p_bin < 0.01):
        return "high"
    if (frac_flagged > false_alarm and p_bin < 0.05) or (
            np.isfinite(welch_t) and welch_t > 0 and np.isfinite(welch_p) and welch_p < 0.01):
        return "medium"
    return "low"


def _carbon_metrics(y, yhat) -> dict:
    """:func:`socspec.metrics.regression_metrics` under the risk table's column names."""
    m = regression_metrics(y, yhat)
    return {"n_labelled": m["n"], "rmse_g_kg": m["rmse"], "r2": m["r2"], "bias_g_kg": m["bias"]}


def region_risk_table(scores, regions, train_scores, threshold, soc_true=None, soc_pred=None,
                      pca_q=None, pca_q_threshold=None, pca_q_train=None,
                      false_alarm: float = DEFAULT_FALSE_ALARM) -> pd.DataFrame:
    """Per-region OOD risk, one row per region (sorted by region name).

    Parameters: ``scores`` (n,) our OOD score (reconstruction RMSE) per scan; ``regions`` (n,)
    labels; ``train_scores`` held-in scores (the calibration set the threshold came from);
    ``threshold`` our calibrated threshold; optional ``soc_true``/``soc_pred`` (n,) in g/kg;
    optional ``pca_q`` (n,), ``pca_q_threshold`` and ``pca_q_train`` for the PCA Q-residual.

    Columns: region, n, mean_score, median_score, n_flagged, frac_flagged, welch_t, welch_p,
    binom_p, risk (rule in :func:`risk_level`); with carbon: n_labelled, rmse_g_kg, r2, bias_g_kg
    (bias = mean(pred − true)); with pca_q: pca_q_mean, pca_q_median, pca_q_frac_flagged,
    pca_q_welch_t, pca_q_welch_p, pca_q_risk.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    regions = np.asarray(pd.Series(regions).astype(str).to_numpy())
    if regions.shape[0] != scores.shape[0]:
        raise ValueError(f"regions has {regions.shape[0]} entries but scores has {scores.shape[0]}")
    train_scores = np.asarray(train_scores, dtype=np.float64).ravel()
    has_c = soc_true is not None and soc_pred is not None
    has_q = pca_q is not None
    if has_q:
        pca_q = np.asarray(pca_q, dtype=np.float64).ravel()
        if pca_q_threshold is None:
            raise ValueError("pca_q given without pca_q_threshold")
    rows = []
    for reg in sorted(pd.unique(regions)):
        m = regions == reg
        s = scores[m]
        fin = np.isfinite(s)
        n = int(m.sum())
        n_flag = int(np.sum(s[fin] > threshold))
        frac = n_flag / fin.sum() if fin.any() else float("nan")
        t, p = welch_test(s, train_scores)
        row = {"region": reg, "n": n,
               "mean_score": float(np.nanmean(s)) if fin.any() else float("nan"),
               "median_score": float(np.nanmedian(s)) if fin.any() else float("nan"),
               "n_flagged": n_flag, "frac_flagged": float(frac), "welch_t": t, "welch_p": p,
               "binom_p": binomial_excess_p(n_flag, int(fin.sum()), false_alarm),
               "risk": risk_level(frac, int(fin.sum()), n_flag, t, p, false_alarm)}
        if has_c:
            row.update(_carbon_metrics(np.asarray(soc_true, dtype=np.float64)[m],
                                       np.asarray(soc_pred, dtype=np.float64)[m]))
        if has_q:
            q = pca_q[m]
            qn = int(np.sum(q > pca_q_threshold))
            qfrac = qn / max(int(np.isfinite(q).sum()), 1)
            qt, qp = (welch_test(q, pca_q_train) if pca_q_train is not None and len(pca_q_train) >= 2
                      else (float("nan"), float("nan")))
            row.update({"pca_q_mean": float(np.nanmean(q)), "pca_q_median": float(np.nanmedian(q)),
                        "pca_q_n_flagged": qn, "pca_q_frac_flagged": float(qfrac),
                        "pca_q_welch_t": qt, "pca_q_welch_p": qp,
                        "pca_q_risk": risk_level(qfrac, int(np.isfinite(q).sum()), qn, qt, qp, false_alarm)})
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ the report
RISK_RULE_TEXT = (
    "Risk per region (α = nominal false-alarm rate of the calibrated threshold; binom_p = P(X ≥ n_flagged) "
    "for X ~ Binomial(n, α)): HIGH when more than half of its scans are flagged, or the fraction flagged is "
    "≥ 3α with binom_p < 0.01; MEDIUM when the fraction flagged exceeds α with binom_p < 0.05, or its scores "
    "are significantly above the held-in scores (Welch t > 0, p < 0.01); LOW otherwise.")


def ood_report(model, table, out_dir, *, region_col: str = "region", force: bool = False,
               title: str | None = None, model_label: str | None = None,
               inputs=()) -> tuple[pd.DataFrame, dict]:
    """Score ``table`` with a fitted ``LabSOCModel`` and write the per-region OOD-risk report.

    Writes into ``out_dir`` (refused if it exists and is not empty, unless ``force``):
    ``index.html`` (self-contained, PNGs embedded), ``report.md``, ``regions.csv`` and
    ``regions.json`` (the :func:`region_risk_table`, same values), ``scans.csv`` (per scan: id,
    region, soc_pred, ood_score, ood_flag, pca_q, pca_q_flag, soc_g_kg when known) and the PNGs
    ``scores_by_region.png``, ``pca_q_by_region.png``, ``residuals_by_region.png`` (mean R − R̂ per
    region), ``map.png`` (when lat/lon exist). Returns ``(region_table, summary_dict)``.
    The report directory is a :class:`socspec.runs.RunDir` (locked; ``force`` replaces it whole;
    a failed report leaves no directory behind; never replaces a directory holding ``table``'s file
    or one of ``inputs``, e.g. the model folder).
    """
    from .runs import RunDir

    with RunDir(out_dir, force=force, inputs=(table.source, *inputs)) as run:
        return _write_ood_report(model, table, run.path, region_col=region_col, title=title,
                                 model_label=model_label)


def _write_ood_report(model, table, out_dir, *, region_col, title, model_label):
    from .outputs import atomic_path, write_json
    from .report import Report, plot_group_mean_spectra, plot_map, plot_scores_by_group

    regions = table.region_labels(region_col)
    out_dir = Path(out_dir)
    frame = model.predict_frame(table).reset_index(drop=True)
    scores = frame["ood_score"].to_numpy(dtype=np.float64)
    threshold = float(frame["ood_threshold"].iloc[0]) if len(frame) else float(model.ood_threshold_)
    val_scores = np.asarray(getattr(model, "val_scores_", []), dtype=np.float64)
    alpha = float(getattr(model, "ood_false_alarm", DEFAULT_FALSE_ALARM))
    q_model = getattr(model, "pca_q_", None)
    pca_q = frame["pca_q"].to_numpy(dtype=np.float64) if "pca_q" in frame else None
    pca_thr = float(q_model.threshold_) if (q_model is not None and pca_q is not None) else None
    pca_train = getattr(q_model, "calib_scores_", None) if q_model is not None else None
    soc_true = table.soc_g_kg if table.has_soc and np.isfinite(table.soc_g_kg).any() else None
    soc_pred = frame["soc_pred"].to_numpy(dtype=np.float64)
    df = region_risk_table(scores, regions, val_scores, threshold,
                           soc_true=soc_true, soc_pred=soc_pred if soc_true is not None else None,
                           pca_q=pca_q, pca_q_threshold=pca_thr, pca_q_train=pca_train, false_alarm=alpha)

    scans = frame.copy()
    scans.insert(1, "region", regions)
    with atomic_path(out_dir / "regions.csv") as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(out_dir / "scans.csv") as tmp:
        scans.to_csv(tmp, index=False)
    summary = {"n_scans": int(len(table)), "n_regions": int(df.shape[0]), "threshold": threshold,
               "false_alarm": alpha, "pca_q_threshold": pca_thr,
               "frac_flagged": float(np.mean(scores > threshold)) if np.isfinite(scores).any() else float("nan"),
               "source": table.source, "model": model_label, "risk_rule": RISK_RULE_TEXT,
               "score": "per-spectrum RMSE of reflectance reconstruction (model grid)",
               "pca_q": "PCA Q-residual (squared reconstruction error on the leading components)"}
    write_json(out_dir / "regions.json", {"summary": summary, "regions": df.to_dict(orient="records")})

    rep = Report(title or "Out-of-distribution risk by region")
    rep.add_text(f"Spectra: {table.source or '(in memory)'} — {len(table)} scans in {df.shape[0]} regions. "
                 f"Model: {model_label or type(model).__name__}. Threshold {threshold:.4g} (reflectance RMSE), "
                 f"calibrated on held-in validation scans at a {alpha:.0%} false-alarm rate.")
    rep.add_text(RISK_RULE_TEXT)
    cols = [c for c in ["region", "n", "mean_score", "median_score", "frac_flagged", "welch_t", "welch_p",
                        "risk", "n_labelled", "rmse_g_kg", "r2", "bias_g_kg", "pca_q_median",
                        "pca_q_frac_flagged", "pca_q_risk"] if c in df.columns]
    rep.add_table(df[cols], "Per-region risk (full table in regions.csv / regions.json)")
    rep.add_figure(plot_scores_by_group(scores, regions, threshold, reference=val_scores,
                                        ylabel="reconstruction RMSE (reflectance)",
                                        title="OOD score by region (dashed: calibrated threshold)"),
                   "scores_by_region", "Our OOD score per scan, by region; first box = held-in validation scans.")
    if pca_q is not None:
        rep.add_figure(plot_scores_by_group(pca_q, regions, pca_thr, reference=pca_train, ylabel="PCA Q",
                                            title="PCA Q-residual by region (dashed: threshold)"),
                       "pca_q_by_region", "The chemometric reference, PCA Q-residual, on the same scans.")
    try:
        resid = np.asarray(model.residuals(table), dtype=np.float64)
        rep.add_figure(plot_group_mean_spectra(model.wavelength_nm_, resid, regions,
                                               title="Mean reconstruction residual per region (±1 sd)"),
                       "residuals_by_region", "Where in the spectrum each region is reconstructed badly "
                                              "(shaded: the water bands near 1400 and 1900 nm).")
    except (ValueError, NotImplementedError, RuntimeError):
        pass  # decoder "none" has no reconstruction
    meta = table.meta
    if {"lat", "lon"} <= set(meta.columns) and meta[["lat", "lon"]].notna().any().all():
        rep.add_figure(plot_map(meta["lat"], meta["lon"], scores, title="OOD score by location",
                                cbar_label="reconstruction RMSE", flagged=scores > threshold),
                       "map", "Scans by position; red rings = flagged.")
    rep.write(out_dir)
    return df, summary
