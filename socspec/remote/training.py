"""Training one SpTGNN member: β-NLL + Moran's I penalty + MoE balance loss, early stopping.

Loss per step, over the *loss nodes* L (training nodes whose labels are hidden this epoch):

    ℒ = mean_{i∈L} β-NLL(μ_i, log σ²_i; y_i, β)  +  λ_M · I(y_L − μ_L)²  +  λ_B · balance

β-NLL = GaussianNLL · stop_grad(σ²)^β (:func:`socspec.remote.uq.beta_nll_loss`, β = 0.5);
I is Moran's I of the loss nodes' residuals over the spatial edges among them
(:func:`socspec.kernels.moran_penalty`, row-standardised, squared); ``balance`` is the MoE's
Switch load-balancing loss.

**Label trick** (with label features): each epoch the training nodes are split at random into
*visible* ones (their labels feed their neighbours' label features) and *loss* ones (labels
hidden, loss computed) — so no node is ever scored on a prediction that saw its own label, not
even through two hops of message passing. Without label features every training node is a
loss node.

**Validation**: the inner validation nodes are joined to the training graph inductively (edges
from training nodes only) exactly like test points, labels hidden; their RMSE (standardised
units) drives early stopping (``patience`` epochs) and the best weights are kept.

**Full graph or k-hop subgraphs**: a graph with at most ``full_graph_max_nodes`` nodes runs in
one forward pass per epoch; larger ones run on the ``n_layers``-hop in-neighbourhoods of seed
batches (``torch_geometric.utils.k_hop_subgraph``), which give the seeds exactly the outputs of
the full-graph pass (a test checks it).

**Device**: ``auto`` = CUDA when available; bf16 autocast on CUDA. **Seeds**: torch and numpy
are re-seeded from (seed, epoch) every epoch, so a run resumed from a checkpoint continues
exactly as the uninterrupted one would. **Checkpoints**: state dicts written with
``torch.save`` (atomic rename) every ``checkpoint_every`` epochs and at the end, read back with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..device import autocast


@dataclass
class TrainConfig:
    """Optimisation settings of one member (see the module docstring for the loss).

    epochs : maximum epochs; patience : epochs without a better validation RMSE before stopping;
    lr, weight_decay : Adam; beta : β of β-NLL; moran_weight : λ_M; balance_weight : λ_B;
    label_mask_fraction : share of training nodes whose labels are hidden (and scored) per epoch
    when label features are used; full_graph_max_nodes : above this many nodes train on k-hop
    subgraphs of ``batch_size`` seeds (the attention's memory grows as N·R·H·C + E·H, so the
    default keeps graphs up to 100k nodes whole: one step per epoch, no repeated neighbourhoods);
    grad_clip : max gradient norm; checkpoint_every : epochs.
    """

    epochs: int = 200
    patience: int = 30
    lr: float = 3e-3
    weight_decay: float = 1e-4
    beta: float = 0.5
    moran_weight: float = 0.1
    balance_weight: float = 0.01
    label_mask_fraction: float = 0.5
    full_graph_max_nodes: int = 100_000
    batch_size: int = 2048
    grad_clip: float = 5.0
    checkpoint_every: int = 10

    def __post_init__(self):
        if self.epochs < 1 or self.patience < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError(f"epochs={self.epochs}, patience={self.patience}, batch_size="
                             f"{self.batch_size}, checkpoint_every={self.checkpoint_every} must be >= 1")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.moran_weight >= 0
                and self.balance_weight >= 0 and 0 <= self.beta <= 1):
            raise ValueError("need lr > 0, weight_decay, moran_weight, balance_weight >= 0, "
                             f"0 <= beta <= 1 (got {self.lr}, {self.weight_decay}, "
                             f"{self.moran_weight}, {self.balance_weight}, {self.beta})")
        if not 0.0 < self.label_mask_fraction < 1.0:
            raise ValueError(f"label_mask_fraction={self.label_mask_fraction} must be in (0, 1)")


def _take(inputs: dict, idx: torch.Tensor) -> dict:
    out = {}
    for k, v in inputs.items():
        out[k] = {m: a[idx] for m, a in v.items()} if isinstance(v, dict) else v[idx]
    return out


def forward_nodes(model, inputs: dict, edge_index: torch.Tensor, edge_type: torch.Tensor,
                  targets: torch.Tensor, *, full_graph_max_nodes: int = 100_000,
                  batch_size: int = 2048, device=None):
    """Model outputs for the ``targets`` nodes: ``(mean (T,), log_var (T,), balance_loss)``.

    Full graph when it has at most ``full_graph_max_nodes`` nodes; otherwise per batch of
    ``batch_size`` targets on their ``len(model.blocks)``-hop in-neighbourhood, which yields the
    same outputs (message passing only reads in-neighbours up to that depth).
    ``balance_loss`` is the mean over batches.
    """
    from torch_geometric.utils import k_hop_subgraph

    device = device or edge_index.device
    n = inputs["lat_deg"].shape[0]
    with autocast(device):
        if n <= full_graph_max_nodes:
            mean, log_var, aux = model(inputs, edge_index, edge_type)
            return mean[targets], log_var[targets], aux["balance_loss"]
        means, log_vars, bal = [], [], []
        hops = max(len(model.blocks), 1) if model.use_graph else 0
        for b0 in range(0, targets.numel(), batch_size):
            seeds = targets[b0:b0 + batch_size]
            if hops:
                subset, sub_ei, mapping, edge_mask = k_hop_subgraph(
                    seeds, hops, edge_index, relabel_nodes=True, num_nodes=n)
                sub_et = edge_type[edge_mask]
            else:
                subset, mapping = seeds, torch.arange(seeds.numel(), device=seeds.device)
                sub_ei = edge_index.new_zeros((2, 0))
                sub_et = edge_type.new_zeros(0)
            mean, log_var, aux = model(_take(inputs, subset), sub_ei, sub_et)
            means.append(mean[mapping])
            log_vars.append(log_var[mapping])
            bal.append(aux["balance_loss"])
        return torch.cat(means), torch.cat(log_vars), torch.stack(bal).mean()


def set_label_features(inputs: dict, graph, y_std, visible, device) -> None:
    """Put :func:`~socspec.remote.graph.label_features` of ``graph`` into ``inputs`` as the
    ``labels`` (N, 3) and ``labels_present`` (N,) tensors (``visible``: whose labels may be shown)."""
    from .graph import label_features

    feats, present = label_features(graph, y_std, visible)
    inputs["labels"] = torch.as_tensor(feats, dtype=torch.float32, device=device)
    inputs["labels_present"] = torch.as_tensor(present, device=device)


def _atomic_torch_save(obj, path: Path):
    from ..outputs import atomic_path

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def train_member(model, *, train_inputs: dict, train_graph, y_train_std: np.ndarray,
                 val_inputs: dict, val_graph, val_targets: np.ndarray, y_val_std: np.ndarray,
                 config: TrainConfig, use_labels: bool, seed: int = 0, device=None,
                 checkpoint: Path | None = None, resume: bool = False, progress: bool = False,
                 desc: str = "sptgnn") -> dict:
    """Train ``model`` in place; returns ``{"best_epoch", "best_val_rmse", "epochs_run",
    "history": [(epoch, loss, val_rmse), ...], "resumed_from", "epoch_seconds": [...]}`` (wall
    seconds of each epoch's training steps run in this call) and leaves the best weights loaded.

    ``train_inputs`` / ``val_inputs``: node input tensors (see :class:`SpTGNN`) over the training
    graph's nodes and over the joined (training + validation) graph's nodes; ``y_train_std``
    (n_train,) standardised labels; ``val_targets`` node indices of the validation points in the
    joined graph and ``y_val_std`` their standardised labels.
    """
    from tqdm.auto import tqdm

    from ..kernels import moran_penalty
    from .uq import beta_nll_loss

    device = device or torch.device("cpu")
    model.to(device)
    n = train_graph.n_nodes
    y_np = np.asarray(y_train_std, dtype=np.float64)
    y = torch.as_tensor(y_np, dtype=torch.float32, device=device)
    ei = torch.as_tensor(train_graph.edge_index, device=device)
    et = torch.as_tensor(train_graph.edge_type, device=device)
    spatial = (torch.as_tensor(train_graph.relation("spatial"), device=device)
               if "spatial" in train_graph.relations else None)
    v_ei = torch.as_tensor(val_graph.edge_index, device=device)
    v_et = torch.as_tensor(val_graph.edge_type, device=device)
    v_tg = torch.as_tensor(np.asarray(val_targets), dtype=torch.long, device=device)
    y_val = torch.as_tensor(np.asarray(y_val_std), dtype=torch.float32, device=device)
    if use_labels:
        vis = np.zeros(val_graph.n_nodes, dtype=bool)
        vis[:n] = True
        y_all = np.full(val_graph.n_nodes, np.nan)
        y_all[:n] = y_np
        set_label_features(val_inputs, val_graph, y_all, vis, device)

    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state = {"epoch": 0, "best_val": float("inf"), "best_epoch": -1, "bad": 0, "history": [],
             "done": False}
    best_state = copy.deepcopy(model.state_dict())
    resumed_from = None
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        ck = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        best_state = ck["best_model"]
        state = {k: ck[k] for k in state}
        state["history"] = [tuple(h) for h in state["history"]]
        # a run stopped by its epoch budget continues when the budget is raised
        state["done"] = state["bad"] >= config.patience or state["epoch"] >= config.epochs
        resumed_from = int(state["epoch"])

    def save():
        if checkpoint is not None:
            _atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                                "best_model": best_state, **state,
                                "history": [list(h) for h in state["history"]]}, Path(checkpoint))

    bar = tqdm(total=config.epochs, initial=state["epoch"], desc=desc, disable=not progress,
               unit="epoch", leave=False)
    all_nodes = torch.arange(n, device=device)
    rank = None
    if n > config.full_graph_max_nodes:
        from ..kernels.neighbours import spatial_order

        order = spatial_order(train_inputs["lat_deg"].cpu().numpy(), train_inputs["lon_deg"].cpu().numpy())
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
    epoch_seconds = []
    while not state["done"] and state["epoch"] < config.epochs:
        epoch = state["epoch"]
        t_epoch = time.perf_counter()
        torch.manual_seed(seed * 100003 + epoch)
        rng = np.random.default_rng([seed, epoch])
        model.train()
        if use_labels:
            hidden = rng.random(n) < config.label_mask_fraction
            if not hidden.any():
                hidden[rng.integers(n)] = True
            set_label_features(train_inputs, train_graph, y_np, ~hidden, device)
            loss_nodes = torch.as_tensor(np.flatnonzero(hidden), device=device)
        else:
            loss_nodes = all_nodes
        # one optimiser step per epoch on the full graph, one per seed batch on subgraphs
        if n <= config.full_graph_max_nodes:
            batches = [loss_nodes]
        else:
            # seeds in spatial order, cut into batches whose order is shuffled: neighbouring
            # seeds share their k-hop neighbourhoods, so a batch's subgraph stays small
            ordered = loss_nodes[torch.as_tensor(np.argsort(rank[loss_nodes.cpu().numpy()],
                                                            kind="stable"), device=device)]
            chunks = list(ordered.split(config.batch_size))
            batches = [chunks[i] for i in rng.permutation(len(chunks))]
        total = 0.0
        for seeds in batches:
            opt.zero_grad(set_to_none=True)
            mean, log_var, bal = forward_nodes(model, train_inputs, ei, et, seeds,
                                               full_graph_max_nodes=config.full_graph_max_nodes,
                                               batch_size=max(seeds.numel(), 1), device=device)
            loss = beta_nll_loss(mean.float(), log_var.float(), y[seeds], beta=config.beta)
            if config.moran_weight > 0 and spatial is not None:
                from torch_geometric.utils import subgraph

                sub_ei, _ = subgraph(seeds, spatial, relabel_nodes=True, num_nodes=n)
                if sub_ei.shape[1] > 0 and seeds.numel() > 2:
                    loss = loss + config.moran_weight * moran_penalty(y[seeds] - mean.float(), sub_ei)
            loss = loss + config.balance_weight * bal.float()
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            total += float(loss.detach()) * seeds.numel()
        train_loss = total / max(int(loss_nodes.numel()), 1)
        epoch_seconds.append(time.perf_counter() - t_epoch)  # the training step(s), not validation
        model.eval()
        with torch.no_grad():
            vm, _, _ = forward_nodes(model, val_inputs, v_ei, v_et, v_tg,
                                     full_graph_max_nodes=config.full_graph_max_nodes,
                                     batch_size=config.batch_size, device=device)
            val_rmse = float(torch.sqrt(torch.mean((vm.float() - y_val) ** 2)))
        state["history"].append((epoch, train_loss, val_rmse))
        state["epoch"] = epoch + 1
        if val_rmse < state["best_val"] - 1e-6:
            state.update(best_val=val_rmse, best_epoch=epoch, bad=0)
            best_state = copy.deepcopy(model.state_dict())
        else:
            state["bad"] += 1
            if state["bad"] >= config.patience:
                state["done"] = True
        if state["epoch"] >= config.epochs:
            state["done"] = True
        bar.set_postfix(loss=f"{train_loss:.3f}", val_rmse=f"{val_rmse:.3f}")
        bar.update(1)
        if state["done"] or state["epoch"] % config.checkpoint_every == 0:
            save()
    bar.close()
    model.load_state_dict(best_state)
    return {"best_epoch": int(state["best_epoch"]), "best_val_rmse": float(state["best_val"]),
            "epochs_run": int(state["epoch"]), "history": state["history"],
            "resumed_from": resumed_from, "epoch_seconds": epoch_seconds}
