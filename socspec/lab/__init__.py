"""Lab path (seed 003): encoder + none/ann/physics decoders, eq. 1 training, PLSR baseline."""
from __future__ import annotations

__all__ = ["LabSOCModel", "PLSBaseline", "simulate_lab_spectra", "regression_metrics", "mrmse_percent"]


def __getattr__(name):
    # lazy: importing socspec.lab must not import torch until a model is needed
    if name == "LabSOCModel":
        from .estimator import LabSOCModel
        return LabSOCModel
    if name == "PLSBaseline":
        from .pls import PLSBaseline
        return PLSBaseline
    if name == "simulate_lab_spectra":
        from .simulate import simulate_lab_spectra
        return simulate_lab_spectra
    if name in ("regression_metrics", "mrmse_percent"):
        from . import metrics
        return getattr(metrics, name)
    raise AttributeError(f"module 'socspec.lab' has no attribute {name!r}")
