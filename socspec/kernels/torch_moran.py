"""Differentiable Moran's I of residuals, for use as a training penalty.

Graph: ``edge_index`` (2, E) int64 in torch_geometric convention (row 0 = source/neighbour j,
row 1 = target/focal i) and ``edge_weight`` (E,) = w_ij.  With r (n,) the residuals,
z = r - mean(r):

    I = n / S0 * sum_e w_e z[i_e] z[j_e] / sum_i z_i^2,   S0 = sum_e w_e

When ``edge_weight`` is None the weights are row-standardised over the target node
(w_e = 1 / in-degree(i_e)), i.e. the same W as ``knn_weights(...)`` (transform "r") whose
``to_edge_index()`` gives this layout -- so ``moran_i_torch`` equals ``morans_i(...).I``.
"""
from __future__ import annotations

import torch

__all__ = ["moran_i_torch", "moran_penalty", "row_standardised_edge_weight"]


def _check(residuals: torch.Tensor, edge_index: torch.Tensor, edge_weight):
    if residuals.dim() != 1:
        raise ValueError(f"residuals must be 1-D (n,), got shape {tuple(residuals.shape)}")
    if residuals.numel() < 2:
        raise ValueError("Moran's I needs at least 2 residuals")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    if edge_index.numel() == 0:
        raise ValueError("edge_index is empty: Moran's I needs at least one edge")
    if edge_weight is not None and edge_weight.shape != (edge_index.shape[1],):
        raise ValueError(f"edge_weight has shape {tuple(edge_weight.shape)}, expected ({edge_index.shape[1]},)")


def row_standardised_edge_weight(edge_index: torch.Tensor, n: int, dtype=torch.float32) -> torch.Tensor:
    """w_e = 1 / (number of edges whose target is the target of e), shape (E,)."""
    tgt = edge_index[1]
    deg = torch.zeros(n, dtype=dtype, device=edge_index.device).index_add_(
        0, tgt, torch.ones(tgt.numel(), dtype=dtype, device=edge_index.device))
    return 1.0 / deg[tgt]


def moran_i_torch(residuals: torch.Tensor, edge_index: torch.Tensor,
                  edge_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Moran's I of ``residuals`` (n,) on the graph; scalar tensor, differentiable in residuals.

    Returns 0 (with a zero gradient) when the residuals are all equal (sum z^2 = 0).
    """
    _check(residuals, edge_index, edge_weight)
    n = residuals.numel()
    edge_index = edge_index.to(device=residuals.device, dtype=torch.long)
    if edge_weight is None:
        edge_weight = row_standardised_edge_weight(edge_index, n, dtype=residuals.dtype)
    else:
        edge_weight = edge_weight.to(device=residuals.device, dtype=residuals.dtype)
    z = residuals - residuals.mean()
    num = torch.sum(edge_weight * z[edge_index[1]] * z[edge_index[0]])
    zz = torch.sum(z * z)
    s0 = edge_weight.sum()
    tiny = torch.finfo(residuals.dtype).tiny
    zero = torch.zeros((), dtype=residuals.dtype, device=residuals.device)
    return torch.where(zz > tiny, n / s0 * num / zz.clamp_min(tiny), zero)


def moran_penalty(residuals: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor | None = None,
                  mode: str = "square") -> torch.Tensor:
    """Penalty on spatial autocorrelation of residuals.

    mode "square": I^2 (pushes residuals towards no autocorrelation either way; default);
    mode "relu": max(I, 0) (penalises only positive autocorrelation -- clustered errors).
    """
    i = moran_i_torch(residuals, edge_index, edge_weight)
    if mode == "square":
        return i * i
    if mode == "relu":
        return torch.relu(i)
    raise ValueError(f"mode={mode!r} must be 'square' or 'relu'")
