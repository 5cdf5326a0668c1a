"""Sparse mixture-of-experts fusion of a node's streams (images, covariates, position, time).

Input: ``streams`` (B, S, D) — one D-vector per stream — and ``mask`` (B, S) bool, True = the
stream exists for that node (a point without a chip or a date has that stream masked, not
zero-filled). Output: ``fused`` (B, out_dim) and ``aux``.

1. Stream pooling (masked attention): u_bs = streams_bs + t_s (t_s a learned embedding of stream
   type s, so the router knows WHICH streams are present), score_bs = vᵀ tanh(A u_bs),
   w_b = softmax over the present streams of node b (masked streams get exactly 0),
   z_b = Σ_s w_bs u_bs  (B, D).  Masked streams never enter z, so their values cannot matter.
2. Router: p_b = softmax(G z_b) over E experts (B, E); the top-k experts T_b by p; gates
   g_bi = p_bi / Σ_{j∈T_b} p_bj for i ∈ T_b (renormalised, sum to 1).
3. Experts: f_i = Linear(D, hidden) → GELU → Linear(hidden, out_dim);
   fused_b = Σ_{i∈T_b} g_bi f_i(z_b). Only the k chosen experts run on a node.
4. Switch-style load balance (Fedus et al. 2022, eq. 4, with top-k dispatch counted per slot):
   f_i = (# of (node, slot) pairs sent to i) / (B·k), P_i = mean_b p_bi,
   balance_loss = E · Σ_i f_i P_i  — equals 1 whenever the router probabilities are uniform
   (P_i = 1/E, Σ f_i = 1) and is minimal (1) for balanced dispatch.

A node with EVERY stream masked has nothing to fuse: :meth:`SparseMoE.forward` raises a
ValueError naming how many such nodes there are (the caller always has at least position).

``aux``: ``balance_loss`` (scalar tensor), ``expert_index`` (B, k) long, ``gates`` (B, k),
``router_probs`` (B, E), ``stream_weight`` (B, S).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["SparseMoE"]


class SparseMoE(nn.Module):
    def __init__(self, in_dim: int, n_streams: int, out_dim: int, n_experts: int = 4, top_k: int = 2,
                 hidden: int | None = None):
        super().__init__()
        for name, v in (("in_dim", in_dim), ("n_streams", n_streams), ("out_dim", out_dim),
                        ("n_experts", n_experts), ("top_k", top_k)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if top_k > n_experts:
            raise ValueError(f"top_k={top_k} exceeds n_experts={n_experts}")
        hidden = hidden or 2 * max(in_dim, out_dim)
        self.in_dim, self.n_streams, self.out_dim = in_dim, n_streams, out_dim
        self.n_experts, self.top_k = n_experts, top_k
        self.stream_type = nn.Parameter(torch.zeros(n_streams, in_dim))
        nn.init.normal_(self.stream_type, std=0.02)
        self.pool_proj = nn.Linear(in_dim, in_dim)
        self.pool_score = nn.Linear(in_dim, 1, bias=False)
        self.router = nn.Linear(in_dim, n_experts)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))
            for _ in range(n_experts))

    def forward(self, streams: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict]:
        if streams.dim() != 3 or streams.shape[1:] != (self.n_streams, self.in_dim):
            raise ValueError(f"streams must be (B, {self.n_streams}, {self.in_dim}), "
                             f"got {tuple(streams.shape)}")
        if mask.shape != streams.shape[:2] or mask.dtype != torch.bool:
            raise ValueError(f"mask must be bool (B, S) = {tuple(streams.shape[:2])}, "
                             f"got {mask.dtype} {tuple(mask.shape)}")
        empty = ~mask.any(dim=1)
        if bool(empty.any()):
            raise ValueError(f"{int(empty.sum())} node(s) have every stream masked: nothing to fuse")
        # 1. masked attention pooling; where() (not multiply) so NaN/inf in a masked stream can't leak
        u = torch.where(mask.unsqueeze(-1), streams + self.stream_type, torch.zeros((), dtype=streams.dtype,
                                                                                    device=streams.device))
        score = self.pool_score(torch.tanh(self.pool_proj(u))).squeeze(-1)       # (B, S)
        score = score.masked_fill(~mask, float("-inf"))
        weight = torch.softmax(score, dim=1).masked_fill(~mask, 0.0)            # (B, S)
        z = torch.einsum("bs,bsd->bd", weight, u)                                 # (B, D)
        # 2. router and top-k gates
        probs = torch.softmax(self.router(z), dim=-1)                             # (B, E)
        top_p, top_i = probs.topk(self.top_k, dim=-1)                             # (B, k)
        gates = top_p / top_p.sum(dim=-1, keepdim=True)
        # 3. each expert runs only on the nodes routed to it
        # float32 accumulator: under bf16 autocast experts return bf16 and gates float32
        fused = z.new_zeros(z.shape[0], self.out_dim, dtype=torch.float32)
        for e, expert in enumerate(self.experts):
            rows, slot = torch.nonzero(top_i == e, as_tuple=True)
            if rows.numel():
                fused = fused.index_add(0, rows, (gates[rows, slot].unsqueeze(-1) * expert(z[rows])).float())
        # 4. load balance
        dispatch = torch.zeros_like(probs).scatter_add_(1, top_i, torch.ones_like(top_p))
        f = dispatch.mean(dim=0) / self.top_k
        balance = self.n_experts * torch.sum(f * probs.mean(dim=0))
        return fused, {"balance_loss": balance, "expert_index": top_i, "gates": gates,
                       "router_probs": probs, "stream_weight": weight}
