"""``LabSOCModel`` — the scikit-learn-style lab SOC estimator of seed 003.

Pipeline: SpectralTable → reflectance 0–1 → linear resampling onto the model grid
(``wl_min_nm``..``wl_max_nm`` at ``step_nm``) → encoder (softmax mass fractions, SOC = latent 0)
→ decoder (``none`` | ``ann`` | ``physics``) → eq. 1 loss. After training the held-in validation
split calibrates the OOD threshold (conformal quantile of per-spectrum reconstruction RMSE) and a
PCA Q-residual reference (fitted on **absorbance** log10(1/R) of the model inputs).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, RegressorMixin

# the constraint types sklearn's own estimators declare (public re-exports do not exist yet)
from sklearn.utils._param_validation import HasMethods, Interval, InvalidParameterError, StrOptions

from ..device import autocast, resolve_device
from ..endmembers import EndmemberLibrary, GridEndmembers
from ..errors import SocspecInputError
from ..outputs import atomic_path, write_json
from ..preprocess import SpectralPreprocessor, window_grid
from ..spectra import SpectralTable, reflectance_to_absorbance
from ..units import from_fraction, to_fraction
from . import trainer as _trainer
from .metrics import per_spectrum_rmse
from .models import READOUT_MAX_COMPONENTS, SOC_INDEX, MemberAverage, build_autoencoder
from .splits import group_holdout_mask

DECODERS = ("none", "ann", "physics")
MODEL_FORMAT, MODEL_FORMAT_VERSION = "socspec-lab-model", 1  # manifest.json; config.json "format" = both
_PREDICT_CHUNK = 8192  # rows per forward pass at inference (bounds memory for large libraries)
# training scans of like composition whose mean water path a scan's is measured against (OOD score)
OOD_WATER_NEIGHBOURS = 5


def stacking_weight(y, p, n) -> tuple[float, float]:
    """(λ̂, se) of y − p ≈ λ·d, d = n − p (y: SOC; p: a PLSR's prediction; n: a network's; (N,) each):
    λ̂ = Σ(y − p)d / Σd², se = sqrt(mean((y − p − λ̂d)²) / Σd²); (nan, inf) without evidence
    (Σd² = 0 or fewer than 2 rows). The committee's blend weight is clip(λ̂ − se, 0, 1)
    (:meth:`LabSOCModel._fit_soc_blend`)."""
    y, p, n = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (y, p, n))
    d = n - p
    dd = float(np.dot(d, d))
    if dd <= 0 or y.size < 2:
        return float("nan"), float("inf")
    lam_hat = float(np.dot(y - p, d) / dd)
    return lam_hat, float(np.sqrt(np.mean((y - p - lam_hat * d) ** 2) / dd))


def default_endmembers(name: str = "usgs") -> EndmemberLibrary:
    """The physics decoder's embedded library: ``"usgs"`` (measured USGS v7 records, the default)
    or ``"synthetic"`` (:meth:`socspec.endmembers.EndmemberLibrary.named`)."""
    return EndmemberLibrary.named(name)


def _finite_or_none(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


@contextmanager
def torch_threads(n_threads: int | None):
    """Run the block with ``torch.set_num_threads(n_threads)`` and restore the caller's setting
    afterwards; ``None`` leaves torch's setting alone."""
    if n_threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class LabTrainingData:
    """Model inputs of every training row, as :meth:`LabSOCModel.prepare_training_data` builds them.

    ``reflectance`` (n, M) float32 on the model grid; ``soc_g_kg`` (n,) float64, NaN = unlabelled
    (reconstruction term only); ``validation`` (n,) bool, the held-in rows (early stopping, OOD
    calibration), the same fraction of labelled and of unlabelled rows.
    """

    reflectance: np.ndarray
    soc_g_kg: np.ndarray
    validation: np.ndarray

    def __len__(self) -> int:
        return int(self.reflectance.shape[0])

    @property
    def labelled(self) -> np.ndarray:
        return np.isfinite(self.soc_g_kg)

    def tensors(self, device, rows=None) -> _trainer.TrainData:
        """The trainer's tensors for ``rows`` (bool mask or indices; default all) on ``device``:
        reflectance, SOC mass fraction (0 where unknown), labelled mask."""
        x = self.reflectance if rows is None else self.reflectance[rows]
        soc = self.soc_g_kg if rows is None else self.soc_g_kg[rows]
        return _train_tensors(x, soc, device)

    def split(self, device) -> tuple[_trainer.TrainData, _trainer.TrainData | None]:
        """(training tensors, validation tensors or None when nothing is held in)."""
        val = self.validation
        return self.tensors(device, ~val), (self.tensors(device, val) if val.any() else None)


def _train_tensors(x: np.ndarray, soc_g_kg: np.ndarray, device) -> _trainer.TrainData:
    lab = np.isfinite(soc_g_kg)
    frac = np.where(lab, to_fraction(np.where(lab, soc_g_kg, 0.0)), 0.0)
    return _trainer.TrainData(torch.as_tensor(np.asarray(x, dtype=np.float32), device=device),
                              torch.as_tensor(frac, dtype=torch.float32, device=device),
                              torch.as_tensor(lab, device=device))


def lab_preprocessor(wavelength_nm) -> SpectralPreprocessor:
    """The model's input chain: reflectance 0–1, linearly interpolated onto the model grid (seed 003
    feeds raw reflectance; linear because the grid is usually as fine as the instrument's)."""
    grid = np.asarray(wavelength_nm, dtype=np.float64)
    return SpectralPreprocessor([("reflectance", {}),
                                 ("resample", {"target_wavelength_nm": grid.tolist(), "method": "linear"})])


