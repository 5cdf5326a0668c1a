"""``LabSOCModel`` — the scikit-learn-style lab SOC estimator of seed 003.

Pipeline: SpectralTable → reflectance 0–1 → linear resampling onto the model grid
(``wl_min_nm``..``wl_max_nm`` at ``step_nm``) → encoder (softmax mass fractions, SOC = latent 0)
→ decoder (``none`` | ``ann`` | ``physics``) → eq. 1 loss. After training the held-in validation
split calibrates the OOD threshold (conformal quantile of per-spectrum reconstruction RMSE) and a
PCA Q-residual reference (fitted on **absorbance** log10(1/R) of the model inputs).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import SocspecInputError
from ..outputs import atomic_path, write_json
from ..preprocess import SpectralPreprocessor
from ..spectra import SpectralTable
from ..units import from_fraction, to_fraction
from . import trainer as _trainer
from .metrics import per_spectrum_rmse
from .models import SOC_INDEX, build_autoencoder

DECODERS = ("none", "ann", "physics")
_PARAM_NAMES = ("decoder", "hidden", "n_hidden_layers", "n_latent", "alpha_conversion", "sigma_soc",
                "sigma_reflectance", "wl_min_nm", "wl_max_nm", "step_nm", "epochs", "lr", "weight_decay",
                "batch_size", "val_fraction", "patience", "device", "seed", "ood_false_alarm",
                "checkpoint_dir", "checkpoint_every", "progress", "init_decoder")
_PREDICT_CHUNK = 8192  # rows per forward pass at inference (bounds memory for large libraries)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise SocspecInputError(f"--device {device} asked for, but torch sees no CUDA GPU",
                                hint="use --device cpu or auto")
    if str(device) not in ("cpu",) and not str(device).startswith("cuda"):
        raise SocspecInputError(f"unknown device {device!r}", hint="use auto, cpu or cuda")
    return torch.device(device)


def default_endmembers():
    """The embedded endmember library (``socspec.endmembers``); if that module is missing, a
    SYNTHETIC stand-in library with a warning (so the lab path still runs)."""
    try:
        from ..endmembers import EndmemberLibrary
    except ImportError:
        import warnings
        from .simulate import synthetic_library
        warnings.warn("socspec.endmembers is not available: using a SYNTHETIC mineral library", stacklevel=2)
        return synthetic_library()
    return EndmemberLibrary.default()


class _GridLibrary:
    """Mineral spectra resampled onto the model grid: what the physics decoder actually uses.
    names (K−1,), spectra (K−1, M) reflectance, rho_r (K−1,) mg m⁻² (ρ g cm⁻³ × r nm)."""

    def __init__(self, names, wavelength_nm, spectra, rho_r):
        self.names = [str(n) for n in names]
        self.wavelength_nm = np.asarray(wavelength_nm, dtype=np.float64)
        self.spectra = np.asarray(spectra, dtype=np.float64)
        self.rho_r = np.asarray(rho_r, dtype=np.float64)

    def resample(self, wavelength_nm) -> "_GridLibrary":
        """Linear interpolation onto another grid (the same interface as EndmemberLibrary.resample)."""
        wl = np.asarray(wavelength_nm, dtype=np.float64)
        return _GridLibrary(self.names, wl, np.stack([np.interp(wl, self.wavelength_nm, s) for s in self.spectra]),
                            self.rho_r)

    @classmethod
    def from_library(cls, lib, wavelength_nm):
        wl = np.asarray(wavelength_nm, dtype=np.float64)
        lib = lib.resample(wl)
        spectra = np.asarray(lib.spectra, dtype=np.float64)
        rho_r = np.asarray(lib.rho_r, dtype=np.float64)
        names = list(lib.names)
        # minerals without a usable spectrum or ρ·r on this grid cannot enter the mixing model
        ok = np.all(np.isfinite(spectra), axis=1) & np.isfinite(rho_r) & (rho_r > 0)
        if not ok.any():
            raise SocspecInputError("no endmember of the library has a complete spectrum and ρ·r on the "
                                    f"model grid {wl[0]:g}–{wl[-1]:g} nm")
        return cls([n for n, k in zip(names, ok) if k], wl, spectra[ok], rho_r[ok])

    def save(self, path):
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, names=np.array(self.names), wavelength_nm=self.wavelength_nm,
                         spectra=self.spectra, rho_r=self.rho_r)

    @classmethod
    def load(cls, path):
        z = np.load(path, allow_pickle=False)
        return cls(z["names"].tolist(), z["wavelength_nm"], z["spectra"], z["rho_r"])


def lab_preprocessor(wavelength_nm) -> SpectralPreprocessor:
    """The model's input chain: reflectance 0–1, linearly interpolated onto the model grid (seed 003
    feeds raw reflectance; linear because the grid is usually as fine as the instrument's)."""
    grid = np.asarray(wavelength_nm, dtype=np.float64)
    return SpectralPreprocessor([("reflectance", {}),
                                 ("resample", {"target_wavelength_nm": grid.tolist(), "method": "linear"})])


