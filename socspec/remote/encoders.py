"""Node-stream encoders of the SpTGNN: images (TerraMind), covariates, position, time.

Each encoder maps one stream of a batch of B points to (B, out_dim).

**Images.** :func:`build_terramind` builds a TerraMind v1 backbone through terratorch's
``BACKBONE_REGISTRY`` with ``pretrained=False`` (never a hub download) and optionally loads local
weights. The backbone does not normalise its input: :func:`standardise_chips` converts the
corpus's chip units to the units TerraMind v1 was pre-trained in and standardises each band with
the pre-training mean/std (``TERRAMIND_STATS``, terratorch's ``v1_pretraining_mean``/``_std``):

====  =================================  ====================  ===============================
key   corpus unit (simulate.py, corpus)  TerraMind modality    conversion to TerraMind's unit
====  =================================  ====================  ===============================
s2    L2A reflectance 0–1, 12 bands      S2L2A: digital        DN = 10000 · reflectance
      B1…B12 without B10                 numbers (DN)          ("percent": 100·, "dn": as is)
s1    VV, VH backscatter in dB           S1GRD: dB             as is ("linear": 10·log10(max(x, 1e-6)))
dem   elevation in metres                DEM: metres           as is ("km": 1000·)
====  =================================  ====================  ===============================

then x_std = (x − mean_c) / std_c per band c. (DN here is the pre-2022 L2A scaling without the
processing-baseline-04.00 +1000 offset, as TerraMind's S2 statistics imply.)

:class:`ImageEncoder` runs the backbone on standardised chips (any subset of modalities), resized
BILINEARLY to ``chip_size`` (default: the next multiple of 16 ≥ the chip's side — TerraMind's
patch size is 16), takes the LAST layer's tokens (B, T, D) — terratorch averages the modalities
token-wise (``merge_method="mean"``) — and MEAN-POOLS over the T = (S/16)² tokens → (B, D), then
a linear projection → (B, out_dim). Where terratorch is missing (or ``backbone="cnn"``), a
:class:`SmallCNN` stands in (``ImageEncoder.backend`` says which, and a warning is logged).

**Covariates** (:class:`CovariateEncoder`): numeric columns (standardised by the caller; NaN →
0 plus a per-column missing flag) and categorical codes through embeddings (code 0 =
unknown/missing) → MLP. **Position** (:class:`PositionEncoder`): the point on the unit sphere
p = (cos φ cos λ, cos φ sin λ, sin φ) and sin/cos(ω_k p) at geometric frequencies → MLP;
continuous across the dateline and the poles. **Time** (:class:`TimeEncoder`): scaled year and
the season as sin/cos(2π·doy/365.25) (masked where the day of year is unknown) → MLP.
"""
from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .corpus import CHIP_CHANNELS

__all__ = [
    "CHIP_UNITS",
    "PATCH_SIZE",
    "TERRAMIND_MODALITIES",
    "CovariateEncoder",
    "ImageEncoder",
    "PositionEncoder",
    "SmallCNN",
    "TimeEncoder",
    "build_terramind",
    "standardise_chips",
    "terramind_stats",
]

log = logging.getLogger(__name__)

#: corpus chip key -> TerraMind modality name (terratorch's names)
TERRAMIND_MODALITIES = {"s2": "S2L2A", "s1": "S1GRD", "dem": "DEM"}
_KEY_OF = {**{k: k for k in TERRAMIND_MODALITIES}, **{v: k for k, v in TERRAMIND_MODALITIES.items()}}
#: terratorch's keys for the v1 pre-training statistics of each modality
_STATS_KEYS = {"S2L2A": "untok_sen2l2a@224", "S1GRD": "untok_sen1grd@224", "DEM": "untok_dem@224"}
#: the units the corpus stores chips in (socspec.remote.corpus / simulate)
CHIP_UNITS = {"s2": "reflectance", "s1": "db", "dem": "m"}
_UNIT_CHOICES = {"s2": ("reflectance", "percent", "dn"), "s1": ("db", "linear"), "dem": ("m", "km")}
PATCH_SIZE = 16

