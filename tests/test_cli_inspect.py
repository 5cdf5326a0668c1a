"""`socspec inspect` through the CLI: the report, --json, overrides, and every bad-input path
(exit code 2, message naming file and row/column, no traceback)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _spectra_files import WL10, soil_reflectance, wide_csv
from typer.testing import CliRunner

from socspec_cli.main import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["inspect", *map(str, args)])


def assert_user_error(res, path, *fragments):
    out = res.output
    assert res.exit_code == 2, out
    assert "Traceback" not in out, out
    assert res.exception is None or isinstance(res.exception, SystemExit), out
    assert "error:" in out and str(path) in out, out
    for frag in fragments:
        assert frag in out, (frag, out)


@pytest.fixture
def good(tmp_path, rng):
    R = soil_reflectance(WL10, 6, rng)
    return wide_csv(tmp_path / "good.csv", WL10.astype(int), R * 100,
                    {"sample_id": [f"s{i}" for i in range(6)], "region": list("aabbcc"),
                     "soc_pct": [1.0, 2.0, np.nan, 0.5, 3.0, 1.2]})


def test_inspect_json(good):
    res = run(good, "--json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["n_samples"] == 6 and s["n_wavelengths"] == WL10.size
    assert s["wavelength_min_nm"] == 350 and s["wavelength_max_nm"] == 2500
    assert s["kind"] == "reflectance" and s["percent"] is True
    assert s["carbon_column"] == "soc_pct" and s["carbon_unit"] == "percent"
    assert s["region_column"] == "region" and s["missing_values"] == {"soc_pct": 1}


def test_inspect_text_report(good):
    res = run(good)
    assert res.exit_code == 0, res.output
    for frag in ("samples:       6", "350–2500 nm, step 10 nm", "reflectance in percent", "'soc_pct'",
                 "region:  region", "missing values: soc_pct 1"):
        assert frag in res.output, (frag, res.output)


def test_overrides_on_the_command_line(good):
    res = run(good, "--json", "--carbon-col", "soc_pct", "--carbon-unit", "g/kg", "--region-col", "sample_id",
              "--id-col", "region", "--no-percent")
    # ids 'a','a',… are duplicated now and --no-percent makes 30 % a reflectance of 30: both are user errors
    assert_user_error(res, good, "row ")
    res = run(good, "--json", "--carbon-unit", "g/kg", "--kind", "reflectance")
    s = json.loads(res.output)
    assert s["carbon_unit"] == "g/kg" and s["soc_g_kg_max"] == 3.0


def test_drop_bad_rows_reported(tmp_path, rng):
    R = soil_reflectance(WL10, 5, rng)
    R[1, 3] = np.nan
    p = wide_csv(tmp_path / "nan.csv", WL10.astype(int), R, {"id": range(5)})
    assert_user_error(run(p), p, "row 3", "column '380'", "--drop-bad-rows")
    res = run(p, "--drop-bad-rows")
    assert res.exit_code == 0 and "1 bad row(s) dropped" in res.output
    assert json.loads(run(p, "--drop-bad-rows", "--json").output)["dropped_rows"] == 1


# ----------------------------------------------------------------------------- bad input
def _spectra(rng, n=4):
    return soil_reflectance(WL10, n, rng)


def test_file_not_found(tmp_path):
    p = tmp_path / "missing.csv"
    assert_user_error(run(p), p, "file not found")


def test_unsupported_suffix(tmp_path):
    p = tmp_path / "spectra.xlsx"
    p.write_bytes(b"PK\x03\x04")
    assert_user_error(run(p), p, "unsupported file type '.xlsx'")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path, content):
    p = tmp_path / "empty.csv"
    p.write_bytes(content)
    assert_user_error(run(p), p, "empty")


def test_header_only(tmp_path):
    p = tmp_path / "hdr.csv"
    p.write_text("id,350,360,370,380\n")
    assert_user_error(run(p), p, "row 2", "no data rows")


def test_no_wavelength_columns(tmp_path):
    p = tmp_path / "nowl.csv"
    pd.DataFrame({"id": [1, 2], "soc": [1.0, 2.0], "clay": [3, 4]}).to_csv(p, index=False)
    assert_user_error(run(p), p, "row 1", "no numeric wavelength columns")


def test_band_numbers_are_not_wavelengths(tmp_path, rng):
    p = wide_csv(tmp_path / "bands.csv", range(1, 217), _spectra(rng))
    assert_user_error(run(p), p, "band numbers")
    q = wide_csv(tmp_path / "bands20.csv", range(1, 21), _spectra(rng)[:, :20])  # would pass for µm 1–20
    assert_user_error(run(q), q, "band numbers")


def test_duplicated_wavelength(tmp_path, rng):
    heads = [str(int(w)) for w in WL10]
    heads[5] = heads[4]
    p = tmp_path / "dup.csv"
    pd.DataFrame(_spectra(rng)).to_csv(p, index=False, header=heads)
    assert_user_error(run(p), p, "row 1", f"{heads[4]} nm appears twice", "position 5", "position 6")


def test_non_monotonic_wavelengths(tmp_path, rng):
    heads = [str(int(w)) for w in WL10]
    heads[10], heads[11] = "1234", "377"  # out of order and off the grid: not just shuffled
    p = tmp_path / "order.csv"
    pd.DataFrame(_spectra(rng)).to_csv(p, index=False, header=heads)
    assert_user_error(run(p), p, "row 1", "not in order", "column '377'")


def test_non_numeric_cell(tmp_path, rng):
    R = _spectra(rng).astype(object)
    R[2, 4] = "0.3x"
    p = wide_csv(tmp_path / "txt.csv", WL10.astype(int), R, {"id": list("abcd")})
    assert_user_error(run(p), p, "row 4", "column '390'", "'0.3x'", "--drop-bad-rows")
    assert json.loads(run(p, "--json", "--drop-bad-rows").output)["n_samples"] == 3


@pytest.mark.parametrize("value,what", [(np.nan, "missing"), (np.inf, "infinite"), (-np.inf, "infinite")])
def test_nan_inf_in_spectra(tmp_path, rng, value, what):
    R = _spectra(rng)
    R[0, 7] = value
    p = wide_csv(tmp_path / "nf.csv", WL10.astype(int), R, {"id": list("abcd")})
    assert_user_error(run(p), p, "row 2", "column '420'", what)


@pytest.mark.parametrize("value,what", [(-0.05, "negative"), (1.8, "above 1.5")])
def test_reflectance_out_of_range(tmp_path, rng, value, what):
    R = _spectra(rng)
    R[3, 2] = value
    p = wide_csv(tmp_path / "range.csv", WL10.astype(int), R, {"id": list("abcd")})
    assert_user_error(run(p), p, "row 5", "column '370'", what)


def test_percent_reflectance_out_of_range_after_conversion(tmp_path, rng):
    R = _spectra(rng) * 100
    R[1, 0] = 180.0
    p = wide_csv(tmp_path / "pct.csv", WL10.astype(int), R)
    assert_user_error(run(p), p, "row 3", "column '350'", "above 1.5")


def test_missing_carbon_when_training(tmp_path, rng):
    p = wide_csv(tmp_path / "c.csv", WL10.astype(int), _spectra(rng),
                 {"id": list("abcd"), "soc_pct": [1.0, np.nan, 2.0, 3.0]})
    assert run(p).exit_code == 0  # inspecting (or predicting) does not need carbon
    assert_user_error(run(p, "--require-carbon"), p, "row 3", "column 'soc_pct'", "carbon is missing")
    res = run(p, "--require-carbon", "--drop-bad-rows", "--json")
    assert json.loads(res.output)["dropped_reasons"] == {"missing carbon": 1}


def test_no_carbon_column_when_training(tmp_path, rng):
    p = wide_csv(tmp_path / "noc.csv", WL10.astype(int), _spectra(rng), {"id": list("abcd")})
    assert_user_error(run(p, "--require-carbon"), p, "no carbon column", "--carbon-col")


def test_duplicate_ids_are_replicates_unless_unique_ids_asked(tmp_path, rng):
    p = wide_csv(tmp_path / "ids.csv", WL10.astype(int), _spectra(rng), {"sample_id": ["a", "b", "a", "c"]})
    assert_user_error(run(p, "--unique-ids"), p, "column 'sample_id'", "'a' appears 2 times", "rows 2, 4")
    res = run(p)  # replicate scans are normal: reported, not refused
    assert res.exit_code == 0 and "replicates:    1 id(s) scanned more than once, up to 2 scans per id (a ×2)" \
        in res.output, res.output


def test_ragged_row(tmp_path, rng):
    p = wide_csv(tmp_path / "ragged.csv", WL10.astype(int), _spectra(rng), {"id": list("abcd")})
    lines = p.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 3)[0]
    p.write_text("\n".join(lines) + "\n")
    assert_user_error(run(p), p, "row 3", "fields")
    assert json.loads(run(p, "--drop-bad-rows", "--json").output)["dropped_rows"] == 1


def test_utf16_without_bom_and_binary_garbage(tmp_path, rng):
    p = wide_csv(tmp_path / "u16.csv", WL10.astype(int), _spectra(rng), {"id": list("abcd")})
    p.write_bytes(p.read_text().encode("utf-16-le"))  # no BOM
    assert_user_error(run(p), p, "not readable text", "UTF-16")
    g = tmp_path / "garbage.csv"
    g.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)))
    assert_user_error(run(g), g, "not readable text")


def test_bad_override_values(good):
    assert_user_error(run(good, "--kind", "transmittance"), good, "--kind reflectance")
    assert_user_error(run(good, "--carbon-unit", "ppm"), good, "--carbon-unit")
    assert_user_error(run(good, "--wavelength-unit", "feet"), good, "--wavelength-unit")
    assert_user_error(run(good, "--region-col", "nope"), good, "column 'nope'", "--region-col")


def test_non_numeric_carbon(tmp_path, rng):
    p = wide_csv(tmp_path / "c.csv", WL10.astype(int), _spectra(rng),
                 {"id": list("abcd"), "soc_pct": ["1.0", "<0.1", "2.0", "3.0"]})
    assert_user_error(run(p), p, "row 3", "column 'soc_pct'", "'<0.1'")
