"""The SpTGNN network (seed 000): node streams → sparse MoE fusion → relational attention → head.

For a (sub)graph of N nodes:

1. **Streams**, each encoded to (N, H), H = ``hidden``:
   covariates (numeric standardised + categorical embeddings, :class:`CovariateEncoder`),
   image (cached frozen backbone features (N, D) through LayerNorm → Linear(D, H) → GELU, or a
   trainable :class:`ImageEncoder` on the chips), position (Fourier features on the unit sphere,
   :class:`PositionEncoder`), time (year and season, :class:`TimeEncoder`), and neighbours'
   training labels (:func:`socspec.remote.graph.label_features`, (N, 3) → Linear → GELU).
   Each stream has a presence mask (N,) bool: a point with no chip, no date or no labelled
   neighbour has that stream *masked* in the fusion, never zero-filled.
2. **Fusion**: :class:`SparseMoE` over the (N, S, H) stack with the (N, S) mask (top-k routing,
   Switch-style balance loss returned in ``aux``); ``moe=False`` uses the masked mean of the
   streams followed by an MLP (the ablation).
3. **Graph**: ``n_layers`` :class:`RelationalBlock` (RGATConv maths, residual + LayerNorm) over
   the typed edges; ``graph=False`` replaces each block by a residual MLP block (the ablation).
4. **Head**: MLP → (μ, log σ²) per node, in the standardised target space; log σ² is clamped to
   [−9, 4] (σ between 0.011 and 7.4 target standard deviations) to keep β-NLL finite.
"""
from __future__ import annotations

import torch
from torch import nn

#: fixed stream order (only the streams a model uses are built)
STREAMS = ("covariates", "image", "position", "time", "labels")
LOG_VAR_MIN, LOG_VAR_MAX = -9.0, 4.0


