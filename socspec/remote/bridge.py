"""The bridge: the lab spectral autoencoder on satellite sensor bands (DESIGN.md, "The bridge").

:class:`SensorBandAutoencoder` is the lab model's encoder and decoder (:func:`socspec.lab.models.
build_autoencoder`, trained by :func:`socspec.lab.trainer.train` on the reconstruction term of
eq. 1) on B sensor bands instead of an ASD grid. Shapes: band spectra ``R`` (n, B) reflectance
0–1 (Sentinel-2 L2A: B = 12, B1…B12 without B10, :func:`socspec.preprocess.sensor_bands`); latent
``m̂`` (n, K) fractions (softmax, rows sum to 1); reconstruction ``R̂`` (n, B).

**Physics decoder on bands.** Every endmember spectrum f_k(λ) is convolved with the sensor's band
responses (:meth:`socspec.endmembers.EndmemberLibrary.to_sensor`: Gaussian responses from band
centres and FWHM through ``spectral.BandResampler``), F_kb = ∫ f_k(λ) s_b(λ) dλ / ∫ s_b(λ) dλ.
Linear mixing commutes with that convolution, so R̂_ib = Σ_k α_ik F_kb is exactly the band
convolution of the mixed spectrum. A pixel is not a lab powder, so the library is the lab one's
minerals plus two cover endmembers from ``earthlib`` (MIT; Kim, ``earth-chris/earthlib``,
``earthlib/data/spectra.sli`` + ``spectra.csv``, read by :func:`socspec.lab.unlabeled.earthlib_library`):

* ``green_vegetation`` — the median of earthlib's 2,000 PROSAIL canopy spectra (LEVEL_2 "vegetation");
* ``npv`` — the median of its non-photosynthetic litter/residue spectra (LEVEL_2 "npv", LEVEL_3
  "litter" or "npv"; bark and wood left out: they are not field residue);

and soil moisture is the lab decoder's per-pixel liquid-water path (``water=True``: R̂ ← R̂·exp(−2 κ_w d),
κ_w at the band centre — an approximation inside wide bands such as B12), with a per-pixel
brightness factor (``photometric=True``: illumination, slope). Latent 0 (the lab model's SOC slot,
``SOC_INDEX``) is a learned dark organic spectrum (f_SOC); no SOC labels are used here — SOC is
the SpTGNN's job; the bridge gives it spectral similarity (``latent``) and trust (``flag``).
Mixing is areal (``mixing="linear"``) and, by default, of area fractions directly
(``alpha_conversion=False``: canopy and residue cover are areas, not mineral masses).

**OOD.** Two terms, one score, one threshold:

* the reconstruction error e_i = RMSE over the bands of R_i − R̂_i (the lab path's score): it sees
  what the decoder cannot explain — moisture beyond the water path, a material outside the library;
* a novelty term for what the decoder *can* explain: a new mixture of library minerals reconstructs
  well, so e alone misses a region of other mineralogy. With ``novelty="knn"`` (default) the score
  is the mean Euclidean distance to the ``novelty_k`` nearest training pixels in the whitened space
  of u_i = [log R_i1 … log R_iB, log e_i], (u − μ)·V (Λ + τ)^−½ with μ, VΛVᵀ the training pixels'
  mean and covariance — kNN under the training Mahalanobis metric (τ = 0), with the reconstruction
  error as one more coordinate. τ (``novelty_floor``: the 6th largest eigenvalue λ₆) is a noise
  floor: directions with less variance than the leading few are mostly pixel noise, and plain
  whitening would blow them up to the same weight as the ones that carry a soil's colour. Log
  reflectance because a mineral's absorption scales a band by a factor
  (and the covers multiply through); kNN rather than one Gaussian because the training pixels
  form several clusters (regions, land covers), between which a new soil can fall.
  ``novelty="none"`` keeps the reconstruction error alone.
* ``novelty="combined"`` adds a second kNN distance, in log bands standardised band by band
  (z_ib = (log R_ib − m_b)/s_b, no whitening), and sums the two, each divided by its 95 %
  quantile over the training pixels (leave-one-out: a pixel is not its own neighbour), as
  :class:`socspec.ood.ResidualLatentScore` puts its parts on one scale. Why: whitening gives the
  ~6 near-noise directions of 13 the same weight as the two that carry a soil's colour, which
  dilutes a shift seen mostly in those two; the standardised distance keeps them dominant (and
  loses shifts seen only in the near-noise directions, such as soil under dense forest).

Measured on the simulated planted regions (``benchmarks/bench_bridge.py``, seeds 0–9, 5 % false
alarms; 12 bands): a wet region is flagged 100 % by every score; a volcanic (mafic) soil region
in a training-like climate 62 % by ``"knn"`` (47 % before the whitening floor, seeds 0–4;
reconstruction error alone 14 %) and 68 % by ``"combined"``, a tropical soil under forest 54 % vs
35 % — a trade, not a free gain. A random forest *told which pixels are volcanic* catches 88 %
(mean of the ten seeds), so no unsupervised per-pixel score can be expected to catch ≥ 90 % here.
Also tried and worse or no better (seeds 0–4, before the floor): kNN or Mahalanobis on the latent
abundances (36 %; 12 bands cannot pin down ~60 abundances),
log-derivative features (37 %), scikit-learn's LocalOutlierFactor (38 %), a Gaussian mixture
(≤ 54 %), IsolationForest (36 %), PCA-truncated whitening (≤ 60 %). The threshold is the
split-conformal one the lab path uses (:func:`socspec.ood.conformal_calibration`) on the score of
held-in pixels of the fine-tuning spectra (never in the kNN reference), at ``false_alarm``.

**Shift score of a whole corpus** (:meth:`SensorBandAutoencoder.shift_frame`). When the points to
judge are at hand together (a corpus, an ``ood-report``), a classifier can learn *which* direction
separates them from the training pixels — what the kNN score, which must weigh every direction
alike, cannot. A random forest (scikit-learn) is told "training pixel" (0) versus "query or
held-in calibration pixel" (1) on features [u, whitened u]; a pixel's score is its out-of-bag
probability of 1 (never from a tree that saw it). In-distribution query pixels and the held-in
calibration pixels are both class 1 and exchangeable, so the split-conformal threshold of the
calibration pixels' scores keeps their false-alarm rate ≤ α; a region of the query unlike the
training pixels is what the forest can tell apart, and it scores high (a classifier two-sample
test read point by point: Lopez-Paz & Oquab 2017; Rabanser et al. 2019). Its scores depend on
the query set (transductive): with only a few shifted pixels in it the forest has little to learn,
and the false-alarm promise is for query pixels drawn like the training ones — a corpus that holds
some in-distribution sub-populations in other proportions than the training set (a region left out,
one oversampled) sees more alarms in the over-represented ones, since "unlike the training mix" is
what the forest learns. Measured (same bench, seeds 0–9): volcanic 83 %, tropic under forest 65 %,
wet 100 %, false alarms 4.2 % on a corpus of all held-out in-distribution points, but 6.7 % on the
north/south/east points of a corpus without the west ones — near the ceiling of a forest *told*
which pixels are volcanic (88 %; tropic 66 %).

**Area scores** (``area_k`` of :meth:`SensorBandAutoencoder.score_frame` / :meth:`~SensorBandAutoencoder.
shift_frame`, :meth:`~SensorBandAutoencoder.area_frame`). A shifted region is contiguous, and a soil
mapper wants to know *where* the map is not to be trusted: each judged point's score (per-point OOD or
shift score) is averaged with those of its nearest judged points (``area_k`` = 10 with itself, within
``AREA_RADIUS_KM`` = 60 km; :func:`spatial_pool`). The calibration pixels (their positions are kept at
fit: ``fit(..., lat_deg, lon_deg)``) join the judged points and are pooled by the same rule, so their
pooled scores stay exchangeable with those of in-distribution judged points and the split-conformal
threshold of theirs keeps the false-alarm promise. Trade-offs: a lone shifted point among
in-distribution neighbours is averaged away (the per-point flags stay for it); a shift in time at
trained places (the same fields, wet) pools with the calibration pixels there, which lifts the
threshold (simulated wet west: per point 100 %, as an area ~50 %); and false alarms come in
spatial clusters (an area either trips or not), so one corpus's rate scatters more than per point.
Measured (``benchmarks/bench_bridge.py``, seeds 0–9, ``area_k`` 10 and 60 km, chosen on seeds 0–7
among k 5/10/20 and 60 km/no radius): the area shift score flags the volcanic region 99.9 % and the
tropic one 98.0 % at 4.8 % false alarms (area OOD score: 96.7 % / 95.5 %); with a quarter of one
training region held out as a contiguous in-distribution area, 5.2 % false alarms on the scattered
held-out points and 4.8 % inside that area (0–19.7 % by seed), volcanic 99.9 %.

**False-alarm rate of one fit.** The split-conformal rank ⌈(n + 1)(1 − α)⌉ (n = 240 calibration
pixels here: the 229th) promises E[rate] = 12/241 = 4.98 % over calibration draws — no calibration
pixel trains the network, chooses its epoch, whitens u or sits in the kNN reference — and one fit's
rate scatters about it (sd ≈ 1.4 %, plus the binomial noise of 800 test points); the measured mean
over ten seeds (5.1 %, SE 0.4 %) is that. ``false_alarm_confidence=c`` instead thresholds at the
training-conditional rank (:func:`socspec.ood.training_conditional_rank`: rate ≤ α for this fit with
probability ≥ c; 233rd of 240 at c = 0.9, mean ≈ 3.3 %).
Measured (same bench, seeds 0–9, ``conditional_0.9`` keys): false alarms 3.0 % per point (wet 100 %,
volcanic 51 %) and 3.4 % as area shift scores (volcanic 99.7 %); with the held-out in-distribution
area, 3.4 % on the scattered points and 1.0 % (0–4.0 %) inside it, volcanic 99.8 %.

**Training.** Optional pre-training on many unlabelled spectra (``pretrain="earthlib"``: the 4,168
ICRAF-ISRIC soils of earthlib convolved to the bands; or any (m, B) array), then fine-tuning on the
corpus's point band spectra (``Corpus.band_spectra``) with early stopping on held-in pixels
(``stop_fraction``) other than the calibration ones (``val_fraction``).
"""
from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions

