"""A fast stand-in with LabSOCModel's OOD interface, and a tiny soil-spectra generator, for OOD tests.

The stand-in is a linear autoencoder (PCA) + ridge regression: its reconstruction error behaves like the
lab model's (small on spectra like the training ones, large on new mineralogy / water bands), so the
experiment and report plumbing can be tested in milliseconds. The real model is exercised in
tests/test_ood_lab.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge

from socspec.ood import PCAQResidual, conformal_threshold
from socspec.spectra import SpectralTable

WL = np.arange(1100.0, 2500.0, 10.0)


def water_bands(wl=WL, width=25.0):
    return np.exp(-0.5 * ((wl - 1450.0) / width) ** 2) + np.exp(-0.5 * ((wl - 1940.0) / width) ** 2)


def make_regions(rng, sizes: dict, wl=WL, shifted=(), noise=0.002):
    """Reflectance of mixtures of 4 broad components + a dark SOC component; SOC (g/kg) = 200·m_soc.
    Regions in ``shifted`` get an extra mineral (a 2200 nm trough) the others never show."""
    centres = np.array([1200.0, 1600.0, 2000.0, 2400.0])
    basis = 0.3 + 0.4 * np.exp(-0.5 * ((wl[None, :] - centres[:, None]) / 250.0) ** 2)
    f_soc = 0.05 + 0.03 * (wl - wl[0]) / (wl[-1] - wl[0])
    extra = 0.5 - 0.3 * np.exp(-0.5 * ((wl - 2200.0) / 40.0) ** 2)
    vals, soc, reg = [], [], []
    for name, n in sizes.items():
        m_soc = rng.uniform(0.005, 0.06, n)
        w = rng.dirichlet(np.ones(4), n) * (1 - m_soc)[:, None]
        r = w @ basis + m_soc[:, None] * f_soc
        if name in shifted:
            a = rng.uniform(0.3, 0.5, n)[:, None]
            r = (1 - a) * r + a * extra
        vals.append(r + rng.normal(0, noise, r.shape))
        soc.append(200.0 * m_soc)
        reg += [name] * n
    vals = np.vstack(vals)
    meta = pd.DataFrame({"id": [f"s{i}" for i in range(len(reg))], "soc_g_kg": np.concatenate(soc),
                         "region": reg})
    return SpectralTable(wl, vals, "reflectance", meta, source="synthetic.csv")


class FakeLabModel:
    """PCA autoencoder + ridge; the attributes and methods ``socspec.ood``/experiments use."""

    def __init__(self, n_components=5, val_fraction=0.25, seed=0, ood_false_alarm=0.05, progress=False):
        self.n_components = n_components
        self.val_fraction = val_fraction
        self.seed = seed
        self.ood_false_alarm = ood_false_alarm
        self.progress = progress

    def model_inputs(self, table):
        return table.as_reflectance().values.astype(np.float64)

    def fit(self, table, unlabeled=None):
        X = self.model_inputs(table)
        rng = np.random.default_rng(self.seed)
        idx = rng.permutation(len(X))
        n_val = max(int(round(self.val_fraction * len(X))), 20)
        val, tr = idx[:n_val], idx[n_val:]
        self.wavelength_nm_ = table.wavelength_nm.copy()
        self.pca_ = PCA(self.n_components).fit(X[tr])
        y = table.soc_g_kg
        lab = tr[np.isfinite(y[tr])]
        self.reg_ = Ridge(alpha=1e-6).fit(self.pca_.transform(X[lab]), y[lab])
        self.val_scores_ = self._rmse(X[val])
        self.ood_threshold_ = conformal_threshold(self.val_scores_, self.ood_false_alarm)
        A = -np.log10(X)
        self.pca_q_ = PCAQResidual(n_components=self.n_components, false_alarm=self.ood_false_alarm).fit(A[tr], A[val])
        self.f_soc_ = None
        return self

    def _rmse(self, X):
        r = X - self.pca_.inverse_transform(self.pca_.transform(X))
        return np.sqrt(np.mean(r ** 2, axis=1))

    def residuals(self, table):
        X = self.model_inputs(table)
        return X - self.pca_.inverse_transform(self.pca_.transform(X))

    def reconstruction_error(self, table):
        return self._rmse(self.model_inputs(table))

    def predict(self, table):
        return self.reg_.predict(self.pca_.transform(self.model_inputs(table)))

    def predict_frame(self, table):
        X = self.model_inputs(table)
        s = self._rmse(X)
        q = self.pca_q_.score(-np.log10(X))
        df = pd.DataFrame({"id": table.ids, "soc_pred": self.predict(table), "ood_score": s,
                           "ood_threshold": self.ood_threshold_, "ood_flag": s > self.ood_threshold_,
                           "pca_q": q, "pca_q_threshold": self.pca_q_.threshold_,
                           "pca_q_flag": q > self.pca_q_.threshold_})
        if table.has_soc:
            df["soc_g_kg"] = table.soc_g_kg
        return df

    def finetune(self, table, unlabeled=None, epochs=25, lr=None):
        X = self.model_inputs(table)
        y = table.soc_g_kg
        lab = np.isfinite(y)
        Z = self.pca_.transform(X[lab])
        self.reg_ = Ridge(alpha=1e-6).fit(Z, y[lab])
        return self
