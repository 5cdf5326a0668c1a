"""Seed 003 eq. 1:

L = (1/N) Σ_{i labelled} ((m_SOC,i − m̂_SOC,i)/σ_SOC)²  +  (1/(N′·M)) Σ_{i ≤ N′} Σ_j ((R_ij − R̂_ij)/σ_j)²

m in mass fractions (σ_SOC = 0.0041), R in reflectance 0–1 (σ = 0.01). Labelled scans count in
N′ as well. A batch with no labelled scans contributes no SOC term; ``r_hat=None`` (decoder
"none") gives the SOC term only.
"""
from __future__ import annotations

import torch


def eq1_loss(m_soc_hat: torch.Tensor, soc_fraction: torch.Tensor, labelled: torch.Tensor,
             reflectance: torch.Tensor | None = None, r_hat: torch.Tensor | None = None,
             sigma_soc: float = 0.0041, sigma_reflectance=0.01):
    """Return (total, soc_term, reconstruction_term) as 0-d tensors.

    m_soc_hat, soc_fraction (B,) — predicted / measured SOC mass fraction (NaN allowed where
    ``labelled`` (B,) bool is False); reflectance, r_hat (B, M); sigma_reflectance scalar or (M,).
    """
    lab = labelled.bool()
    n_lab = lab.sum()
    if bool(n_lab > 0):
        diff = (soc_fraction[lab].float() - m_soc_hat[lab].float()) / sigma_soc
        soc_term = (diff * diff).sum() / n_lab
    else:
        soc_term = m_soc_hat.new_zeros((), dtype=torch.float32)
    if r_hat is None:
        rec_term = torch.zeros_like(soc_term)
    else:
        d = (reflectance.float() - r_hat.float()) / sigma_reflectance
        rec_term = (d * d).mean()  # mean over N′·M entries
    return soc_term + rec_term, soc_term, rec_term