from ..endmembers import EndmemberLibrary, GridEndmembers
from ..errors import SocspecInputError
from ..preprocess import normalise_sensor, sensor_bands

MODEL_FORMAT, MODEL_FORMAT_VERSION = "socspec-sensor-autoencoder", 1
COVER_ENDMEMBERS = ("green_vegetation", "npv")
ORGANIC_LATENT = "organic"  # latent 0: the lab model's SOC slot, a learned dark organic spectrum
_CHUNK = 8192
AREA_RADIUS_KM = 60.0  # area scores: neighbours farther than this do not pool (see area_frame)


def earthlib_cover_library(step_nm: float = 10.0) -> EndmemberLibrary:
    """``green_vegetation`` and ``npv`` reflectance (2, M) from earthlib on 400–2450 nm at ``step_nm``
    (medians, see the module docstring; earthlib's removed water-vapour bands are interpolated —
    no Sentinel-2 band falls inside them). Density and size are placeholders of 1 (ρ·r = 1 mg m⁻²)
    because these covers mix by area (``alpha_conversion=False``); :func:`sensor_endmembers`
    replaces them by the minerals' mean ρ·r."""
    from ..lab.unlabeled import earthlib_library

    wl, r, meta = earthlib_library()
    level2 = meta["LEVEL_2"].astype(str).to_numpy()
    level3 = meta["LEVEL_3"].astype(str).to_numpy()
    picks = {"green_vegetation": level2 == "vegetation",
             "npv": (level2 == "npv") & np.isin(level3, ("litter", "npv"))}
    grid = np.arange(wl[0], wl[-1] + 1e-9, float(step_nm))
    spectra, sources = [], []
    for name, rows in picks.items():
        med = np.nanmedian(r[rows], axis=0)
        ok = np.isfinite(med)
        spectra.append(np.interp(grid, wl[ok], med[ok]))
        sources.append(f"earthlib median of {int(rows.sum())} spectra ({name})")
    return EndmemberLibrary(list(picks), grid, np.clip(np.vstack(spectra), 0.0, 1.0), np.ones(2), np.ones(2),
                            sources=sources)


def sensor_endmembers(library="usgs", sensor: str = "sentinel2", cover: bool = True) -> GridEndmembers:
    """The decoder's endmembers on the sensor's bands: the mineral ``library`` (an
    :class:`EndmemberLibrary` or a name for :meth:`EndmemberLibrary.named`) and, with ``cover``, the
    earthlib cover spectra, each convolved with the band responses (:meth:`EndmemberLibrary.to_sensor`).
    Returns :class:`GridEndmembers` on the band centres (nm); covers get the minerals' mean ρ·r."""
    lib = EndmemberLibrary.named(library) if isinstance(library, str) else library
    minerals = lib.to_sensor(sensor)
    names, spectra, rho_r = list(minerals.names), [minerals.spectra], [minerals.rho_r]
    if cover:
        cov = earthlib_cover_library().to_sensor(sensor)
        names += list(cov.names)
        spectra.append(cov.spectra)
        rho_r.append(np.full(len(cov), float(np.mean(minerals.rho_r))))
    return GridEndmembers(names, minerals.wavelength_nm, np.vstack(spectra), np.concatenate(rho_r))


