"""`socspec ood-report` / `finetune-lab` through the CLI: outputs, absorbance input, error paths."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _ood_fakes import FakeLabModel, make_regions, water_bands
from typer.testing import CliRunner

from socspec.io import write_spectra
from socspec.spectra import SpectralTable

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    from socspec_cli.main import app

    return app


@pytest.fixture(scope="module")
def fake_model():
    rng = np.random.default_rng(5)
    return FakeLabModel().fit(make_regions(rng, {"home": 300}))


@pytest.fixture
def patched(monkeypatch, fake_model):
    monkeypatch.setattr("socspec.lab.workflow.load_lab_model", lambda d: fake_model)
    return fake_model


def _scans_file(tmp_path, absorbance=False):
    rng = np.random.default_rng(9)
    dry = make_regions(rng, {"dry": 80})
    moist = make_regions(rng, {"wet": 40})
    vals = np.vstack([dry.values, 0.75 * moist.values - 0.06 * water_bands()])
    meta = pd.concat([dry.meta, moist.meta], ignore_index=True)
    meta["id"] = [f"x{i}" for i in range(len(meta))]
    meta = meta.rename(columns={"region": "site"})
    t = SpectralTable(dry.wavelength_nm, vals, "reflectance", meta)
    if absorbance:
        t = t.as_absorbance()
    return write_spectra(t, tmp_path / ("scans_abs.csv" if absorbance else "scans.csv"))


@pytest.mark.parametrize("absorbance", [False, True])
def test_ood_report_cli(app, patched, tmp_path, absorbance):
    f = _scans_file(tmp_path, absorbance)
    out = tmp_path / "report"
    res = runner.invoke(app, ["ood-report", "model_dir", str(f), "--region-col", "site", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "wet" in res.output and "high" in res.output
    df = pd.read_csv(out / "regions.csv").set_index("region")
    assert df.loc["wet", "frac_flagged"] >= 0.95 and df.loc["dry", "frac_flagged"] <= 0.1
    js = json.loads((out / "regions.json").read_text())
    assert {r["region"]: r["n"] for r in js["regions"]} == {"dry": 80, "wet": 40}
    assert (out / "index.html").read_text().count("data:image/png;base64,") >= 3
    # existing report kept without --force
    res2 = runner.invoke(app, ["ood-report", "model_dir", str(f), "--region-col", "site", "--out", str(out)])
    assert res2.exit_code == 2 and "--force" in res2.output and "Traceback" not in res2.output
    res3 = runner.invoke(app, ["ood-report", "model_dir", str(f), "--region-col", "site", "--out", str(out), "--force"])
    assert res3.exit_code == 0, res3.output


def test_ood_report_cli_missing_region_column(app, patched, tmp_path):
    f = _scans_file(tmp_path)
    res = runner.invoke(app, ["ood-report", "model_dir", str(f), "--region-col", "county",
                              "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "county" in res.output and "scans.csv" in res.output
    assert "Traceback" not in res.output


def test_ood_report_cli_missing_model_dir(app, tmp_path):
    f = _scans_file(tmp_path)
    pytest.importorskip("socspec.lab.estimator", reason="LabSOCModel not available")
    res = runner.invoke(app, ["ood-report", str(tmp_path / "nope"), str(f), "--region-col", "site",
                              "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "nope" in res.output and "Traceback" not in res.output


def test_finetune_cli_plumbing_and_errors(app, monkeypatch, tmp_path):
    rng = np.random.default_rng(2)
    base = FakeLabModel().fit(make_regions(rng, {"a": 200}))
    saved = {}

    def save(self, path):
        path.mkdir(parents=True)
        (path / "fake.txt").write_text("x")
        saved["path"] = path

    monkeypatch.setattr(FakeLabModel, "save", save, raising=False)
    monkeypatch.setattr("socspec.lab.workflow.load_lab_model", lambda d: base)
    new = make_regions(rng, {"b": 80}, shifted=("b",))
    f = write_spectra(new, tmp_path / "new.csv")
    out = tmp_path / "ft"
    res = runner.invoke(app, ["finetune-lab", "m", str(f), "--labels", "15", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())["finetune"]
    assert m["n_labels"] == 15 and m["n_eval"] == 65
    assert m["after"]["rmse"] < m["before"]["rmse"]
    assert saved["path"] == out / "model"
    assert len(pd.read_csv(out / "predictions.csv")) == 80
    res = runner.invoke(app, ["finetune-lab", "m", str(f), "--labels", "80", "--out", str(tmp_path / "ft2")])
    assert res.exit_code == 2 and "--labels" in res.output and "Traceback" not in res.output
