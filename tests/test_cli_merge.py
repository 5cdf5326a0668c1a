"""`socspec merge`: two libraries on different grids and units end on their common window."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from socspec.io import read_spectra
from socspec_cli.main import app

runner = CliRunner()


def _write(path, wl, values, percent=False, region=None):
    df = pd.DataFrame(values * (100 if percent else 1), columns=[f"{w:g}" for w in wl])
    df.insert(0, "soc_pct", np.linspace(0.5, 3.0, len(values)))
    df.insert(0, "sample_id", [f"{path.stem}_{i}" for i in range(len(values))])
    if region:
        df.insert(1, "region", region)
    df.to_csv(path, index=False)


def test_merge_two_instruments_on_common_window(tmp_path, rng):
    wl_a = np.arange(350.0, 2501.0, 1.0)
    wl_b = np.arange(1100.0, 2499.0, 2.0)
    # a smooth ramp so resampling is checkable: R(λ) = 0.1 + 1e-4 λ
    _write(tmp_path / "a.csv", wl_a, np.tile(0.1 + 1e-4 * wl_a, (5, 1)), region="north")
    _write(tmp_path / "b.csv", wl_b, np.tile(0.1 + 1e-4 * wl_b, (4, 1)), percent=True)
    out = tmp_path / "merged.csv"
    res = runner.invoke(app, ["merge", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--out", str(out),
                              "--report", str(tmp_path / "rep.json")])
    assert res.exit_code == 0, res.output
    assert "1100–2498 nm" in res.output
    merged = read_spectra(out)
    assert merged.n_samples == 9
    assert merged.wavelength_nm[0] == 1100 and merged.wavelength_nm[-1] == 2498
    assert np.allclose(merged.values, 0.1 + 1e-4 * merged.wavelength_nm, atol=2e-4)
    assert sorted(set(merged.meta["region"])) == ["b", "north"]
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["window_nm"] == [1100.0, 2498.0] and rep["n_samples"] == 9


def test_merge_refuses_to_overwrite(tmp_path, rng):
    wl = np.arange(400.0, 500.0, 1.0)
    _write(tmp_path / "a.csv", wl, rng.uniform(0.2, 0.4, (3, wl.size)))
    _write(tmp_path / "b.csv", wl, rng.uniform(0.2, 0.4, (3, wl.size)))
    out = tmp_path / "merged.csv"
    out.write_text("precious\n")
    res = runner.invoke(app, ["merge", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--out", str(out)])
    assert res.exit_code == 2
    assert "already exists" in res.output and "Traceback" not in res.output
    assert out.read_text() == "precious\n"
