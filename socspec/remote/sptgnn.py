"""SpTGNN estimator: inductive graph model + deep ensemble + post-hoc calibration + artifact.

:class:`SpTGNNRegressor` is what ``socspec fit-remote --models sptgnn`` cross-validates and what
``--save-model`` / ``socspec predict-remote`` save and serve. It works on a whole
:class:`~socspec.remote.corpus.Corpus` (``uses_corpus = True``: it sees coordinates, dates and
chips), and ``predict`` returns ``(mean, std)`` in g/kg, so cross-validation also reports
ECE and 90 % coverage.

**fit(corpus)** on the labelled points:

1. Feature encoders from the training points only: numeric covariates standardised
   (mean, sd; NaN → 0 after standardising), categorical ones coded 1..C (0 = unknown), target
   y standardised; frozen image features computed once (``embed_backbone``) per corpus; with
   ``forest_covariate`` (default) a random forest's out-of-fold SOC estimate as one more covariate.
2. A *calibration* split (``calibration_fraction`` of the points, whole spatial blocks of
   ``calibration_block_deg``) is held out; the *core* graph holds the other training points only.
3. ``n_members`` networks (seeds ``random_state·1000 + m``) are trained on the core graph
   (:func:`socspec.remote.training.train_member`), early-stopped on the calibration points joined
   inductively (their labels hidden, like test points).
4. The ensemble's predictions on the calibration points fit a :class:`VarianceScaler`.
5. The prediction graph is built over *all* training points (core + calibration), and their
   labels feed the label features of new points.

**predict(corpus)**: new points join the training graph inductively (they only receive edges
from training points, and see training labels only — never their own or each other's); each
member gives μ_m, σ²_m (standardised) → g/kg; the ensemble gives μ = mean μ_m,
σ² = mean σ²_m (aleatoric) + var μ_m (epistemic), and calibration multiplies σ (and both parts)
by the fitted scale s. ``predict_detail`` returns all of them as a DataFrame.

**Artifact** (``save(dir)`` / ``load(dir)``, format ``socspec-sptgnn-model`` v1, with a
manifest of checksums): ``config.json`` (hyper-parameters, streams, relations, features),
``encoders.json`` (standardisation stats, category maps, target stats), ``calibration.json``,
``weights.pt`` (state dicts only, read with ``weights_only=True``), with ``forest_covariate``
``forest.npz`` (the forest's node arrays, :class:`~socspec.remote.baselines.ForestArrays`),
``training_points.npz``
(coordinates, elevation, spectra, node inputs, standardised labels, ids and graph edges;
``allow_pickle=False``) and ``history.json``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

MODEL_FORMAT = "socspec-sptgnn-model"
MODEL_FORMAT_VERSION = 1
BACKBONES = {"tiny": "terramind_v1_tiny", "small": "terramind_v1_small", "base": "terramind_v1_base",
             "cnn": "cnn"}
# frozen image encoders by (backbone, modalities, checkpoint, seed): building TerraMind costs
# seconds, and every CV fold and ensemble would otherwise build the same frozen network again
_FROZEN_ENCODERS: dict = {}


class FeatureEncoder:
    """Covariates and target in network units, fitted on training points only; JSON round trip.

    ``numeric`` {name: (mean, sd)}, ``categorical`` {name: [category, ...]} (code = 1 + position,
    0 = unknown/missing), ``target`` (mean, sd) of SOC in g/kg, ``year_mean`` to fill unknown
    years (the time stream is masked there, the fill only keeps NaN out of the arithmetic).
    """

    def __init__(self, numeric=None, categorical=None, target=(0.0, 1.0), year_mean=2015.0):
        self.numeric = dict(numeric or {})
        self.categorical = {k: list(v) for k, v in (categorical or {}).items()}
        self.target = tuple(float(v) for v in target)
        self.year_mean = float(year_mean)

    @classmethod
    def fit(cls, frame: pd.DataFrame, y_g_kg, years=None) -> FeatureEncoder:
        numeric, categorical = {}, {}
        for c in frame.columns:
            col = frame[c]
            if isinstance(col.dtype, pd.CategoricalDtype):
                seen = pd.unique(col.dropna().astype(str))
                categorical[c] = sorted(map(str, seen))
            else:
                v = col.to_numpy(np.float64)
                mu = float(np.nanmean(v)) if np.isfinite(v).any() else 0.0
                sd = float(np.nanstd(v)) if np.isfinite(v).any() else 1.0
                numeric[c] = (mu, sd if sd > 1e-12 else 1.0)
        y = np.asarray(y_g_kg, dtype=np.float64)
        sd = float(y.std())
        years = None if years is None else np.asarray(years, dtype=np.float64)
        ym = float(np.nanmean(years)) if years is not None and np.isfinite(years).any() else 2015.0
        return cls(numeric, categorical, (float(y.mean()), sd if sd > 1e-12 else 1.0), ym)

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def transform(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(x_num (n, n_num) float32, x_cat (n, n_cat) int64)``."""
        n = len(frame)
        x_num = np.zeros((n, len(self.numeric)), dtype=np.float32)
        for j, (c, (mu, sd)) in enumerate(self.numeric.items()):
            v = (pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64) - mu) / sd
            x_num[:, j] = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
        x_cat = np.zeros((n, len(self.categorical)), dtype=np.int64)
        for j, (c, cats) in enumerate(self.categorical.items()):
            codes = pd.Categorical(frame[c].astype(object).where(frame[c].notna(), None)
                                   .map(lambda v: None if v is None else str(v)), categories=cats).codes
            x_cat[:, j] = codes.astype(np.int64) + 1  # −1 (unknown) → 0
        return x_num, x_cat

    def y_to_std(self, y_g_kg):
        return (np.asarray(y_g_kg, dtype=np.float64) - self.target[0]) / self.target[1]

    def to_dict(self) -> dict:
        return {"numeric": {k: list(v) for k, v in self.numeric.items()},
                "categorical": self.categorical, "target_g_kg": list(self.target),
                "year_mean": self.year_mean}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureEncoder:
        return cls({k: tuple(v) for k, v in d["numeric"].items()}, d["categorical"],
                   tuple(d["target_g_kg"]), d["year_mean"])