# Copy of terratorch 1.2's v1_pretraining_mean / v1_pretraining_std for the three modalities,
# from terratorch/models/backbones/terramind/model/terramind_register.py — used ONLY when
# terratorch is not installed (the CNN fallback still needs standardised chips);
# tests/test_remote_encoders.py checks it equals terratorch's values.
_STATS_COPY = {
    "S2L2A": {"mean": [1390.458, 1503.317, 1718.197, 1853.91, 2199.1, 2779.975, 2987.011, 3083.234,
                       3132.22, 3162.988, 2424.884, 1857.648],
              "std": [2106.761, 2141.107, 2038.973, 2134.138, 2085.321, 1889.926, 1820.257,
                      1871.918, 1753.829, 1797.379, 1434.261, 1334.311]},
    "S1GRD": {"mean": [-12.599, -20.293], "std": [5.195, 5.890]},
    "DEM": {"mean": [670.665], "std": [951.272]},
}
_stats_cache: dict | None = None


def terramind_stats() -> dict:
    """``{"S2L2A" | "S1GRD" | "DEM": {"mean": [...], "std": [...]}}`` — TerraMind v1's per-band
    pre-training statistics, imported from terratorch (its copy above when not installed)."""
    global _stats_cache
    if _stats_cache is None:
        try:
            from terratorch.models.backbones.terramind.model.terramind_register import (
                v1_pretraining_mean,
                v1_pretraining_std,
            )
            _stats_cache = {m: {"mean": list(v1_pretraining_mean[k]), "std": list(v1_pretraining_std[k])}
                            for m, k in _STATS_KEYS.items()}
        except ImportError:
            _stats_cache = {m: {"mean": list(v["mean"]), "std": list(v["std"])} for m, v in _STATS_COPY.items()}
    return _stats_cache


def __getattr__(name):  # TERRAMIND_STATS is resolved lazily: importing terratorch costs seconds
    if name == "TERRAMIND_STATS":
        return terramind_stats()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _to_terramind_units(key: str, x: torch.Tensor, unit: str) -> torch.Tensor:
    if unit not in _UNIT_CHOICES[key]:
        raise ValueError(f"chips[{key!r}]: unit {unit!r} is not one of {', '.join(_UNIT_CHOICES[key])}")
    if unit == "reflectance":
        return x * 10000.0
    if unit == "percent":
        return x * 100.0
    if unit == "linear":
        return 10.0 * torch.log10(x.clamp_min(1e-6))
    if unit == "km":
        return x * 1000.0
    return x  # dn, db, m: already TerraMind's unit


