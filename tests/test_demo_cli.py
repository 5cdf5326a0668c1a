"""`socspec demo`: runs end to end, refuses to overwrite, and --force re-runs into the same folder."""
from __future__ import annotations

import json

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
    again = runner.invoke(app, ["demo", "--out", str(out), "--epochs", "5", "--quiet"])
    assert again.exit_code == 2 and "--force" in again.output and "Traceback" not in again.output
    forced = runner.invoke(app, ["demo", "--out", str(out), "--epochs", "5", "--quiet", "--force"])
    assert forced.exit_code == 0, forced.output