def _day_of_year(points: pd.DataFrame) -> np.ndarray:
    if "date" not in points.columns:
        return np.full(len(points), np.nan)
    d = pd.to_datetime(points["date"], errors="coerce")
    return d.dt.dayofyear.to_numpy(np.float64, na_value=np.nan)


def _years(points: pd.DataFrame) -> np.ndarray | None:
    if "year" in points.columns:
        return pd.to_numeric(points["year"], errors="coerce").to_numpy(np.float64)
    if "date" in points.columns:
        return pd.to_datetime(points["date"], errors="coerce").dt.year.to_numpy(np.float64,
                                                                                  na_value=np.nan)
    return None


def _calibration_split(lat, lon, fraction, block_deg, seed):
    """Boolean mask of calibration points: whole blocks, ≈ ``fraction`` of the points."""
    from .cv import block_ids

    n = len(lat)
    rng = np.random.default_rng(seed)
    blocks = block_ids(lat, lon, block_deg=block_deg)
    uniq = np.unique(blocks)
    target = max(1, round(fraction * n))
    if uniq.size >= 4:
        cal = np.zeros(n, dtype=bool)
        for b in rng.permutation(uniq):
            if cal.sum() >= target:
                break
            if cal.sum() + (blocks == b).sum() <= 2 * target or not cal.any():
                cal |= blocks == b
        if 0 < cal.sum() <= n - 10:
            return cal
    cal = np.zeros(n, dtype=bool)  # too few blocks: random points
    cal[rng.permutation(n)[:target]] = True
    return cal


def _take_rows(arrays: dict, idx) -> dict:
    """Rows ``idx`` of every node-input array (chips: of every modality)."""
    return {k: ({m: a[idx] for m, a in v.items()} if isinstance(v, dict) else v[idx])
            for k, v in arrays.items() if v is not None}


def _concat_rows(first: dict, second: dict) -> dict:
    """Node inputs of ``first``'s nodes followed by ``second``'s (the keys of ``first``)."""
    return {k: ({m: np.concatenate([a, second[k][m]]) for m, a in v.items()} if isinstance(v, dict)
                else np.concatenate([v, second[k]])) for k, v in first.items()}


