"""Uncertainty for the SpTGNN: β-NLL loss, deep-ensemble combination, post-hoc variance scaling.

* β-NLL (Seitzer et al. 2022): with σ² = exp(log_var),
      ℓ_i = [½ log σ_i² + ½ (y_i − μ_i)² / σ_i²] · stopgrad(σ_i²)^β
  (the bracket is ``torch.nn.GaussianNLLLoss(reduction="none")``, full=False, eps=1e-6 clamp of
  σ²). β = 0 is the plain Gaussian NLL; β = 1 gives the mean a gradient like MSE's; β = 0.5
  (default) interpolates — it stops the NLL from ignoring hard points by inflating their σ².
* Deep ensemble of M members (Lakshminarayanan et al. 2017), means μ_m (M, N), variances
  σ_m² (M, N):  μ = mean_m μ_m;  σ² = mean_m σ_m² (aleatoric) + var_m μ_m (epistemic, ddof = 0).
* Variance scaling (Levi et al. 2022; Laves et al. 2020): one factor s on the predicted σ,
  fitted on a calibration split by minimising the Gaussian NLL of N(μ, (sσ)²), whose minimiser is
  closed-form: s² = mean((y − μ)² / σ²). ECE is :func:`socspec.remote.metrics.regression_ece`.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .metrics import regression_ece

__all__ = ["VarianceScaler", "beta_nll_loss", "combine_ensemble", "regression_ece"]


def beta_nll_loss(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor, beta: float = 0.5,
                  reduction: str = "mean") -> torch.Tensor:
    """β-NLL of ``target`` under N(``mean``, exp(``log_var``)); all three the same shape.

    ``reduction``: "mean" | "sum" | "none" (per-element losses, same shape as ``mean``).
    """
    if not (mean.shape == log_var.shape == target.shape):
        raise ValueError(f"mean {tuple(mean.shape)}, log_var {tuple(log_var.shape)} and target "
                         f"{tuple(target.shape)} must have the same shape")
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    var = log_var.exp()
    loss = torch.nn.GaussianNLLLoss(reduction="none")(mean, target, var)
    if beta > 0:
        loss = loss * var.detach() ** beta
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def combine_ensemble(means, variances) -> dict:
    """Combine M members' Gaussian predictions at N points into one Gaussian per point.

    ``means``, ``variances``: (M, N) arrays or tensors (variances > 0). Returns a dict of (N,)
    arrays/tensors (the input's kind): ``mean`` = mean_m μ_m, ``aleatoric_variance`` =
    mean_m σ_m², ``epistemic_variance`` = var_m μ_m (population, ddof 0), ``variance`` = their sum.
    """
    is_torch = isinstance(means, torch.Tensor)
    mu = means if is_torch else np.asarray(means, dtype=np.float64)
    var = variances if is_torch else np.asarray(variances, dtype=np.float64)
    if mu.ndim != 2 or tuple(mu.shape) != tuple(var.shape):
        raise ValueError(f"means and variances must both be (M, N); got {tuple(mu.shape)} and "
                         f"{tuple(var.shape)}")
    if mu.shape[0] < 1:
        raise ValueError("need at least one ensemble member")
    if (var < 0).any():
        raise ValueError("variances must be >= 0")
    mean = mu.mean(0)
    aleatoric = var.mean(0)
    epistemic = ((mu - mean) ** 2).mean(0)
    return {"mean": mean, "variance": aleatoric + epistemic, "aleatoric_variance": aleatoric,
            "epistemic_variance": epistemic}


class VarianceScaler:
    """σ ↦ s·σ with s fitted on a calibration split (closed-form Gaussian-NLL minimiser).

    ``fit(y, mean, std)`` sets ``scale_`` = s = sqrt(mean((y − μ)²/σ²)); ``transform(std)``
    returns s·σ; ``to_dict``/``from_dict`` round-trip through JSON. Scaling σ by one factor keeps
    the ranking of the uncertainties and cannot change the mean prediction.
    """

    def __init__(self, scale: float | None = None):
        self.scale_ = None if scale is None else float(scale)
        if self.scale_ is not None and not (math.isfinite(self.scale_) and self.scale_ > 0):
            raise ValueError(f"scale must be a finite positive number, got {scale}")

    def fit(self, y, mean, std) -> VarianceScaler:
        y = np.asarray(y, dtype=np.float64).ravel()
        m = np.asarray(mean, dtype=np.float64).ravel()
        s = np.asarray(std, dtype=np.float64).ravel()
        if not (y.shape == m.shape == s.shape):
            raise ValueError(f"y ({y.size}), mean ({m.size}) and std ({s.size}) differ in length")
        if y.size == 0:
            raise ValueError("no calibration points")
        if not (np.all(np.isfinite(y)) and np.all(np.isfinite(m)) and np.all(np.isfinite(s))):
            raise ValueError("y, mean and std must be finite")
        if np.any(s <= 0):
            raise ValueError("std must be > 0")
        self.scale_ = float(np.sqrt(np.mean(((y - m) / s) ** 2)))
        if self.scale_ == 0.0:  # perfect calibration-split fit: σ would collapse; keep it
            self.scale_ = 1.0
        return self

    def _check_fitted(self):
        if self.scale_ is None:
            raise ValueError("VarianceScaler is not fitted: call fit(y, mean, std) first")

    def transform(self, std):
        """s·σ (array or tensor, same kind and shape as ``std``)."""
        self._check_fitted()
        return std * self.scale_

    def transform_variance(self, variance):
        """s²·σ² (the same scaling applied to a variance)."""
        self._check_fitted()
        return variance * self.scale_ ** 2

    def to_dict(self) -> dict:
        self._check_fitted()
        return {"kind": "variance_scaling", "scale": self.scale_}

    @classmethod
    def from_dict(cls, d: dict) -> VarianceScaler:
        if not isinstance(d, dict) or d.get("kind") != "variance_scaling" or "scale" not in d:
            raise ValueError(f"not a variance-scaling calibration: {d!r}")
        return cls(scale=d["scale"])

    def __repr__(self) -> str:
        return f"VarianceScaler(scale={self.scale_})"