class LabSOCModel(RegressorMixin, BaseEstimator):
    """Encoder (+ decoder) SOC model, trained on eq. 1 (see module and :mod:`socspec.lab.models`).

    A scikit-learn estimator on :class:`~socspec.spectra.SpectralTable` inputs (``fit(table)``,
    ``predict(table)`` → SOC in g/kg, ``score(table, y)`` = R²); ``clone``, ``get_params`` and
    ``set_params`` work as for any scikit-learn estimator. Hyper-parameters are stored unchanged
    in ``__init__`` and checked against ``_parameter_constraints`` when ``fit`` starts.

    Parameters
    ----------
    decoder : {"physics", "ann", "none"}, default="physics"
        ``physics``: R̂(λ) = Σ_k α_k f_k(λ) with the library's mineral spectra fixed and f_SOC(λ),
        (ρ·r)_SOC learned; ``ann``: an MLP with sigmoid output; ``none``: SOC only, no
        reconstruction (and so no reconstruction-error OOD score).
    hidden : int, default=512
        Width H of the encoder's (and the ANN decoder's) hidden layers.
    n_latent : int or None, default=None
        Number K of latent mass fractions (softmax; latent 0 is SOC). None: minerals in the
        library + 1, the only value the physics decoder accepts.
    endmembers : EndmemberLibrary, GridEndmembers, {"usgs", "synthetic"} or None, default=None
        Mineral spectra and ρ·r for the physics decoder (and for K by default); None or "usgs": the
        embedded measured library (55 USGS v7 records, :meth:`~socspec.endmembers.EndmemberLibrary.usgs`);
        "synthetic": the band-synthesised one (:meth:`~socspec.endmembers.EndmemberLibrary.synthetic`).
    mixing : {"hapke", "linear"}, default="hapke"
        Physics decoder: intimate (Hapke) mixing of single-scattering albedos (:mod:`socspec.lab.mixing`),
        or seed 003's areal mix of reflectances (``"linear"``: with the three options below left at
        None, exactly seed 003's model). Hapke with its per-scan terms and the dark f_SOC start is
        the default because it beat seed 003's model on SOC R² and on reconstruction MRMSE on all
        four shared lab libraries (``examples/lab_physics_ablation.py``; see the README).
    photometric : bool or None, default=None
        Physics decoder: a per-scan brightness factor (grain size, packing, illumination) predicted
        by the encoder beside m̂, so brightness is not pushed into the SOC latent. None: on with
        ``mixing="hapke"``, off with ``"linear"``.
    water : bool or None, default=None
        Physics decoder: a per-scan liquid-water path (Beer–Lambert with liquid water's absorption
        coefficients), so moisture is not pushed into the SOC latent. None: as ``photometric``.
    f_soc_init : {"flat", "dark"} or None, default=None
        Physics decoder: f_SOC starts at 0.5 (seed 003) or at a near-black ramp (0.04 → 0.14).
        None: "dark" with ``mixing="hapke"``, "flat" with ``"linear"``.
    alpha_conversion : bool, default=True
        Mix area fractions α_k = (m̂_k/ρ_k r_k)/Σ_l(m̂_l/ρ_l r_l) (seed 003 eq. 2); False mixes the
        mass fractions directly (the appendix B ablation).
    sigma_soc : float, default=0.0041
        σ_SOC of eq. 1's SOC χ² term, in mass fraction (> 0).
    sigma_reflectance : float, default=0.01
        σ of eq. 1's reconstruction χ² term, in reflectance (> 0).
    wl_min_nm, wl_max_nm : float, default=365.0, 2500.0
        Model window in nm (clipped to the training spectra; ``wl_min_nm < wl_max_nm``).
    step_nm : float or None, default=None
        Model grid step in nm; None: the training data's median step, at least 1 nm.
    epochs : int, default=1000
        Maximum training epochs.
    lr : float, default=1e-4
        Adam learning rate (1e-3 diverges on real libraries with σ_SOC = 0.0041).
    weight_decay : float, default=0.0
        Adam weight decay (L2).
    batch_size : int or None, default=64
        Mini-batch size drawn from the device-resident data; None: full batch.
    val_fraction : float, default=0.1
        Fraction of labelled and of unlabelled rows held in for early stopping and for calibrating
        the OOD thresholds, in [0, 1).
    patience : int or None, default=100
        Early-stopping patience in epochs on the validation loss; None: no early stopping.
    device : str or torch.device, default="auto"
        ``auto`` (CUDA when torch sees a GPU), ``cpu`` or ``cuda[:i]``.
    seed : int, default=0
        Seed of the validation split, the weight initialisation and the mini-batch order.
    ood_false_alarm : float, default=0.05
        Nominal false-alarm rate α of the conformal OOD thresholds, in (0, 1).
    ood_confidence : float or None, default=None
        None: both OOD thresholds (ours and PCA Q) at the split-conformal rank, a false-alarm rate
        ≤ α on average over calibration draws (one draw of ~270 held-in scans scatters ±1.3 % around
        it). A value c in (0, 1): the training-conditional rank (:func:`socspec.ood.training_conditional_rank`,
        Vovk 2012), a rate ≤ α for *this* calibration set with probability ≥ c — fewer false alarms,
        more calibration scans needed (45 instead of 19 at α = 5 %, c = 0.9).
    ood_calibration : {"split", "cv"}, default="split"
        Which held-out scores calibrate the OOD thresholds. ``split``: the held-in scans (cheap;
        needs ≥ (1 − α)/α of them to promise α, see :func:`socspec.ood.conformal_calibration`).
        ``cv``: also out-of-fold scores of every training scan from 5 short refits (grouped by
        sample id, each trained for the final model's best number of epochs) — 5 extra trainings,
        so that small libraries reach α; refits see less data, so their scores err high
        (fewer false alarms than α, not more).
    checkpoint_dir : str, path or None, default=None
        Where training checkpoints are written (and read from with ``fit(..., resume=True)``).
    checkpoint_every : int, default=50
        Epochs between checkpoints.
    progress : bool, default=True
        Show a tqdm progress bar while training.
    n_hidden_layers : int, default=2
        Hidden layers of the encoder (and the ANN decoder).
    init_decoder : bool, default=True
        Start the decoder at the mean training spectrum (physics: the library's best mix of it;
        ANN: its output bias) instead of from scratch.
    n_threads : int or None, default=None
        torch CPU threads while fitting and fine-tuning (the caller's setting is restored
        afterwards); None leaves torch's setting alone.
    n_members : int or None, default=None
        Ensemble: train this many networks (seeds ``seed``, ``seed`` + 1000, …) one after another and
        predict with their average m̂ and R̂ (:class:`~socspec.lab.models.MemberAverage`). With
        ``soc_blend="none"`` they share the data and held-in split (a seed ensemble); with ``"cv"``
        member i trains on all folds but i of the training scans and stops early on fold i. Costs
        ``n_members`` trainings. None: 5 with ``soc_blend="cv"``, else 1.
    soc_readout : {"pls", "pls_fixed", "none"} or None, default=None
        ``pls``: wide & deep SOC head — m̂_SOC is a linear readout of absorbance plus the MLP's SOC
        output, the readout starting at a PLSR fitted on the training rows (components by 5-fold
        CV up to 30; :class:`~socspec.lab.models.LinearSOCReadout`) and trained with the rest.
        ``pls_fixed``: the same with the readout kept at that PLSR (only the deep part learns).
        ``none``: m̂_SOC is the softmax latent alone (seed 003). None: ``pls`` for the physics
        decoder with ``mixing="hapke"``, ``none`` otherwise (``mixing="linear"`` stays seed 003).
    ood_score : {"combined", "reconstruction"}, default="combined"
        The OOD score behind ``ood_flag``. ``reconstruction``: per-scan reconstruction RMSE
        (seed 003). ``combined``: the largest of the standardised reconstruction residual, the
        Mahalanobis distance of the encoder's latents (√m̂ and per-scan terms) from the training
        scans', of (brightness, water path) fitted to the reconstruction ratio, the one-sided
        excess of that water path over training scans of like composition, and the one-sided PCA
        Q-residual, each in units of its training 95 % quantile (:class:`socspec.ood.ResidualLatentScore`;
        :meth:`ood_score_parts`), calibrated on the held-in scans like the RMSE. Decoder ``none``
        has neither.
    soc_blend : {"cv", "none"} or None, default=None
        ``cv``: a cross-validation committee stacked on PLSR. The scans outside the held-in split
        are cut into ``n_members`` folds (sample ids whole); member i trains on the other folds,
        stops early on half of fold i and starts its SOC readout at a PLSR of the other folds. The SOC
        prediction is (1 − λ)·PLSR + λ·(members' mean), PLSR fitted on every labelled training
        scan and λ ∈ [0, 1] the least-squares weight of the members' out-of-fold predictions
        against the other folds' PLSR on the same scans, less its standard error
        (``soc_blend_weight_``; out of fold = the half of fold i that member i's early stopping
        did not see). Why: on 100–500-scan libraries a single network's gain over PLSR is noise
        from split to split (its early stopping sees a few dozen scans); the out-of-fold λ falls
        to PLSR where the networks do not help and keeps them where they do. The held-in split
        then only calibrates the OOD thresholds (no early stopping on it). ``none``: the members'
        mean alone. None: ``cv`` for the physics decoder with ``mixing="hapke"`` (the default
        model), ``none`` otherwise. The OOD score reads the members' own m̂, never the blend's
        (whose PLSR saw the held-in scans' SOC), and the members' readouts never see those scans.
    soc_blend_base : {"auto", "pls"}, default="auto"
        The PLSR of the ``soc_blend="cv"`` blend. ``pls``: on absorbance (components by CV up to
        30). ``auto``: that or the tuned chemometric PLSR (:class:`~socspec.lab.pls.PLSTuned`: SNV
        and/or a Savitzky–Golay first derivative, components up to 30), whichever has the lower CV
        RMSE on the labelled training scans (``soc_blend_base_``); λ is still measured against the
        plain PLSR (what the members' readouts start from), the share 1 − λ goes to the chosen
        one. Why: on nirsoil_belgium the tuned PLSR beats the plain one by 0.09 R², on LimeSoDa
        SSP_460 it loses 0.08 — CV tells them apart. Measured (examples/lab_physics_ablation.py, 3
        seeds, test R² auto / pls): SL_125 0.685 / 0.678, SSP_460 0.456 / 0.456, geeves 0.858 /
        0.856, nirsoil 0.766 / 0.726.

    Attributes
    ----------
    wavelength_nm_ : ndarray (M,)
        The model grid (nm).
    preprocessor_ : SpectralPreprocessor
        The fitted input chain (reflectance, resampling onto ``wavelength_nm_``).
    endmembers_ : GridEndmembers
        The mineral library on the model grid.
    net_ : torch.nn.Module
        The autoencoder.
    n_latent_ : int
        K.
    f_soc_, rho_r_soc_ : ndarray (M,), float
        Learned SOC spectrum and (ρ·r)_SOC in mg m⁻² (physics decoder only).
    history_ : list of dict
        Per-epoch losses.
    ood_threshold_ : float
        Threshold on the OOD score (``ood_score``; reconstruction RMSE in reflectance, or the
        combined score in units of its training 95 % quantile) above which a scan is flagged.
    ood_scorer_ : ResidualLatentScore or None
        The fitted combined score (None with ``ood_score="reconstruction"`` or decoder ``none``).
    ood_water_reference_ : NeighbourExcess or None
        The combined score's water-path baseline: √m̂ and fitted water path of the training scans
        (saved as ood_water_reference.npz); None for other scores and folders saved before it.
    pca_q_ : PCAQResidual
        The chemometric OOD reference (on absorbance of the model inputs).
    val_scores_ : ndarray
        OOD scores of the held-in scans.
    soc_blend_weight_ : float
        λ of ``soc_blend="cv"`` (1.0: the members alone; NaN without the blend).
    soc_blend_base_ : str
        The blend's PLSR: ``pls`` or ``pls_tuned:<pre-treatment>`` (``soc_blend="cv"`` only).
    soc_blend_oof_ : dict
        The stacking data λ was fitted on (``soc_blend="cv"`` only, not saved): ``rows`` (labelled
        fold rows of the training data), out-of-fold SOC mass fractions of the fold's PLSR (``pls``)
        and member (``members``), and ``scored`` (bool: the half of each fold its early stopping
        did not look at, which λ reads); and the labelled held-in rows, out of sample for every
        member and every fold's PLSR: ``held_in_rows``, ``held_in_pls`` (K, n; member i's fold
        PLSR) and ``held_in_members`` (K, n; member i's own m̂_SOC) — so other blend rules (the
        committee's mean on rows none of its members saw) can be scored offline.
    n_labelled_, n_unlabelled_ : int
        Training rows with and without SOC.
    device_ : torch.device
        Where the network lives.
    """

    _parameter_constraints: dict = {
        "decoder": [StrOptions(set(DECODERS))],
        "hidden": [Interval(Integral, 1, None, closed="left")],
        "n_latent": [Interval(Integral, 2, None, closed="left"), None],
        "endmembers": [HasMethods(["resample"]), StrOptions({"usgs", "synthetic"}), None],
        "mixing": [StrOptions({"linear", "hapke"})],
        "photometric": ["boolean", None],
        "water": ["boolean", None],
        "f_soc_init": [StrOptions({"flat", "dark"}), None],
        "alpha_conversion": ["boolean"],
        "sigma_soc": [Interval(Real, 0, None, closed="neither")],
        "sigma_reflectance": [Interval(Real, 0, None, closed="neither")],
        "wl_min_nm": [Interval(Real, 0, None, closed="left")],
        "wl_max_nm": [Interval(Real, 0, None, closed="neither")],
        "step_nm": [Interval(Real, 0, None, closed="neither"), None],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "val_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str, torch.device],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "ood_false_alarm": [Interval(Real, 0, 1, closed="neither")],
        "ood_confidence": [Interval(Real, 0, 1, closed="neither"), None],
        "checkpoint_dir": [str, os.PathLike, None],
        "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
        "progress": ["boolean"],
        "n_hidden_layers": [Interval(Integral, 1, None, closed="left")],
        "init_decoder": ["boolean"],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "n_members": [Interval(Integral, 1, None, closed="left"), None],
        "soc_blend": [StrOptions({"cv", "none"}), None],
        "soc_blend_base": [StrOptions({"auto", "pls"})],
        "ood_calibration": [StrOptions({"split", "cv"})],
        "soc_readout": [StrOptions({"pls", "pls_fixed", "none"}), None],
        "ood_score": [StrOptions({"combined", "reconstruction"})],
    }

    def __init__(self, decoder: str = "physics", hidden: int = 512, n_latent: int | None = None,
                 endmembers=None, alpha_conversion: bool = True, sigma_soc: float = 0.0041,
                 sigma_reflectance: float = 0.01, wl_min_nm: float = 365.0, wl_max_nm: float = 2500.0,
                 step_nm: float | None = None, epochs: int = 1000, lr: float = 1e-4,
                 weight_decay: float = 0.0, batch_size: int | None = 64, val_fraction: float = 0.1,
                 patience: int | None = 100, device: str = "auto", seed: int = 0,
                 ood_false_alarm: float = 0.05, checkpoint_dir=None, checkpoint_every: int = 50,
                 progress: bool = True, n_hidden_layers: int = 2, init_decoder: bool = True,
                 n_threads: int | None = None, mixing: str = "hapke", photometric: bool | None = None,
                 water: bool | None = None, ood_calibration: str = "split", f_soc_init: str | None = None,
                 n_members: int | None = None, soc_readout: str | None = None, ood_score: str = "combined",
                 soc_blend: str | None = None, soc_blend_base: str = "auto", ood_confidence: float | None = None):
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
        self.n_threads = n_threads
        self.mixing = mixing
        self.photometric = photometric
        self.water = water
        self.f_soc_init = f_soc_init
        self.n_members = n_members
        self.ood_calibration = ood_calibration
        self.soc_readout = soc_readout
        self.ood_score = ood_score
        self.soc_blend = soc_blend
        self.soc_blend_base = soc_blend_base
        self.ood_confidence = ood_confidence

    # ------------------------------------------------------------------ params
    def _check_params(self):
        """scikit-learn's check of ``_parameter_constraints`` plus the one cross-parameter rule.
        Raises SocspecInputError (a ValueError) so that the CLI prints it as one line."""
        try:
            self._validate_params()
        except InvalidParameterError as exc:
            raise SocspecInputError(str(exc)) from None
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
        return window_grid(wl, lo, hi, step, aligned=False)  # starts at exactly wl_min_nm when the data reach it

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
        # window, gaps, missing values and a coarser input: socspec.preprocess.check_coverage
        x = np.asarray(self.preprocessor_.transform(table).values, dtype=np.float32)
        bad = ~np.all(np.isfinite(x), axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SocspecInputError(
                f"{int(bad.sum())} spectra have missing values inside the model window "
                f"(first: sample {table.ids[i]!r})", path=table.source, row=i + 2,
                hint="fill or drop those rows (read_spectra(..., drop_bad_rows=True))")
        return x

    # ------------------------------------------------------------------- fit
    def build_network(self, n_wavelengths: int) -> torch.nn.Module:
        """Create ``endmembers_`` (the library on ``wavelength_nm_``), ``n_latent_`` and ``net_``
        (initialised from ``seed``, moved to ``device_``) for inputs of ``n_wavelengths`` bands.
        Needs ``wavelength_nm_`` and ``device_`` (set by :meth:`prepare_training_data`)."""
        self._check_params()
        named = self.endmembers is None or isinstance(self.endmembers, str)
        lib_src = default_endmembers(self.endmembers or "usgs") if named else self.endmembers
        self.endmembers_ = (lib_src if isinstance(lib_src, GridEndmembers) and
                            np.array_equal(lib_src.wavelength_nm, self.wavelength_nm_)
                            else GridEndmembers.from_library(lib_src, self.wavelength_nm_))
        n_min = len(self.endmembers_.names)
        k = int(self.n_latent) if self.n_latent else n_min + 1
        if self.decoder == "physics" and k != n_min + 1:
            raise SocspecInputError(f"the physics decoder needs n_latent = minerals + 1 = {n_min + 1}, got {k}")
        if k < 2:
            raise SocspecInputError(f"n_latent must be ≥ 2 (SOC + at least one other), got {k}")
        self.n_latent_ = k
        members = []
        for i in range(self._n_members()):
            torch.manual_seed(int(self.seed) + 1000 * i)
            members.append(build_autoencoder(
                self.decoder, n_wavelengths, k, int(self.hidden), int(self.n_hidden_layers), self.endmembers_.spectra,
                self.endmembers_.rho_r, self.alpha_conversion, mixing=self.mixing, **self._physics_options(),
                wavelength_nm=self.wavelength_nm_, soc_readout=self._soc_readout() != "none"))
            if self._soc_readout() == "pls_fixed":  # the readout stays the training scans' PLSR
                members[-1].encoder.readout.requires_grad_(False)
        blend = self._soc_blend() == "cv"
        self.net_ = members[0] if len(members) == 1 and not blend else MemberAverage(members, soc_blend=blend)
        self.net_.to(self.device_)
        return self.net_

    def _physics_options(self) -> dict:
        """``photometric``, ``water``, ``f_soc_init`` with None resolved: the per-scan terms and the
        dark f_SOC start come with Hapke mixing; linear mixing stays seed 003's model."""
        hapke = self.mixing == "hapke"
        return {"photometric": hapke if self.photometric is None else bool(self.photometric),
                "water": hapke if self.water is None else bool(self.water),
                "f_soc_init": ("dark" if hapke else "flat") if self.f_soc_init is None else self.f_soc_init}

    def _soc_blend(self) -> str:
        """``soc_blend`` with None resolved (``cv`` for the default physics model only)."""
        if self.soc_blend is not None:
            return self.soc_blend
        return "cv" if self.decoder == "physics" and self.mixing == "hapke" else "none"

    def _n_members(self) -> int:
        """``n_members`` with None resolved (5 for the stacked committee, else 1); the committee needs ≥ 2."""
        n = (5 if self._soc_blend() == "cv" else 1) if self.n_members is None else int(self.n_members)
        if self._soc_blend() == "cv" and n < 2:
            raise SocspecInputError(f"soc_blend='cv' needs n_members ≥ 2 (one per fold), got {n}",
                                    hint="pass soc_blend='none' for a single network")
        return n

    def _soc_readout(self) -> str:
        """``soc_readout`` with None resolved (``pls`` for the default physics model only)."""
        if self.soc_readout is not None:
            return self.soc_readout
        return "pls" if self.decoder == "physics" and self.mixing == "hapke" else "none"

    def _pls_readout_state(self, x: np.ndarray, soc_g_kg: np.ndarray, groups, return_cv: bool = False):
        """A PLSR of SOC mass fraction on absorbance of the labelled rows ``x`` (components by CV up
        to 30, folds keeping ``groups`` whole) as :meth:`LinearSOCReadout.set_from_pls` arguments
        (absorbance mean, rotations, y loadings, y mean, score sd); fewer than 4 rows: the mean.
        ``return_cv``: (state, the chosen count's CV RMSE in mass fraction; inf for the mean)."""
        from .pls import PLSBaseline
        a = reflectance_to_absorbance(np.asarray(x, dtype=np.float64))
        y = to_fraction(np.asarray(soc_g_kg, dtype=np.float64))
        if len(y) < 4:  # too few to choose components: a constant readout at the mean
            state = a.mean(axis=0), np.zeros((a.shape[1], 0)), np.zeros(0), float(y.mean()), np.zeros(0)
            return (state, float("inf")) if return_cv else state
        pls = PLSBaseline(max_components=READOUT_MAX_COMPONENTS, seed=int(self.seed)).fit(a, y, groups=groups)
        mu = a.mean(axis=0)
        rot = pls.pls_.x_rotations_
        state = mu, rot, pls.pls_.y_loadings_.reshape(-1), float(y.mean()), ((a - mu) @ rot).std(axis=0)
        return (state, float(min(pls.cv_rmse_.values()))) if return_cv else state

    def _tuned_readout_state(self, x: np.ndarray, soc_g_kg: np.ndarray, groups,
                             pretreatments=None) -> tuple[tuple, bool, object]:
        """The tuned chemometric PLSR (:class:`~socspec.lab.pls.PLSTuned`: SNV and/or a Savitzky–Golay
        first derivative and up to 30 components, chosen by CV) of SOC mass fraction on absorbance of
        the labelled rows ``x``, as (:meth:`_pls_readout_state`-shaped state, snv, the fitted
        PLSTuned). The derivative is linear, A·S, so it is folded into the rotations (S·v_c) and
        the blend's :class:`~socspec.lab.models.LinearSOCReadout` reproduces PLSTuned's prediction."""
        from ..preprocess import snv_values
        from .pls import PRETREATMENTS, PLSTuned, pretreat
        a = reflectance_to_absorbance(np.asarray(x, dtype=np.float64))
        y = to_fraction(np.asarray(soc_g_kg, dtype=np.float64))
        step = float(np.median(np.diff(self.wavelength_nm_))) if len(self.wavelength_nm_) > 1 else 1.0
        t = PLSTuned(max_components=READOUT_MAX_COMPONENTS, seed=int(self.seed), step_nm=step,
                     pretreatments=PRETREATMENTS if pretreatments is None else pretreatments).fit(a, y, groups=groups)
        snv = t.pretreatment_.startswith("snv")
        a0 = snv_values(a) if snv else a
        rot = t.pls_.x_rotations_
        if t.pretreatment_.endswith("sg1"):  # S (M, M): row j = the derivative of the unit spectrum e_j
            rot = pretreat(np.eye(a.shape[1]), "sg1", t.window_) @ rot
        mu = a0.mean(axis=0)
        return (mu, rot, t.pls_.y_loadings_.reshape(-1), float(y.mean()), ((a0 - mu) @ rot).std(axis=0)), snv, t

    @staticmethod
    def _pls_state_predict(state: tuple, x: np.ndarray) -> np.ndarray:
        """SOC mass fraction (n,) of reflectance ``x`` by a :meth:`_pls_readout_state` PLSR."""
        mu, rot, q, y_mean, _ = state
        a = reflectance_to_absorbance(np.asarray(x, dtype=np.float64))
        return y_mean + ((a - mu) @ rot) @ np.asarray(q, dtype=np.float64)

    def _init_soc_readout(self, x: np.ndarray, soc_g_kg: np.ndarray, groups) -> tuple:
        """Start the linear SOC readout at :meth:`_pls_readout_state` of the labelled rows ``x``;
        returns that state."""
        state = self._pls_readout_state(x, soc_g_kg, groups)
        self.net_.encoder.readout.set_from_pls(*state)
        self.soc_readout_components_ = int(state[1].shape[1])
        return state

    def prepare_training_data(self, table: SpectralTable,
                              unlabeled: SpectralTable | None = None) -> LabTrainingData:
        """Step 1 of :meth:`fit`: check the parameters, choose the device and the model grid, fit the
        input chain (``device_``, ``wavelength_nm_``, ``preprocessor_``) and return the model inputs
        of ``table`` + ``unlabeled`` with a random held-in split of ``val_fraction`` of the labelled
        and of the unlabelled rows (``n_labelled_``, ``n_unlabelled_``, ``val_index_``)."""
        self._check_params()
        if not table.has_soc or not table.labelled_mask().any():
            raise SocspecInputError("no labelled spectra (column soc_g_kg) to train on", path=table.source,
                                    hint="name the carbon column when reading (read_spectra(carbon_col=...))")
        self.device_ = resolve_device(self.device)
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
        # stratified held-in split: the same fraction of labelled and of unlabelled scans, whole
        # sample ids at a time (replicate scans of one soil never on both sides)
        groups = np.asarray(table.ids, dtype=object)
        if unlabeled is not None and len(unlabeled):
            groups = np.concatenate([groups, np.array([f"unlabeled:{i}" for i in unlabeled.ids], dtype=object)])
        val = group_holdout_mask(groups, lab, self.val_fraction, rng)
        self.val_index_ = np.flatnonzero(val)
        self._sample_groups = groups  # out-of-fold OOD calibration keeps replicate scans together
        return LabTrainingData(x, soc, val)

    def initialise_network(self, data: LabTrainingData, fit_rows=None, readout_rows=None) -> None:
        """Step 3a of :meth:`fit`: the encoder's input standardisation, the decoder's start at the
        mean training spectrum (see ``PhysicsDecoder.mixture_prior``; skipped when
        ``init_decoder=False``) and the latent prior at the mean training SOC. ``fit_rows`` (bool,
        default: not held in) are the rows the network trains on; ``readout_rows`` (default: every
        labelled row) those the SOC readout's PLSR is fitted on."""
        tr = ~data.validation if fit_rows is None else np.asarray(fit_rows, dtype=bool)
        x, soc = data.reflectance[tr], data.soc_g_kg[tr]
        self.net_.encoder.set_standardisation(x)
        rest = None
        lab_tr = np.isfinite(soc)
        soc_start = float(np.mean(to_fraction(soc[lab_tr]))) if lab_tr.any() else 0.0
        if self.init_decoder and self.decoder != "none":
            mean_spectrum = x.mean(axis=0)
            if self.decoder == "physics":
                rest = self.net_.decoder.mixture_prior(mean_spectrum, soc_fraction=soc_start)
            else:
                self.net_.decoder.init_mean_spectrum(mean_spectrum)
        if lab_tr.any():
            self.net_.encoder.init_latent_prior(float(np.mean(to_fraction(soc[lab_tr]))), SOC_INDEX,
                                                other_fractions=rest)
        if getattr(self.net_.encoder, "readout", None) is not None and lab_tr.any():
            # every labelled scan, held-in ones too: PLSR on 90 % of a 75-scan library lost 0.04 R²
            # (SL_125); the held-in scans still judge the deep part, which never trains on them
            lab = data.labelled if readout_rows is None else data.labelled & np.asarray(readout_rows, dtype=bool)
            groups = getattr(self, "_sample_groups", None)
            groups = np.asarray(groups)[lab] if groups is not None and len(groups) == len(data) else None
            return self._init_soc_readout(data.reflectance[lab], data.soc_g_kg[lab], groups)
        return None

    def train(self, data: LabTrainingData, resume: bool = False, initialise: bool = True):
        """Step 3 of :meth:`fit`: (``initialise``: :meth:`initialise_network`), eq. 1 training with
        early stopping on the held-in rows, then the OOD calibration on them. ``resume=True``
        continues from ``checkpoint_dir``. With ``soc_blend="cv"`` member i trains on all folds
        but i of the rows outside the held-in split and stops early on fold i; then the blend
        weight λ is fitted on the out-of-fold SOC predictions (see the class docstring)."""
        out: dict = {}
        ensemble = self.net_
        members = list(ensemble.members) if isinstance(ensemble, MemberAverage) else [ensemble]
        blend = self._soc_blend() == "cv"
        fold, stop_half = self._member_folds(data, len(members)) if blend else (None, None)
        oof_pls = np.full(len(data), np.nan)
        oof_net = np.full(len(data), np.nan)
        held = np.flatnonzero(data.validation & data.labelled)
        held_pls, held_net = [], []
        for i, member in enumerate(members):  # members are trained one after another
            self.net_ = member
            if blend:
                fit_rows, stop_rows = ~data.validation & (fold != i), (fold == i) & stop_half
                train_d, val_d = data.tensors(self.device_, fit_rows), data.tensors(self.device_, stop_rows)
            else:
                fit_rows, stop_rows = None, None
                train_d, val_d = data.split(self.device_)
            state = None
            if initialise:  # a committee member's readout never sees the held-in scans' SOC: they
                # calibrate the OOD threshold, which holds only for scans the networks treat as new
                state = self.initialise_network(data, fit_rows=fit_rows, readout_rows=None if fold is None
                                                else (fold != i) & ~data.validation)
            if blend and state is None:  # no readout (or not initialised): the fold's PLSR for λ
                lab = data.labelled & (fold != i) & ~data.validation
                state = self._pls_readout_state(data.reflectance[lab], data.soc_g_kg[lab],
                                                self._row_groups(data)[lab])
            ckpt = self.checkpoint_dir
            if i and ckpt is not None:  # members 1.. checkpoint beside member 0
                ckpt = Path(ckpt) / f"member{i}"
            with torch_threads(self.n_threads):
                res = _trainer.train(
                    member, train_d, val_d, epochs=int(self.epochs), lr=float(self.lr),
                    weight_decay=float(self.weight_decay), batch_size=self.batch_size, patience=self.patience,
                    sigma_soc=self.sigma_soc, sigma_reflectance=self.sigma_reflectance, device=self.device_,
                    seed=int(self.seed) + 1000 * i, checkpoint_dir=ckpt, checkpoint_every=self.checkpoint_every,
                    resume=resume, progress=self.progress, identity=self.run_identity(data))
            if i == 0:
                out = res  # history and best epoch of member 0
            if blend:  # out-of-fold SOC (mass fraction) of this member and of its fold's PLSR on fold i
                # (λ reads the half its early stopping did not look at: the other half is optimistic)
                rows = np.flatnonzero((fold == i) & data.labelled)
                oof_pls[rows] = self._pls_state_predict(state, data.reflectance[rows])
                oof_net[rows] = self._forward_x(data.reflectance[rows], decode=False)[0][:, SOC_INDEX]
                # the held-in scans: out of sample for every member and every fold's PLSR
                held_pls.append(self._pls_state_predict(state, data.reflectance[held]))
                held_net.append(self._forward_x(data.reflectance[held], decode=False)[0][:, SOC_INDEX])
        self.net_ = ensemble
        self.ood_latents_ = "members"  # the OOD score reads the members' own m̂, never the blend's
        if blend:
            scored = ~stop_half
            held_pls, held_net = np.asarray(held_pls, dtype=np.float64), np.asarray(held_net, dtype=np.float64)
            self._fit_soc_blend(data, np.where(scored, oof_pls, np.nan), np.where(scored, oof_net, np.nan))
            rows = np.flatnonzero(np.isfinite(oof_net))
            self.soc_blend_oof_ = {"rows": rows, "pls": oof_pls[rows], "members": oof_net[rows],
                                   "scored": scored[rows], "held_in_rows": held, "held_in_pls": held_pls,
                                   "held_in_members": held_net}
        else:
            self.soc_blend_weight_ = float("nan")
        self.history_ = out["history"]
        self.best_epoch_ = out["best_epoch"]
        self.stopped_early_ = out["stopped_early"]
        self.resumed_from_ = out["resumed_from"]
        val, x = data.validation, data.reflectance
        self._calibrate_ood(x[val] if val.any() else x[~val], x[~val],
                            source="held-in scans" if val.any() else "training scans (in-sample)")
        if self.ood_calibration == "cv":
            self._add_out_of_fold_calibration(data)
        return self

    def _row_groups(self, data: LabTrainingData) -> np.ndarray:
        """Sample id of every row of ``data`` (replicate scans share one); row numbers when unknown."""
        groups = getattr(self, "_sample_groups", None)
        if groups is None or len(groups) != len(data):
            return np.arange(len(data)).astype(str).astype(object)
        return np.asarray(groups, dtype=object)

    def _member_folds(self, data: LabTrainingData, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(fold, stop): fold (0..k−1) of every labelled row outside the held-in split, −1 elsewhere
        (held-in and unlabelled rows: the latter train every member); stop (bool) marks the half of
        each fold's samples its member stops early on (the other half scores it out of fold). Whole
        sample ids per fold and half, seeded by ``seed``."""
        groups = self._row_groups(data)
        rows = np.flatnonzero(data.labelled & ~data.validation)
        uniq = np.unique(groups[rows].astype(str))
        if uniq.size < k:
            raise SocspecInputError(
                f"soc_blend='cv' with {k} members needs at least {k} labelled samples outside the held-in "
                f"split, got {uniq.size}", hint="pass soc_blend='none' (--soc-blend none) or fewer n_members")
        order = np.random.default_rng(int(self.seed) + 7).permutation(uniq.size)
        fold_of = dict(zip(uniq[order], np.arange(uniq.size) % k))
        stop_of = dict(zip(uniq[order], (np.arange(uniq.size) // k) % 2 == 0))
        fold, stop = np.full(len(data), -1), np.zeros(len(data), dtype=bool)
        fold[rows] = [fold_of[str(g)] for g in groups[rows]]
        stop[rows] = [stop_of[str(g)] for g in groups[rows]]
        return fold, stop

    def _fit_soc_blend(self, data: LabTrainingData, oof_pls: np.ndarray, oof_net: np.ndarray) -> None:
        """λ on the out-of-fold rows (y; p: the fold's PLSR on absorbance; n: fold member; mass
        fractions; d = n − p): the least-squares weight λ̂ = Σ(y − p)d / Σd², less one standard
        error se = sqrt(mean((y − p − λ̂d)²) / Σd²), clipped to [0, 1]; and the blend's base PLSR
        on every labelled row. Why the standard error: the members replace PLSR only as far as the
        out-of-fold evidence is clear (the one-standard-error rule, Breiman et al. 1984; Hastie et
        al. 2009 §7.10) — on 100–500 scans λ̂'s noise alone otherwise costs R² against PLSR.

        The base (``soc_blend_base``): ``pls``, the PLSR on absorbance that λ was measured
        against; ``auto``, whichever of that and the tuned chemometric PLSR
        (:class:`~socspec.lab.pls.PLSTuned`) has the lower CV RMSE on the labelled rows
        (``soc_blend_base_``). λ stays measured against the plain PLSR — what the members' own
        readouts start from, so λ is what the networks add to it — and the linear share 1 − λ goes
        to the better linear model. (λ measured against the tuned PLSR instead fell on
        geeves_nsw_vic, where the members beat both PLSRs on test: 0.846 against 0.856, 3 seeds.)

        Why one member's λ and not a committee correction: the test averages K members, but each
        member's noise is mostly that of its readout start (its fold's PLSR, the p subtracted in
        d), so it cancels out of fold; correcting Σd² by the members' spread of d on the held-in
        scans moved nirsoil_belgium 0.766 → 0.773, by the spread of m̂ alone 0.789 but SSP_460
        below PLSR and SL_125 0.742 → 0.687 on fresh seeds; λ from the held-in scans alone cost
        geeves 0.031 (``examples/lab_blend_rules.py``; seeds 0–2, fresh 3–4)."""
        from ..metrics import r2
        lab = data.labelled
        groups = self._row_groups(data)[lab]
        state, cv_plain = self._pls_readout_state(data.reflectance[lab], data.soc_g_kg[lab], groups, return_cv=True)
        snv, base, cv = False, "pls", {"pls": cv_plain}
        if self.soc_blend_base == "auto" and lab.sum() >= 4:
            t_state, t_snv, tuned = self._tuned_readout_state(data.reflectance[lab], data.soc_g_kg[lab], groups)
            cv["pls_tuned"] = float(min(min(r.values()) for r in tuned.cv_rmse_.values()))
            if cv["pls_tuned"] < cv["pls"]:
                state, snv, base = t_state, t_snv, f"pls_tuned:{tuned.pretreatment_}"
        ok = np.isfinite(oof_pls) & np.isfinite(oof_net)
        y = to_fraction(data.soc_g_kg[ok])
        p, n = oof_pls[ok], oof_net[ok]
        d = n - p
        lam_hat, se = stacking_weight(y, p, n)
        if np.isfinite(lam_hat):
            lam = float(np.clip(lam_hat - se, 0.0, 1.0))
        else:  # the members agree with PLSR out of fold (or nothing to weigh): keep them
            lam_hat, se, lam = 1.0, 0.0, 1.0
        self.net_.set_blend(lam, *state, snv=snv)
        self.soc_blend_weight_ = lam
        self.soc_blend_base_ = base
        self.soc_blend_oof_r2_ = {"pls": float(r2(y, p)), "members": float(r2(y, n)),
                                  "blend": float(r2(y, p + lam * d)), "n": int(ok.sum()),
                                  "weight_least_squares": lam_hat, "weight_se": se, "base": base,
                                  "base_cv_rmse_fraction": cv}

    def _add_out_of_fold_calibration(self, data: LabTrainingData, n_folds: int = 5):
        """``ood_calibration="cv"``: out-of-fold reconstruction RMSE and PCA Q of every training row.
        Each fold refits a clone of this model (same parameters, ``best_epoch_ + 1`` epochs, no
        early stopping, no checkpoints) on the other folds' rows; folds keep sample ids whole.
        The scores join the held-in scores in both thresholds."""
        from sklearn.base import clone
        from sklearn.model_selection import GroupKFold

        from ..ood import PCAQResidual
        tr = np.flatnonzero(~data.validation)
        groups = getattr(self, "_sample_groups", None)
        groups = np.arange(len(data))[tr] if groups is None or len(groups) != len(data) else np.asarray(groups)[tr]
        k = min(n_folds, len(np.unique(groups)))
        if k < 2:
            return
        epochs = max(1, int(self.best_epoch_) + 1)
        rec, q = np.full(tr.size, np.nan), np.full(tr.size, np.nan)
        order = np.random.default_rng(int(self.seed)).permutation(tr.size)  # GroupKFold is not seeded
        for fit_pos, out_pos in GroupKFold(n_splits=k).split(order, groups=groups[order]):
            fit_rows, out_pos = tr[order[fit_pos]], order[out_pos]
            out_rows = tr[out_pos]
            m = clone(self).set_params(epochs=epochs, patience=None, checkpoint_dir=None, progress=False,
                                       ood_calibration="split", n_members=1, soc_blend="none")
            m.device_, m.wavelength_nm_, m.preprocessor_ = self.device_, self.wavelength_nm_, self.preprocessor_
            m.endmembers = self.endmembers_
            m.build_network(data.reflectance.shape[1])
            m.train(LabTrainingData(data.reflectance[fit_rows], data.soc_g_kg[fit_rows],
                                    np.zeros(fit_rows.size, dtype=bool)))
            x_out = data.reflectance[out_rows]
            if self.decoder != "none":
                rec[out_pos] = m.ood_scores_inputs(x_out)
            pca = PCAQResidual(false_alarm=self.ood_false_alarm).fit(
                reflectance_to_absorbance(data.reflectance[fit_rows]))
            q[out_pos] = pca.score(reflectance_to_absorbance(x_out))
        if self.decoder != "none":
            self.val_scores_ = np.concatenate([self.val_scores_, rec])
        self.pca_q_.calibrate(np.concatenate([self.pca_q_.calib_scores_, q]))
        self._ood_source += f" + out-of-fold training scans ({k} refits)"
        self._set_ood_threshold(self.val_scores_, self._ood_source)

    # settings that do not change what is trained, so a checkpoint may be resumed under other values
    _RESUME_FREE_PARAMS = ("epochs", "patience", "device", "progress", "checkpoint_dir", "checkpoint_every",
                           "ood_false_alarm", "ood_confidence", "ood_calibration", "n_threads", "endmembers",
                           "wl_min_nm", "wl_max_nm", "step_nm")

    def run_identity(self, data: LabTrainingData) -> dict:
        """What a checkpoint must match to be resumed (:func:`socspec.runs.run_identity`): the training
        rows (inputs, SOC, held-in split), every parameter that changes training (not epochs,
        patience, device …), the endmember library on the grid, and the model grid."""
        from ..runs import content_hash, run_identity
        cfg = {k: v for k, v in self.get_params().items() if k not in self._RESUME_FREE_PARAMS}
        lib = self.endmembers_
        cfg["endmember_library"] = content_hash(list(lib.names), lib.spectra, lib.rho_r)[:16]
        return run_identity(data=[data.reflectance, data.soc_g_kg, data.validation], config=cfg,
                            grid=self.wavelength_nm_)

    def fit(self, table: SpectralTable, unlabeled: SpectralTable | None = None, resume: bool = False):
        """Train on ``table`` (rows with finite ``soc_g_kg`` enter the SOC term; all rows enter the
        reconstruction term) plus ``unlabeled`` scans (reconstruction only). A random
        ``val_fraction`` of labelled and of unlabelled rows is held in for early stopping and
        OOD calibration. ``resume=True`` continues from ``checkpoint_dir``.

        The same as ``data = prepare_training_data(table, unlabeled)``,
        ``build_network(data.reflectance.shape[1])``, ``train(data, resume)``."""
        data = self.prepare_training_data(table, unlabeled)
        self.build_network(data.reflectance.shape[1])
        return self.train(data, resume=resume)

    def _calibrate_ood(self, x_calib: np.ndarray, x_train: np.ndarray, source: str = "held-in scans"):
        """OOD thresholds from the held-in scans (:func:`socspec.ood.conformal_calibration`: the
        conformal quantile at ``ood_false_alarm`` when there are enough of them, otherwise the
        largest score, with ``ood_calibration_["false_alarm_achievable"]`` saying what it promises).
        Without a held-in split the training scans calibrate (in-sample: flags too frequent)."""
        from ..ood import PCAQResidual
        self._ood_source = source
        self.ood_scorer_ = None
        # PCA Q first: the combined score carries it as one of its parts
        self.pca_q_ = PCAQResidual(false_alarm=self.ood_false_alarm).fit(
            reflectance_to_absorbance(x_train), reflectance_to_absorbance(x_calib) if len(x_calib) >= 1 else None)
        if self.decoder == "none":
            self.val_scores_ = np.full(len(x_calib), np.nan)
        else:
            self.ood_water_reference_ = None
            if self.ood_score == "combined" and len(x_train) >= 3:
                from ..ood import ResidualLatentScore
                _, r, m = self._forward_x(x_train, ood=True)
                self.ood_scorer_ = ResidualLatentScore().fit(
                    x_train - r, self._latent_features(x_train, m, r, fit_water_reference=True),
                    one_sided=[False, False, True, True])
            self.val_scores_ = self.ood_scores_inputs(x_calib)
            self.val_recon_rmse_ = self.reconstruction_error_inputs(x_calib)
        self._set_ood_threshold(self.val_scores_, self._ood_source)

    def _set_ood_threshold(self, scores, source: str):
        from ..ood import conformal_calibration
        conf = getattr(self, "ood_confidence", None)
        if conf is not None and len(getattr(self.pca_q_, "calib_scores_", [])):  # the reference by the same rule
            self.pca_q_.calibration_ = conformal_calibration(self.pca_q_.calib_scores_, self.ood_false_alarm, conf)
            self.pca_q_.threshold_ = self.pca_q_.calibration_["threshold"]
        if getattr(self.pca_q_, "calibration_", None) is not None:
            self.pca_q_.calibration_["scores"] = source
        if self.decoder == "none":  # no reconstruction → no score and no threshold (PCA Q only)
            self.ood_threshold_, self.ood_calibration_ = float("nan"), None
            return
        cal = conformal_calibration(scores, self.ood_false_alarm, conf)
        cal["scores"] = source
        self.ood_threshold_, self.ood_calibration_ = cal["threshold"], cal

    def extend_ood_calibration(self, table: SpectralTable):
        """Add scans the model never trained on (e.g. a test split) to the held-in calibration scans
        of both OOD thresholds (reconstruction RMSE and PCA Q), so that small libraries reach the
        asked false-alarm rate. The scans must be exchangeable with the held-in ones: a random
        split of the same library, never another region."""
        self._check_fitted()
        if not len(table):
            return self
        x = self.model_inputs(table)
        if self.decoder != "none":
            self.val_scores_ = np.concatenate([self.val_scores_, self.ood_scores_inputs(x)])
        src = getattr(self, "_ood_source", "held-in scans")
        self._ood_source = src + " + test scans" if not src.endswith("test scans") else src
        self.pca_q_.calibrate(np.concatenate([self.pca_q_.calib_scores_,
                                              self.pca_q_.score(reflectance_to_absorbance(x))]))
        self._set_ood_threshold(self.val_scores_, self._ood_source)
        return self

    def ood_warnings(self) -> list[str]:
        """Sentences for the user when an OOD threshold cannot keep the asked false-alarm rate."""
        from ..ood import calibration_warning
        out = [calibration_warning(getattr(self, "ood_calibration_", None), "OOD threshold"),
               calibration_warning(getattr(self.pca_q_, "calibration_", None), "PCA Q threshold")]
        return [w for w in out if w]

    def ood_summary(self, frame: pd.DataFrame) -> str:
        """One line on a :meth:`predict_frame` result: how many scans each OOD score flags, at which
        threshold and false-alarm rate."""
        n, nq = len(frame), int(frame["pca_q_flag"].sum())
        if self.decoder == "none":
            return (f"{n} spectra scored; decoder 'none' has no reconstruction, so no reconstruction OOD "
                    f"score; {nq} flagged by PCA Q")
        cal = getattr(self, "ood_calibration_", None) or {}
        rate = cal.get("false_alarm_achievable", self.ood_false_alarm)
        what = ("reconstruction RMSE" if getattr(self, "ood_scorer_", None) is None
                else "combined residual/latent score")
        return (f"{n} spectra scored; {int(frame['ood_flag'].sum())} flagged out-of-distribution "
                f"({what} > {self.ood_threshold_:.4g}, ≤ {rate:.1%} false alarms); {nq} by PCA Q")

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
        hist: list = []
        members = list(self.net_.members) if isinstance(self.net_, MemberAverage) else [self.net_]
        for i, member in enumerate(members):
            with torch_threads(self.n_threads):
                _trainer.train(member, _train_tensors(x, np.asarray(soc, dtype=np.float64), self.device_), None,
                               epochs=int(epochs), lr=float(lr or self.lr), weight_decay=float(self.weight_decay),
                               batch_size=self.batch_size, patience=None, sigma_soc=self.sigma_soc,
                               sigma_reflectance=self.sigma_reflectance, device=self.device_,
                               seed=int(self.seed) + 1000 * i, progress=self.progress,
                               history=hist if i == 0 else [], desc="finetune")
        self.history_ = list(self.history_) + [dict(h, phase="finetune") for h in hist]
        return self

    # --------------------------------------------------------------- predict
    def _ood_reads_members(self) -> bool:
        """Whether the OOD latents are the committee members' own m̂ rather than the SOC blend's
        (models fitted since the blend's PLSR ceased to reach the OOD score; older folders: blend)."""
        net = self.net_
        return (isinstance(net, MemberAverage) and net.pls is not None
                and getattr(self, "ood_latents_", "blend") == "members")

    @torch.no_grad()
    def _forward_x(self, x: np.ndarray, decode: bool = True, ood: bool = False):
        """(m̂ (n, K), R̂ (n, M) or None) of model inputs ``x``. ``ood=True`` returns (m̂, R̂, m̂_ood):
        m̂_ood is the latent the OOD score reads — the members' own mean for the stacked committee
        (the blend's PLSR is fitted on every labelled scan, the held-in scans that calibrate the
        threshold too, so blended latents would score those scans in-sample), else m̂."""
        self.net_.eval()
        members = self._ood_reads_members()
        ms, rs, mo = [], [], []
        for s in range(0, len(x), _PREDICT_CHUNK):
            xb = torch.as_tensor(x[s:s + _PREDICT_CHUNK], device=self.device_)
            with autocast(self.device_):
                if decode:
                    m_raw, r = self.net_(xb, blend=False) if members else self.net_(xb)
                else:  # SOC only: skip the decoder
                    m_raw, r = (self.net_.encode(xb, blend=False) if members else self.net_.encode(xb)), None
                m = self.net_.blend_soc(xb, m_raw) if members else m_raw
            ms.append(m.float().cpu().numpy())
            mo.append(m_raw.float().cpu().numpy())
            rs.append(None if r is None else r.float().cpu().numpy())
        empty = np.zeros((0, self.n_latent_), np.float32)
        m = np.concatenate(ms) if ms else empty
        r = None if self.net_.decoder is None or not decode else (
            np.concatenate(rs) if rs else np.zeros((0, len(self.wavelength_nm_)), np.float32))
        if ood:
            return m, r, (np.concatenate(mo) if mo else empty)
        return m, r

    @torch.no_grad()
    def _latent_features(self, x: np.ndarray, m: np.ndarray, r: np.ndarray,
                         fit_water_reference: bool = False) -> list[np.ndarray]:
        """The feature blocks of the combined OOD score: (n, K + n_extra) √m̂ (variance-stabilised
        fractions) with the physics decoder's raw per-scan terms (member 0's encoder); (n, 2)
        log s and d of R ≈ s·R̂·exp(−2κ_w d) fitted to each scan's reconstruction ratio
        (:func:`socspec.lab.mixing.fit_scan_terms`, d unclipped: what the decoder did not reproduce,
        e.g. a foreign mineral's brightness); and (n, 1) d's excess over the mean d of the
        ``OOD_WATER_NEIGHBOURS`` training scans nearest in √m̂ (``ood_water_reference_``, a
        :class:`socspec.ood.NeighbourExcess`; ``fit_water_reference``: ``x`` are the training
        scans, the reference is fitted on them and each is scored without itself; plain d for
        models saved before it, or with too few training scans), scored one-sided (liquid
        water shows here even when the encoder cannot extrapolate its own water term; a drier scan
        is no alarm); and (n, 1) the PCA Q-residual of absorbance (``pca_q_``), also one-sided: what
        the chemometric reference sees beyond the training scans (a subtle wet scan the decoder half
        reproduces). Measured on the merged shared libraries: the one-sided d block lifted simulated
        wet soils flagged from 95 % to 98 %, the Q part to 99 % (seed 0); d over its compositional
        neighbours instead of d alone, 98.7 % → 99.7 % at the same false alarms (8 fits), because
        the dry soils of one library hold more water than the others'; the two-sided pair keeps
        foreign minerals flagged."""
        from .mixing import fit_scan_terms
        s_fit, d_fit = fit_scan_terms(x, r, self.wavelength_nm_, nonnegative=False)
        feats = [np.sqrt(np.clip(m, 0.0, None))]
        enc = self.net_.encoder
        if getattr(enc, "n_extra", 0):
            enc.eval()
            ex = [enc.forward_with_extras(torch.as_tensor(x[s:s + _PREDICT_CHUNK], device=self.device_))[1]
                  .float().cpu().numpy() for s in range(0, len(x), _PREDICT_CHUNK)]
            feats.append(np.concatenate(ex) if ex else np.zeros((0, enc.n_extra), np.float32))
        if fit_water_reference and len(x) > OOD_WATER_NEIGHBOURS:
            from ..ood import NeighbourExcess
            self.ood_water_reference_ = NeighbourExcess(OOD_WATER_NEIGHBOURS).fit(feats[0], d_fit)
        water = getattr(self, "ood_water_reference_", None)
        d_excess = d_fit if water is None else water.excess(feats[0], d_fit, leave_self_out=fit_water_reference)
        blocks = [np.hstack(feats).astype(np.float64), np.column_stack([np.log(s_fit), d_fit]), d_excess[:, None]]
        scorer = getattr(self, "ood_scorer_", None)
        if scorer is None or len(scorer.locations_) > 3:  # models saved before the PCA Q part score without it
            blocks.append(self.pca_q_.score(reflectance_to_absorbance(x))[:, None])
        return blocks

    def ood_scores_inputs(self, x: np.ndarray) -> np.ndarray:
        """OOD score (n,) of model inputs ``x`` (n, M): ``ood_score`` = "combined" (when fitted) or the
        reconstruction RMSE; NaN for decoder='none'."""
        self._check_fitted()
        x = np.asarray(x, dtype=np.float32)
        if self.net_.decoder is None:
            return np.full(len(x), np.nan)
        _, r, m = self._forward_x(x, ood=True)
        return self._score_from(x, m, r)

    def ood_score_parts(self, table: SpectralTable) -> pd.DataFrame:
        """The combined OOD score's parts per scan (``ood_score="combined"``): ``residual``,
        ``latent``, ``ratio`` (brightness and water path fitted to the reconstruction ratio),
        ``water`` (the water path's one-sided excess) and ``pca_q`` (the PCA Q-residual's one-sided
        excess; absent for models saved before it), each in units of its training 95 % quantile;
        ``ood_score`` is their maximum. Only ``id`` for a model scored by reconstruction RMSE."""
        self._check_fitted()
        out = pd.DataFrame({"id": table.ids})
        if getattr(self, "ood_scorer_", None) is None:
            return out
        x = self.model_inputs(table)
        _, r, m = self._forward_x(x, ood=True)
        parts = self.ood_scorer_.parts(np.asarray(x, np.float64) - r, self._latent_features(x, m, r))
        for name, p in zip(("residual", "latent", "ratio", "water", "pca_q"), parts):
            out[name] = p
        return out

    def _score_from(self, x, m, r) -> np.ndarray:
        if getattr(self, "ood_scorer_", None) is None:
            return per_spectrum_rmse(x, r)
        return self.ood_scorer_.score(np.asarray(x, np.float64) - r, self._latent_features(x, m, r))

    def reconstruction_error_inputs(self, x: np.ndarray) -> np.ndarray:
        """Per-spectrum reconstruction RMSE (n,) of model inputs ``x`` (n, M); NaN for decoder='none'."""
        x = np.asarray(x, dtype=np.float32)
        if self.net_.decoder is None:
            return np.full(len(x), np.nan)
        return per_spectrum_rmse(x, self.reconstruct_inputs(x))

    def reconstruct_inputs(self, x: np.ndarray) -> np.ndarray:
        """(n, M) reconstruction R̂ of model inputs ``x`` (n, M) as :meth:`model_inputs` returns them."""
        self._check_fitted()
        return self._forward_x(np.asarray(x, dtype=np.float32))[1]

    def latent(self, table: SpectralTable) -> np.ndarray:
        """(n, K) mass fractions m̂ (column 0 = SOC, then ``endmembers_.names``)."""
        self._check_fitted()
        return self._forward_x(self.model_inputs(table), decode=False)[0]

    @torch.no_grad()
    def scan_terms(self, table: SpectralTable) -> pd.DataFrame:
        """Per-scan physics extras (``photometric=True`` / ``water=True``): ``photometric_scale``
        (brightness factor, 1 = the library mix as is) and ``water_path_um`` (effective liquid-water
        path, µm) — a wet scan shows as a water path beyond the training scans'. Empty frame when
        the decoder has no extras."""
        self._check_fitted()
        dec = self.net_.decoder
        out = pd.DataFrame({"id": table.ids})
        if self.decoder != "physics" or not getattr(dec, "n_extra", 0):
            return out
        self.net_.eval()
        x = torch.as_tensor(self.model_inputs(table), device=self.device_)
        scale, water = dec.scan_terms(self.net_.encoder.forward_with_extras(x)[1])  # member 0 of an ensemble
        if scale is not None:
            out["photometric_scale"] = scale.cpu().numpy().astype(np.float64)
        if water is not None:
            out["water_path_um"] = water.cpu().numpy().astype(np.float64)
        return out

    def predict(self, table: SpectralTable) -> np.ndarray:
        """SOC in g/kg, shape (n,)."""
        return from_fraction(self.latent(table)[:, SOC_INDEX].astype(np.float64))

    def reconstruct(self, table: SpectralTable) -> np.ndarray:
        """(n, M) reconstructed reflectance R̂ on ``wavelength_nm_``."""
        self._check_fitted()
        if self.net_.decoder is None:
            raise ValueError("decoder='none' has no reconstruction; train with decoder='ann' or 'physics'")
        return self.reconstruct_inputs(self.model_inputs(table))

    def residuals(self, table: SpectralTable) -> np.ndarray:
        """(n, M) R − R̂ in reflectance."""
        x = self.model_inputs(table)
        if self.net_.decoder is None:
            raise ValueError("decoder='none' has no reconstruction residuals")
        return x - self.reconstruct_inputs(x)

    def reconstruction_error(self, table: SpectralTable) -> np.ndarray:
        """Per-spectrum reconstruction RMSE (reflectance fraction) — the OOD score; NaN for
        decoder='none'."""
        x = self.model_inputs(table)
        if self.net_.decoder is None:
            return np.full(len(x), np.nan)
        return per_spectrum_rmse(x, self.reconstruct_inputs(x))

    def predict_frame(self, table: SpectralTable) -> pd.DataFrame:
        """id, soc_pred (g/kg), ood_score, ood_threshold, ood_flag, pca_q, pca_q_threshold,
        pca_q_flag (+ soc_g_kg where the table has it). ood_score is NaN for decoder='none'."""
        x = self.model_inputs(table)
        m, r, m_ood = self._forward_x(x, ood=True)
        score = np.full(len(x), np.nan) if r is None else self._score_from(x, m_ood, r)
        q = self.pca_q_.score(reflectance_to_absorbance(x))
        df = pd.DataFrame({"id": table.ids, "soc_pred": from_fraction(m[:, SOC_INDEX].astype(np.float64)),
                           "ood_score": score, "ood_threshold": self.ood_threshold_,
                           "ood_flag": score > self.ood_threshold_, "pca_q": q,
                           "pca_q_threshold": self.pca_q_.threshold_, "pca_q_flag": q > self.pca_q_.threshold_})
        df["recon_rmse"] = np.full(len(x), np.nan) if r is None else per_spectrum_rmse(x, r)
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
            "ood_calibration": getattr(self, "ood_calibration_", None),
            "ood_scorer": None if getattr(self, "ood_scorer_", None) is None else self.ood_scorer_.get_state(),
            "n_labelled": self.n_labelled_, "n_unlabelled": self.n_unlabelled_,
            "best_epoch": self.best_epoch_, "device": str(self.device_),
            "soc_blend_weight": _finite_or_none(getattr(self, "soc_blend_weight_", float("nan"))),
            "soc_blend_oof_r2": getattr(self, "soc_blend_oof_r2_", None),
            "ood_latents": getattr(self, "ood_latents_", "blend"),
            "soc_blend_base": getattr(self, "soc_blend_base_", None),
            "n_parameters": self.n_parameters_, "torch": torch.__version__,
            "pca_q_input": "absorbance log10(1/R) of the model inputs",
        }
        if self.decoder == "physics":
            cfg["rho_r_soc_mg_m2"] = self.rho_r_soc_
        water = getattr(self, "ood_water_reference_", None)
        cfg["ood_water_reference"] = None if water is None else "ood_water_reference.npz"
        if water is not None:
            with atomic_path(path / "ood_water_reference.npz") as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **water.get_state())
        write_json(path / "config.json", cfg)
        write_json(path / "pca_q.json", self.pca_q_.get_state())
        write_json(path / "history.json", self.history_)
        from ..runs import write_manifest
        write_manifest(path, MODEL_FORMAT, MODEL_FORMAT_VERSION)  # last: lists and checksums every file
        return path

    @classmethod
    def load(cls, path, device=None) -> "LabSOCModel":
        """Load an artifact written by :meth:`save` (on ``device``, default: the saved params' device)."""
        from ..ood import PCAQResidual
        from ..runs import ModelFolderError, load_torch, read_json, verify_model_folder
        path = Path(path)
        verify_model_folder(path, MODEL_FORMAT, MODEL_FORMAT_VERSION)  # format, version, checksums
        cfg = read_json(path / "config.json")
        if not isinstance(cfg, dict) or cfg.get("format") != f"{MODEL_FORMAT}/{MODEL_FORMAT_VERSION}" \
                or not isinstance(cfg.get("params"), dict):
            raise ModelFolderError(f"config.json is not a {MODEL_FORMAT} version {MODEL_FORMAT_VERSION} "
                                   f"configuration (format {cfg.get('format') if isinstance(cfg, dict) else None!r})",
                                   path=path, hint="refit the model with this socspec")
        params = dict(cfg["params"])
        if device is not None:
            params["device"] = device
        unknown = sorted(set(params) - set(cls._parameter_constraints))
        if unknown:
            raise ModelFolderError(f"config.json has parameters this socspec does not know: {', '.join(unknown)}",
                                   path=path, hint="it was written by another socspec version; refit or upgrade")
        obj = cls(**params)
        try:
            obj._check_params()
        except SocspecInputError as exc:
            raise ModelFolderError(f"config.json holds invalid parameters ({exc})", path=path) from None
        obj.device_ = resolve_device(obj.device)
        obj.wavelength_nm_ = np.asarray(cfg["wavelength_nm"], dtype=np.float64)
        pre = cfg.get("preprocessing")
        if isinstance(pre, dict) and pre.get("fitted"):
            obj.preprocessor_ = SpectralPreprocessor.from_dict(pre)
        else:  # artifacts written before the chain was saved: refit it on the grid alone
            grid = obj.wavelength_nm_
            obj.preprocessor_ = lab_preprocessor(grid).fit(SpectralTable(grid, np.full((1, grid.size), 0.5)))
        try:
            obj.endmembers = GridEndmembers.load(path / "endmembers.npz")
            obj.build_network(len(obj.wavelength_nm_))
            state = load_torch(path / "weights.pt", map_location=obj.device_, what="weights.pt")
            if isinstance(obj.net_, MemberAverage) and obj.net_.pls is not None and "pls.snv_" not in state:
                state["pls.snv_"] = torch.zeros(())  # committees saved before the tuned blend base: plain PLSR
            obj.net_.load_state_dict(state)
            obj.net_.eval()
            obj.ood_threshold_ = float("nan") if cfg["ood_threshold"] is None else float(cfg["ood_threshold"])
            obj.ood_calibration_ = cfg.get("ood_calibration")
            if cfg.get("ood_scorer") is not None:
                from ..ood import ResidualLatentScore
                obj.ood_scorer_ = ResidualLatentScore.from_state(cfg["ood_scorer"])
            else:
                obj.ood_scorer_ = None
            obj.ood_water_reference_ = None  # folders saved before it: the plain water path
            if cfg.get("ood_water_reference"):
                from ..ood import NeighbourExcess
                with np.load(path / "ood_water_reference.npz", allow_pickle=False) as z:
                    obj.ood_water_reference_ = NeighbourExcess.from_state(z)
            obj.val_scores_ = np.asarray([np.nan if v is None else v for v in cfg["val_scores"]], dtype=np.float64)
            obj.pca_q_ = PCAQResidual.from_state(read_json(path / "pca_q.json"))
            obj.n_labelled_, obj.n_unlabelled_ = cfg["n_labelled"], cfg["n_unlabelled"]
            obj.ood_latents_ = cfg.get("ood_latents", "blend")  # folders saved before: the blend's m̂
            if cfg.get("soc_blend_base") is not None:
                obj.soc_blend_base_ = cfg["soc_blend_base"]
            blend_w = getattr(obj.net_, "blend_weight", None)
            obj.soc_blend_weight_ = float("nan") if blend_w is None else float(blend_w)
        except SocspecInputError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, OSError, AttributeError) as exc:
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
            raise ModelFolderError(f"the model folder does not load: {exc.__class__.__name__}: {first}", path=path,
                                   hint="the folder is damaged or from another socspec version; refit") from None
        obj.best_epoch_ = cfg.get("best_epoch")
        hist = path / "history.json"
        obj.history_ = read_json(hist) if hist.exists() else []
        return obj
