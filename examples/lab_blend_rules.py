"""Score blend-weight rules of the default lab committee offline (issue 14: nirsoil_belgium's λ).

    python examples/lab_blend_rules.py runs/ablation.json [more.json ...]

Reads the ``--json`` output of ``examples/lab_physics_ablation.py`` (physics committee runs carry a
``blend`` record: out-of-fold rows, held-in rows, per-member test predictions) and prints, per set,
the test R² / RMSE (g/kg) that each rule's λ would have given — mean over the runs — beside the
other variants of the same runs (PLSR, pls_tuned, ann). The committee's members are not retrained:
each rule only changes λ in SOC = (1 − λ)·base + λ·(members' mean), clipped at 0 g/kg.

Rules (y, SOC; p, a PLSR; n, a member or the members' mean; d = n − p; each λ less one standard
error se = sqrt(mean((y − p − λ̂d)²)/Σd²), clipped to [0, 1]):

- ``member_oof``: λ̂ = Σ(y − p)d/Σd² on the scored out-of-fold rows, p member i's fold PLSR, n
  member i — the estimator's rule (``LabSOCModel._fit_soc_blend``); checked against the run's λ.
- ``held_in``: the same on the labelled held-in rows, n the members' mean and p the mean of the
  folds' PLSRs — every member and PLSR out of sample there, as on the test scans (~10 % of the
  training scans: 8 on SL_125, 28 on SSP_460, 44 on nirsoil).
- ``pooled``: inverse-variance mean of the ``member_oof`` and ``held_in`` estimates (less its se).
- ``ensemble_m``: ``member_oof`` with Σd² less N·s²·(1 − 1/K), s² the members' spread of m̂_SOC on
  the held-in rows (what averaging K members removes from one member's noise), λ̂ and se scaled by
  the same factor.
- ``ensemble_d``: as ``ensemble_m`` with the spread of n_i − p_i (each member less its own fold
  PLSR — the readout starts at that PLSR, so their common noise cancels in d).
- ``ensemble_full``: also removes from Σ(y − p)d the covariance of the fold PLSRs' spread with
  that of n_i − p_i (a member inherits part of its PLSR's error).
- ``members`` (λ = 1) and ``base`` (λ = 0).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RULES = ("member_oof", "held_in", "pooled", "ensemble_m", "ensemble_d", "ensemble_full", "members", "base")


def weight(y, p, n, k: float = 1.0, num_less: float = 0.0, den_less: float = 0.0) -> tuple[float, float]:
    """(λ̂, se) of y − p ≈ λ·(n − p) with Σ(y − p)d reduced by ``num_less`` and Σd² by ``den_less``
    (λ̂ and se scaled alike); (nan, inf) without evidence."""
    from socspec.lab.estimator import stacking_weight  # the estimator's own λ̂ and se
    lam, se = stacking_weight(y, p, n)
    if not np.isfinite(lam):
        return lam, se
    d = np.asarray(n, dtype=np.float64) - np.asarray(p, dtype=np.float64)
    dd = float(d @ d)
    num, den = lam * dd - num_less, dd - den_less
    if den <= 0:  # the noise explains all of d: no evidence either way beyond the sign
        return (1.0 if lam - k * se > 0 else 0.0), 0.0
    return num / den, se * dd / den


def rule_weights(b: dict, k: float = 1.0) -> dict[str, float]:
    """λ of every rule from one run's ``blend`` record (SOC in g/kg)."""
    sc = np.asarray(b["oof_scored"], dtype=bool)
    y, p, n = (np.asarray(b[key], dtype=np.float64)[sc] for key in ("oof_y", "oof_pls", "oof_members"))
    hy = np.asarray(b["held_in_y"], dtype=np.float64)
    hp = np.asarray(b["held_in_each_pls"], dtype=np.float64)
    hn = np.asarray(b["held_in_each_member"], dtype=np.float64)
    n_members, n_rows = hn.shape[0], len(y)
    shrink = n_rows * (1.0 - 1.0 / n_members)
    eps, eta = hp - hp.mean(0), (hn - hp) - (hn - hp).mean(0)
    s2_m = float(np.mean(hn.var(0, ddof=1)))
    s2_d = float(np.mean((eta ** 2).sum(0) / (n_members - 1)))
    c_pd = float(np.mean((eps * eta).sum(0) / (n_members - 1)))
    ests = {"member_oof": weight(y, p, n, k), "held_in": weight(hy, hp.mean(0), hn.mean(0), k),
            "ensemble_m": weight(y, p, n, k, den_less=shrink * s2_m),
            "ensemble_d": weight(y, p, n, k, den_less=shrink * s2_d),
            "ensemble_full": weight(y, p, n, k, num_less=-shrink * c_pd, den_less=shrink * s2_d)}
    both = [ests["member_oof"], ests["held_in"]]
    w = np.array([1.0 / se ** 2 if np.isfinite(lam) and se > 0 else 0.0 for lam, se in both])
    ests["pooled"] = ((float(np.dot(w, [lam if np.isfinite(lam) else 0.0 for lam, _ in both]) / w.sum()),
                       float(1.0 / np.sqrt(w.sum()))) if w.sum() > 0 else (float("nan"), float("inf")))
    lams = {name: (0.0 if not np.isfinite(lam) else float(np.clip(lam - k * se, 0.0, 1.0)))
            for name, (lam, se) in ests.items()}
    lams.update(members=1.0, base=0.0)
    return lams


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", type=Path, help="lab_physics_ablation.py --json outputs")
    ap.add_argument("--se", type=float, default=1.0, help="standard errors subtracted from every λ̂")
    args = ap.parse_args(argv)
    from socspec.lab.metrics import regression_metrics

    scores: dict = {}
    for path in args.json:
        for run in json.loads(path.read_text())["runs"]:
            key = (run["set"], run["variant"])
            b = run.get("blend")
            if not b or "held_in_each_pls" not in b:  # a reference variant (or an older record)
                scores.setdefault(key, {}).setdefault("as run", []).append((run["r2"], run["rmse"]))
                continue
            lams = rule_weights(b, args.se)
            if abs(lams["member_oof"] - b["weight"]) > 1e-3:
                raise SystemExit(f"{path}: member_oof λ {lams['member_oof']:.4f} is not the run's {b['weight']:.4f}")
            y, base, members = (np.asarray(b[f"test_{part}"], dtype=np.float64) for part in ("y", "base", "members"))
            for name, lam in lams.items():
                met = regression_metrics(y, np.clip((1 - lam) * base + lam * members, 0.0, None))
                scores.setdefault(key, {}).setdefault(name, []).append((met["r2"], met["rmse"]))
            print(f"{run['set']:18s} seed {run['seed']} {run['variant']:10s} λ " +
                  " ".join(f"{name} {lam:.2f}" for name, lam in lams.items() if name not in ("members", "base")))
    print(f"\ntest R² / RMSE g/kg, mean over runs (λ less {args.se:g} se)")
    for (name, variant), rows in sorted(scores.items()):
        for rule, vals in rows.items():
            r2, rmse = np.mean(vals, axis=0)
            label = variant if rule == "as run" else f"{variant} [{rule}]"
            print(f"{name:18s} {label:36s} {r2:.3f} / {rmse:.3f}  (n={len(vals)})")


if __name__ == "__main__":
    main()