def earthlib_band_spectra(sensor: str = "sentinel2") -> np.ndarray:
    """(4168, B) earthlib's ICRAF-ISRIC soils convolved to the sensor's bands (pre-training data)."""
    from ..lab.unlabeled import earthlib_soil_spectra
    from ..preprocess import resample_to_sensor

    return np.asarray(resample_to_sensor(earthlib_soil_spectra(), sensor).values, dtype=np.float64)


def _check_bands(x, n_bands: int, what: str = "band_spectra") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != n_bands:
        raise SocspecInputError(f"{what} must have shape (n, {n_bands}) (one reflectance per band), got {x.shape}")
    if np.nanmax(np.abs(x), initial=0.0) > 2.0:  # L2A digital numbers are reflectance × 10,000
        raise SocspecInputError(f"{what} reach {np.nanmax(np.abs(x)):.4g}: band values must be reflectance 0–1",
                                hint="Sentinel-2 L2A digital numbers: divide by 10,000 (and remove the "
                                     "BOA offset of processing baseline ≥ 04.00)")
    bad = ~np.all(np.isfinite(x), axis=1)
    if bad.any():
        raise SocspecInputError(f"{int(bad.sum())} rows of {what} have missing values "
                                f"(first row {int(np.argmax(bad))})", hint="drop them, or use score_frame()")
    return x