class LabSOCModel:
    """Encoder (+ decoder) SOC model, trained on eq. 1 (see module and :mod:`socspec.lab.models`).

    Hyper-parameters are set in ``__init__`` and stored unchanged; learned state ends in ``_``:
    ``wavelength_nm_`` (M,), ``preprocessor_`` (the input chain), ``endmembers_`` (library on the model grid), ``net_`` (torch module),
    ``f_soc_`` (M,) and ``rho_r_soc_`` (physics only), ``history_``, ``ood_threshold_``, ``pca_q_``,
    ``val_scores_``, ``n_labelled_``, ``n_unlabelled_``, ``device_``.
    Predictions are SOC in g/kg.
    """

    def __init__(self, decoder: str = "physics", hidden: int = 512, n_latent: int | None = None,
                 endmembers=None, alpha_conversion: bool = True, sigma_soc: float = 0.0041,
                 sigma_reflectance: float = 0.01, wl_min_nm: float = 365.0, wl_max_nm: float = 2500.0,
                 step_nm: float | None = None, epochs: int = 1000, lr: float = 1e-4,
                 weight_decay: float = 0.0, batch_size: int | None = 64, val_fraction: float = 0.1,
                 patience: int | None = 100, device: str = "auto", seed: int = 0,
                 ood_false_alarm: float = 0.05, checkpoint_dir=None, checkpoint_every: int = 50,
                 progress: bool = True, n_hidden_layers: int = 2, init_decoder: bool = True):
        self.decoder = decoder
        self.hidden = hidden
        self.n_latent = n_latent
        self.endmembers = endmembers
        self.alpha_conversion = alpha_conversion
        self.sigma_soc = sigma_soc
        self.sigma_reflectance = sigma_reflectance
        self.wl_min_nm = wl_min_nm
        self.wl_max_nm = wl_max_nm
        self.step_nm = step_nm
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.patience = patience
        self.device = device
        self.seed = seed
        self.ood_false_alarm = ood_false_alarm
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.progress = progress
        self.n_hidden_layers = n_hidden_layers
        self.init_decoder = init_decoder

    # ------------------------------------------------------------------ params
    def get_params(self, deep: bool = False) -> dict:
        p = {k: getattr(self, k) for k in _PARAM_NAMES}
        p["endmembers"] = self.endmembers
        return p

    def set_params(self, **params):
        for k, v in params.items():
            if k not in _PARAM_NAMES and k != "endmembers":
                raise ValueError(f"unknown LabSOCModel parameter {k!r}")
            setattr(self, k, v)
        return self

    def _check_params(self):
        if self.decoder not in DECODERS:
            raise SocspecInputError(f"decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}")
        for name in ("hidden", "epochs"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise SocspecInputError(f"{name} must be a positive integer, got {v!r}")
        if not 0.0 <= float(self.val_fraction) < 1.0:
            raise SocspecInputError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.sigma_soc <= 0 or self.sigma_reflectance <= 0:
            raise SocspecInputError("sigma_soc and sigma_reflectance must be > 0")
        if self.wl_min_nm >= self.wl_max_nm:
            raise SocspecInputError(f"wl_min_nm {self.wl_min_nm} must be below wl_max_nm {self.wl_max_nm}")

    # ---------------------------------------------------------------- inputs
    def _check_fitted(self):
        if not hasattr(self, "net_"):
            raise RuntimeError("LabSOCModel is not fitted; call fit(table) or LabSOCModel.load(dir)")

    def _make_grid(self, table: SpectralTable) -> np.ndarray:
        wl = table.wavelength_nm
        lo, hi = max(float(self.wl_min_nm), float(wl[0])), min(float(self.wl_max_nm), float(wl[-1]))
        if hi - lo < 10:
            raise SocspecInputError(
                f"the spectra cover {wl[0]:g}–{wl[-1]:g} nm, which does not overlap the model window "
                f"{self.wl_min_nm:g}–{self.wl_max_nm:g} nm", path=table.source)
        step = float(self.step_nm) if self.step_nm else max(1.0, float(table.step_nm() or 1.0))
        n = int(np.floor((hi - lo) / step + 1e-9)) + 1
        return lo + step * np.arange(n)

    def model_inputs(self, table: SpectralTable) -> np.ndarray:
        """(n, M) float32 reflectance 0–1 on the model grid, exactly as the encoder sees it
        (``preprocessor_``, a fitted :class:`~socspec.preprocess.SpectralPreprocessor` saved in the
        artifact). Absorbance inputs are converted (R = 10^−A); the table must cover the model
        window (otherwise :class:`SocspecInputError` naming the file and both windows)."""
        self._check_fitted()
        return self._inputs(table)

    def _inputs(self, table: SpectralTable) -> np.ndarray:
        if not isinstance(table, SpectralTable):
            raise TypeError(f"expected a SpectralTable, got {type(table).__name__}")
        grid = self.wavelength_nm_
        wl = table.wavelength_nm
        step = float(np.median(np.diff(grid))) if grid.size > 1 else 1.0
        if not table.covers(grid[0], grid[-1], tol_nm=max(0.5, 0.5 * step)):
            span = f"{wl[0]:g}–{wl[-1]:g} nm" if wl.size else "no wavelengths"
            raise SocspecInputError(
                f"spectra cover {span} but the model needs {grid[0]:g}–{grid[-1]:g} nm",
                path=table.source, hint="score only spectra measured over the model's whole window "
                "(or retrain the model on the narrower window with --wl-min/--wl-max)")
        x = np.asarray(self.preprocessor_.transform(table).values, dtype=np.float32)
        bad = ~np.all(np.isfinite(x), axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SocspecInputError(
                f"{int(bad.sum())} spectra have missing values inside the model window "
                f"(first: sample {table.ids[i]!r})", path=table.source, row=i + 2,
                hint="fill or drop those rows (read with --drop-bad-rows)")
        return x

    # ------------------------------------------------------------------- fit
    def _build(self, n_wavelengths: int):
        self._check_params()
        lib_src = self.endmembers if self.endmembers is not None else default_endmembers()
        self.endmembers_ = (lib_src if isinstance(lib_src, _GridLibrary) and
                            np.array_equal(lib_src.wavelength_nm, self.wavelength_nm_)
                            else _GridLibrary.from_library(lib_src, self.wavelength_nm_))
        n_min = len(self.endmembers_.names)
        k = int(self.n_latent) if self.n_latent else n_min + 1
        if self.decoder == "physics" and k != n_min + 1:
            raise SocspecInputError(f"the physics decoder needs n_latent = minerals + 1 = {n_min + 1}, got {k}")
        if k < 2:
            raise SocspecInputError(f"n_latent must be ≥ 2 (SOC + at least one other), got {k}")
        self.n_latent_ = k
        torch.manual_seed(int(self.seed))
        self.net_ = build_autoencoder(self.decoder, n_wavelengths, k, int(self.hidden), int(self.n_hidden_layers),
                                      self.endmembers_.spectra, self.endmembers_.rho_r, self.alpha_conversion)
        self.net_.to(self.device_)

    def _set_threads(self):
        if self.device_.type == "cpu":
            torch.set_num_threads(max(1, os.cpu_count() or 1))

    def _train_data(self, x: np.ndarray, soc_g_kg: np.ndarray) -> _trainer.TrainData:
        lab = np.isfinite(soc_g_kg)
        frac = np.where(lab, to_fraction(np.where(lab, soc_g_kg, 0.0)), 0.0)
        d = self.device_
        return _trainer.TrainData(torch.as_tensor(x, device=d), torch.as_tensor(frac, dtype=torch.float32, device=d),
                                  torch.as_tensor(lab, device=d))

    def fit(self, table: SpectralTable, unlabeled: SpectralTable | None = None, resume: bool = False):
        """Train on ``table`` (rows with finite ``soc_g_kg`` enter the SOC term; all rows enter the
        reconstruction term) plus ``unlabeled`` scans (reconstruction only). A random
        ``val_fraction`` of labelled and of unlabelled rows is held in for early stopping and
        OOD calibration. ``resume=True`` continues from ``checkpoint_dir``."""
        self._check_params()
        if not table.has_soc or not table.labelled_mask().any():
            raise SocspecInputError("no labelled spectra (column soc_g_kg) to train on", path=table.source,
                                    hint="name the carbon column with --target-col/--carbon-col")
        self.device_ = resolve_device(self.device)
        self._set_threads()
        rng = np.random.default_rng(int(self.seed))
        self.wavelength_nm_ = self._make_grid(table)
        self.preprocessor_ = lab_preprocessor(self.wavelength_nm_).fit(table)
        x = self._inputs(table)
        soc = np.asarray(table.soc_g_kg, dtype=np.float64)
        if unlabeled is not None and len(unlabeled):
            xu = self._inputs(unlabeled)
            su = unlabeled.soc_g_kg if unlabeled.has_soc else np.full(len(unlabeled), np.nan)
            x = np.concatenate([x, xu])
            soc = np.concatenate([soc, np.asarray(su, dtype=np.float64)])
        lab = np.isfinite(soc)
        self.n_labelled_, self.n_unlabelled_ = int(lab.sum()), int((~lab).sum())
        # stratified held-in split: the same fraction of labelled and of unlabelled scans
        val = np.zeros(len(x), dtype=bool)
        for group in (np.flatnonzero(lab), np.flatnonzero(~lab)):
            n_val = int(round(self.val_fraction * len(group)))
            if n_val and len(group) - n_val >= 1:
                val[rng.choice(group, n_val, replace=False)] = True
        self.val_index_ = np.flatnonzero(val)
        self._build(x.shape[1])
        self.net_.encoder.set_standardisation(x[~val])
        # decoders start at the mean training spectrum (see PhysicsDecoder.mixture_prior)
        rest = None
        if self.init_decoder and self.decoder != "none":
            mean_spectrum = x[~val].mean(axis=0)
            if self.decoder == "physics":
                rest = self.net_.decoder.mixture_prior(mean_spectrum)
            else:
                self.net_.decoder.init_mean_spectrum(mean_spectrum)
        lab_tr = np.isfinite(soc[~val])
        if lab_tr.any():
            self.net_.encoder.init_latent_prior(float(np.mean(to_fraction(soc[~val][lab_tr]))), SOC_INDEX,
                                                other_fractions=rest)
        train_d = self._train_data(x[~val], soc[~val])
        val_d = self._train_data(x[val], soc[val]) if val.any() else None
        out = _trainer.train(
            self.net_, train_d, val_d, epochs=int(self.epochs), lr=float(self.lr),
            weight_decay=float(self.weight_decay), batch_size=self.batch_size, patience=self.patience,
            sigma_soc=self.sigma_soc, sigma_reflectance=self.sigma_reflectance, device=self.device_,
            seed=int(self.seed), checkpoint_dir=self.checkpoint_dir, checkpoint_every=self.checkpoint_every,
            resume=resume, progress=self.progress)
        self.history_ = out["history"]
        self.best_epoch_ = out["best_epoch"]
        self.stopped_early_ = out["stopped_early"]
        self.resumed_from_ = out["resumed_from"]
        self._calibrate_ood(x[val] if val.any() else x[~val], x[~val])
        return self

    def _calibrate_ood(self, x_calib: np.ndarray, x_train: np.ndarray):
        from ..ood import PCAQResidual, conformal_threshold
        if self.decoder == "none":
            self.val_scores_ = np.full(len(x_calib), np.nan)
            self.ood_threshold_ = float("nan")  # no reconstruction → no score
        else:
            self.val_scores_ = per_spectrum_rmse(x_calib, self._reconstruct_x(x_calib))
            self.ood_threshold_ = float(conformal_threshold(self.val_scores_, self.ood_false_alarm))
        absorb = lambda r: -np.log10(np.clip(r.astype(np.float64), 1e-6, None))  # noqa: E731
        self.pca_q_ = PCAQResidual(false_alarm=self.ood_false_alarm).fit(
            absorb(x_train), absorb(x_calib) if len(x_calib) >= 1 else None)

    def finetune(self, table: SpectralTable, unlabeled: SpectralTable | None = None, epochs: int = 25,
                 lr: float | None = None):
        """Continue training on new scans (seed 003 experiment 3): all rows, no validation split,
        no early stopping. OOD thresholds keep their original calibration."""
        self._check_fitted()
        x = self.model_inputs(table)
        soc = table.soc_g_kg if table.has_soc else np.full(len(table), np.nan)
        if unlabeled is not None and len(unlabeled):
            su = unlabeled.soc_g_kg if unlabeled.has_soc else np.full(len(unlabeled), np.nan)
            x = np.concatenate([x, self.model_inputs(unlabeled)])
            soc = np.concatenate([soc, su])
        self._set_threads()
        hist: list = []
        _trainer.train(self.net_, self._train_data(x, np.asarray(soc, dtype=np.float64)), None,
                       epochs=int(epochs), lr=float(lr or self.lr), weight_decay=float(self.weight_decay),
                       batch_size=self.batch_size, patience=None, sigma_soc=self.sigma_soc,
                       sigma_reflectance=self.sigma_reflectance, device=self.device_, seed=int(self.seed),
                       progress=self.progress, history=hist, desc="finetune")
        self.history_ = list(self.history_) + [dict(h, phase="finetune") for h in hist]
        return self

    # --------------------------------------------------------------- predict
    @torch.no_grad()
    def _forward_x(self, x: np.ndarray, decode: bool = True):
        self.net_.eval()
        ms, rs = [], []
        for s in range(0, len(x), _PREDICT_CHUNK):
            xb = torch.as_tensor(x[s:s + _PREDICT_CHUNK], device=self.device_)
            with _trainer.autocast(self.device_):
                if decode:
                    m, r = self.net_(xb)
                else:  # SOC only: skip the decoder
                    m, r = self.net_.encoder(xb), None
            ms.append(m.float().cpu().numpy())
            rs.append(None if r is None else r.float().cpu().numpy())
        m = np.concatenate(ms) if ms else np.zeros((0, self.n_latent_), np.float32)
        r = None if self.net_.decoder is None or not decode else (
            np.concatenate(rs) if rs else np.zeros((0, len(self.wavelength_nm_)), np.float32))
        return m, r

    def _reconstruct_x(self, x):
        return self._forward_x(x)[1]

    def latent(self, table: SpectralTable) -> np.ndarray:
        """(n, K) mass fractions m̂ (column 0 = SOC, then ``endmembers_.names``)."""
        self._check_fitted()
        return self._forward_x(self.model_inputs(table), decode=False)[0]

    def predict(self, table: SpectralTable) -> np.ndarray:
        """SOC in g/kg, shape (n,)."""
        return from_fraction(self.latent(table)[:, SOC_INDEX].astype(np.float64))

    def reconstruct(self, table: SpectralTable) -> np.ndarray:
        """(n, M) reconstructed reflectance R̂ on ``wavelength_nm_``."""
        self._check_fitted()
        if self.net_.decoder is None:
            raise ValueError("decoder='none' has no reconstruction; train with decoder='ann' or 'physics'")
        return self._reconstruct_x(self.model_inputs(table))

    def residuals(self, table: SpectralTable) -> np.ndarray:
        """(n, M) R − R̂ in reflectance."""
        x = self.model_inputs(table)
        if self.net_.decoder is None:
            raise ValueError("decoder='none' has no reconstruction residuals")
        return x - self._reconstruct_x(x)

    def reconstruction_error(self, table: SpectralTable) -> np.ndarray:
        """Per-spectrum reconstruction RMSE (reflectance fraction) — the OOD score; NaN for
        decoder='none'."""
        x = self.model_inputs(table)
        if self.net_.decoder is None:
            return np.full(len(x), np.nan)
        return per_spectrum_rmse(x, self._reconstruct_x(x))

    def predict_frame(self, table: SpectralTable) -> pd.DataFrame:
        """id, soc_pred (g/kg), ood_score, ood_threshold, ood_flag, pca_q, pca_q_threshold,
        pca_q_flag (+ soc_g_kg where the table has it). ood_score is NaN for decoder='none'."""
        x = self.model_inputs(table)
        m, r = self._forward_x(x)
        score = np.full(len(x), np.nan) if r is None else per_spectrum_rmse(x, r)
        q = self.pca_q_.score(-np.log10(np.clip(x.astype(np.float64), 1e-6, None)))
        df = pd.DataFrame({"id": table.ids, "soc_pred": from_fraction(m[:, SOC_INDEX].astype(np.float64)),
                           "ood_score": score, "ood_threshold": self.ood_threshold_,
                           "ood_flag": score > self.ood_threshold_, "pca_q": q,
                           "pca_q_threshold": self.pca_q_.threshold_, "pca_q_flag": q > self.pca_q_.threshold_})
        if table.has_soc:
            df["soc_g_kg"] = table.soc_g_kg
        return df

    # ------------------------------------------------------------ properties
    @property
    def f_soc_(self) -> np.ndarray:
        """Learned SOC spectrum f_SOC(λ) on ``wavelength_nm_`` (physics decoder only)."""
        self._check_fitted()
        if self.decoder != "physics":
            raise AttributeError("f_soc_ exists only for decoder='physics'")
        return self.net_.decoder.f_soc.detach().cpu().numpy().astype(np.float64)

    @property
    def rho_r_soc_(self) -> float:
        """Learned (ρ·r)_SOC in mg m⁻² (physics decoder only)."""
        self._check_fitted()
        if self.decoder != "physics":
            raise AttributeError("rho_r_soc_ exists only for decoder='physics'")
        return float(self.net_.decoder.rho_r_soc.detach().cpu())

    @property
    def n_parameters_(self) -> int:
        self._check_fitted()
        return int(sum(p.numel() for p in self.net_.parameters()))

    # --------------------------------------------------------------- persist
    def save(self, path) -> Path:
        """Write the artifact directory: weights.pt, config.json, endmembers.npz, pca_q.json,
        history.json. Writes are atomic per file."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_path(path / "weights.pt") as tmp:
            torch.save(self.net_.state_dict(), tmp)
        self.endmembers_.save(path / "endmembers.npz")
        params = {k: v for k, v in self.get_params().items() if k != "endmembers"}
        params["checkpoint_dir"] = None if self.checkpoint_dir is None else str(self.checkpoint_dir)
        cfg = {
            "format": "socspec-lab-model/1", "params": params,
            "preprocessing": self.preprocessor_.to_dict(),
            "wavelength_nm": self.wavelength_nm_.tolist(), "n_latent": self.n_latent_,
            "soc_index": SOC_INDEX, "latent_names": ["SOC"] + self.endmembers_.names,
            "ood_threshold": self.ood_threshold_, "val_scores": self.val_scores_.tolist(),
            "n_labelled": self.n_labelled_, "n_unlabelled": self.n_unlabelled_,
            "best_epoch": self.best_epoch_, "device": str(self.device_),
            "n_parameters": self.n_parameters_, "torch": torch.__version__,
            "pca_q_input": "absorbance log10(1/R) of the model inputs",
        }
        if self.decoder == "physics":
            cfg["rho_r_soc_mg_m2"] = self.rho_r_soc_
        write_json(path / "config.json", cfg)
        write_json(path / "pca_q.json", self.pca_q_.get_state())
        write_json(path / "history.json", self.history_)
        return path

    @classmethod
    def load(cls, path, device=None) -> "LabSOCModel":
        """Load an artifact written by :meth:`save` (on ``device``, default: the saved params' device)."""
        from ..ood import PCAQResidual
        path = Path(path)
        cfg_path = path / "config.json"
        if not cfg_path.exists():
            raise SocspecInputError("not a lab model directory (config.json missing)", path=path,
                                    hint="pass the model/ folder written by socspec fit-lab")
        cfg = json.loads(cfg_path.read_text())
        params = dict(cfg["params"])
        if device is not None:
            params["device"] = device
        obj = cls(**params)
        obj.device_ = resolve_device(obj.device)
        obj.wavelength_nm_ = np.asarray(cfg["wavelength_nm"], dtype=np.float64)
        pre = cfg.get("preprocessing")
        if isinstance(pre, dict) and pre.get("fitted"):
            obj.preprocessor_ = SpectralPreprocessor.from_dict(pre)
        else:  # artifacts written before the chain was saved: refit it on the grid alone
            grid = obj.wavelength_nm_
            obj.preprocessor_ = lab_preprocessor(grid).fit(SpectralTable(grid, np.full((1, grid.size), 0.5)))
        obj.endmembers = _GridLibrary.load(path / "endmembers.npz")
        obj._build(len(obj.wavelength_nm_))
        obj.net_.load_state_dict(torch.load(path / "weights.pt", map_location=obj.device_, weights_only=True))
        obj.net_.eval()
        obj.ood_threshold_ = float("nan") if cfg["ood_threshold"] is None else float(cfg["ood_threshold"])
        obj.val_scores_ = np.asarray([np.nan if v is None else v for v in cfg["val_scores"]], dtype=np.float64)
        obj.pca_q_ = PCAQResidual.from_state(json.loads((path / "pca_q.json").read_text()))
        obj.n_labelled_, obj.n_unlabelled_ = cfg["n_labelled"], cfg["n_unlabelled"]
        obj.best_epoch_ = cfg.get("best_epoch")
        hist = path / "history.json"
        obj.history_ = json.loads(hist.read_text()) if hist.exists() else []
        return obj
