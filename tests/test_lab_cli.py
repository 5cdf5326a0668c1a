"""fit-lab / predict-lab / demo end to end on a small SIMULATED file, including the error paths."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
from typer.testing import CliRunner  # noqa: E402

from socspec.io import write_spectra  # noqa: E402
from socspec.lab.simulate import simulate_lab_spectra  # noqa: E402
from socspec_cli.main import app  # noqa: E402

WL = np.arange(400.0, 2450.0, 14.0)
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("labcli")
    t = simulate_lab_spectra(n=120, n_unlabelled=30, regions=2, seed=4, wavelength_nm=WL)
    write_spectra(t, d / "lib.csv")
    narrow = t.subset(np.arange(10))
    narrow = narrow.with_values(narrow.values[:, 20:], wavelength_nm=WL[20:])
    write_spectra(narrow, d / "narrow.csv")
    write_spectra(t.subset(np.arange(20)).as_absorbance(), d / "absorb.csv")
    return d


@pytest.fixture(scope="module")
def fitted(files):
    out = files / "run"
    res = runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(out), "--epochs", "25",
                              "--hidden", "32", "--quiet", "--seeds", "0", "--seeds", "1",
                              "--soc-blend", "none"])  # one network per seed: the committee costs 5
    assert res.exit_code == 0, res.output
    return out, res


def test_fit_lab_writes_artifact_metrics_predictions_plots(fitted):
    out, res = fitted
    m = json.loads((out / "metrics.json").read_text())
    for k in ("r2", "rmse", "bias", "mae", "mrmse"):
        assert k in m["model"]["test"] and k in m["model"]["train"]
    assert {"r2", "rmse"} <= set(m["pls"]["test"])
    assert m["seeds"]["seeds"] == [0, 1] and m["seeds"]["model"]["test"]["r2"]["n"] == 2
    assert m["data"]["n_labelled"] == 120 and m["data"]["n_test"] == 48  # 40 % of 120
    assert m["data"]["n_unlabelled_in_file"] == 30
    pred = pd.read_csv(out / "predictions.csv")
    assert set(pred["split"]) == {"train", "test"} and (pred["split"] == "test").sum() == 48
    # the predictions file agrees with metrics.json
    te = pred[pred["split"] == "test"]
    rmse = float(np.sqrt(np.mean((te["soc_pred"] - te["soc_g_kg"]) ** 2)))
    assert rmse == pytest.approx(m["model"]["test"]["rmse"], rel=1e-4)
    for png in ("pred_vs_obs.png", "training_curves.png", "reconstructions.png", "f_soc.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    for f in ("weights.pt", "config.json", "endmembers.npz", "pca_q.json"):
        assert (out / "model" / f).exists()
    assert "model test" in res.output and "pls test" in res.output


def test_predict_lab_and_absorbance_input(fitted, files):
    out, _ = fitted
    res = runner.invoke(app, ["predict-lab", str(out), str(files / "lib.csv"), "--out", str(files / "p.csv")])
    assert res.exit_code == 0, res.output
    p = pd.read_csv(files / "p.csv")
    assert list(p.columns[:8]) == ["id", "soc_pred", "ood_score", "ood_threshold", "ood_flag", "pca_q",
                                   "pca_q_threshold", "pca_q_flag"]
    # the same predictions fit-lab wrote for those ids
    fit_pred = pd.read_csv(out / "predictions.csv").set_index("id")["soc_pred"]
    np.testing.assert_allclose(p.set_index("id").loc[fit_pred.index, "soc_pred"], fit_pred, rtol=1e-5)
    res = runner.invoke(app, ["predict-lab", str(out), str(files / "absorb.csv"), "--out", str(files / "pa.csv")])
    assert res.exit_code == 0, res.output
    pa = pd.read_csv(files / "pa.csv").set_index("id")["soc_pred"]
    np.testing.assert_allclose(pa, p.set_index("id").loc[pa.index, "soc_pred"], rtol=1e-3, atol=1e-2)


def test_predict_lab_refuses_narrow_window(fitted, files):
    out, _ = fitted
    res = runner.invoke(app, ["predict-lab", str(out), str(files / "narrow.csv"), "--out", str(files / "n.csv")])
    assert res.exit_code != 0
    assert "narrow.csv" in res.output and "680" in res.output and "400" in res.output
    assert "Traceback" not in res.output
    assert not (files / "n.csv").exists()


def test_existing_outputs_need_force(fitted, files):
    out, _ = fitted
    res = runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(out), "--epochs", "2", "--quiet"])
    assert res.exit_code != 0 and "--force" in res.output and "Traceback" not in res.output
    (files / "exists.csv").write_text("x\n")
    res = runner.invoke(app, ["predict-lab", str(out), str(files / "lib.csv"), "--out", str(files / "exists.csv")])
    assert res.exit_code != 0 and "exists.csv" in res.output and "Traceback" not in res.output
    assert (files / "exists.csv").read_text() == "x\n"


def test_fit_lab_bad_options(files, tmp_path):
    res = runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(tmp_path / "o"), "--decoder", "cnn"])
    assert res.exit_code != 0 and "cnn" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(tmp_path / "o2"), "--target-col", "nope"])
    assert res.exit_code != 0 and "nope" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(tmp_path / "o3"),
                              "--soc-blend-base", "snv"])  # the estimator's check names the CLI flag
    assert res.exit_code == 2 and "--soc-blend-base" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o3" / "model").exists()
    res = runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(tmp_path / "o4"),
                              "--ood-confidence", "1.5"])
    assert res.exit_code == 2 and "--ood-confidence" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["predict-lab", str(tmp_path / "nomodel"), str(files / "lib.csv"), "--out",
                              str(tmp_path / "x.csv")])
    assert res.exit_code != 0 and "nomodel" in res.output and "Traceback" not in res.output