class _MLPBlock(nn.Module):
    """x + Dropout(GELU(Linear(x))), then LayerNorm: the graph-free stand-in for a block."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.lin = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x, edge_index=None, edge_type=None):
        return self.norm(x + self.drop(nn.functional.gelu(self.lin(x))))


class SpTGNN(nn.Module):
    """Spatio-temporal relational graph network with a heteroscedastic head.

    Parameters
    ----------
    n_numeric, cardinalities : covariate stream inputs — number of numeric columns and the
        number of known categories of each categorical column (index 0 = unknown, so a column
        with C categories has codes 0..C). No covariate stream when both are empty.
    image_dim : D of cached frozen image features (None: no cached image stream).
    image_encoder : a trainable :class:`~socspec.remote.encoders.ImageEncoder` (``out_dim`` =
        ``hidden``) run on the chips every step (the fine-tuned backbone); exclusive with
        ``image_dim``.
    forest_covariate : the inputs carry ``forest_soc`` (N,), a forest's out-of-fold SOC
        prediction in standardised target units, appended to the numeric covariates (stacking).
    position, time, labels : use those streams.
    hidden : H, the width of every stream, the fusion and the graph layers.
    n_layers : graph (or MLP) blocks after the fusion.
    num_relations : R, relation types of the graph (edge_type in [0, R)).
    heads : attention heads per block (H must be divisible by it).
    dropout : dropout in the blocks.
    graph : relational attention (True) or residual MLP blocks (False, ablation).
    moe : sparse MoE fusion (True) or masked mean + MLP (False, ablation).
    n_experts, top_k : MoE size and routing.
    position_min_wavelength_km, position_frequencies : the position stream's Fourier features
        (:class:`~socspec.remote.encoders.PositionEncoder`, wavelengths 20,000 km down to this).
    """

    def __init__(self, *, n_numeric: int = 0, cardinalities=(), image_dim: int | None = None,
                 image_encoder: nn.Module | None = None, position: bool = True, time: bool = False,
                 labels: bool = False, forest_covariate: bool = False, hidden: int = 64,
                 n_layers: int = 2, num_relations: int = 1,
                 heads: int = 4, dropout: float = 0.1, graph: bool = True, moe: bool = True,
                 n_experts: int = 4, top_k: int = 2, position_min_wavelength_km: float = 150.0,
                 position_frequencies: int = 8):
        super().__init__()
        from .attention import RelationalBlock
        from .encoders import CovariateEncoder, PositionEncoder, TimeEncoder
        from .moe import SparseMoE

        if hidden < 1 or n_layers < 0 or num_relations < 1 or heads < 1:
            raise ValueError(f"hidden={hidden}, n_layers={n_layers}, num_relations={num_relations},"
                             f" heads={heads}: need hidden, num_relations, heads >= 1, n_layers >= 0")
        if graph and hidden % heads:
            raise ValueError(f"hidden={hidden} must be divisible by heads={heads}")
        if image_dim is not None and image_encoder is not None:
            raise ValueError("give image_dim (cached features) or image_encoder, not both")
        self.streams = []
        self.cardinalities = [int(c) for c in cardinalities]
        self.forest_covariate = bool(forest_covariate)
        n_numeric = int(n_numeric) + int(self.forest_covariate)
        if n_numeric or self.cardinalities:
            self.covariates = CovariateEncoder(n_numeric, self.cardinalities, out_dim=hidden)
            self.streams.append("covariates")
        if image_dim is not None:
            self.image = nn.Sequential(nn.LayerNorm(int(image_dim)), nn.Linear(int(image_dim), hidden),
                                       nn.GELU())
            self.streams.append("image")
        elif image_encoder is not None:
            self.image = image_encoder
            self.streams.append("image")
        self.image_trainable = image_encoder is not None
        if position:
            self.position = PositionEncoder(out_dim=hidden, n_frequencies=position_frequencies,
                                            min_wavelength_km=position_min_wavelength_km)
            self.streams.append("position")
        if time:
            self.time = TimeEncoder(out_dim=hidden)
            self.streams.append("time")
        if labels:
            from .graph import N_LABEL_FEATURES

            self.labels = nn.Sequential(nn.Linear(N_LABEL_FEATURES, hidden), nn.GELU())
            self.streams.append("labels")
        if not self.streams:
            raise ValueError("the model has no input stream: give covariates, images, position, "
                             "time or labels")
        self.use_moe = bool(moe)
        if self.use_moe:
            self.fusion = SparseMoE(hidden, len(self.streams), hidden, n_experts=n_experts,
                                    top_k=min(top_k, n_experts))
        else:
            self.fusion = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.use_graph = bool(graph)
        if self.use_graph:
            self.blocks = nn.ModuleList([RelationalBlock(hidden, hidden, num_relations, heads=heads,
                                                         dropout=dropout) for _ in range(n_layers)])
        else:
            self.blocks = nn.ModuleList([_MLPBlock(hidden, dropout) for _ in range(n_layers)])
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 2))

    def encode_streams(self, x: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack the streams: ``(streams (N, S, H), present (N, S) bool)``.

        ``x`` holds the node inputs of :func:`socspec.remote.sptgnn` (``x_num`` (N, n_num) float,
        ``x_cat`` (N, n_cat) long, ``image`` (N, D) or ``chips`` {modality: (N, C, h, w)},
        ``image_present``, ``lat_deg``, ``lon_deg``, ``year``, ``day_of_year``,
        ``time_present``, ``labels`` (N, 3), ``labels_present``), all (N, …) tensors.
        """
        n = x["lat_deg"].shape[0]
        ones = torch.ones(n, dtype=torch.bool, device=x["lat_deg"].device)
        outs, masks = [], []
        for s in self.streams:
            if s == "covariates":
                x_num = (torch.cat([x["x_num"], x["forest_soc"].unsqueeze(1).to(x["x_num"].dtype)], 1)
                         if self.forest_covariate else x["x_num"])
                outs.append(self.covariates(x_num, x["x_cat"]))
                masks.append(ones)
            elif s == "image":
                outs.append(self.image(x["chips"]) if self.image_trainable else self.image(x["image"]))
                masks.append(x["image_present"])
            elif s == "position":
                outs.append(self.position(x["lat_deg"], x["lon_deg"]))
                masks.append(ones)
            elif s == "time":
                outs.append(self.time(x["year"], x["day_of_year"]))
                masks.append(x["time_present"])
            else:
                outs.append(self.labels(x["labels"]))
                masks.append(x["labels_present"])
        streams = torch.stack([o.float() for o in outs], dim=1)
        present = torch.stack(masks, dim=1)
        return streams, present

    def forward(self, x: dict, edge_index: torch.Tensor, edge_type: torch.Tensor):
        """``(mean (N,), log_var (N,), aux)``; ``aux["balance_loss"]`` is 0 without the MoE."""
        streams, present = self.encode_streams(x)
        if self.use_moe:
            h, aux = self.fusion(streams, present)
        else:
            w = present.to(streams.dtype).unsqueeze(-1)
            h = self.fusion((streams * w).sum(1) / w.sum(1).clamp_min(1.0))
            aux = {"balance_loss": streams.new_zeros(())}
        for block in self.blocks:
            h = block(h, edge_index, edge_type)
        out = self.head(h).float()
        return out[:, 0], out[:, 1].clamp(LOG_VAR_MIN, LOG_VAR_MAX), aux
