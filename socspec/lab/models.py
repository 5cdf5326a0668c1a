"""Torch modules of the lab autoencoder (seed 003, figure 1 and appendix B).

Shapes: a batch of spectra ``R`` is (B, M) reflectance 0–1 on the model grid; the latent
``m̂`` is (B, K) mass fractions (softmax, rows sum to one); ``SOC_INDEX`` (= 0) is the SOC latent.

Parameter count of the default encoder (M→H→H→K, ReLU, softmax): M·H + H + H·H + H + H·K + K
(+ 2·M non-trainable standardisation buffers). For M = 2136, H = 512, K = 94 that is 1,405,022.
Seed 003 states 1,944,360 for its encoder; no plain dense layout with H = 512 reproduces that
number exactly (M→H→H→H→H→K gives 1,930,334), so we keep the simpler two-hidden-layer layout and
expose ``n_hidden_layers`` for anyone who wants the deeper one.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

SOC_INDEX = 0


def _mlp(n_in: int, hidden: int, n_out: int, n_hidden_layers: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(n_hidden_layers):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


READOUT_MAX_COMPONENTS = 30  # the linear SOC readout's buffers hold up to this many PLS components
SOC_DEEP_SCALE = 0.01  # SOC mass fraction per unit of the MLP's SOC output when the readout is on
_SOC_FLOOR_SHARPNESS = 500.0  # softplus β (1/mass fraction): ≈ identity above ~5 g/kg, 1.4 g/kg at 0


class LinearSOCReadout(nn.Module):
    """The wide part of a wide & deep SOC head: a PLS-shaped linear readout of absorbance.

    s(R) = b + Σ_c q_c t_c,  t_c = ((A − μ_A) · v_c) / σ_c,  A = log10(1/R)   (B, M) → (B,)

    v_c (M,) are PLS weight vectors (x_rotations) fitted on the training fold, σ_c the training
    scores' standard deviations (so that Adam's per-parameter steps move every component alike),
    q (C_max,) and b are learnable and start at the PLS regression (:meth:`set_from_pls`), so the
    readout starts as exactly that fold's PLSR prediction in SOC mass fraction. Unused components
    (c ≥ the CV-chosen count) have v_c = 0: their score is 0 and their q_c never moves.
    """

    def __init__(self, n_wavelengths: int, max_components: int = READOUT_MAX_COMPONENTS, allow_snv: bool = False):
        super().__init__()
        # allow_snv: a buffer snv_ (0/1) says whether absorbance is SNV-normalised per scan before the
        # scores (the blend's tuned PLSR); the encoders' readouts never are, and keep their old state
        self.register_buffer("snv_", torch.zeros(()) if allow_snv else None)  # None: not in the state
        self.register_buffer("absorbance_mean_", torch.zeros(n_wavelengths))
        self.register_buffer("rotations_", torch.zeros(n_wavelengths, max_components))
        self.register_buffer("score_scale_", torch.ones(max_components))
        self.q = nn.Parameter(torch.zeros(max_components))
        self.b = nn.Parameter(torch.zeros(()))

    @torch.no_grad()
    def set_from_pls(self, absorbance_mean, rotations, y_loadings, y_mean: float, score_scale,
                     snv: bool = False) -> None:
        """Load a fitted PLS: μ_A (M,), rotations (M, c), y_loadings (c,) and ŷ's mean (mass
        fraction), score standard deviations (c,); c ≤ C_max. ``snv``: A is SNV-normalised per scan
        (row mean 0, sd 1 with ddof 1) before μ_A and the rotations apply (needs ``allow_snv``). A
        linear pre-treatment (a Savitzky–Golay derivative S) is folded into the rotations (S·v_c)."""
        if snv and self.snv_ is None:
            raise ValueError("this readout was built without allow_snv")
        if self.snv_ is not None:
            self.snv_.fill_(1.0 if snv else 0.0)
        rot = np.asarray(rotations, dtype=np.float64)
        c = rot.shape[1]
        if rot.shape[0] != self.rotations_.shape[0] or c > self.rotations_.shape[1]:
            raise ValueError(f"rotations must be ({self.rotations_.shape[0]}, ≤{self.rotations_.shape[1]}), "
                             f"got {rot.shape}")
        sd = np.where(np.asarray(score_scale, np.float64) > 1e-12, score_scale, 1.0)
        dt = self.rotations_.dtype
        self.absorbance_mean_.copy_(torch.as_tensor(np.asarray(absorbance_mean, np.float64), dtype=dt))
        self.rotations_.zero_()
        self.rotations_[:, :c] = torch.as_tensor(rot, dtype=dt)
        self.score_scale_.fill_(1.0)
        self.score_scale_[:c] = torch.as_tensor(sd, dtype=dt)
        self.q.zero_()
        self.q[:c] = torch.as_tensor(np.asarray(y_loadings, np.float64).reshape(-1) * sd, dtype=dt)
        self.b.fill_(float(y_mean))

    def forward(self, reflectance: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=reflectance.device.type, enabled=False):
            a = -torch.log10(reflectance.float().clamp_min(1e-4))
            if self.snv_ is not None and bool(self.snv_ > 0):
                a = (a - a.mean(dim=1, keepdim=True)) / a.std(dim=1, keepdim=True)  # sd ddof 1, as snv_values
            t = (a - self.absorbance_mean_) @ self.rotations_ / self.score_scale_
            return t @ self.q + self.b


class Encoder(nn.Module):
    """E: R (B, M) → m̂ (B, K), m̂ = softmax(MLP((R − μ)/s)).

    μ, s (M,) are per-wavelength standardisation buffers set from the training spectra
    (:meth:`set_standardisation`); they are part of the saved state.

    ``soc_readout=True`` (wide & deep SOC head): m̂_SOC = softplus_β(s(R) + 0.01·z_SOC) (at most
    0.9) with s the :class:`LinearSOCReadout` and z_SOC the MLP's SOC output, and the other
    latents share the rest: m̂_k = (1 − m̂_SOC)·softmax(z_1..K−1)_k. Rows still sum to one, so the
    decoders mix them as before. Why: on small libraries (≈100 scans) the deep SOC path alone
    stays below PLSR; with the linear path it starts at PLSR and learns only what PLSR misses.
    """

    def __init__(self, n_wavelengths: int, n_latent: int, hidden: int = 512, n_hidden_layers: int = 2,
                 n_extra: int = 0, soc_readout: bool = False):
        super().__init__()
        if n_extra < 0:
            raise ValueError(f"n_extra must be >= 0, got {n_extra}")
        self.n_latent = int(n_latent)
        self.n_extra = int(n_extra)  # per-scan decoder inputs beside m̂ (photometric scale, water path)
        self.net = _mlp(n_wavelengths, hidden, n_latent + n_extra, n_hidden_layers)
        self.readout = LinearSOCReadout(n_wavelengths) if soc_readout else None
        self.register_buffer("mean_", torch.zeros(n_wavelengths))
        self.register_buffer("scale_", torch.ones(n_wavelengths))

    def set_standardisation(self, reflectance: np.ndarray) -> None:
        mu = np.asarray(reflectance, dtype=np.float64).mean(axis=0)
        sd = np.asarray(reflectance, dtype=np.float64).std(axis=0)
        sd = np.where(sd > 1e-6, sd, 1.0)  # flat channels: leave unscaled rather than divide by ~0
        self.mean_.copy_(torch.as_tensor(mu, dtype=self.mean_.dtype))
        self.scale_.copy_(torch.as_tensor(sd, dtype=self.scale_.dtype))

    def init_latent_prior(self, soc_fraction_mean: float, soc_index: int = 0, output_scale: float = 0.01,
                       other_fractions=None) -> None:
        """Start m̂ at a prior instead of the uniform 1/K: m̂_SOC at the training mean and, when
        ``other_fractions`` (K−1,) is given, the other latents at those mass fractions (the physics
        decoder passes the library's best mixture for the mean training spectrum,
        :meth:`PhysicsDecoder.mixture_prior`); otherwise they share 1 − m̂_SOC equally.

        With σ_SOC = 0.0041 the SOC term's first gradients are huge when m̂_SOC starts at 1/K
        (≈ 0.06 against typical 0.01): a few Adam steps overshoot the SOC logit to −∞, where the
        softmax gradient m̂(1 − m̂) vanishes and the SOC output dies (predicts 0 for every scan).
        Shrinking the output layer and setting the biases to log m̂_prior avoids that.
        """
        last = self.net[-1]
        k = self.n_latent
        p = float(np.clip(soc_fraction_mean, 1e-4, 0.5))
        if other_fractions is None:
            rest = np.full(k - 1, 1.0 / (k - 1))
        else:
            rest = np.asarray(other_fractions, dtype=np.float64).reshape(-1)
            if rest.shape != (k - 1,) or not np.all(np.isfinite(rest)) or np.any(rest < 0) or rest.sum() <= 0:
                raise ValueError(f"other_fractions must be {k - 1} finite non-negative numbers, got shape {rest.shape}")
            rest = np.clip(rest / rest.sum(), 1e-4, None)  # no latent starts dead
            rest = rest / rest.sum()
        m = np.insert((1.0 - p) * rest, soc_index, p)
        with torch.no_grad():
            last.weight.mul_(output_scale)
            last.bias[:k].copy_(torch.as_tensor(np.log(m), dtype=last.bias.dtype))
            last.bias[k:].zero_()  # per-scan extras start at their neutral value
            if self.readout is not None:  # SOC starts at the readout alone (set_from_pls); still learns
                last.weight[soc_index].zero_()
                last.bias[soc_index] = 0.0

    def logits(self, reflectance: torch.Tensor) -> torch.Tensor:
        return self.net((reflectance - self.mean_) / self.scale_)

    def forward_with_extras(self, reflectance: torch.Tensor):
        """(m̂ (B, K), extras (B, n_extra) raw outputs) from one pass."""
        z = self.logits(reflectance).float()
        # softmax in float32 even under bf16 autocast: SOC fractions ~0.01 need the mantissa
        if self.readout is None:
            return torch.softmax(z[:, :self.n_latent], dim=-1), z[:, self.n_latent:]
        s = self.readout(reflectance) + SOC_DEEP_SCALE * z[:, SOC_INDEX]
        m_soc = (nn.functional.softplus(s * _SOC_FLOOR_SHARPNESS) / _SOC_FLOOR_SHARPNESS).clamp(max=0.9)
        rest = torch.softmax(z[:, SOC_INDEX + 1:self.n_latent], dim=-1) * (1.0 - m_soc)[:, None]
        return torch.cat([m_soc[:, None], rest], dim=1), z[:, self.n_latent:]

    def forward(self, reflectance: torch.Tensor) -> torch.Tensor:
        return self.forward_with_extras(reflectance)[0]


class AnnDecoder(nn.Module):
    """D_ANN: m̂ (B, K) → R̂ (B, M) = sigmoid(MLP(m̂)); the encoder's mirror (M↔K, softmax→sigmoid)."""

    def __init__(self, n_latent: int, n_wavelengths: int, hidden: int = 512, n_hidden_layers: int = 2):
        super().__init__()
        self.net = _mlp(n_latent, hidden, n_wavelengths, n_hidden_layers)

    @torch.no_grad()
    def init_mean_spectrum(self, mean_reflectance: np.ndarray, output_scale: float = 1.0) -> None:
        """Start R̂ near the mean training spectrum R̄ (M,): output bias logit(R̄) (output weights
        times ``output_scale``). Why: from sigmoid(≈0) = 0.5 everywhere the first epochs'
        reconstruction gradients flow into the encoder's latents (SOC among them) just to shift
        the level. The weights are left at full scale by default: shrunk (0.1) the decoder learns
        the spectral shapes so slowly that after a few hundred epochs its reconstruction error of
        unseen minerals hardly exceeds that of familiar soils (OOD flags lost)."""
        r = np.clip(np.asarray(mean_reflectance, dtype=np.float64).reshape(-1), 1e-3, 1 - 1e-3)
        last = self.net[-1]
        if r.shape != (last.out_features,):
            raise ValueError(f"mean_reflectance must have shape ({last.out_features},), got {r.shape}")
        last.weight.mul_(output_scale)
        last.bias.copy_(torch.as_tensor(np.log(r / (1 - r)), dtype=last.bias.dtype))

    def forward(self, m: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(m).float())