class SensorBandAutoencoder(BaseEstimator):
    """Lab encoder + decoder on sensor bands: latent abundances and a calibrated OOD flag per pixel.

    Parameters
    ----------
    sensor : str, default="sentinel2"
        Band model (:func:`socspec.preprocess.sensor_bands`).
    decoder : {"physics", "ann"}, default="physics"
        ``physics``: fixed band-convolved endmembers (+ learned organic spectrum); ``ann``: the lab
        ANN decoder (sigmoid MLP) with the same K.
    endmembers : {"usgs", "synthetic"} or EndmemberLibrary, default="usgs"
        Mineral library (convolved to the bands).
    cover : bool, default=True
        Add earthlib's green vegetation and NPV endmembers.
    water, photometric : bool, default=True
        Physics decoder's per-pixel liquid-water path and brightness factor.
    alpha_conversion : bool, default=False
        Mix mass fractions through ρ·r (seed 003 eq. 2) instead of area fractions.
    hidden, n_hidden_layers : int, default=64, 2
        Encoder (and ANN decoder) width and depth.
    epochs, pretrain_epochs : int, default=300, 100
        Fine-tuning and pre-training epochs (early stopping on held-in pixels when fine-tuning).
    lr : float, default=1e-3
    batch_size : int or None, default=256
    val_fraction : float, default=0.2
        Share of the fine-tuning pixels held in for the conformal threshold (never trained on, never
        in the kNN reference, never used to choose the epoch).
    stop_fraction : float, default=0.1
        Share held in for early stopping (disjoint from the calibration pixels, so the chosen epoch
        does not favour them); 0: no held-in early stopping (the training loss picks the epoch).
    patience : int or None, default=30
    sigma_reflectance : float, default=0.01
    false_alarm : float, default=0.05
        Nominal false-alarm rate α of the OOD flag.
    false_alarm_confidence : float or None, default=None
        None: split-conformal thresholds (false-alarm rate ≤ α on average over calibration draws; one
        fit's rate scatters about it, sd ≈ 1.4 % with 240 calibration pixels). A probability c: the
        training-conditional rank (:func:`socspec.ood.training_conditional_rank`), rate ≤ α for this
        fit with probability ≥ c — fewer flags. For every threshold here (flag, shift, area).
    novelty : {"knn", "combined", "none"}, default="knn"
        OOD score: kNN distance in the whitened [log bands, log reconstruction error] space;
        ``combined``: that plus a kNN distance in standardised log bands, each over its training
        95 % quantile; ``none``: the reconstruction error alone (module docstring).
    novelty_k : int, default=10
        Neighbours of the kNN score.
    novelty_floor : int or None, default=6
        Whitening floor τ = the ``novelty_floor``-th largest eigenvalue of the training covariance
        of u, added to every eigenvalue before whitening; None: plain whitening (directions of
        negligible variance dropped).
    device : str, default="cpu"
    seed : int, default=0
    progress : bool, default=False

    Attributes
    ----------
    band_centre_nm_ (B,), band_names_, endmembers_ (GridEndmembers on the bands), latent_names_ (K,),
    net_ (LabAutoencoder), ood_threshold_ (in the score's unit), ood_calibration_ (dict),
    val_scores_ (held-in scores), val_index_ (calibration rows of the fine-tuning spectra), stop_index_
    (early-stopping rows), shift_reference_ / shift_calibration_ (u of the training / calibration pixels),
    calibration_lat_ / calibration_lon_ (n_c,) (the calibration pixels' positions, None when fitted without), history_,
    novelty_mean_ (B+1,), novelty_whitening_ (B+1, r), novelty_reference_ (n_train, r) (``novelty`` "knn"
    or "combined"); for "combined" also band_mean_ (B,), band_scale_ (B,), band_reference_ (n_train, B),
    novelty_quantiles_ (2,).
    """

    _parameter_constraints: dict = {
        "sensor": [str],
        "decoder": [StrOptions({"physics", "ann"})],
        "endmembers": [StrOptions({"usgs", "synthetic"}), EndmemberLibrary],
        "cover": ["boolean"],
        "water": ["boolean"],
        "photometric": ["boolean"],
        "alpha_conversion": ["boolean"],
        "hidden": [Interval(Integral, 1, None, closed="left")],
        "n_hidden_layers": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "val_fraction": [Interval(Real, 0, 1, closed="neither")],
        "stop_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "sigma_reflectance": [Interval(Real, 0, None, closed="neither")],
        "false_alarm": [Interval(Real, 0, 1, closed="neither")],
        "false_alarm_confidence": [Interval(Real, 0, 1, closed="neither"), None],
        "novelty": [StrOptions({"knn", "combined", "none"})],
        "novelty_k": [Interval(Integral, 1, None, closed="left")],
        "novelty_floor": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "progress": ["boolean"],
    }

    def __init__(self, sensor: str = "sentinel2", decoder: str = "physics", endmembers="usgs", cover: bool = True,
                 water: bool = True, photometric: bool = True, alpha_conversion: bool = False, hidden: int = 64,
                 n_hidden_layers: int = 2, epochs: int = 300, pretrain_epochs: int = 100, lr: float = 1e-3,
                 batch_size: int | None = 256, val_fraction: float = 0.2, stop_fraction: float = 0.1,
                 patience: int | None = 30,
                 sigma_reflectance: float = 0.01, false_alarm: float = 0.05, novelty: str = "knn",
                 novelty_k: int = 10, novelty_floor: int | None = 6, device: str = "cpu", seed: int = 0,
                 progress: bool = False, false_alarm_confidence: float | None = None):
        self.sensor = sensor
        self.decoder = decoder
        self.endmembers = endmembers
        self.cover = cover
        self.water = water
        self.photometric = photometric
        self.alpha_conversion = alpha_conversion
        self.hidden = hidden
        self.n_hidden_layers = n_hidden_layers
        self.epochs = epochs
        self.pretrain_epochs = pretrain_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.stop_fraction = stop_fraction
        self.patience = patience
        self.sigma_reflectance = sigma_reflectance
        self.false_alarm = false_alarm
        self.false_alarm_confidence = false_alarm_confidence
        self.novelty = novelty
        self.novelty_k = novelty_k
        self.novelty_floor = novelty_floor
        self.device = device
        self.seed = seed
        self.progress = progress

    # ------------------------------------------------------------------ build
    def _check_params(self):
        try:
            self._validate_params()
        except InvalidParameterError as exc:
            raise SocspecInputError(str(exc)) from None
        normalise_sensor(self.sensor)

    def build_network(self, endmembers: GridEndmembers | None = None) -> torch.nn.Module:
        """``endmembers_`` (band-convolved library, or the given one), ``latent_names_`` and ``net_``
        (initialised from ``seed``)."""
        from ..device import resolve_device
        from ..lab.models import build_autoencoder

        self._check_params()
        centre, _, names = sensor_bands(self.sensor)
        self.band_centre_nm_, self.band_names_ = centre, names
        self.endmembers_ = endmembers if endmembers is not None else sensor_endmembers(
            self.endmembers, self.sensor, self.cover)
        self.latent_names_ = [ORGANIC_LATENT] + list(self.endmembers_.names)
        self.device_ = resolve_device(self.device)
        phys = self.decoder == "physics"
        torch.manual_seed(int(self.seed))
        self.net_ = build_autoencoder(
            self.decoder, centre.size, len(self.latent_names_), int(self.hidden), int(self.n_hidden_layers),
            self.endmembers_.spectra, self.endmembers_.rho_r, bool(self.alpha_conversion), mixing="linear",
            photometric=phys and bool(self.photometric), water=phys and bool(self.water), wavelength_nm=centre,
            f_soc_init="dark").to(self.device_)
        return self.net_

    def _initialise(self, x: np.ndarray) -> None:
        """Encoder standardisation on ``x``; decoder and latent prior at the best mix of its mean."""
        enc, dec = self.net_.encoder, self.net_.decoder
        enc.set_standardisation(x)
        organic = 0.02  # the organic latent starts small (a few % of a pixel)
        if self.decoder == "physics":
            rest = dec.mixture_prior(x.mean(axis=0), soc_fraction=organic)
        else:
            dec.init_mean_spectrum(x.mean(axis=0))
            rest = None
        enc.init_latent_prior(organic, 0, other_fractions=rest)

    def _train(self, x: np.ndarray, validation: np.ndarray, epochs: int, patience, desc: str) -> list:
        from ..lab import trainer
        from ..lab.estimator import LabTrainingData

        data = LabTrainingData(np.asarray(x, dtype=np.float32), np.full(len(x), np.nan), validation)
        train_d, val_d = data.split(self.device_)
        out = trainer.train(self.net_, train_d, val_d, epochs=int(epochs), lr=float(self.lr),
                            batch_size=self.batch_size, patience=patience,
                            sigma_reflectance=float(self.sigma_reflectance), device=self.device_,
                            seed=int(self.seed), progress=bool(self.progress), desc=desc)
        return [dict(h, phase=desc) for h in out["history"]]

    # ------------------------------------------------------------------ fit
    def fit(self, band_spectra, pretrain=None, endmembers: GridEndmembers | None = None, lat_deg=None,
            lon_deg=None):
        """Pre-train on ``pretrain`` (None, ``"earthlib"`` or an (m, B) array; all rows, no early
        stopping, ``pretrain_epochs``), then fine-tune on ``band_spectra`` (n, B) with
        ``val_fraction`` held in for the conformal OOD threshold and ``stop_fraction`` for early
        stopping (disjoint: pixels that chose the epoch are never calibration pixels). ``lat_deg``,
        ``lon_deg`` (n,): the pixels' positions; the calibration pixels' ones are kept
        (``calibration_lat_``/``calibration_lon_``) for the area scores (``area_k`` of
        :meth:`score_frame` / :meth:`shift_frame`)."""
        self._check_params()
        centre, _, _ = sensor_bands(self.sensor)
        x = _check_bands(band_spectra, centre.size)
        if (lat_deg is None) != (lon_deg is None):
            raise SocspecInputError("give both lat_deg and lon_deg, or neither")
        if lat_deg is not None:
            from ..kernels.neighbours import validate_latlon

            try:
                lat_deg, lon_deg = validate_latlon(lat_deg, lon_deg)
            except ValueError as exc:
                raise SocspecInputError(f"positions of the band spectra: {exc}") from None
            if lat_deg.size != len(x):
                raise SocspecInputError(f"{lat_deg.size} positions for {len(x)} band spectra")
        if isinstance(pretrain, str):
            if pretrain != "earthlib":
                raise SocspecInputError(f"pretrain={pretrain!r}: use 'earthlib', an (m, {centre.size}) array or None")
            xp = earthlib_band_spectra(self.sensor)
        else:
            xp = None if pretrain is None else _check_bands(pretrain, centre.size, "pretrain")
        n_val = int(round(float(self.val_fraction) * len(x)))
        n_stop = int(round(float(self.stop_fraction) * len(x)))
        if n_val < 1 or len(x) - n_val - n_stop < 2:
            raise SocspecInputError(f"{len(x)} band spectra are too few to hold in {self.val_fraction:.0%} "
                                    "for the OOD calibration", hint="give more points")
        rng = np.random.default_rng(int(self.seed))
        val = np.zeros(len(x), dtype=bool)
        val[rng.choice(len(x), n_val, replace=False)] = True
        # early-stopping pixels: from the rest; the network trains on neither them nor the calibration ones
        stop = np.zeros(int((~val).sum()), dtype=bool)
        stop[rng.choice(stop.size, n_stop, replace=False)] = True
        self.build_network(endmembers)
        self._initialise(x[~val] if xp is None else np.concatenate([xp, x[~val]]))
        self.history_ = []
        if xp is not None and int(self.pretrain_epochs) > 0:
            self.history_ += self._train(xp, np.zeros(len(xp), dtype=bool), self.pretrain_epochs, None, "pretrain")
        self.history_ += self._train(x[~val], stop, self.epochs, self.patience, "finetune")
        self.n_pretrain_ = 0 if xp is None else int(len(xp))
        self.n_train_ = int((~val).sum())
        self.val_index_ = np.flatnonzero(val)
        self.stop_index_ = np.flatnonzero(~val)[stop]
        self.shift_reference_ = self._features(x[~val])  # class 0 of shift_frame's forest
        self.calibration_lat_ = None if lat_deg is None else lat_deg[val]
        self.calibration_lon_ = None if lon_deg is None else lon_deg[val]
        if self.novelty != "none":
            self._fit_novelty(self.shift_reference_)
        self.calibrate(x[val], source="held-in band spectra")
        return self

    def _features(self, band_spectra) -> np.ndarray:
        """u (n, B+1) of band spectra (:meth:`_novelty_features` after a forward pass)."""
        x, _, r = self._forward(band_spectra)
        return self._novelty_features(x.astype(np.float64), r)

    def _novelty_features(self, x: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
        """u (n, B+1) = [log R, log e] (reflectance floored at ``REFLECTANCE_FLOOR``)."""
        from ..lab.metrics import per_spectrum_rmse
        from ..spectra import REFLECTANCE_FLOOR

        e = per_spectrum_rmse(x, reconstruction)
        return np.log(np.maximum(np.column_stack([x, e]), REFLECTANCE_FLOOR))

    def _fit_novelty(self, u: np.ndarray) -> None:
        """Whitening (μ, V (Λ + τ)^−½; with ``novelty_floor=None`` V Λ^−½ over the components with
        non-negligible variance) and the kNN reference: the training pixels' whitened u (n, B+1)
        (:meth:`_features`). numpy's eigh rather than sklearn's PCA(whiten=True), which has no floor
        and divides by a zero variance."""
        if len(u) <= int(self.novelty_k):
            raise SocspecInputError(f"{len(u)} training band spectra are too few for novelty_k={self.novelty_k}",
                                    hint="give more points, or novelty='none'")
        mu = u.mean(axis=0)
        self.novelty_mean_ = mu
        self.novelty_whitening_ = _whitening(u, self.novelty_floor)
        self.novelty_reference_ = (u - mu) @ self.novelty_whitening_
        self._novelty_index = self._band_index = None
        if self.novelty == "combined":
            logb = u[:, :-1]
            self.band_mean_ = logb.mean(axis=0)
            self.band_scale_ = np.maximum(logb.std(axis=0), 1e-12)
            self.band_reference_ = (logb - self.band_mean_) / self.band_scale_
            # each part's 95 % quantile over the training pixels, leave-one-out (kneighbors() without X)
            parts = [self._indexes()[j].kneighbors()[0].mean(axis=1) for j in (0, 1)]
            self.novelty_quantiles_ = np.array([max(float(np.quantile(p, 0.95)), 1e-12) for p in parts])

    def _indexes(self) -> list:
        """The kNN indexes over the references (rebuilt lazily: after load, after fit)."""
        if getattr(self, "_novelty_index", None) is None:
            self._novelty_index = NearestNeighbors(n_neighbors=int(self.novelty_k)).fit(self.novelty_reference_)
        out = [self._novelty_index]
        if self.novelty == "combined":
            if getattr(self, "_band_index", None) is None:
                self._band_index = NearestNeighbors(n_neighbors=int(self.novelty_k)).fit(self.band_reference_)
            out.append(self._band_index)
        return out

    def _knn_distance(self, u: np.ndarray) -> np.ndarray:
        if len(u) == 0:
            return np.zeros(0)
        index = self._indexes()
        d = index[0].kneighbors((u - self.novelty_mean_) @ self.novelty_whitening_)[0].mean(axis=1)
        if self.novelty != "combined":
            return d
        d2 = index[1].kneighbors((u[:, :-1] - self.band_mean_) / self.band_scale_)[0].mean(axis=1)
        return d / self.novelty_quantiles_[0] + d2 / self.novelty_quantiles_[1]

    def calibrate(self, band_spectra, source: str = "calibration band spectra"):
        """Set the OOD threshold from scores (:meth:`ood_score`) of spectra the network did not train
        on and the kNN reference does not hold (:func:`socspec.ood.conformal_calibration` at
        ``false_alarm``)."""
        from ..ood import conformal_calibration

        self.val_scores_, u, _ = self._score_and_features(band_spectra)
        self.shift_calibration_ = u  # class 1 of shift_frame's forest, exchangeable
        cal = conformal_calibration(self.val_scores_, float(self.false_alarm), self.false_alarm_confidence)
        cal["scores"] = source
        self.ood_threshold_, self.ood_calibration_ = float(cal["threshold"]), cal
        return self

    # ------------------------------------------------------------------ use
    def _check_fitted(self):
        if not hasattr(self, "net_"):
            raise RuntimeError("SensorBandAutoencoder is not fitted; call fit(band_spectra) or load(folder)")

    @torch.no_grad()
    def _forward(self, band_spectra):
        self._check_fitted()
        x = _check_bands(band_spectra, len(self.band_centre_nm_)).astype(np.float32)
        self.net_.eval()
        ms, rs = [], []
        for s in range(0, len(x), _CHUNK):
            m, r = self.net_(torch.as_tensor(x[s:s + _CHUNK], device=self.device_))
            ms.append(m.float().cpu().numpy())
            rs.append(r.float().cpu().numpy())
        k, b = len(self.latent_names_), x.shape[1]
        return (x, np.concatenate(ms) if ms else np.zeros((0, k), np.float32),
                np.concatenate(rs) if rs else np.zeros((0, b), np.float32))

    def latent(self, band_spectra) -> np.ndarray:
        """(n, K) latent fractions (columns ``latent_names_``; rows sum to 1)."""
        return self._forward(band_spectra)[1].astype(np.float64)

    def reconstruct(self, band_spectra) -> np.ndarray:
        """(n, B) reconstructed band reflectance."""
        return self._forward(band_spectra)[2].astype(np.float64)

    def reconstruction_error(self, band_spectra) -> np.ndarray:
        """(n,) per-pixel RMSE over the bands (reflectance) — the OOD score."""
        from ..lab.metrics import per_spectrum_rmse

        x, _, r = self._forward(band_spectra)
        return per_spectrum_rmse(x, r)

    def ood_score(self, band_spectra) -> np.ndarray:
        """(n,) OOD score: the kNN novelty distance (``novelty="knn"``, whitened units) or the
        reconstruction RMSE (``novelty="none"``, reflectance); see the module docstring."""
        return self._score_and_features(band_spectra)[0]

    def _score_and_features(self, band_spectra) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(:meth:`ood_score`, u of :meth:`_features`, :meth:`reconstruction_error`) from one forward
        pass."""
        from ..lab.metrics import per_spectrum_rmse

        x, _, r = self._forward(band_spectra)
        u = self._novelty_features(x.astype(np.float64), r)
        e = per_spectrum_rmse(x, r)
        return (e if self.novelty == "none" else self._knn_distance(u)), u, e

    @property
    def score_description(self) -> str:
        """What :meth:`ood_score` measures, for reports and plot labels."""
        if self.novelty == "none":
            return "reconstruction RMSE (reflectance)"
        white = "whitened" if self.novelty_floor is None else f"whitened (floor λ{self.novelty_floor})"
        knn = (f"kNN distance (k = {self.novelty_k}) in {white} [log bands, log reconstruction RMSE] "
               "space to the training pixels")
        if self.novelty == "combined":
            return (knn + " + kNN distance in standardised log bands, each over its training 95 % quantile")
        return knn

    def flag(self, band_spectra) -> np.ndarray:
        """(n,) bool: OOD score above the calibrated threshold."""
        return self.ood_score(band_spectra) > self.ood_threshold_

    def score_frame(self, band_spectra, lat_deg=None, lon_deg=None, area_k: int = 0,
                    area_radius_km: float = AREA_RADIUS_KM) -> pd.DataFrame:
        """``ood_score``, ``ood_threshold``, ``ood_flag``, ``reconstruction_error`` per row; rows with
        a missing band get NaN scores and no flag. With ``area_k`` ≥ 2 and the rows' positions
        (``lat_deg``, ``lon_deg``, degrees) also ``area_ood_score``, ``area_ood_threshold``,
        ``area_ood_flag``: the score pooled over each row's ``area_k`` nearest judged points within
        ``area_radius_km`` (:meth:`area_frame`)."""
        x = np.asarray(band_spectra, dtype=np.float64)
        ok = valid_rows(x)
        score, rec = np.full(len(x), np.nan), np.full(len(x), np.nan)
        u = None
        if ok.any():
            score[ok], u, rec[ok] = self._score_and_features(x[ok])
        frame = pd.DataFrame({"ood_score": score, "ood_threshold": self.ood_threshold_,
                              "ood_flag": np.where(ok, score > self.ood_threshold_, False),
                              "reconstruction_error": rec})
        if int(area_k) >= 2:
            frame = pd.concat([frame, self.area_frame("ood", score, u, self.val_scores_, lat_deg, lon_deg,
                                                      area_k, area_radius_km)], axis=1)
        return frame

    def shift_frame(self, band_spectra, n_estimators: int = 300, min_samples_leaf: int = 20, lat_deg=None,
                    lon_deg=None, area_k: int = 0, area_radius_km: float = AREA_RADIUS_KM) -> pd.DataFrame:
        """Corpus-level (transductive) shift score of every row of ``band_spectra`` (n, B): module
        docstring. Columns ``shift_score`` (out-of-bag probability of "not a training pixel", 0–1),
        ``shift_threshold``, ``shift_flag``; rows with a missing band get NaN and no flag.
        ``frame.attrs["calibration"]`` is :func:`socspec.ood.conformal_calibration`'s dict. With
        ``area_k`` ≥ 2 and the rows' positions also ``area_shift_score``, ``area_shift_threshold``,
        ``area_shift_flag`` (:meth:`area_frame`; ``attrs["area_calibration"]``).

        Shapes: X = [u_train (n_t); u_cal (n_c); u_query (n_q)] × [u, (u − μ)W] (2B+2 features),
        W the floored whitening of u_train (``novelty_floor``; λ₆ when None)."""
        from sklearn.ensemble import RandomForestClassifier

        from ..ood import conformal_calibration

        self._check_fitted()
        if getattr(self, "shift_reference_", None) is None or getattr(self, "shift_calibration_", None) is None:
            raise SocspecInputError("this sensor-band autoencoder was saved before shift scores existed",
                                    hint="refit it to get shift_frame()")
        if int(n_estimators) < 1 or int(min_samples_leaf) < 1:
            raise ValueError(f"n_estimators and min_samples_leaf must be ≥ 1, got {n_estimators}, {min_samples_leaf}")
        x = np.asarray(band_spectra, dtype=np.float64)
        ok = valid_rows(x)
        ref, cal = self.shift_reference_, self.shift_calibration_
        query = self._features(x[ok]) if ok.any() else np.zeros((0, ref.shape[1]))
        mu, w = ref.mean(axis=0), _whitening(ref, self.novelty_floor or 6)
        u = np.vstack([ref, cal, query])
        y = np.r_[np.zeros(len(ref), int), np.ones(len(cal) + len(query), int)]
        forest = RandomForestClassifier(int(n_estimators), min_samples_leaf=int(min_samples_leaf), oob_score=True,
                                        random_state=int(self.seed), n_jobs=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # a row in every bootstrap has no OOB vote
            forest.fit(np.column_stack([u, (u - mu) @ w]), y)
        p = np.nan_to_num(forest.oob_decision_function_[:, 1], nan=0.5)
        cal_p, query_p = p[len(ref):len(ref) + len(cal)], p[len(ref) + len(cal):]
        calib = conformal_calibration(cal_p, float(self.false_alarm), self.false_alarm_confidence)
        score = np.full(len(x), np.nan)
        score[ok] = query_p
        frame = pd.DataFrame({"shift_score": score, "shift_threshold": calib["threshold"],
                              "shift_flag": np.where(ok, score > calib["threshold"], False)})
        attrs = {"calibration": dict(calib, scores="held-in band spectra (out-of-bag)")}
        if int(area_k) >= 2:
            area = self.area_frame("shift", score, query, cal_p, lat_deg, lon_deg, area_k, area_radius_km)
            attrs["area_calibration"] = area.attrs["area_calibration"]
            frame = pd.concat([frame, area], axis=1)
        frame.attrs.update(attrs)
        return frame

    def area_frame(self, name: str, score, features, calibration_score, lat_deg, lon_deg, area_k: int,
                   area_radius_km: float = AREA_RADIUS_KM) -> pd.DataFrame:
        """Area scores: where on the map the points are unlike the training pixels.

        A planted or real shift covers an area, and a soil mapper wants to know *where* the map is
        not to be trusted, so each judged point's ``score`` (n,) (NaN: not judged) is pooled with
        those of its neighbours (:func:`spatial_pool`: mean over the ``area_k`` nearest points
        within ``area_radius_km``, itself included) in the set J ∪ C of the judged points and the
        calibration pixels (positions ``calibration_lat_``/``calibration_lon_``; ``calibration_score``
        (n_c,) their scores of the same kind). The threshold is the split-conformal one
        (:func:`socspec.ood.conformal_calibration`, ``false_alarm``) of the calibration pixels'
        pooled scores: every point of J ∪ C is pooled by the same rule, so the pooled scores of
        in-distribution judged points and of calibration pixels stay exchangeable when the judged
        points are drawn like the training ones — the promise of :meth:`shift_frame`, with the same
        caveat (an in-distribution part over-represented among the judged points, or a new area
        whose per-point scores all run a little high, pools into alarms). A calibration pixel that
        is also a judged row (same position, same ``features`` u (n_judged, B+1) of the judged rows)
        is one point of J ∪ C. Columns ``area_{name}_score``, ``area_{name}_threshold``,
        ``area_{name}_flag``; ``attrs["area_calibration"]``. A lone shifted point among
        in-distribution neighbours is averaged away: the per-point flags stay for those."""
        from ..ood import conformal_calibration

        if int(area_k) < 2:
            raise ValueError(f"area_k must be ≥ 2 (the point and at least one neighbour), got {area_k}")
        if getattr(self, "calibration_lat_", None) is None:
            raise SocspecInputError("this sensor-band autoencoder has no positions of its calibration pixels, "
                                    "so area scores cannot be calibrated",
                                    hint="refit it with the points' positions (fit(..., lat_deg, lon_deg); "
                                         "fit-remote does), or leave the area scores off")
        score = np.asarray(score, dtype=np.float64).ravel()
        if lat_deg is None or lon_deg is None:
            raise SocspecInputError("area scores need the judged points' positions (lat_deg, lon_deg)")
        lat, lon = np.asarray(lat_deg, np.float64).ravel(), np.asarray(lon_deg, np.float64).ravel()
        if lat.size != score.size or lon.size != score.size:
            raise SocspecInputError(f"{lat.size}/{lon.size} positions for {score.size} judged points")
        q = np.flatnonzero(np.isfinite(score))
        from ..kernels.neighbours import validate_latlon

        try:
            validate_latlon(lat[q], lon[q], name="judged points'") if q.size else None
        except ValueError as exc:
            raise SocspecInputError(str(exc)) from None
        cal_s = np.asarray(calibration_score, dtype=np.float64).ravel()
        clat, clon = np.asarray(self.calibration_lat_, np.float64), np.asarray(self.calibration_lon_, np.float64)
        feats = None if features is None else np.asarray(features, dtype=np.float64)
        dup_q, dup_c = _same_points(lat[q], lon[q], feats, clat, clon, self.shift_calibration_)
        rest = np.setdiff1d(np.arange(cal_s.size), dup_c)
        pooled = spatial_pool(np.r_[lat[q], clat[rest]], np.r_[lon[q], clon[rest]], np.r_[score[q], cal_s[rest]],
                              int(area_k), float(area_radius_km))
        calib = conformal_calibration(np.r_[pooled[dup_q], pooled[q.size:]], float(self.false_alarm),
                                      self.false_alarm_confidence)
        out = np.full(score.size, np.nan)
        out[q] = pooled[:q.size]
        frame = pd.DataFrame({f"area_{name}_score": out, f"area_{name}_threshold": calib["threshold"],
                              f"area_{name}_flag": np.isfinite(out) & (out > calib["threshold"])})
        frame.attrs["area_calibration"] = dict(calib, scores=f"held-in band spectra pooled with the judged points "
                                               f"(k = {int(area_k)}, radius {float(area_radius_km):g} km)")
        return frame

    # ------------------------------------------------------------------ persist
    def save(self, folder) -> Path:
        """Write ``config.json``, ``weights.pt`` (state dict), ``endmembers.npz`` and the manifest."""
        from ..outputs import atomic_path, write_json
        from ..runs import write_manifest

        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        params = self.get_params()
        if not isinstance(params["endmembers"], str):
            params["endmembers"] = "custom"  # the convolved library itself is in endmembers.npz
        with atomic_path(folder / "weights.pt") as tmp:
            torch.save({k: v.detach().cpu() for k, v in self.net_.state_dict().items()}, tmp)
        self.endmembers_.save(folder / "endmembers.npz")
        if self.novelty != "none":
            extra = {} if self.novelty != "combined" else dict(
                band_mean=self.band_mean_, band_scale=self.band_scale_, band_reference=self.band_reference_,
                quantiles=self.novelty_quantiles_)
            with atomic_path(folder / "novelty.npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, mean=self.novelty_mean_, whitening=self.novelty_whitening_,
                             reference=self.novelty_reference_, **extra)
        with atomic_path(folder / "shift.npz") as tmp:
            with open(tmp, "wb") as fh:
                where = {} if getattr(self, "calibration_lat_", None) is None else dict(
                    calibration_lat=self.calibration_lat_, calibration_lon=self.calibration_lon_)
                np.savez(fh, reference=self.shift_reference_, calibration=self.shift_calibration_, **where)
        write_json(folder / "config.json", {
            "format": f"{MODEL_FORMAT}/{MODEL_FORMAT_VERSION}", "params": params,
            "band_centre_nm": self.band_centre_nm_.tolist(), "band_names": list(self.band_names_),
            "latent_names": list(self.latent_names_), "ood_threshold": self.ood_threshold_,
            "ood_calibration": self.ood_calibration_, "val_scores": self.val_scores_.tolist(),
            "val_index": self.val_index_.tolist(), "stop_index": self.stop_index_.tolist(),
            "n_pretrain": self.n_pretrain_, "n_train": self.n_train_, "history": self.history_})
        write_manifest(folder, MODEL_FORMAT, MODEL_FORMAT_VERSION)
        return folder

    @classmethod
    def load(cls, folder, device: str = "cpu") -> SensorBandAutoencoder:
        """Read a folder written by :meth:`save` (manifest checked first; weights with weights_only)."""
        from ..runs import ModelFolderError, load_torch, read_json, verify_model_folder

        folder = Path(folder)
        verify_model_folder(folder, MODEL_FORMAT, MODEL_FORMAT_VERSION)
        cfg = read_json(folder / "config.json")
        try:
            params = dict(cfg["params"])
            if params.get("endmembers") == "custom":
                params["endmembers"] = "usgs"  # placeholder: the saved convolved library is used
            params["device"] = device
            params.setdefault("novelty", "none")  # folders from before the kNN term scored reconstruction only
            params.setdefault("novelty_floor", None)  # ... and before the whitening floor (its matrix is saved)
            params.setdefault("stop_fraction", 0.0)  # ... and early-stopped on the calibration pixels
            obj = cls(**params)
            obj.build_network(GridEndmembers.load(folder / "endmembers.npz"))
            obj.net_.load_state_dict(load_torch(folder / "weights.pt", map_location=obj.device_, what="weights.pt"))
            obj.net_.eval()
            obj.ood_threshold_ = float(cfg["ood_threshold"])
            obj.ood_calibration_ = cfg["ood_calibration"]
            obj.val_scores_ = np.asarray(cfg["val_scores"], dtype=np.float64)
            obj.val_index_ = np.asarray(cfg.get("val_index", []), dtype=np.int64)
            obj.stop_index_ = np.asarray(cfg.get("stop_index", []), dtype=np.int64)
            if obj.novelty != "none":
                with np.load(folder / "novelty.npz", allow_pickle=False) as z:
                    obj.novelty_mean_, obj.novelty_whitening_ = z["mean"], z["whitening"]
                    obj.novelty_reference_ = z["reference"]
                    if obj.novelty == "combined":
                        obj.band_mean_, obj.band_scale_ = z["band_mean"], z["band_scale"]
                        obj.band_reference_, obj.novelty_quantiles_ = z["band_reference"], z["quantiles"]
                obj._novelty_index = obj._band_index = None
            obj.n_pretrain_, obj.n_train_, obj.history_ = cfg["n_pretrain"], cfg["n_train"], cfg["history"]
            obj.shift_reference_ = obj.shift_calibration_ = None  # folders from before shift scores
            obj.calibration_lat_ = obj.calibration_lon_ = None  # ... and before area scores (or fitted without)
            if (folder / "shift.npz").exists():
                with np.load(folder / "shift.npz", allow_pickle=False) as z:
                    obj.shift_reference_, obj.shift_calibration_ = z["reference"], z["calibration"]
                    if "calibration_lat" in z.files:
                        obj.calibration_lat_, obj.calibration_lon_ = z["calibration_lat"], z["calibration_lon"]
        except (KeyError, TypeError, ValueError, RuntimeError, OSError) as exc:
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
            raise ModelFolderError(f"the sensor-band autoencoder does not load: {first}", path=folder,
                                   hint="the folder is damaged or from another socspec version; refit") from None
        return obj


def _whitening(u: np.ndarray, floor: int | None) -> np.ndarray:
    """W (d, r) with (u − ū)·W whitened: V (Λ + τ)^−½, τ = the ``floor``-th largest eigenvalue of
    cov(u); ``floor=None``: V Λ^−½ over the components of non-negligible variance. numpy's eigh rather
    than sklearn's PCA(whiten=True), which has no floor and divides by a zero variance."""
    lam, vec = np.linalg.eigh(np.cov(u, rowvar=False))
    if floor is None:
        keep = lam > 1e-10 * max(float(lam.max()), 1e-300)
        return vec[:, keep] / np.sqrt(lam[keep])
    lam = np.maximum(lam, 0.0)
    tau = max(float(np.sort(lam)[::-1][min(int(floor), lam.size) - 1]), 1e-12)
    return vec / np.sqrt(lam + tau)


def spatial_pool(lat_deg, lon_deg, scores, k: int, radius_km: float = None) -> np.ndarray:
    """(n,) the mean of each point's score and of its ``k`` − 1 nearest other points' scores within
    ``radius_km`` (great circle, :func:`socspec.kernels.neighbours.haversine_knn`; fewer where the
    radius holds fewer, the point alone where it holds none). ``k`` = 1: the scores unchanged."""
    from ..kernels.neighbours import haversine_knn

    s = np.asarray(scores, dtype=np.float64).ravel()
    r = AREA_RADIUS_KM if radius_km is None else float(radius_km)
    if int(k) < 1 or not r > 0:
        raise ValueError(f"k must be ≥ 1 and radius_km > 0, got {k}, {radius_km}")
    if np.size(lat_deg) != s.size or np.size(lon_deg) != s.size:
        raise ValueError(f"{np.size(lat_deg)}/{np.size(lon_deg)} positions for {s.size} scores")
    m = min(int(k) - 1, s.size - 1)
    if m < 1:
        return s.copy()
    idx, dist = haversine_knn(lat_deg, lon_deg, m)
    near = dist <= r
    return (s + np.where(near, s[idx], 0.0).sum(axis=1)) / (1.0 + near.sum(axis=1))


def _same_points(lat, lon, features, cal_lat, cal_lon, cal_features) -> tuple[np.ndarray, np.ndarray]:
    """Indices (judged rows, calibration pixels) of calibration pixels that are also judged rows: the
    same position (to 1e-7°) and, where both are given, the same features u (to 1e-9)."""
    at = {(round(float(a), 7), round(float(b), 7)): i for i, (a, b) in enumerate(zip(lat, lon))}
    rows, cols = [], []
    for j, (a, b) in enumerate(zip(cal_lat, cal_lon)):
        i = at.get((round(float(a), 7), round(float(b), 7)))
        if i is None:
            continue
        if features is not None and cal_features is not None and \
                not np.allclose(features[i], cal_features[j], rtol=0.0, atol=1e-9):
            continue
        rows.append(i)
        cols.append(j)
    return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)


def valid_rows(band_spectra) -> np.ndarray:
    """(n,) bool: rows with every band finite."""
    return np.all(np.isfinite(np.asarray(band_spectra, dtype=np.float64)), axis=1)
