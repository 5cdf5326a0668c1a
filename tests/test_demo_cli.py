"""`socspec demo`: runs end to end, refuses to overwrite, and --force re-runs into the same folder."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from socspec_cli.main import app  # noqa: E402

runner = CliRunner()


def test_demo_runs_and_force_reruns(tmp_path):
    out = tmp_path / "demo"
    res = runner.invoke(app, ["demo", "--out", str(out), "--epochs", "5", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "SIMULATED" in res.output
    metrics = json.loads((out / "fit" / "metrics.json").read_text())
    assert {"model", "pls"} <= set(metrics)
    assert (out / "predictions_new_scans.csv").exists() and (out / "ood_report" / "index.html").exists()
    # what a user checks: the split, sane metrics, and that the moist batch (and only it) is flagged
    assert metrics["data"]["n_labelled"] == 400 and metrics["data"]["n_test"] == 160
    assert metrics["model"]["test"]["n"] == 160 and 0 < metrics["model"]["test"]["rmse"] < 60  # SOC spans ~5–150 g/kg
    assert 0 < metrics["model"]["test"]["mrmse"] < 10  # reconstruction RMSE in reflectance %
    assert np.isfinite(metrics["pls"]["test"]["r2"]) and metrics["pls"]["test"]["r2"] > 0
    pred = pd.read_csv(out / "predictions_new_scans.csv")
    moist = pred["id"].str.startswith("moist")
    assert len(pred) == 90 and moist.sum() == 30
    assert pred.loc[moist, "ood_flag"].mean() >= 0.9
    assert pred.loc[~moist, "ood_flag"].mean() <= 0.2
    regions = pd.read_csv(out / "ood_report" / "regions.csv").set_index("region")
    assert regions.loc["moist_batch", "risk"] == "high" and regions.loc["moist_batch", "n"] == 30
    assert "of the moist batch" in res.output
    again = runner.invoke(app, ["demo", "--out", str(out), "--epochs", "5", "--quiet"])
    assert again.exit_code == 2 and "--force" in again.output and "Traceback" not in again.output
    forced = runner.invoke(app, ["demo", "--out", str(out), "--epochs", "5", "--quiet", "--force"])
    assert forced.exit_code == 0, forced.output