def standardise_chips(chips: dict, units: dict | None = None) -> dict[str, torch.Tensor]:
    """Corpus chips -> TerraMind's standardised inputs.

    ``chips``: ``{"s2": (B, 12, H, W), "s1": (B, 2, H, W), "dem": (B, 1, H, W)}`` (any subset;
    numpy or torch; TerraMind names ``S2L2A``/``S1GRD``/``DEM`` are accepted as keys too).
    ``units``: per key, overriding :data:`CHIP_UNITS` (see the module docstring's table).
    Returns ``{"S2L2A" | "S1GRD" | "DEM": float32 tensor (B, C, H, W)}``, (x − mean_c)/std_c in
    TerraMind's units. NaN stays NaN (the encoders treat it as missing).
    """
    if not isinstance(chips, dict) or not chips:
        raise ValueError("chips must be a non-empty dict {'s2'|'s1'|'dem': (B, C, H, W) array}")
    units = {**CHIP_UNITS, **{_KEY_OF.get(k, k): v for k, v in (units or {}).items()}}
    unknown = [k for k in units if k not in CHIP_UNITS]
    if unknown:
        raise ValueError(f"units for unknown chip key(s) {unknown}; keys are s2, s1, dem")
    stats = terramind_stats()
    out = {}
    for raw_key, arr in chips.items():
        key = _KEY_OF.get(raw_key)
        if key is None:
            raise ValueError(f"unknown chip key {raw_key!r}: use s2, s1, dem (or S2L2A, S1GRD, DEM)")
        x = torch.as_tensor(np.asarray(arr) if not isinstance(arr, torch.Tensor) else arr).float()
        if x.dim() != 4 or x.shape[1] != CHIP_CHANNELS[key]:
            raise ValueError(f"chips[{raw_key!r}] must be (B, {CHIP_CHANNELS[key]}, H, W), got {tuple(x.shape)}")
        mod = TERRAMIND_MODALITIES[key]
        mean = torch.tensor(stats[mod]["mean"], dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(stats[mod]["std"], dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
        out[mod] = (_to_terramind_units(key, x, units[key]) - mean) / std
    return out


def build_terramind(backbone: str = "terramind_v1_tiny", modalities=("S2L2A", "S1GRD", "DEM"),
                    ckpt_path=None, img_size: int | None = None) -> nn.Module:
    """A TerraMind backbone from terratorch's registry, ``pretrained=False`` (no download).

    ``backbone``: ``terramind_v1_tiny`` (D = 192) / ``_small`` / ``_base`` / ``_large``.
    ``modalities``: TerraMind names (``S2L2A``, ``S1GRD``, ``DEM``) or corpus keys.
    ``ckpt_path``: a local state dict (``torch.save(model.state_dict())``, optionally under a
    ``state_dict``/``model`` key), loaded with ``torch.load(weights_only=True)``. Tensors the
    model does not have are ignored; a shape mismatch (e.g. positional embeddings of a 224-px
    checkpoint with another ``img_size``) or a file with no matching tensor is a ValueError.
    ``img_size``: the positional-embedding grid size (terratorch's default 224 when None); inputs
    of other sizes are interpolated by terratorch.
    Output of the model: a list of ``encoder_depth`` tensors (B, tokens, D).
    """
    from terratorch.registry import BACKBONE_REGISTRY

    mods = [TERRAMIND_MODALITIES.get(m, m) for m in modalities]
    bad = [m for m in mods if m not in _STATS_KEYS]
    if bad or not mods:
        raise ValueError(f"modalities must be a non-empty subset of S2L2A, S1GRD, DEM; got {list(modalities)}")
    kwargs = {} if img_size is None else {"img_size": int(img_size)}
    model = BACKBONE_REGISTRY.build(backbone, pretrained=False, modalities=mods, **kwargs)
    if ckpt_path is not None:
        _load_local_weights(model, ckpt_path)
    return model


def _load_local_weights(model: nn.Module, ckpt_path) -> None:
    state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{ckpt_path}: not a state dict")  # noqa: TRY004 — bad file content, not a bad argument
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own}
    if not matched:
        raise ValueError(f"{ckpt_path}: no tensor matches the {type(model).__name__} parameters "
                         f"(first keys: {list(state)[:3]})")
    wrong = [k for k, v in matched.items() if tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        raise ValueError(f"{ckpt_path}: {len(wrong)} tensor(s) have another shape than the model's, "
                         f"e.g. {wrong[0]} {tuple(matched[wrong[0]].shape)} vs {tuple(own[wrong[0]].shape)}"
                         " — a 224-px checkpoint needs the default img_size")
    missing = [k for k in own if k not in matched and not k.startswith("tokenizer")]
    if missing:
        log.warning("%s: %d backbone tensors not in the checkpoint keep their random init (e.g. %s)",
                    ckpt_path, len(missing), missing[0])
    model.load_state_dict(matched, strict=False)


class SmallCNN(nn.Module):
    """Stand-in image backbone: per-modality 3×3 conv stems (C_m → width), averaged over the
    modalities present (as TerraMind's token-wise mean), two conv/GELU layers, global mean pool.
    (B, C_m, H, W) per modality -> (B, width)."""

    def __init__(self, modalities=("S2L2A", "S1GRD", "DEM"), width: int = 64):
        super().__init__()
        self.stems = nn.ModuleDict({m: nn.Conv2d(CHIP_CHANNELS[_KEY_OF[m]], width, 3, padding=1)
                                    for m in modalities})
        self.body = nn.Sequential(nn.GELU(), nn.Conv2d(width, width, 3, padding=1), nn.GELU(),
                                  nn.Conv2d(width, width, 3, padding=1), nn.GELU())
        self.out_dim = width

    def forward(self, chips: dict) -> torch.Tensor:
        h = torch.stack([self.stems[m](x) for m, x in chips.items()], 0).mean(0)
        return self.body(h).mean(dim=(2, 3))


class ImageEncoder(nn.Module):
    """Chips -> (B, out_dim) through TerraMind (or :class:`SmallCNN`) and a linear projection.

    ``forward(chips)`` takes STANDARDISED chips (:func:`standardise_chips`), keyed by TerraMind
    names or corpus keys, any subset of the encoder's ``modalities``, each (B, C, H, W) with the
    same H, W. Chips are resized bilinearly to ``chip_size`` × ``chip_size`` (default: the next
    multiple of 16 ≥ max(H, W)); non-finite pixels become 0 (the band's pre-training mean).
    The backbone's last layer tokens are mean-pooled: (B, T, D) -> (B, D); then ``project``.

    ``freeze=True``: backbone parameters get ``requires_grad=False``, the backbone stays in eval
    mode and runs under ``no_grad``; :meth:`embed_backbone` computes the pooled (B, D) features
    in batches once per corpus, and :meth:`project` maps cached features to (B, out_dim).
    ``backbone="cnn"`` forces the stand-in; ``backend`` is "terramind" or "cnn".
    """

    def __init__(self, backbone: str = "terramind_v1_tiny", modalities=("s2", "s1", "dem"), ckpt_path=None,
                 out_dim: int = 64, freeze: bool = True, chip_size: int | None = None,
                 img_size: int | None = None):
        super().__init__()
        if not isinstance(out_dim, int) or out_dim < 1:
            raise ValueError(f"out_dim must be a positive int, got {out_dim!r}")
        if chip_size is not None and (chip_size < PATCH_SIZE or chip_size % PATCH_SIZE):
            raise ValueError(f"chip_size must be a positive multiple of {PATCH_SIZE}, got {chip_size}")
        mods = []
        for m in modalities:
            if m not in _KEY_OF:
                raise ValueError(f"unknown modality {m!r}: use s2, s1, dem")
            mods.append(TERRAMIND_MODALITIES[_KEY_OF[m]])
        if not mods:
            raise ValueError("modalities must not be empty")
        self.modalities, self.chip_size, self.freeze = tuple(mods), chip_size, bool(freeze)
        self.backend = "cnn"
        if backbone != "cnn":
            try:
                self.backbone = build_terramind(backbone, mods, ckpt_path=ckpt_path, img_size=img_size)
                self.backend = "terramind"
                self.backbone_dim = int(self.backbone.out_channels[-1])
            except ImportError as exc:
                msg = f"terratorch is not importable ({exc}); a small CNN stands in for TerraMind"
                log.warning(msg)
                warnings.warn(msg, RuntimeWarning, stacklevel=2)
        if self.backend == "cnn":
            if ckpt_path is not None and backbone == "cnn":
                raise ValueError("ckpt_path is for TerraMind weights; the CNN has none to load")
            self.backbone = SmallCNN(mods)
            self.backbone_dim = self.backbone.out_dim
        if self.freeze:
            self.backbone.requires_grad_(False)
            self.backbone.eval()
        self.proj = nn.Linear(self.backbone_dim, out_dim)
        self.out_dim = out_dim

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:
            self.backbone.eval()  # a frozen backbone never switches to training behaviour
        return self

    def _prepare(self, chips: dict) -> dict:
        if not isinstance(chips, dict) or not chips:
            raise ValueError("chips must be a non-empty dict of (B, C, H, W) tensors")
        out, shape = {}, None
        for raw_key, x in chips.items():
            key = _KEY_OF.get(raw_key)
            mod = None if key is None else TERRAMIND_MODALITIES[key]
            if mod not in self.modalities:
                raise ValueError(f"chips[{raw_key!r}]: not one of this encoder's modalities {self.modalities}")
            if x.dim() != 4 or x.shape[1] != CHIP_CHANNELS[key]:
                raise ValueError(f"chips[{raw_key!r}] must be (B, {CHIP_CHANNELS[key]}, H, W), got {tuple(x.shape)}")
            if shape is not None and (x.shape[0], *x.shape[2:]) != shape:
                raise ValueError("all chips must have the same batch size, H and W")
            shape = (x.shape[0], *x.shape[2:])
            out[mod] = torch.nan_to_num(x.float(), nan=0.0, posinf=0.0, neginf=0.0)
        size = self.chip_size or PATCH_SIZE * max(1, math.ceil(max(shape[1:]) / PATCH_SIZE))
        if self.backend == "terramind" and tuple(shape[1:]) != (size, size):
            out = {m: F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
                   for m, x in out.items()}
        return out

    def _pooled(self, chips: dict) -> torch.Tensor:
        x = self._prepare(chips)
        if self.backend == "terramind":
            return self.backbone(x)[-1].mean(dim=1)  # last layer (B, T, D) -> mean over tokens
        return self.backbone(x)

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """Cached pooled backbone features (B, D) -> (B, out_dim)."""
        if features.dim() != 2 or features.shape[1] != self.backbone_dim:
            raise ValueError(f"features must be (B, {self.backbone_dim}), got {tuple(features.shape)}")
        return self.proj(features)

    @torch.no_grad()
    def embed_backbone(self, chips: dict, batch_size: int = 256, progress: bool = False) -> torch.Tensor:
        """Pooled backbone features (B, D) for a whole corpus, in batches, without gradients.

        ``chips`` as in :meth:`forward` (tensors or numpy arrays, standardised). Runs in eval mode.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        chips = {k: torch.as_tensor(v) for k, v in chips.items()}
        n = next(iter(chips.values())).shape[0]
        device = next(self.parameters()).device
        was_training = self.backbone.training
        self.backbone.eval()
        from tqdm.auto import tqdm

        out = []
        try:
            for s in tqdm(range(0, n, batch_size), desc="image features", disable=not progress, unit="batch"):
                out.append(self._pooled({k: v[s:s + batch_size].to(device) for k, v in chips.items()}).float().cpu())
        finally:
            self.backbone.train(was_training and not self.freeze)
        return torch.cat(out) if out else torch.zeros(0, self.backbone_dim)

    def forward(self, chips: dict) -> torch.Tensor:
        if self.freeze:
            with torch.no_grad():
                feats = self._pooled(chips)
            return self.proj(feats)
        return self.proj(self._pooled(chips))


class CovariateEncoder(nn.Module):
    """Numeric (B, n_numeric) + categorical codes (B, n_cat) -> (B, out_dim).

    ``cardinalities[j]`` = number of KNOWN categories of column j; codes run 0..C_j with 0 =
    unknown/missing (its own learned embedding). Numeric inputs should be standardised by the
    caller; NaN becomes 0 with a per-column missing flag, so the MLP input is
    [x_num (n_numeric), isnan (n_numeric), emb_1 … emb_ncat (emb_dim each)] -> Linear -> GELU ->
    Linear(out_dim).
    """

    def __init__(self, n_numeric: int, cardinalities: list[int], out_dim: int = 64, emb_dim: int = 8):
        super().__init__()
        cards = [int(c) for c in cardinalities]
        if n_numeric < 0 or any(c < 1 for c in cards):
            raise ValueError(f"n_numeric must be >= 0 and every cardinality >= 1; got {n_numeric}, {cards}")
        if n_numeric == 0 and not cards:
            raise ValueError("CovariateEncoder needs at least one numeric or categorical column")
        if out_dim < 1 or emb_dim < 1:
            raise ValueError(f"out_dim and emb_dim must be >= 1, got {out_dim}, {emb_dim}")
        self.n_numeric, self.cardinalities = int(n_numeric), cards
        self.embeddings = nn.ModuleList(nn.Embedding(c + 1, emb_dim) for c in cards)
        width = 2 * self.n_numeric + emb_dim * len(cards)
        self.mlp = nn.Sequential(nn.Linear(width, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        b = x_num.shape[0] if x_num is not None else x_cat.shape[0]
        parts = []
        if self.n_numeric:
            if x_num.dim() != 2 or x_num.shape[1] != self.n_numeric:
                raise ValueError(f"x_num must be (B, {self.n_numeric}), got {tuple(x_num.shape)}")
            missing = torch.isnan(x_num)
            parts += [torch.nan_to_num(x_num.float(), nan=0.0), missing.float()]
        if self.cardinalities:
            if x_cat.dim() != 2 or x_cat.shape != (b, len(self.cardinalities)):
                raise ValueError(f"x_cat must be ({b}, {len(self.cardinalities)}), got {tuple(x_cat.shape)}")
            if x_cat.dtype not in (torch.int64, torch.int32):
                raise ValueError(f"x_cat must hold integer codes, got {x_cat.dtype}")
            high = torch.tensor(self.cardinalities, device=x_cat.device)
            if bool(((x_cat < 0) | (x_cat > high)).any()):
                raise ValueError(f"x_cat codes must lie in [0, cardinality] per column {self.cardinalities}")
            parts += [emb(x_cat[:, j].long()) for j, emb in enumerate(self.embeddings)]
        return self.mlp(torch.cat(parts, dim=1))


class PositionEncoder(nn.Module):
    """(lat, lon) in degrees -> (B, out_dim) via the point on the unit sphere.

    p = (cos φ cos λ, cos φ sin λ, sin φ) (3,); features [p, sin(ω_k p), cos(ω_k p)] for
    ``n_frequencies`` frequencies ω_k geometric between 2πR/λ_max and 2πR/λ_min (R = EARTH_RADIUS_KM;
    wavelengths on the Earth's surface from ``max_wavelength_km`` down to ``min_wavelength_km``),
    3 + 6K values -> Linear -> GELU -> Linear(out_dim). p is continuous in (lat, lon), so the
    encoding is too: λ = 180° and −180° give the same point, and every longitude at a pole too.
    """

    def __init__(self, out_dim: int = 64, n_frequencies: int = 16, min_wavelength_km: float = 10.0,
                 max_wavelength_km: float = 20000.0):
        super().__init__()
        if n_frequencies < 1 or out_dim < 1:
            raise ValueError(f"n_frequencies and out_dim must be >= 1, got {n_frequencies}, {out_dim}")
        if not 0 < min_wavelength_km < max_wavelength_km:
            raise ValueError("need 0 < min_wavelength_km < max_wavelength_km")
        from ..kernels.neighbours import EARTH_RADIUS_KM

        wavelengths_km = torch.logspace(math.log10(max_wavelength_km), math.log10(min_wavelength_km),
                                        n_frequencies, dtype=torch.float64)
        omega = 2 * math.pi * EARTH_RADIUS_KM / wavelengths_km
        self.register_buffer("omega", omega.float(), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(3 + 6 * n_frequencies, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    @staticmethod
    def unit_sphere(lat_deg: torch.Tensor, lon_deg: torch.Tensor) -> torch.Tensor:
        """(B,), (B,) degrees -> (B, 3) Cartesian point on the unit sphere (float64 maths)."""
        phi, lam = torch.deg2rad(lat_deg.double()), torch.deg2rad(lon_deg.double())
        return torch.stack([phi.cos() * lam.cos(), phi.cos() * lam.sin(), phi.sin()], dim=-1)

    def forward(self, lat_deg: torch.Tensor, lon_deg: torch.Tensor) -> torch.Tensor:
        if lat_deg.dim() != 1 or lat_deg.shape != lon_deg.shape:
            raise ValueError(f"lat_deg and lon_deg must both be (B,), got {tuple(lat_deg.shape)}, "
                             f"{tuple(lon_deg.shape)}")
        if not bool(torch.isfinite(lat_deg).all() & torch.isfinite(lon_deg).all()):
            raise ValueError("lat_deg and lon_deg must be finite")
        if bool((lat_deg.abs() > 90).any()):
            raise ValueError("latitudes must lie in [-90, 90] degrees")
        p = self.unit_sphere(lat_deg, lon_deg)                               # (B, 3) float64
        wp = p.unsqueeze(-1) * self.omega.double()                           # (B, 3, K)
        feats = torch.cat([p, wp.sin().flatten(1), wp.cos().flatten(1)], 1)  # (B, 3 + 6K)
        return self.mlp(feats.to(self.mlp[0].weight.dtype))


class TimeEncoder(nn.Module):
    """(year, day_of_year) -> (B, out_dim).

    Inputs [ (year − year_ref)/year_scale, year-missing flag, sin(2π doy/365.25),
    cos(2π doy/365.25), season-present flag ] -> Linear -> GELU -> Linear(out_dim). A NaN
    day_of_year zeroes the season pair and clears its flag (season masked); a NaN year likewise.
    """

    def __init__(self, out_dim: int = 64, year_ref: float = 2015.0, year_scale: float = 10.0):
        super().__init__()
        if out_dim < 1 or year_scale <= 0:
            raise ValueError(f"out_dim must be >= 1 and year_scale > 0, got {out_dim}, {year_scale}")
        self.year_ref, self.year_scale = float(year_ref), float(year_scale)
        self.mlp = nn.Sequential(nn.Linear(5, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def features(self, year: torch.Tensor, day_of_year: torch.Tensor) -> torch.Tensor:
        """The (B, 5) inputs of the MLP (see the class docstring)."""
        if year.dim() != 1 or year.shape != day_of_year.shape:
            raise ValueError(f"year and day_of_year must both be (B,), got {tuple(year.shape)}, "
                             f"{tuple(day_of_year.shape)}")
        y = year.double()
        d = day_of_year.double()
        y_ok, d_ok = torch.isfinite(y), torch.isfinite(d)
        ys = torch.where(y_ok, (y - self.year_ref) / self.year_scale, torch.zeros_like(y))
        ang = 2 * math.pi * torch.where(d_ok, d, torch.zeros_like(d)) / 365.25
        season = torch.stack([ang.sin(), ang.cos()], 1) * d_ok.unsqueeze(1)
        return torch.cat([ys[:, None], (~y_ok).double()[:, None], season, d_ok.double()[:, None]], 1)

    def forward(self, year: torch.Tensor, day_of_year: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.features(year, day_of_year).to(self.mlp[0].weight.dtype))