class PhysicsDecoder(nn.Module):
    """Mixing decoder with the mass → area conversion (seed 003 eq. 2), optionally intimate
    (Hapke) mixing and per-scan photometric / liquid-water terms (:mod:`socspec.lab.mixing`).

    ``mixing="linear"`` (seed 003 exactly):
      R̂_i(λ_j) = Σ_k α_ik f_k(λ_j),   α_ik = (m̂_ik / ρ_k r_k) / Σ_l (m̂_il / ρ_l r_l),   Σ_k α_ik = 1.
    ``mixing="hapke"``: the same α mix single-scattering albedos w_k = w(f_k) and the mixture's
      albedo is turned back into reflectance: R̂_i = REFF(Σ_k α_ik w_k) (Hapke 1981).
    Per-scan extras (B, n_extra) from the encoder, in this order when enabled:
      ``photometric``: s_i = exp(clamp(z, −3, 3)) (grain size / packing / illumination brightness);
      ``water``: d_i = 20 µm · softplus(z − 3) ≥ 0, an effective liquid-water path (≈ 1 µm at z = 0),
      R̂_i(λ) ← s_i · R̂_i(λ) · exp(−2 κ_w(λ) d_i) with κ_w liquid water's absorption coefficient.

    * f_k (K−1, M) mineral spectra and ρ_k r_k (K−1,) in mg m⁻² are fixed buffers (library resampled
      to the model grid); index 0 (``SOC_INDEX``) is SOC.
    * f_SOC(λ) = sigmoid(θ_λ) (linear) or REFF(sigmoid(θ_λ)) (hapke: θ is the albedo logit), always
      inside [0, 1] (sigmoid rather than clamp so the gradient never dies at the bounds). θ starts
      at f_SOC = 0.5 (``f_soc_init="flat"``, seed 003) or at a near-black ramp 0.04 → 0.14 from
      350 to 2500 nm (``"dark"``: humified organic matter; SOC is a few % of the mass, so f_SOC
      gets little gradient and moves slowly from wherever it starts).
    * (ρ r)_SOC = exp(φ), φ initialised at log(mean ρ_k r_k of the minerals) → always positive.
    * ``alpha_conversion=False`` is appendix B's ablation: all ρ r → 1, i.e. α = m̂.
    * ``wavelength_nm`` (M,) is needed only for the water term.
    """

    def __init__(self, mineral_spectra: np.ndarray, mineral_rho_r: np.ndarray, alpha_conversion: bool = True,
                 mixing: str = "linear", photometric: bool = False, water: bool = False, wavelength_nm=None,
                 f_soc_init: str = "flat"):
        super().__init__()
        from .mixing import MIXING, hapke_albedo, water_absorption_per_cm
        f = np.asarray(mineral_spectra, dtype=np.float32)
        rr = np.asarray(mineral_rho_r, dtype=np.float64)
        if f.ndim != 2 or rr.shape != (f.shape[0],):
            raise ValueError(f"mineral spectra (K-1, M) and rho_r (K-1,) disagree: {f.shape} vs {rr.shape}")
        if not np.all(np.isfinite(f)):
            raise ValueError("mineral spectra contain NaN on the model grid; resample/fill the library first")
        if not np.all(np.isfinite(rr)) or np.any(rr <= 0):
            raise ValueError(f"mineral rho*r must be positive and finite, got {rr}")
        if mixing not in MIXING:
            raise ValueError(f"mixing must be one of {MIXING}, got {mixing!r}")
        if water and (wavelength_nm is None or np.asarray(wavelength_nm).shape != (f.shape[1],)):
            raise ValueError(f"the water term needs wavelength_nm of shape ({f.shape[1]},)")
        self.alpha_conversion = bool(alpha_conversion)
        self.mixing = mixing
        self.photometric = bool(photometric)
        self.water = bool(water)
        self.n_extra = int(self.photometric) + int(self.water)
        self.register_buffer("f_minerals", torch.as_tensor(f))
        self.register_buffer("rho_r_minerals", torch.as_tensor(rr, dtype=torch.float32))
        if f_soc_init == "flat":  # seed 003: f_SOC = 0.5 everywhere
            f0 = np.full(f.shape[1], 0.5)
        elif f_soc_init == "dark":  # humified organic matter is near-black, slowly rising with λ
            if wavelength_nm is None or np.asarray(wavelength_nm).shape != (f.shape[1],):
                raise ValueError(f"f_soc_init='dark' needs wavelength_nm of shape ({f.shape[1]},)")
            f0 = 0.04 + 0.10 * np.clip((np.asarray(wavelength_nm, np.float64) - 350.0) / 2150.0, 0.0, 1.0)
        else:
            raise ValueError(f"f_soc_init must be 'flat' or 'dark', got {f_soc_init!r}")
        if mixing == "hapke":
            self.register_buffer("w_minerals", torch.as_tensor(hapke_albedo(f.astype(np.float64)), dtype=torch.float32))
            f0 = hapke_albedo(f0)  # θ is the albedo logit in intimate mixing
        self.f_soc_logit = nn.Parameter(torch.as_tensor(np.log(f0 / (1 - f0)), dtype=torch.float32))
        if self.water:
            kappa_per_um = water_absorption_per_cm(wavelength_nm) / 1e4
            self.register_buffer("water_k2_per_um", torch.as_tensor(2.0 * kappa_per_um, dtype=torch.float32))
        self.log_rho_r_soc = nn.Parameter(torch.tensor(float(np.log(rr.mean()))))

    @property
    def f_soc(self) -> torch.Tensor:
        """f_SOC(λ) (M,) as reflectance, whatever the mixing."""
        if self.mixing == "hapke":
            from .mixing import hapke_reflectance
            return hapke_reflectance(torch.sigmoid(self.f_soc_logit))
        return torch.sigmoid(self.f_soc_logit)

    @property
    def rho_r_soc(self) -> torch.Tensor:
        return torch.exp(self.log_rho_r_soc)

    def endmember_spectra(self) -> torch.Tensor:
        """F (K, M): row 0 is f_SOC, rows 1.. the minerals."""
        return torch.cat([self.f_soc[None, :], self.f_minerals], dim=0)

    def alpha(self, m: torch.Tensor) -> torch.Tensor:
        """Area fractions α (B, K) from mass fractions m̂ (B, K)."""
        m = m.float()
        if not self.alpha_conversion:
            return m / m.sum(dim=-1, keepdim=True)
        rho_r = torch.cat([self.rho_r_soc.reshape(1), self.rho_r_minerals])
        w = m / rho_r
        return w / w.sum(dim=-1, keepdim=True)

    @torch.no_grad()
    def mixture_prior(self, mean_reflectance: np.ndarray, sum_weight: float = 100.0,
                      soc_fraction: float = 0.0) -> np.ndarray:
        """Mineral mass fractions (K−1,) whose mixture best reproduces ``mean_reflectance`` (M,).

        Area fractions a ≥ 0, Σ a = 1 − a_SOC minimise ‖a_SOC f_SOC + Σ_k a_k f_k − R̄‖² (scipy NNLS
        with a heavily weighted sum row: scipy has no simplex-constrained least squares), then mass
        fractions m_k ∝ a_k ρ_k r_k (eq. 2 inverted; m ∝ a without the α conversion). a_SOC is
        taken as ``soc_fraction`` (the SOC latent's start; (ρr)_SOC starts at the minerals' mean).
        Hapke mixing fits the same in albedo space (intimate mixing is linear there); the per-scan
        terms' start (scale 1, the water path's small start value) is divided out of R̄ first.

        Why: a uniform start mixes the library's bright powders (reflectance ≈ 0.5 against ≈ 0.2
        for soils), so the first hundreds of epochs are spent darkening the mixture and the
        encoder abuses the SOC latent to do it — on small libraries SOC never recovers
        (test R² < 0 on the LimeSoDa sets). Starting at the best mixture of the mean spectrum
        leaves reconstruction little to undo.
        """
        from scipy.optimize import nnls

        from .mixing import hapke_albedo
        hapke = self.mixing == "hapke"  # intimate mixing is linear in albedo: fit there
        f = (self.w_minerals if hapke else self.f_minerals).double().cpu().numpy()
        r = np.asarray(mean_reflectance, dtype=np.float64).reshape(-1)
        if r.shape != (f.shape[1],):
            raise ValueError(f"mean_reflectance must have shape ({f.shape[1]},), got {r.shape}")
        if self.n_extra:
            scale, water = self.scan_terms(torch.zeros(1, self.n_extra, device=self.f_minerals.device))
            start = torch.ones_like(self.f_minerals[0])
            if scale is not None:
                start = start * scale[0]
            if water is not None:
                start = start * torch.exp(-water[0] * self.water_k2_per_um)
            r = r / start.double().cpu().numpy()
        jac = np.ones_like(r)
        if hapke:  # rows weighted by dREFF/dw at the target: least squares in reflectance to first order
            from .mixing import hapke_reflectance
            r = hapke_albedo(r)
            eps = 1e-4
            jac = (hapke_reflectance(np.clip(r + eps, 0, 1)) - hapke_reflectance(np.clip(r - eps, 0, 1))) / (
                np.clip(r + eps, 0, 1) - np.clip(r - eps, 0, 1))
        p = float(np.clip(soc_fraction, 0.0, 0.5))
        f_soc = torch.sigmoid(self.f_soc_logit).double().cpu().numpy() if hapke else self.f_soc.double().cpu().numpy()
        a_mat = np.vstack([f.T * jac[:, None], np.full((1, f.shape[0]), sum_weight)])
        a, _ = nnls(a_mat, np.concatenate([(r - p * f_soc) * jac, [sum_weight * (1.0 - p)]]))
        if not np.isfinite(a).all() or a.sum() <= 0:  # degenerate library: fall back to the uniform start
            return np.full(f.shape[0], 1.0 / f.shape[0])
        a = a / a.sum()
        m = a * self.rho_r_minerals.double().cpu().numpy() if self.alpha_conversion else a
        return m / m.sum()

    def scan_terms(self, extras: torch.Tensor):
        """(scale (B,) or None, water path µm (B,) or None) from the encoder's extras (B, n_extra)."""
        extras = extras.float()
        scale = torch.exp(extras[:, 0].clamp(-3.0, 3.0)) if self.photometric else None
        water = 20.0 * nn.functional.softplus(extras[:, int(self.photometric)] - 3.0) if self.water else None
        return scale, water

    def forward(self, m: torch.Tensor, extras: torch.Tensor | None = None) -> torch.Tensor:
        # the mixing product stays in float32 (it is tiny; bf16 would cost reconstruction accuracy)
        with torch.autocast(device_type=m.device.type, enabled=False):
            a = self.alpha(m)
            if self.mixing == "hapke":
                from .mixing import hapke_reflectance
                w = torch.cat([torch.sigmoid(self.f_soc_logit)[None, :], self.w_minerals], dim=0)
                r = hapke_reflectance(a @ w)
            else:
                r = a @ self.endmember_spectra()
            if self.n_extra:
                if extras is None or extras.shape[-1] != self.n_extra:
                    raise ValueError(f"this decoder needs {self.n_extra} per-scan extras from the encoder")
                scale, water = self.scan_terms(extras)
                if scale is not None:
                    r = r * scale[:, None]
                if water is not None:
                    r = r * torch.exp(-water[:, None] * self.water_k2_per_um)
            return r


