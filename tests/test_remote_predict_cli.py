"""fit-remote with the SpTGNN and predict-remote, end to end on a tiny simulated corpus."""
import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from socspec_cli.main import app

runner = CliRunner()
FAST = ["--members", "2", "--epochs", "3", "--backbone", "cnn", "--device", "cpu", "--quiet"]


def test_fit_remote_sptgnn_then_predict_remote(tmp_path):
    import torch

    torch.set_num_threads(1)
    sim = tmp_path / "sim"
    res = runner.invoke(app, ["simulate-remote", "--out", str(sim), "--n", "200", "--seed", "3",
                              "--chip-size", "4"])
    assert res.exit_code == 0, res.output
    run, model = tmp_path / "run", tmp_path / "model"
    res = runner.invoke(app, ["fit-remote", "--data", str(sim / "points.csv"), "--chips",
                              str(sim / "chips.npz"), "--out", str(run), "--folds", "3",
                              "--region", "europe", "--models", "sptgnn,xgboost",
                              "--save-model", str(model), "--forest-covariate", *FAST])
    assert res.exit_code == 0, res.output
    m = json.loads((run / "metrics.json").read_text())
    s = m["sptgnn"]
    assert {"r2", "rmse", "mae", "mape", "ccc", "ece", "coverage90", "moran_i_residuals"} <= set(s)
    assert len(s["folds"]) == 3 and 0 <= s["ece"] <= 0.5 and 0 <= s["coverage90"] <= 1
    assert all({"ece", "coverage90"} <= set(f) for f in s["folds"])
    assert "xgboost" in m and "ece" not in m["xgboost"]
    p = pd.read_csv(run / "predictions.csv")
    assert (p["std_sptgnn"] > 0).all() and np.isfinite(p["pred_sptgnn"]).all()
    assert {"config.json", "weights.pt", "training_points.npz", "manifest.json", "forest.npz"} <= \
        {f.name for f in model.iterdir()}  # --forest-covariate reached the model

    # predict-remote on new points: no SOC column, a subset of the ids
    pts = pd.read_csv(sim / "points.csv").iloc[::4].drop(columns=["soc_g_kg"])
    pts.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "preds.csv"
    res = runner.invoke(app, ["predict-remote", str(model), str(tmp_path / "new.csv"), "--chips",
                              str(sim / "chips.npz"), "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["id", "lat", "lon", "soc_pred", "soc_sd", "aleatoric_sd",
                                  "epistemic_sd"]
    assert pred["id"].tolist() == pts["id"].tolist()
    np.testing.assert_allclose(pred.soc_sd ** 2, pred.aleatoric_sd ** 2 + pred.epistemic_sd ** 2,
                               rtol=1e-6)
    # the CLI serves exactly what the library computes with the saved model
    from socspec.remote import read_corpus
    from socspec.remote.sptgnn import SpTGNNRegressor

    lib = SpTGNNRegressor.load(model, device="cpu").predict_detail(
        read_corpus(tmp_path / "new.csv", chips=sim / "chips.npz", require_target=False))
    np.testing.assert_allclose(pred[lib.columns].to_numpy(), lib.to_numpy(), rtol=1e-9)
    assert (tmp_path / "preds_map.png").stat().st_size > 0

    # bad input: one line, exit 2, nothing overwritten
    before = out.read_bytes()
    res = runner.invoke(app, ["predict-remote", str(model), str(tmp_path / "new.csv"), "--out",
                              str(out)])
    assert res.exit_code == 2 and "--force" in res.output and out.read_bytes() == before
    pts.drop(columns=["clay_pct"]).to_csv(tmp_path / "bad.csv", index=False)
    res = runner.invoke(app, ["predict-remote", str(model), str(tmp_path / "bad.csv"), "--out",
                              str(tmp_path / "p2.csv")])
    assert res.exit_code == 2 and "clay_pct" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["predict-remote", str(run), str(tmp_path / "new.csv"), "--out",
                              str(tmp_path / "p3.csv")])
    assert res.exit_code == 2 and "manifest.json" in res.output
    res = runner.invoke(app, ["predict-remote", str(model), str(tmp_path / "new.csv"), "--chips",
                              str(sim / "chips.npz"), "--out", str(tmp_path / "p4.csv"),
                              "--shift-scores"])  # a model without a sensor-band autoencoder
    assert res.exit_code == 2 and "--ood-flags" in res.output and not (tmp_path / "p4.csv").exists()


def test_fit_remote_rejects_bad_sptgnn_options(tmp_path):
    for args, text in ((["--relations", "spatial,rivers"], "--relations"),
                       (["--relations", "elevation"], "spatial"),
                       (["--backbone", "huge"], "--backbone"),
                       (["--members", "0"], "--members")):
        res = runner.invoke(app, ["fit-remote", "--out", str(tmp_path / "r"), "--n-sim", "100",
                                  *args])
        assert res.exit_code == 2 and text in res.output and "Traceback" not in res.output
        assert not (tmp_path / "r").exists()
