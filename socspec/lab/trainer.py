"""Training loop of the lab autoencoder: data resident on the device, full batch or large
mini-batches from a resident permutation, bf16 autocast on CUDA, early stopping on a validation
split, resumable checkpoints, tqdm progress.

No per-sample DataLoader: the whole library (RaCA: 23,550 × 2,136 float32 ≈ 200 MB) sits in one
tensor, and an epoch is one (or a few) matrix products — a loader would only add Python overhead.
"""
from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..device import autocast
from ..errors import SocspecInputError
from ..outputs import atomic_path
from ..runs import check_identity, load_torch
from .loss import eq1_loss
from .models import SOC_INDEX

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class TrainData:
    """Tensors on the training device: reflectance (N, M), soc_fraction (N,) (0 where unknown),
    labelled (N,) bool."""
    reflectance: torch.Tensor
    soc_fraction: torch.Tensor
    labelled: torch.Tensor

    def __len__(self):
        return int(self.reflectance.shape[0])

    def rows(self, idx):
        return TrainData(self.reflectance[idx], self.soc_fraction[idx], self.labelled[idx])


def batch_loss(net, data: TrainData, sigma_soc, sigma_reflectance, device):
    with autocast(device):
        m, r_hat = net(data.reflectance)
    return eq1_loss(m[:, SOC_INDEX], data.soc_fraction, data.labelled, data.reflectance, r_hat,
                    sigma_soc, sigma_reflectance)


@torch.no_grad()
def evaluate(net, data: TrainData, sigma_soc, sigma_reflectance, device):
    was = net.training
    net.eval()
    total, soc, rec = batch_loss(net, data, sigma_soc, sigma_reflectance, device)
    net.train(was)
    return float(total), float(soc), float(rec)


def train(net, train_data: TrainData, val_data: TrainData | None, *, epochs: int, lr: float,
          weight_decay: float = 0.0, batch_size: int | None = None, patience: int | None = 100,
          sigma_soc: float = 0.0041, sigma_reflectance: float = 0.01, device: torch.device,
          seed: int = 0, checkpoint_dir=None, checkpoint_every: int = 50, resume: bool = False,
          progress: bool = True, history: list | None = None, desc: str = "fit-lab",
          identity: dict | None = None) -> dict:
    """Adam on eq. 1. Returns {"history", "best_epoch", "best_val", "stopped_early", "resumed_from"}.

    Early stopping watches the validation loss (the training loss when there is no validation
    split); the weights of the best epoch are restored at the end. With ``checkpoint_dir`` the
    full state (weights, optimiser, best weights, history, RNG) is written every
    ``checkpoint_every`` epochs; ``resume=True`` continues from it. ``identity`` (a
    :func:`socspec.runs.run_identity` dict: data, configuration, grid) is stored in the checkpoint,
    and a resumed checkpoint must carry the same one (:class:`socspec.runs.ResumeMismatchError`
    otherwise). Checkpoints load with ``weights_only=True``: loading never runs code.
    """
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    history = [] if history is None else history
    n = len(train_data)
    bs = n if not batch_size or batch_size >= n else int(batch_size)
    n_steps = math.ceil(n / bs)
    best_val, best_epoch, best_state = math.inf, -1, None
    start = 0
    resumed_from = None
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
    if resume and ckpt_path is not None and ckpt_path.exists():
        ck = load_torch(ckpt_path, map_location=device, what="checkpoint")
        if not isinstance(ck, dict) or "model" not in ck:
            raise SocspecInputError("not a socspec training checkpoint", path=ckpt_path,
                                    hint="start over without --resume (--force replaces the run)")
        if identity is not None:
            check_identity(ck.get("identity"), identity, path=ckpt_path)
        try:
            net.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optim"])
            gen.set_state(ck["generator"].cpu())
            best_val, best_epoch, best_state = ck["best_val"], ck["best_epoch"], ck["best_state"]
            history[:] = ck["history"]
            start = resumed_from = int(ck["epoch"]) + 1
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
            raise SocspecInputError(f"the checkpoint does not fit this model ({first})", path=ckpt_path,
                                    hint="start over without --resume (--force replaces the run)") from None

    def save_checkpoint(epoch):
        if ckpt_path is None:
            return
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(ckpt_path) as tmp:
            torch.save({"epoch": epoch, "model": net.state_dict(), "optim": opt.state_dict(),
                        "generator": gen.get_state(), "best_val": best_val, "best_epoch": best_epoch,
                        "best_state": best_state, "history": history, "identity": identity}, tmp)

    bar = tqdm(range(start, epochs), desc=desc, unit="epoch", leave=False,
               disable=not progress or not sys.stderr.isatty())
    stopped_early = False
    for epoch in bar:
        if n_steps == 1:
            opt.zero_grad(set_to_none=True)
            loss, soc_t, rec_t = batch_loss(net, train_data, sigma_soc, sigma_reflectance, device)
            loss.backward()
            opt.step()
            tr = (loss.detach(), soc_t.detach(), rec_t.detach())
        else:
            perm = torch.randperm(n, device=device, generator=gen)
            acc = torch.zeros(3, device=device)
            for s in range(n_steps):
                idx = perm[s * bs:(s + 1) * bs]
                opt.zero_grad(set_to_none=True)
                loss, soc_t, rec_t = batch_loss(net, train_data.rows(idx), sigma_soc, sigma_reflectance, device)
                loss.backward()
                opt.step()
                acc += torch.stack([loss.detach(), soc_t.detach(), rec_t.detach()]) * (len(idx) / n)
            tr = tuple(acc)
        row = {"epoch": epoch, "loss": float(tr[0]), "soc": float(tr[1]), "rec": float(tr[2])}
        if val_data is not None and len(val_data):
            row["val_loss"], row["val_soc"], row["val_rec"] = evaluate(
                net, val_data, sigma_soc, sigma_reflectance, device)
            watch = row["val_loss"]
        else:
            watch = row["loss"]
        history.append(row)
        if watch < best_val:
            best_val, best_epoch = watch, epoch
            best_state = copy.deepcopy(net.state_dict())
        if epoch % 10 == 0 or epoch == epochs - 1:
            bar.set_postfix(loss=f"{row['loss']:.3g}", val=f"{watch:.3g}", best=best_epoch)
        if checkpoint_every and (epoch + 1) % checkpoint_every == 0:
            save_checkpoint(epoch)
        if patience and epoch - best_epoch >= patience:
            stopped_early = True
            break
    bar.close()
    if history:  # the last state (not the best): a resumed run continues exactly where this one stopped
        save_checkpoint(history[-1]["epoch"])
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return {"history": history, "best_epoch": best_epoch, "best_val": best_val,
            "stopped_early": stopped_early, "resumed_from": resumed_from}