class SpTGNNRegressor(BaseEstimator):
    """SpTGNN deep ensemble for SOC (g/kg) at sample points (see the module docstring).

    Parameters
    ----------
    features : covariate columns (None: ``Corpus.default_features()``); text columns become
        categorical embeddings.
    n_members : deep-ensemble size M (different seeds).
    epochs, patience, lr, weight_decay : training (:class:`~socspec.remote.training.TrainConfig`).
    hidden, n_layers, heads, dropout, n_experts, top_k : network size (:class:`SpTGNN`).
    beta : β of β-NLL (0.5). moran_weight : weight λ_M of the squared Moran's I of training
        residuals. balance_weight : weight of the MoE load-balance loss.
    label_features : give each node its spatial neighbours' training labels (never its own).
    forest_covariate : stacked generalisation (Wolpert 1992): a random forest on the covariates
        (:class:`~socspec.remote.baselines.RandomForestBaseline`, out-of-fold over 5 spatial-block
        folds on the training points, so no point's value saw its own label; the forest fitted
        on all of them for new points) gives each point one more covariate, its SOC estimate.
        On by default: on LUCAS (5 spatial folds of 1° blocks, 5 members) it takes the ensemble
        from 13.66 g/kg RMSE, level with the forest's 13.61, to 13.53, below the forest on every
        fold (ECE 0.038). Old model folders load with it off.
        Tried and dropped: the forest as a fixed offset with the network fitting residuals
        (LUCAS folds 0-1, one member: it early-stopped after 1-3 epochs, RMSE level with the
        forest, ECE 0.07-0.10).
    label_mask_fraction : share of training nodes whose labels are hidden (and scored) per epoch.
    graph : relational attention (False: MLP blocks). moe : sparse MoE fusion (False: masked
        mean). relations : subset of ("spatial", "spectral", "elevation"). images : use chips.
        position : use the position stream. time : use year/season when the corpus has dates.
    position_min_wavelength_km, position_frequencies : Fourier features of the position stream,
        wavelengths on the Earth's surface from 20,000 km down to ``position_min_wavelength_km``.
        Short wavelengths let the network memorise where the training points are, and it then
        extrapolates poorly into unsampled blocks: on LUCAS spatial CV (1° blocks, folds 0-1,
        one member) 10 km / 16 frequencies gave RMSE 13.93 g/kg, 150 km / 8 gave 13.81; the
        neighbours' labels carry the local detail instead.
    k_spatial, k_spectral, k_elevation_candidates, max_elevation_diff_m : graph building
        (:class:`~socspec.remote.graph.GraphSpec`).
    spectral_edges : "bands" (cosine kNN in the band spectra) or "latent" (cosine kNN in the
        abundances of a :class:`~socspec.remote.bridge.SensorBandAutoencoder` fitted on the
        corpus's band spectra). drop_ood_edges : nodes the bridge flags out-of-distribution lose
        spectral edges: all of them (``ood_spectral_k=0``, dropped) or all but their
        ``ood_spectral_k`` most similar partners (down-weighted in the across-relation attention;
        :class:`~socspec.remote.graph.GraphSpec`). ood_flags : fit the bridge anyway, so that
        ``predict_detail`` reports ``ood_score``, ``ood_threshold``, ``ood_flag`` (on whenever either option above is).
    init_from : a saved SpTGNN model folder (e.g. trained with ``--region global``) to fine-tune
        from (seed 004): its feature/target standardisation and its members' weights are the
        start (member m starts from saved member m mod M'); the same features, relations and
        streams are needed.
    backbone : "tiny" | "small" | "base" (TerraMind v1) or a terratorch backbone name.
    backbone_ckpt : local TerraMind weights (no downloads). freeze_backbone : compute image
        features once and keep the backbone fixed (None: frozen on CPU, fine-tuned on CUDA).
    calibration_fraction, calibration_block_deg : the held-out calibration/early-stopping split.
    full_graph_max_nodes, batch_size : above this many nodes train on k-hop subgraphs.
    device : "auto" | "cpu" | "cuda". checkpoint_dir : write member checkpoints there (keyed by
        a hash of the training data and settings); resume : continue from them.
    progress : tqdm bars. random_state : seed.
    """

    uses_corpus = True

    def __init__(self, features=None, n_members: int = 5, epochs: int = 300, patience: int = 40,
                 lr: float = 3e-3, weight_decay: float = 1e-3, hidden: int = 64, n_layers: int = 2,
                 heads: int = 4, dropout: float = 0.2, n_experts: int = 4, top_k: int = 2,
                 beta: float = 0.5, moran_weight: float = 0.1, balance_weight: float = 0.01,
                 label_features: bool = True, forest_covariate: bool = True,
                 label_mask_fraction: float = 0.5, graph: bool = True,
                 moe: bool = True, relations=("spatial", "spectral", "elevation"),
                 images: bool = True, position: bool = True, time: bool = True,
                 position_min_wavelength_km: float = 150.0, position_frequencies: int = 8,
                 k_spatial: int = 16, k_spectral: int = 8, k_elevation_candidates: int = 16,
                 max_elevation_diff_m: float = 50.0, spectral_edges: str = "bands",
                 drop_ood_edges: bool = False, ood_spectral_k: int = 0, ood_flags: bool = False, init_from=None,
                 backbone: str = "tiny",
                 backbone_ckpt=None, freeze_backbone: bool | None = None,
                 calibration_fraction: float = 0.15, calibration_block_deg: float = 1.0,
                 full_graph_max_nodes: int = 100_000, batch_size: int = 2048, device: str = "auto",
                 checkpoint_dir=None, resume: bool = False, progress: bool = False,
                 random_state: int = 0):
        self.features = features
        self.n_members = n_members
        self.epochs = epochs
        self.patience = patience
        self.lr = lr
        self.weight_decay = weight_decay
        self.hidden = hidden
        self.n_layers = n_layers
        self.heads = heads
        self.dropout = dropout
        self.n_experts = n_experts
        self.top_k = top_k
        self.beta = beta
        self.moran_weight = moran_weight
        self.balance_weight = balance_weight
        self.label_features = label_features
        self.forest_covariate = forest_covariate
        self.label_mask_fraction = label_mask_fraction
        self.graph = graph
        self.moe = moe
        self.relations = relations
        self.images = images
        self.position = position
        self.time = time
        self.position_min_wavelength_km = position_min_wavelength_km
        self.position_frequencies = position_frequencies
        self.k_spatial = k_spatial
        self.k_spectral = k_spectral
        self.k_elevation_candidates = k_elevation_candidates
        self.max_elevation_diff_m = max_elevation_diff_m
        self.spectral_edges = spectral_edges
        self.drop_ood_edges = drop_ood_edges
        self.ood_spectral_k = ood_spectral_k
        self.ood_flags = ood_flags
        self.init_from = init_from
        self.backbone = backbone
        self.backbone_ckpt = backbone_ckpt
        self.freeze_backbone = freeze_backbone
        self.calibration_fraction = calibration_fraction
        self.calibration_block_deg = calibration_block_deg
        self.full_graph_max_nodes = full_graph_max_nodes
        self.batch_size = batch_size
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.progress = progress
        self.random_state = random_state

    # ------------------------------------------------------------------ checks and pieces
    def _check_params(self):
        from .graph import RELATIONS

        if int(self.n_members) < 1:
            raise ValueError(f"n_members={self.n_members} must be >= 1")
        rel = [self.relations] if isinstance(self.relations, str) else list(self.relations)
        bad = [r for r in rel if r not in RELATIONS]
        if bad or not rel:
            raise ValueError(f"relations={self.relations!r}: use a non-empty subset of {RELATIONS}")
        if self.label_features and "spatial" not in rel:
            raise ValueError("label_features need the spatial relation (add 'spatial' to relations)")
        if not 0.0 < self.calibration_fraction < 0.5:
            raise ValueError(f"calibration_fraction={self.calibration_fraction} must be in (0, 0.5)")
        if not 0.0 < float(self.position_min_wavelength_km) < 20000.0 or int(self.position_frequencies) < 1:
            raise ValueError(f"position_min_wavelength_km={self.position_min_wavelength_km} must be in "
                             f"(0, 20000) km and position_frequencies={self.position_frequencies} >= 1")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device={self.device!r} must be 'auto', 'cpu' or 'cuda'")
        if self.spectral_edges not in ("bands", "latent"):
            raise ValueError(f"spectral_edges={self.spectral_edges!r} must be 'bands' or 'latent'")
        return tuple(rel)

    def _spec(self, relations):
        from .graph import GraphSpec

        return GraphSpec(relations=relations, k_spatial=self.k_spatial, k_spectral=self.k_spectral,
                         k_elevation_candidates=self.k_elevation_candidates,
                         max_elevation_diff_m=self.max_elevation_diff_m,
                         drop_ood_edges=bool(self.drop_ood_edges), ood_spectral_k=int(self.ood_spectral_k))

    def _train_config(self):
        from .training import TrainConfig

        return TrainConfig(epochs=self.epochs, patience=self.patience, lr=self.lr,
                           weight_decay=self.weight_decay, beta=self.beta,
                           moran_weight=self.moran_weight, balance_weight=self.balance_weight,
                           label_mask_fraction=self.label_mask_fraction,
                           full_graph_max_nodes=self.full_graph_max_nodes,
                           batch_size=self.batch_size)

    def _build_image_encoder(self, modalities, frozen, cache: bool = True):
        import torch

        from .encoders import ImageEncoder

        name = BACKBONES.get(self.backbone, self.backbone)
        ckpt = None if self.backbone_ckpt is None else str(self.backbone_ckpt)
        key = (name, tuple(modalities), ckpt, int(self.random_state), self.hidden)
        if frozen and cache and key in _FROZEN_ENCODERS:
            return _FROZEN_ENCODERS[key]
        torch.manual_seed(self.random_state)
        enc = ImageEncoder(backbone=name, modalities=tuple(modalities), ckpt_path=ckpt,
                           out_dim=self.hidden, freeze=frozen)
        if frozen and cache:
            _FROZEN_ENCODERS.clear()  # keep one: a backbone holds tens of MB
            _FROZEN_ENCODERS[key] = enc
        return enc

    def _image_features(self, chips, batch_size: int = 64) -> np.ndarray:
        import torch

        from .encoders import standardise_chips

        enc = self.image_encoder_
        enc.eval()
        with torch.no_grad():
            x = standardise_chips({k: chips[k] for k in self.image_modalities_})
            feats = enc.embed_backbone(x, batch_size=batch_size)
        return np.asarray(feats.detach().cpu().float().numpy() if hasattr(feats, "detach") else feats,
                          dtype=np.float32)

    def _node_arrays(self, corpus, image_features=None, forest_g_kg=None) -> dict:
        """Node inputs (numpy) of a corpus's points, in network units (``image_features``:
        already computed frozen features of these points; ``forest_g_kg``: their forest
        covariate, else the fitted forest predicts it)."""
        pts = corpus.points
        missing = [c for c in self.encoder_.columns if c not in pts.columns]
        if missing:
            from ..errors import SocspecInputError

            raise SocspecInputError(f"feature column(s) {', '.join(map(repr, missing))} missing "
                                    "from the points", path=corpus.meta.get("source"),
                                    column=missing[0], hint="the model was trained with "
                                    f"{', '.join(self.encoder_.columns)}")
        x_num, x_cat = self.encoder_.transform(pts)
        n = len(pts)
        years = _years(pts)
        years = np.full(n, np.nan) if years is None else years
        out = {"x_num": x_num, "x_cat": x_cat, "lat_deg": corpus.lat.astype(np.float32),
               "lon_deg": corpus.lon.astype(np.float32),
               "year": np.where(np.isfinite(years), years, self.encoder_.year_mean).astype(np.float32),
               "day_of_year": _day_of_year(pts).astype(np.float32),
               "time_present": np.isfinite(years)}
        if self.forest_covariate:
            if forest_g_kg is None:
                forest_g_kg = self.forest_.predict(corpus.feature_frame(self.encoder_.columns))
            ym, ys = self.encoder_.target
            out["forest_soc"] = ((np.asarray(forest_g_kg, np.float64) - ym) / ys).astype(np.float32)
        if self.image_dim_ is not None or self.image_trainable_:
            have = corpus.chips is not None and all(k in corpus.chips for k in self.image_modalities_)
            out["image_present"] = np.full(n, have)
            if self.image_trainable_:
                out["chips"] = ({k: np.asarray(corpus.chips[k], np.float32)
                                 for k in self.image_modalities_} if have else None)
            elif have:
                out["image"] = (self._image_features(corpus.chips) if image_features is None
                                else np.asarray(image_features, dtype=np.float32))
            else:
                out["image"] = np.zeros((n, self.image_dim_), dtype=np.float32)
        return out

    def _tensors(self, arrays: dict, device):
        import torch

        from .encoders import standardise_chips

        out = {}
        for k, v in arrays.items():
            if k == "chips":
                if v is None:
                    continue
                out[k] = {m: a.to(device) for m, a in standardise_chips(v).items()}
            else:
                out[k] = torch.as_tensor(v, device=device)
        return out

    def _new_model(self):
        from .model import SpTGNN

        return SpTGNN(n_numeric=len(self.encoder_.numeric),
                      cardinalities=[len(c) for c in self.encoder_.categorical.values()],
                      image_dim=self.image_dim_,
                      image_encoder=(self._build_image_encoder(self.image_modalities_, False)
                                     if self.image_trainable_ else None),
                      position=self.position, time=self.use_time_, labels=bool(self.label_features),
                      forest_covariate=bool(self.forest_covariate),
                      hidden=self.hidden, n_layers=self.n_layers,
                      num_relations=len(self.train_graph_.relations), heads=self.heads,
                      dropout=self.dropout, graph=self.graph, moe=self.moe,
                      n_experts=self.n_experts, top_k=self.top_k,
                      position_min_wavelength_km=self.position_min_wavelength_km,
                      position_frequencies=self.position_frequencies)

    # ------------------------------------------------------------------ fit
    def fit(self, corpus, y=None):
        """Train the ensemble on the labelled points of ``corpus`` (unlabelled ones are ignored)."""
        import torch

        from ..device import resolve_device
        from .graph import build_graph, join_graph
        from .training import train_member
        from .uq import VarianceScaler

        relations = self._check_params()
        config = self._train_config()
        device = resolve_device(self.device)
        lab = corpus.subset(corpus.labelled_mask())
        if len(lab) < 20:
            from ..errors import SocspecInputError

            raise SocspecInputError(f"only {len(lab)} labelled points: SpTGNN needs at least 20",
                                    path=corpus.meta.get("source"))
        t0 = time.perf_counter()
        features = [f for f in (self.features or lab.default_features())]
        frame = lab.feature_frame(features)
        y_g = lab.soc_g_kg
        self.notes_ = []
        donor = None
        if self.init_from is not None:  # fine-tune (seed 004): the donor's units and weights
            donor = SpTGNNRegressor.load(self.init_from, device="cpu")
            self.encoder_ = donor.encoder_
            self.notes_.append(f"initialised from {self.init_from} ({len(donor.members_)} members)")
        else:
            self.encoder_ = FeatureEncoder.fit(frame, y_g, _years(lab.points))
        years = _years(lab.points)
        self.use_time_ = bool(self.time and years is not None and np.isfinite(years).any())
        # image stream
        self.image_dim_, self.image_trainable_, self.image_modalities_ = None, False, ()
        self.image_encoder_ = None
        feats = None
        if self.images and lab.chips:
            frozen = (device.type == "cpu") if self.freeze_backbone is None else bool(self.freeze_backbone)
            self.image_modalities_ = tuple(k for k in ("s2", "s1", "dem") if k in lab.chips)
            if frozen:
                self.image_encoder_ = self._build_image_encoder(self.image_modalities_, True)
                feats = self._image_features(lab.chips)
                self.image_dim_ = int(feats.shape[1])
                self.notes_.append(f"image stream: {self.image_encoder_.backend} backbone "
                                   f"{self.backbone}, frozen features (D = {self.image_dim_})")
            else:
                self.image_trainable_ = True
                self.notes_.append(f"image stream: backbone {self.backbone} fine-tuned")
        elif self.images:
            self.notes_.append("image stream off: the corpus has no chips")
        forest_g = self._fit_forest(lab, frame, y_g) if self.forest_covariate else None
        arrays = self._node_arrays(lab, image_features=feats if self.image_dim_ else None,
                                   forest_g_kg=forest_g)
        # graph nodes: band spectra, else image embeddings for the spectral relation
        self.spectra_source_ = ("band_spectra" if lab.band_spectra is not None else
                                "image_embeddings" if "image" in arrays else None)
        self.bridge_ = self._fit_bridge(corpus)
        nodes = self._graph_nodes(lab, arrays)
        y_std = self.encoder_.y_to_std(y_g)
        cal = _calibration_split(lab.lat, lab.lon, self.calibration_fraction,
                                 self.calibration_block_deg, self.random_state)
        core_idx, cal_idx = np.flatnonzero(~cal), np.flatnonzero(cal)
        spec = self._spec(relations)
        core_graph = build_graph(nodes.take(core_idx), spec)
        self.notes_ += core_graph.notes
        self.train_graph_ = core_graph  # for _new_model's relation count
        val_graph = join_graph(core_graph, nodes.take(core_idx), nodes.take(cal_idx), spec)
        core_arr = _take_rows(arrays, core_idx)
        val_arr = _concat_rows(core_arr, _take_rows(arrays, cal_idx))
        ckpt_root = None
        if self.checkpoint_dir is not None:
            from ..runs import content_hash

            key = content_hash(lab.ids, y_g, json.dumps(self._identity(), sort_keys=True, default=str))
            ckpt_root = Path(self.checkpoint_dir) / f"sptgnn-{key[:16]}"
            ckpt_root.mkdir(parents=True, exist_ok=True)
        self.members_, self.histories_ = [], []
        cal_means, cal_vars = [], []
        for m in range(int(self.n_members)):
            seed = int(self.random_state) * 1000 + m
            torch.manual_seed(seed)
            model = self._new_model()
            if donor is not None:
                try:
                    model.load_state_dict(donor.members_[m % len(donor.members_)].state_dict())
                except RuntimeError as exc:
                    from ..errors import SocspecInputError

                    first = (str(exc).strip().splitlines() or ["mismatch"])[0][:160]
                    raise SocspecInputError(f"the init model does not match this network ({first})",
                                            path=self.init_from, hint="fine-tune with the same features, "
                                            "relations, image/position/time streams and forest covariate "
                                            "(--forest-covariate) as the init model") from None
            hist = train_member(
                model, train_inputs=self._tensors(core_arr, device), train_graph=core_graph,
                y_train_std=y_std[core_idx], val_inputs=self._tensors(val_arr, device),
                val_graph=val_graph, val_targets=np.arange(core_idx.size, core_idx.size + cal_idx.size),
                y_val_std=y_std[cal_idx], config=config, use_labels=bool(self.label_features),
                seed=seed, device=device,
                checkpoint=None if ckpt_root is None else ckpt_root / f"member{m}.pt",
                resume=bool(self.resume), progress=bool(self.progress),
                desc=f"sptgnn member {m + 1}/{self.n_members}")
            model.eval()
            self.members_.append(model)
            self.histories_.append(hist)
            mu, var = self._member_predict(model, val_arr, val_graph,
                                           np.arange(core_idx.size, core_idx.size + cal_idx.size),
                                           y_std[core_idx], core_idx.size, device)
            cal_means.append(mu)
            cal_vars.append(var)
        from .uq import combine_ensemble

        comb = combine_ensemble(np.stack(cal_means), np.stack(cal_vars))
        self.calibration_ = VarianceScaler().fit(y_g[cal_idx], comb["mean"], np.sqrt(comb["variance"]))
        # prediction graph: every training point
        self.train_nodes_ = nodes
        self.train_graph_ = build_graph(nodes, spec)
        self.train_arrays_ = arrays
        self.train_y_std_ = y_std
        self.train_ids_ = lab.ids
        self.relations_ = tuple(self.train_graph_.relations)
        self.n_calibration_ = int(cal_idx.size)
        self.fit_seconds_ = time.perf_counter() - t0
        self.device_ = str(device)
        return self

    def _fit_forest(self, lab, frame, y_g_kg) -> np.ndarray:
        """Fit ``forest_`` (a :class:`~socspec.remote.baselines.RandomForestBaseline` on the
        covariates) on all training points and return its *out-of-fold* predictions there
        (5 spatial-block folds of ``calibration_block_deg``), so no node's covariate saw its label."""
        from .baselines import RandomForestBaseline
        from .cv import block_ids, iter_folds, make_folds

        n_blocks = np.unique(block_ids(lab.lat, lab.lon, block_deg=self.calibration_block_deg)).size
        folds, _ = make_folds(lab.lat, lab.lon, scheme="spatial" if n_blocks >= 10 else "random",
                              n_folds=5, block_deg=self.calibration_block_deg, seed=int(self.random_state))
        oof = np.empty(len(lab))
        for _, tr, te in iter_folds(folds):
            rf = RandomForestBaseline(n_jobs=1, random_state=int(self.random_state))
            oof[te] = rf.fit(frame.iloc[tr], y_g_kg[tr]).predict(frame.iloc[te])
        self.forest_ = RandomForestBaseline(n_jobs=1, random_state=int(self.random_state)).fit(frame, y_g_kg)
        self.notes_.append("forest covariate: a random forest's out-of-fold SOC prediction from the "
                           "covariates is one more covariate (stacking)")
        return oof

    def _fit_bridge(self, corpus):
        """The sensor-band autoencoder (:mod:`socspec.remote.bridge`) on every point's band spectra
        (labels unused), when ``spectral_edges="latent"``, ``drop_ood_edges`` or ``ood_flags``."""
        if not (self.spectral_edges == "latent" or self.drop_ood_edges or self.ood_flags):
            return None
        from .bridge import SensorBandAutoencoder, valid_rows

        if corpus.band_spectra is None or valid_rows(corpus.band_spectra).sum() < 20:
            self.notes_.append("no bridge (latent spectral edges, OOD flags): fewer than 20 points with "
                               "complete band spectra; spectral edges use the bands")
            return None
        ok = valid_rows(corpus.band_spectra)
        x = corpus.band_spectra[ok]
        # positions: the calibration pixels' ones calibrate the area scores (ood-report --area-k)
        bridge = SensorBandAutoencoder(seed=int(self.random_state), progress=bool(self.progress)).fit(
            x, lat_deg=np.asarray(corpus.lat)[ok], lon_deg=np.asarray(corpus.lon)[ok])
        self.notes_.append(f"bridge: sensor-band autoencoder on {len(x)} band spectra, OOD threshold "
                           f"{bridge.ood_threshold_:.4g} (false alarm {bridge.false_alarm:.0%})")
        return bridge

    def _graph_nodes(self, corpus, arrays):
        """GraphNodes with the spectra the training graph used (None where unavailable); with a
        bridge, latent abundances (``spectral_edges="latent"``) and the OOD flag of every node."""
        from .graph import GraphNodes, node_elevation

        spectra, flag = None, None
        if self.spectra_source_ == "band_spectra" and corpus.band_spectra is not None:
            spectra = corpus.band_spectra
        elif self.spectra_source_ == "image_embeddings" and arrays.get("image") is not None \
                and arrays["image_present"].all():
            spectra = arrays["image"]
        bridge = getattr(self, "bridge_", None)
        if bridge is not None and corpus.band_spectra is not None:
            from .bridge import valid_rows

            ok = valid_rows(corpus.band_spectra)
            flag = bridge.score_frame(corpus.band_spectra)["ood_flag"].to_numpy(bool)
            if self.spectral_edges == "latent":
                spectra = np.full((len(corpus), len(bridge.latent_names_)), np.nan)
                if ok.any():
                    spectra[ok] = bridge.latent(corpus.band_spectra[ok])
        return GraphNodes(corpus.lat, corpus.lon, node_elevation(corpus), spectra, flag)

    def _identity(self) -> dict:
        p = self.get_params()
        for k in ("progress", "device", "checkpoint_dir", "resume", "epochs"):
            p.pop(k, None)
        return p

    def _member_predict(self, model, arrays, graph, targets, y_train_std, n_train, device):
        """(mean, variance) in g/kg of one member at ``targets`` of the joined graph
        (``y_train_std``: the values the first ``n_train`` nodes show as label features)."""
        import torch

        from .training import forward_nodes

        x = self._tensors(arrays, device)
        if self.label_features:
            from .training import set_label_features

            vis = np.zeros(graph.n_nodes, dtype=bool)
            vis[:n_train] = True
            y_all = np.full(graph.n_nodes, np.nan)
            y_all[:n_train] = y_train_std
            set_label_features(x, graph, y_all, vis, device)
        model.to(device).eval()
        with torch.no_grad():
            mu, log_var, _ = forward_nodes(
                model, x, torch.as_tensor(graph.edge_index, device=device),
                torch.as_tensor(graph.edge_type, device=device),
                torch.as_tensor(np.asarray(targets), dtype=torch.long, device=device),
                full_graph_max_nodes=self.full_graph_max_nodes, batch_size=self.batch_size,
                device=device)
        ym, ys = self.encoder_.target
        mu = mu.float().cpu().numpy().astype(np.float64)
        var = np.exp(log_var.float().cpu().numpy().astype(np.float64))
        return ym + ys * mu, ys ** 2 * var

    # ------------------------------------------------------------------ predict
    def predict_detail(self, corpus) -> pd.DataFrame:
        """Per point: ``soc_pred``, ``soc_sd``, ``aleatoric_sd``, ``epistemic_sd`` (g/kg, calibrated;
        soc_sd² = aleatoric_sd² + epistemic_sd²). The corpus's own SOC values are never read."""
        from ..device import resolve_device
        from .graph import join_graph
        from .uq import combine_ensemble

        if not hasattr(self, "members_"):
            raise ValueError("SpTGNNRegressor is not fitted: call fit(corpus) or load(dir) first")
        device = resolve_device(self.device)
        q = self._node_arrays(corpus)
        if self.image_trainable_ and q.get("chips") is None:
            raise ValueError("this model fine-tuned its image backbone: new points need chips of "
                             f"{', '.join(self.image_modalities_)} (pass chips)")
        nodes = self._graph_nodes(corpus, q)
        graph = join_graph(self.train_graph_, self.train_nodes_, nodes, self._spec(self.relations_))
        nt = len(self.train_nodes_)
        arrays = _concat_rows({k: v for k, v in self.train_arrays_.items() if k in q}, q)
        targets = np.arange(nt, nt + len(corpus))
        means, variances = [], []
        for model in self.members_:
            mu, var = self._member_predict(model, arrays, graph, targets, self.train_y_std_, nt, device)
            means.append(mu)
            variances.append(var)
        comb = combine_ensemble(np.stack(means), np.stack(variances))
        s = self.calibration_.scale_
        out = pd.DataFrame({"soc_pred": comb["mean"], "soc_sd": s * np.sqrt(comb["variance"]),
                            "aleatoric_sd": s * np.sqrt(comb["aleatoric_variance"]),
                            "epistemic_sd": s * np.sqrt(comb["epistemic_variance"])})
        if getattr(self, "bridge_", None) is not None and corpus.band_spectra is not None:
            out = pd.concat([out, self.bridge_.score_frame(corpus.band_spectra)], axis=1)
        return out

    def predict(self, corpus):
        """``(mean (n,), std (n,))`` in g/kg (calibrated ensemble)."""
        d = self.predict_detail(corpus)
        return d["soc_pred"].to_numpy(), d["soc_sd"].to_numpy()

    # ------------------------------------------------------------------ artifact
    def save(self, folder) -> Path:
        """Write the model folder (``folder`` must be new or empty); returns its path."""
        import torch

        from ..outputs import atomic_path, write_json
        from ..runs import write_manifest

        if not hasattr(self, "members_"):
            raise ValueError("nothing to save: the model is not fitted")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
        params["checkpoint_dir"] = None
        params["backbone_ckpt"] = None if self.backbone_ckpt is None else str(self.backbone_ckpt)
        params["init_from"] = None if self.init_from is None else str(self.init_from)
        cfg = {"params": params, "relations_built": list(self.relations_),
               "streams": list(self.members_[0].streams), "image_dim": self.image_dim_,
               "image_trainable": self.image_trainable_, "image_modalities": list(self.image_modalities_),
               "use_time": self.use_time_, "spectra_source": self.spectra_source_,
               "bridge": self.bridge_ is not None,
               "n_members": len(self.members_),
               "n_train": len(self.train_nodes_), "n_calibration": self.n_calibration_,
               "notes": list(self.notes_), "edge_convention": "row 0 source j, row 1 target i"}
        if self.forest_covariate:
            forest_arrays, cfg["forest"] = self.forest_.to_arrays()
            with atomic_path(folder / "forest.npz") as tmp, open(tmp, "wb") as fh:
                np.savez_compressed(fh, **forest_arrays)
        write_json(folder / "config.json", cfg)
        write_json(folder / "encoders.json", self.encoder_.to_dict())
        write_json(folder / "calibration.json", self.calibration_.to_dict())
        write_json(folder / "history.json", [
            {k: v for k, v in h.items()} for h in self.histories_])
        weights = {f"member{m}": {k: v.detach().cpu() for k, v in model.state_dict().items()}
                   for m, model in enumerate(self.members_)}
        if self.image_encoder_ is not None:
            weights["image_encoder"] = {k: v.detach().cpu()
                                        for k, v in self.image_encoder_.state_dict().items()}
        with atomic_path(folder / "weights.pt") as tmp:
            torch.save(weights, tmp)
        arrays = {f"node_{k}": np.asarray(v) for k, v in self.train_nodes_.to_arrays().items()}
        for k, v in self.train_arrays_.items():
            if k == "chips":
                arrays.update({f"chips_{m}": a for m, a in v.items()})
            elif k not in ("labels", "labels_present"):
                arrays[f"input_{k}"] = np.asarray(v)
        arrays.update(ids=np.asarray(self.train_ids_, dtype=str), y_std=self.train_y_std_,
                      edge_index=self.train_graph_.edge_index, edge_type=self.train_graph_.edge_type,
                      distance_km=self.train_graph_.distance_km)
        with atomic_path(folder / "training_points.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        if self.bridge_ is not None:
            self.bridge_.save(folder / "bridge")
        write_manifest(folder, MODEL_FORMAT, MODEL_FORMAT_VERSION)
        return folder

    @classmethod
    def load(cls, folder, device: str = "auto") -> SpTGNNRegressor:
        """Read a model folder written by :meth:`save` (checksums verified; no code is run)."""
        from ..runs import load_torch, read_json, verify_model_folder
        from .graph import GraphNodes, RelationGraph
        from .uq import VarianceScaler

        folder = Path(folder)
        verify_model_folder(folder, MODEL_FORMAT, MODEL_FORMAT_VERSION)
        cfg = read_json(folder / "config.json")
        p = dict(cfg["params"])
        p["relations"] = tuple(p["relations"])
        # folders written before these were parameters used the encoder's defaults of then
        p.setdefault("position_min_wavelength_km", 10.0)
        p.setdefault("position_frequencies", 16)
        p.setdefault("forest_covariate", False)
        p["device"] = device
        p["progress"] = False
        self = cls(**p)
        self.encoder_ = FeatureEncoder.from_dict(read_json(folder / "encoders.json"))
        self.calibration_ = VarianceScaler.from_dict(read_json(folder / "calibration.json"))
        self.histories_ = read_json(folder / "history.json")
        self.image_dim_ = cfg["image_dim"]
        self.image_trainable_ = bool(cfg["image_trainable"])
        self.image_modalities_ = tuple(cfg["image_modalities"])
        self.use_time_ = bool(cfg["use_time"])
        self.spectra_source_ = cfg["spectra_source"]
        self.bridge_ = None
        if cfg.get("bridge"):
            from .bridge import SensorBandAutoencoder

            self.bridge_ = SensorBandAutoencoder.load(folder / "bridge")
        self.relations_ = tuple(cfg["relations_built"])
        self.notes_ = list(cfg.get("notes", []))
        self.n_calibration_ = cfg.get("n_calibration")
        if self.forest_covariate:
            from .baselines import RandomForestBaseline

            with np.load(folder / "forest.npz", allow_pickle=False) as z:
                self.forest_ = RandomForestBaseline.from_arrays({k: z[k] for k in z.files}, cfg["forest"])
        with np.load(folder / "training_points.npz", allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        self.train_nodes_ = GraphNodes.from_arrays(
            {k[5:]: v for k, v in data.items() if k.startswith("node_")})
        self.train_arrays_ = {k[6:]: v for k, v in data.items() if k.startswith("input_")}
        if any(k.startswith("chips_") for k in data):
            self.train_arrays_["chips"] = {k[6:]: v for k, v in data.items() if k.startswith("chips_")}
        self.train_y_std_ = data["y_std"]
        self.train_ids_ = data["ids"]
        self.train_graph_ = RelationGraph(data["edge_index"], data["edge_type"], data["distance_km"],
                                          self.relations_, len(self.train_nodes_))
        weights = load_torch(folder / "weights.pt", map_location="cpu", what="weights.pt")
        if "image_encoder" in weights:
            self.image_encoder_ = self._build_image_encoder(self.image_modalities_,
                                                           not self.image_trainable_, cache=False)
            self.image_encoder_.load_state_dict(weights["image_encoder"])
            self.image_encoder_.eval()
        else:
            self.image_encoder_ = None
        self.members_ = []
        for m in range(int(cfg["n_members"])):
            model = self._new_model()
            model.load_state_dict(weights[f"member{m}"])
            model.eval()
            self.members_.append(model)
        self.device_ = device
        return self


def fit_and_save(corpus, folder, *, force: bool = False, **params) -> SpTGNNRegressor:
    """Train an :class:`SpTGNNRegressor` (``params``) on every labelled point of ``corpus`` and
    write its model folder (a new directory, or ``force`` to replace one atomically)."""
    from ..runs import RunDir

    with RunDir(folder, force=force) as run:
        model = SpTGNNRegressor(**params).fit(corpus)
        model.save(run.path)
    return model


def predict_points(model_dir, points, *, chips=None, device: str = "auto", id_col=None,
                   lat_col=None, lon_col=None, date_col=None, shift_scores: bool = False,
                   area_k: int = 0) -> tuple[pd.DataFrame, SpTGNNRegressor]:
    """Predict SOC at the points of a CSV/Parquet table (SOC column optional, never read for the
    prediction) with a saved model; returns ``(table, model)``, the table holding ``id``, ``lat``,
    ``lon``, ``soc_pred``, ``soc_sd``, ``aleatoric_sd``, ``epistemic_sd`` (g/kg). With
    ``shift_scores`` the points are also judged together by the bridge's corpus-level shift score
    (``shift_score``, ``shift_threshold``, ``shift_flag``: :meth:`~socspec.remote.bridge.
    SensorBandAutoencoder.shift_frame`); ``area_k`` ≥ 2 adds the area scores (``area_ood_*``, and
    ``area_shift_*`` with ``shift_scores``: :meth:`~socspec.remote.bridge.SensorBandAutoencoder.area_frame`)."""
    from ..errors import SocspecInputError
    from .corpus import read_corpus

    if int(area_k) < 0:
        raise SocspecInputError(f"area_k={area_k} must be ≥ 0 (0, 1: no area scores)")
    model = SpTGNNRegressor.load(model_dir, device=device)
    if (shift_scores or int(area_k) >= 2) and getattr(model, "bridge_", None) is None:
        raise SocspecInputError("shift and area scores come from the sensor-band autoencoder, and this model has "
                                "none", path=model_dir, hint="fit it with --ood-flags (or --spectral-edges latent)")
    corpus = read_corpus(points, chips=chips, require_target=False, id_col=id_col, lat_col=lat_col,
                         lon_col=lon_col, date_col=date_col)
    if model.image_modalities_ and chips is None:
        model.notes_.append("no --chips: the image stream is masked for these points")
    try:
        detail = model.predict_detail(corpus)
    except ValueError as exc:
        raise SocspecInputError(str(exc), path=points) from None
    if corpus.band_spectra is None and (shift_scores or int(area_k) >= 2):
        raise SocspecInputError("shift and area scores judge the points' band spectra, and this file has none",
                                path=points, hint="add the Sentinel-2 band columns (B1 … B12) the model was "
                                "fitted with, or leave out --shift-scores / --area-k")
    if shift_scores or int(area_k) >= 2:
        where = dict(lat_deg=corpus.lat, lon_deg=corpus.lon, area_k=int(area_k)) if int(area_k) >= 2 else {}
        if where:  # score_frame's own area columns (ood-score based); predict_detail gave the per-point ones
            area = model.bridge_.score_frame(corpus.band_spectra, **where)
            detail = pd.concat([detail, area[[c for c in area.columns if c.startswith("area_")]]], axis=1)
        if shift_scores:
            detail = pd.concat([detail, model.bridge_.shift_frame(corpus.band_spectra, **where)], axis=1)
    table = pd.concat([corpus.points[["id", "lat", "lon"]].reset_index(drop=True), detail], axis=1)
    return table, model