class LabAutoencoder(nn.Module):
    """Encoder + optional decoder. ``forward(R) → (m̂ (B, K), R̂ (B, M) or None)``."""

    def __init__(self, encoder: Encoder, decoder: nn.Module | None):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, reflectance: torch.Tensor) -> torch.Tensor:
        """m̂ (B, K) only (no decoding)."""
        return self.encoder(reflectance)

    def forward(self, reflectance: torch.Tensor):
        if self.encoder.n_extra:
            m, extras = self.encoder.forward_with_extras(reflectance)
            return m, self.decoder(m, extras)
        m = self.encoder(reflectance)
        r_hat = None if self.decoder is None else self.decoder(m)
        return m, r_hat


class MemberAverage(nn.Module):
    """A seed ensemble of independently trained autoencoders used as one predictor:
    m̂ = mean_i m̂_i (B, K) (still on the simplex), R̂ = mean_i R̂_i (B, M).

    ``soc_blend=True`` (a stacked SOC head, Wolpert 1992; Breiman 1996): the SOC latent becomes

        m̂_SOC = (1 − λ)·p(R) + λ·mean_i m̂_SOC,i,   clipped to [0, 0.9]

    with p a PLSR of all labelled training scans (a frozen :class:`LinearSOCReadout`, absorbance
    → mass fraction) and λ ∈ [0, 1] (buffer ``blend_weight``) chosen on out-of-fold predictions
    (:meth:`set_blend`); the other latents are rescaled so rows still sum to one. λ = 0 is that
    PLSR, λ = 1 the plain member average. R̂ is the members' average either way.

    ``encoder`` / ``decoder`` are member 0's (what ``f_soc_``, ``rho_r_soc_`` and the per-scan
    terms report); :meth:`encode` and ``forward`` average every member. Members are trained one
    after another by :class:`~socspec.lab.estimator.LabSOCModel` (``n_members``), not jointly.
    """

    def __init__(self, members, soc_blend: bool = False):
        super().__init__()
        if len(members) < 1:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.pls = None
        if soc_blend:
            n_wavelengths = members[0].encoder.mean_.shape[0]
            self.pls = LinearSOCReadout(n_wavelengths, allow_snv=True).requires_grad_(False)
            self.register_buffer("blend_weight", torch.ones(()))

    @torch.no_grad()
    def set_blend(self, weight: float, absorbance_mean, rotations, y_loadings, y_mean: float, score_scale,
                  snv: bool = False) -> None:
        """Load the blend's PLSR (as :meth:`LinearSOCReadout.set_from_pls`, ``snv`` included) and
        λ = ``weight`` in [0, 1]."""
        if self.pls is None:
            raise ValueError("this ensemble was built without soc_blend")
        if not 0.0 <= float(weight) <= 1.0:
            raise ValueError(f"blend weight must be in [0, 1], got {weight!r}")
        self.pls.set_from_pls(absorbance_mean, rotations, y_loadings, y_mean, score_scale, snv=snv)
        self.blend_weight.fill_(float(weight))

    @property
    def encoder(self) -> nn.Module:
        return self.members[0].encoder

    @property
    def decoder(self):
        return self.members[0].decoder

    def blend_soc(self, reflectance: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """m (n, K) with its SOC latent replaced by (1 − λ)·PLSR(reflectance) + λ·m_SOC and the other
        latents rescaled to sum to 1 − m_SOC (:meth:`set_blend`); m unchanged without a blend."""
        if self.pls is None:
            return m
        lam = self.blend_weight
        m = m.float()
        soc = ((1.0 - lam) * self.pls(reflectance) + lam * m[:, SOC_INDEX]).clamp(0.0, 0.9)
        rest = torch.cat([m[:, :SOC_INDEX], m[:, SOC_INDEX + 1:]], dim=1)
        rest = rest * ((1.0 - soc) / (1.0 - m[:, SOC_INDEX]).clamp_min(1e-6))[:, None]
        return torch.cat([rest[:, :SOC_INDEX], soc[:, None], rest[:, SOC_INDEX:]], dim=1)

    def encode(self, reflectance: torch.Tensor, blend: bool = True) -> torch.Tensor:
        """(B, K) m̂: the members' mean, blended with the PLSR when ``blend`` (and the ensemble has one)."""
        m = torch.stack([mb.encode(reflectance) for mb in self.members]).mean(0)
        return self.blend_soc(reflectance, m) if blend else m

    def forward(self, reflectance: torch.Tensor, blend: bool = True):
        """(m̂, R̂); ``blend=False`` returns the members' own mean m̂ (what the OOD score reads: the
        blend's PLSR is fitted on every labelled scan, held-in ones too)."""
        outs = [mb(reflectance) for mb in self.members]
        m = torch.stack([o[0] for o in outs]).mean(0)
        r = None if outs[0][1] is None else torch.stack([o[1] for o in outs]).mean(0)
        return (self.blend_soc(reflectance, m) if blend else m), r


def build_autoencoder(decoder: str, n_wavelengths: int, n_latent: int, hidden: int = 512,
                      n_hidden_layers: int = 2, mineral_spectra=None, mineral_rho_r=None,
                      alpha_conversion: bool = True, mixing: str = "linear", photometric: bool = False,
                      water: bool = False, wavelength_nm=None, f_soc_init: str = "flat",
                      soc_readout: bool = False) -> LabAutoencoder:
    """Encoder + decoder; ``mixing``/``photometric``/``water`` configure the physics decoder only;
    ``soc_readout`` adds the encoder's linear SOC path (:class:`LinearSOCReadout`)."""
    n_extra = int(photometric) + int(water) if decoder == "physics" else 0
    enc = Encoder(n_wavelengths, n_latent, hidden, n_hidden_layers, n_extra=n_extra, soc_readout=soc_readout)
    if decoder == "none":
        dec = None
    elif decoder == "ann":
        dec = AnnDecoder(n_latent, n_wavelengths, hidden, n_hidden_layers)
    elif decoder == "physics":
        if mineral_spectra is None or mineral_spectra.shape[0] != n_latent - 1:
            raise ValueError("physics decoder needs K-1 mineral spectra (K = minerals + SOC)")
        dec = PhysicsDecoder(mineral_spectra, mineral_rho_r, alpha_conversion, mixing, photometric, water,
                             wavelength_nm, f_soc_init)
    else:
        raise ValueError(f"decoder must be 'none', 'ann' or 'physics', got {decoder!r}")
    return LabAutoencoder(enc, dec)
