"""Lab-path speed: our trainer / predict vs a bare torch loop of the same network on the same data.

    python benchmarks/bench_lab.py --json OUT.json            # 4,000 × 2,136 generated spectra
    python benchmarks/bench_lab.py --raca --epochs 3 --json raca.json   # 23,550 × 2,136 (RaCA-sized)

Both loops are timed in the same process on the same tensors: ratio = our spectra/s ÷ bare
spectra/s (1.0 = no overhead). Our trainer also evaluates the 10 % validation split every epoch
(early stopping), which is counted against it. Data are SIMULATED mixtures of the embedded library.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # ru_maxrss is KiB on Linux


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4000, help="number of spectra")
    ap.add_argument("--raca", action="store_true", help="RaCA-sized run: 23,550 spectra")
    ap.add_argument("--epochs", type=int, default=20, help="timed epochs per loop")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--decoder", default="physics", choices=["none", "ann", "physics"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=2, help="alternate ours/bare this many times, keep the best")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    from socspec.lab import trainer as T
    from socspec.lab.estimator import LabSOCModel
    from socspec.lab.loss import eq1_loss
    from socspec.lab.models import SOC_INDEX
    from socspec.lab.simulate import simulate_lab_spectra

    n = 23550 if args.raca else args.n
    wl = np.arange(365.0, 2501.0, 1.0)  # M = 2,136 as in seed 003
    t0 = time.perf_counter()
    table = simulate_lab_spectra(n=n, regions=5, seed=0, wavelength_nm=wl)
    t_sim = time.perf_counter() - t0
    # full batch on both sides: the bare reference loop is a full-batch loop
    model = LabSOCModel(decoder=args.decoder, hidden=args.hidden, epochs=args.epochs, patience=None,
                        batch_size=None, device=args.device, progress=False)
    # set the model up exactly as fit() does (its public steps), then time the loops
    data = model.prepare_training_data(table)
    x = data.reflectance
    model.build_network(x.shape[1])
    model.initialise_network(data)
    dev = model.device_
    tr_d, va_d = data.split(dev)
    n_train = len(tr_d)
    init_state = {k: v.clone() for k, v in model.net_.state_dict().items()}

    def ours():
        model.net_.load_state_dict(init_state)
        t = time.perf_counter()
        T.train(model.net_, tr_d, va_d, epochs=args.epochs, lr=1e-3, patience=None, device=dev, progress=False,
                checkpoint_dir=None)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return n_train * args.epochs / (time.perf_counter() - t)

    def bare():
        net = model.net_
        net.load_state_dict(init_state)
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        X, y, lab = tr_d.reflectance, tr_d.soc_fraction, tr_d.labelled
        t = time.perf_counter()
        for _ in range(args.epochs):
            opt.zero_grad()
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                m, r = net(X)
            loss = eq1_loss(m[:, SOC_INDEX], y, lab, X, r)[0]
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return n_train * args.epochs / (time.perf_counter() - t)

    ours(), bare()  # warm-up (first-call allocations, lazy imports)
    o_runs, b_runs = [], []
    for _ in range(args.repeats):
        o_runs.append(ours())
        b_runs.append(bare())
    train_ours, train_bare = max(o_runs), max(b_runs)

    # inference: LabSOCModel.predict (SpectralTable in, g/kg out) vs encoder forward on a resident tensor
    model.net_.eval()
    X_all = torch.as_tensor(x, device=dev)

    def inf_bare():
        t = time.perf_counter()
        with torch.no_grad():
            model.net_.encoder(X_all)[:, SOC_INDEX].cpu().numpy()
        return n / (time.perf_counter() - t)

    def inf_ours():
        t = time.perf_counter()
        model.predict(table)
        return n / (time.perf_counter() - t)

    inf_bare(), inf_ours()
    ib, io = [], []
    for _ in range(max(3, args.repeats)):
        io.append(inf_ours())
        ib.append(inf_bare())

    # a full fit() (interpolation, training, OOD + PCA-Q calibration) for the memory figure
    t = time.perf_counter()
    fit_epochs = min(args.epochs, 3)
    LabSOCModel(decoder=args.decoder, hidden=args.hidden, epochs=fit_epochs, patience=None, device=args.device,
                batch_size=None, progress=False).fit(table)
    t_fit = time.perf_counter() - t

    res = {
        "n_spectra": n, "n_wavelengths": int(x.shape[1]), "hidden": args.hidden, "decoder": args.decoder,
        "n_latent": model.n_latent_, "n_parameters": model.n_parameters_, "epochs_timed": args.epochs,
        "device": str(dev), "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "train_spectra_per_second": train_ours, "bare_torch_train_spectra_per_second": train_bare,
        "train_throughput_ratio_vs_bare_torch": train_ours / train_bare,
        "inference_spectra_per_second": max(io), "bare_torch_inference_spectra_per_second": max(ib),
        "inference_ratio_vs_bare_torch": max(io) / max(ib),
        "full_fit_seconds": t_fit, "full_fit_epochs": fit_epochs, "simulate_seconds": t_sim,
        "peak_rss_gb": peak_rss_gb(), "load_average_1min": os.getloadavg()[0],
        "python": platform.python_version(), "torch": torch.__version__,
    }
    for k, v in res.items():
        print(f"{k:45s} {v:.4g}" if isinstance(v, float) else f"{k:45s} {v}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n")
        print(f"wrote {args.json}")
    return res


if __name__ == "__main__":
    main()
