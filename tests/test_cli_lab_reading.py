"""fit-lab's reading and seeds through the CLI (issue 14): --seeds as README documents it, the carbon
choice printed, an unclear or empty carbon column stops training with a message that names it,
replicate scans reported. The training itself is replaced by a stub that records its arguments."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from socspec.errors import SocspecInputError
from socspec_cli.main import app

WL = np.arange(400, 2401, 20)


@pytest.fixture
def calls(monkeypatch):
    seen = []

    def stub(table, out, **kw):
        seen.append({"n": len(table), "seeds": kw["seeds"]})
        raise SocspecInputError("stub: training skipped")

    monkeypatch.setattr("socspec.lab.workflow.fit_lab_run", stub)
    return seen


@pytest.fixture
def lib(tmp_path, rng):
    n = 12
    R = 0.2 + 0.1 * np.sin(WL / 300.0)[None, :] + rng.normal(0, 0.005, (n, WL.size))
    meta = pd.DataFrame({"sample_id": np.repeat([f"s{i}" for i in range(6)], 2),
                         "soc": np.repeat(np.arange(6.0) + 1, 2), "soc_scan": [""] * n, "soc_measured": ["lab"] * n})
    p = tmp_path / "lib.csv"
    pd.concat([meta, pd.DataFrame(R, columns=[str(w) for w in WL])], axis=1).to_csv(p, index=False)
    return p


def fit(*args):
    return CliRunner().invoke(app, ["fit-lab", *map(str, args), "--carbon-unit", "percent", "--kind", "reflectance"])


@pytest.mark.parametrize("given,expected", [
    (["--seeds", "0,1,2,3"], [0, 1, 2, 3]), (["--seeds", "0 1 2 3"], [0, 1, 2, 3]),
    (["--seeds", "0", "--seeds", "2"], [0, 2]), ([], [0]), (["--seed", "5"], [5])])
def test_seeds_forms_reach_the_run(lib, tmp_path, calls, given, expected):
    res = fit(lib, "--out", tmp_path / "run", *given)
    assert "stub: training skipped" in res.output and res.exit_code == 2, res.output
    assert calls[-1]["seeds"] == expected


def test_bad_seeds_are_one_line_errors(lib, tmp_path, calls):
    for bad, what in (("0,x", "'x' is not an integer"), ("1,1", "1 is given twice")):
        res = fit(lib, "--out", tmp_path / "run", "--seeds", bad)
        assert res.exit_code == 2 and f"--seeds: {what}" in res.output and "Traceback" not in res.output
    assert not calls
    # the space-separated form unquoted is what typer cannot take; the README shows the comma form
    res = fit(lib, "--out", tmp_path / "run", "--seeds", "0", "1")
    assert res.exit_code == 2 and "unexpected extra argument" in res.output


def test_readme_seeds_example_is_the_form_that_works():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    lines = [ln for ln in readme.splitlines() if "--seeds" in ln and "fit-lab" in ln]
    assert lines and all("--seeds 0,1,2,3" in ln for ln in lines), lines


def test_carbon_choice_and_replicates_printed(lib, tmp_path, calls):
    res = fit(lib, "--out", tmp_path / "run")
    assert ("carbon: 'soc' — SOC, percent (override (--carbon-unit)); chosen: only usable carbon-like column; "
            "not usable: 'soc_scan' (empty), 'soc_measured' (text)") in res.output, res.output
    assert "replicates: 6 id(s) with up to 2 scans each" in res.output
    res = fit(lib, "--out", tmp_path / "run", "--average-replicates")
    assert calls[-1]["n"] == 6 and "replicates:" not in res.output


def test_empty_or_unclear_carbon_stops_training_naming_columns(lib, tmp_path, calls, rng):
    res = fit(lib, "--out", tmp_path / "run", "--carbon-col", "soc_scan")
    assert res.exit_code == 2 and "carbon column 'soc_scan' is empty in every row" in res.output, res.output
    df = pd.read_csv(lib)
    df = pd.concat([df, (df["soc"] + 0.1).rename("oc_pct")], axis=1)
    df.to_csv(lib, index=False)
    res = fit(lib, "--out", tmp_path / "run")
    assert res.exit_code == 2 and "several columns could be the carbon column: 'soc', 'oc_pct'" in res.output
    assert "--carbon-col" in res.output and not calls
