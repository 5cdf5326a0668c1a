"""`socspec inspect --json` on every real lab file in ../shared/data/lab (read in place, never copied).

Expected values come from each folder's PROVENANCE.md."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from socspec_cli.main import app

pytestmark = pytest.mark.shared

EXPECTED = {
    # file: (kind, percent, wl min, wl max, n wavelengths, carbon column, basis, irregular step, n samples)
    "geeves_nsw_vic": ("reflectance", False, 350, 2500, 2151, "carbon_total_pct", "total C", False, 391),
    "limesoda_SL_125": ("reflectance", True, 420, 2500, 2081, "carbon_SOM_pct", "SOM", False, 125),
    "limesoda_SSP_460": ("reflectance", True, 350, 2498, 830, "carbon_SOC_pct", "SOC", True, 460),
    "nirsoil_belgium": ("absorbance", False, 1100, 2498, 700, "carbon_Ciso_pct", "SOC", False, 825),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_inspect_json_on_shared_lab_file(lab_data_dir, name):
    path = lab_data_dir / name / f"{name}.csv"
    if not path.exists():
        pytest.skip(f"{path} not present")
    kind, percent, lo, hi, m, carbon, basis, irregular, n = EXPECTED[name]
    res = CliRunner().invoke(app, ["inspect", str(path), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["kind"] == kind and s["percent"] is percent
    assert (s["wavelength_min_nm"], s["wavelength_max_nm"], s["n_wavelengths"]) == (lo, hi, m)
    assert s["carbon_column"] == carbon and s["carbon_unit"] == "percent" and s["carbon_basis"] == basis
    assert s["region_column"] == "region" and s["id_column"] == "sample_id"
    assert s["irregular_step"] is irregular and s["n_samples"] == n
    if percent:  # converted to a fraction
        assert 0 < s["value_min"] < s["value_max"] < 1
    if name == "nirsoil_belgium":
        assert s["missing_values"]["carbon_Ciso_pct"] == 93 and s["n_labelled"] == 825 - 93


def test_training_read_of_nirsoil_needs_drop_bad_rows(lab_data_dir):
    path = lab_data_dir / "nirsoil_belgium" / "nirsoil_belgium.csv"
    if not path.exists():
        pytest.skip(f"{path} not present")
    res = CliRunner().invoke(app, ["inspect", str(path), "--require-carbon"])
    assert res.exit_code == 2 and "carbon_Ciso_pct" in res.output and "row " in res.output
    res = CliRunner().invoke(app, ["inspect", str(path), "--require-carbon", "--drop-bad-rows", "--json"])
    s = json.loads(res.output)
    assert s["n_samples"] == 732 and s["dropped_rows"] == 93
