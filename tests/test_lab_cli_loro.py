"""`socspec fit-lab --cv region`: leave-one-region-out through the CLI (seed 003 experiment 1)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from socspec.io import write_spectra  # noqa: E402
from socspec.lab.simulate import simulate_lab_spectra  # noqa: E402
from socspec_cli.main import app  # noqa: E402

WL = np.arange(400.0, 2450.0, 20.0)


def test_fit_lab_cv_region_reports_every_region(tmp_path):
    t = simulate_lab_spectra(n=150, n_unlabelled=0, regions=3, seed=7, wavelength_nm=WL)
    regions = sorted(set(t.meta["region"]))
    assert len(regions) == 3
    t.meta = t.meta.rename(columns={"region": "site"})
    write_spectra(t, tmp_path / "lib.csv")
    out = tmp_path / "loro"
    res = CliRunner().invoke(app, ["fit-lab", str(tmp_path / "lib.csv"), "--out", str(out), "--cv", "region",
                                   "--region-col", "site", "--epochs", "15", "--hidden", "16", "--quiet",
                                   "--soc-blend", "none"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["loro"]) == regions
    for d in metrics["loro"].values():
        assert {"r2", "mrmse", "auroc", "auroc_pca_q"} <= set(d)
        assert 0.0 <= d["auroc"] <= 1.0 and d["mrmse"] > 0
    test = metrics["loro_test"]
    assert sorted(test["generalising"] + test["failing"]) == regions
    assert (out / "loro_regions.png").stat().st_size > 0
    assert (out / "loro_f_soc.png").stat().st_size > 0  # physics decoder: f_SOC of every fold
    assert "leave-one-region-out" in res.output


def test_fit_lab_cv_region_needs_region_column(tmp_path):
    t = simulate_lab_spectra(n=30, n_unlabelled=0, regions=2, seed=1, wavelength_nm=WL)
    write_spectra(t, tmp_path / "lib.csv")
    res = CliRunner().invoke(app, ["fit-lab", str(tmp_path / "lib.csv"), "--out", str(tmp_path / "o"),
                                   "--cv", "region"])
    assert res.exit_code == 2
    assert "--region-col" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()
