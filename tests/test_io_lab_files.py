"""Files as labs write them (issue 14): replicate scans under one id, RaCA-like carbon columns, and
binary files under a .csv name (issue 11 case 10) — through `socspec inspect` and read_spectra.

The two layouts are generated here (never copied from real data): a moisture experiment with each
soil scanned three times under one id, and a RaCA export with ``soc``, ``soc_measured`` (text) and
``soc_scan`` (empty) beside the spectra."""
from __future__ import annotations

import gzip
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from socspec.errors import SocspecInputError
from socspec.io import read_spectra
from socspec_cli.main import app

WL = np.arange(350, 2501, 10)


def soil(n, rng):
    """Soil-like reflectance: rises through the visible, dips at 1400/1900 nm."""
    base = 0.08 + 0.30 * (1 - np.exp(-(WL - 300) / 450))
    dips = 0.06 * np.exp(-((WL - 1915) / 45) ** 2) + 0.035 * np.exp(-((WL - 1412) / 30) ** 2)
    return np.clip(rng.uniform(0.7, 1.3, (n, 1)) * (base - dips) + rng.normal(0, 0.002, (n, WL.size)), 0.01, 0.95)


def inspect(*args):
    return CliRunner().invoke(app, ["inspect", *map(str, args)])


def assert_exit_2(res, *fragments):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and (res.exception is None or isinstance(res.exception, SystemExit))
    for f in fragments:
        assert f in res.output, (f, res.output)


@pytest.fixture
def moisture_file(tmp_path, rng):
    """8 soils × 3 scans (dry, moist, wet) under one ID each; OC is the soil's, moisture the scan's."""
    n_soils, reps = 8, 3
    R = soil(n_soils * reps, rng)
    oc = np.repeat(rng.uniform(0.5, 3.0, n_soils).round(2), reps)
    meta = pd.DataFrame({"ID": np.repeat([f"MS{i:02d}" for i in range(n_soils)], reps),
                         "rep": np.tile([1, 2, 3], n_soils), "water_content": np.tile([2.0, 15.0, 30.0], n_soils),
                         "OC_pct": oc})
    df = pd.concat([meta, pd.DataFrame(R, columns=[str(w) for w in WL])], axis=1)
    p = tmp_path / "moisture_experiment.csv"
    df.to_csv(p, index=False)
    return p, R, oc


def test_replicate_scans_are_reported_not_refused(moisture_file):
    p, _, _ = moisture_file
    res = inspect(p, "--json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["n_samples"] == 24 and s["id_column"] == "ID" and s["carbon_column"] == "OC_pct"
    assert s["replicates"] == {"n_ids_with_replicates": 8, "max_scans_per_id": 3, "n_scans_in_replicates": 24,
                               "examples": {f"MS{i:02d}": 3 for i in range(5)}, "averaged": False}
    text = inspect(p).output
    assert "replicates:    8 id(s) scanned more than once, up to 3 scans per id (MS00 ×3" in text
    assert_exit_2(inspect(p, "--unique-ids"), "'MS00' appears 3 times", "rows 2, 3, 4", "--average-replicates")


def test_average_replicates_means_spectra_and_keeps_carbon(moisture_file):
    p, R, oc = moisture_file
    t = read_spectra(p, average_replicates=True, require_carbon=True)
    assert t.n_samples == 8 and list(t.ids) == [f"MS{i:02d}" for i in range(8)]
    np.testing.assert_allclose(t.values, R.reshape(8, 3, -1).mean(axis=1), rtol=2e-6)
    np.testing.assert_allclose(t.soc_g_kg, oc[::3] * 10)
    assert list(t.meta["n_scans"]) == [3] * 8 and list(t.meta["water_content"]) == [2.0] * 8  # first scan's
    assert t.detection["replicates"]["averaged"] is True
    s = json.loads(inspect(p, "--json", "--average-replicates").output)
    assert s["n_samples"] == 8 and s["replicates"]["averaged"] is True


def test_average_replicates_missing_carbon_ignored_differing_carbon_refused(tmp_path, rng):
    R = soil(4, rng)
    df = pd.concat([pd.DataFrame({"id": ["a", "a", "b", "b"], "soc_pct": [1.5, np.nan, 2.0, 2.5]}),
                    pd.DataFrame(R, columns=[str(w) for w in WL])], axis=1)
    p = tmp_path / "rep.csv"
    df.to_csv(p, index=False)
    with pytest.raises(SocspecInputError,
                       match=r"replicates of id 'b' disagree on carbon: '20', '25' g/kg \(rows 4, 5\)"):
        read_spectra(p, average_replicates=True)
    df.loc[3, "soc_pct"] = 2.0
    df.to_csv(p, index=False)
    t = read_spectra(p, average_replicates=True)
    np.testing.assert_allclose(t.soc_g_kg, [15.0, 20.0])


@pytest.fixture
def raca_file(tmp_path, rng):
    """RaCA-like export: spectra first, then rcapid, hzname, soc (%), soc_measured (text), soc_scan (empty)."""
    n = 12
    spec = pd.DataFrame(soil(n, rng), columns=[str(w) for w in WL])
    meta = pd.DataFrame({"rcapid": [f"C{i:04d}X" for i in range(n)], "hzname": ["Ap"] * n,
                         "soc": rng.uniform(0.3, 4.0, n).round(3),
                         "soc_measured": rng.choice(["measured", "predicted"], n),
                         "soc_scan": [np.nan] * n, "soc_sd": rng.uniform(0, 0.2, n)})
    p = tmp_path / "raca_export.csv"
    pd.concat([spec, meta], axis=1).to_csv(p, index=False)
    return p, meta


def test_raca_carbon_columns_text_and_empty_are_not_candidates(raca_file):
    p, meta = raca_file
    s = json.loads(inspect(p, "--json").output)
    assert s["carbon_column"] == "soc" and s["carbon_unit"] == "percent"
    assert s["carbon_candidates"] == ["'soc'", "'soc_measured' (text)", "'soc_scan' (empty)"]
    assert "'soc_measured' (text), 'soc_scan' (empty)" in s["carbon_choice"]
    text = inspect(p).output
    assert "carbon:        'soc'" in text and "chosen:" in text and "'soc_scan' (empty)" in text
    with pytest.warns(UserWarning, match="carbon unit of 'soc' guessed"):
        t = read_spectra(p, require_carbon=True)  # training reads it without a flag
    np.testing.assert_allclose(t.soc_g_kg, meta["soc"] * 10)
    # the all-empty column, picked by hand: the message names it
    assert_exit_2(inspect(p, "--carbon-col", "soc_scan", "--require-carbon"), "'soc_scan'", "empty in every row")
    with pytest.raises(SocspecInputError, match="carbon column 'soc_scan' is empty in every row"):
        read_spectra(p, carbon_col="soc_scan", require_carbon_column=True)


def test_exact_name_wins_over_longer_names_containing_it(raca_file, rng):
    p, _ = raca_file
    df = pd.read_csv(p)
    df["soc_scan"] = rng.uniform(0.3, 4.0, len(df))  # now numeric: still 'soc' (exact) wins
    df.to_csv(p, index=False)
    s = json.loads(inspect(p, "--json").output)
    assert s["carbon_column"] == "soc" and s["carbon_choice"].startswith("exact name wins over 'soc_scan'")


def test_genuine_ambiguity_inspect_lists_training_stops(tmp_path, rng):
    df = pd.concat([pd.DataFrame({"id": range(6), "soc_pct": rng.uniform(1, 3, 6), "oc_g_kg": rng.uniform(10, 30, 6)}),
                    pd.DataFrame(soil(6, rng), columns=[str(w) for w in WL])], axis=1)
    p = tmp_path / "two.csv"
    df.to_csv(p, index=False)
    res = inspect(p)
    assert res.exit_code == 0, res.output
    assert "candidates:  'soc_pct', 'oc_g_kg' (pick one with --carbon-col NAME)" in res.output
    assert json.loads(inspect(p, "--json").output)["carbon_column"] is None
    assert_exit_2(inspect(p, "--require-carbon"), "several columns could be the carbon column", "'soc_pct'",
                  "'oc_g_kg'", "--carbon-col")
    with pytest.raises(SocspecInputError, match="--carbon-col"):
        read_spectra(p, require_carbon_column=True)
    assert json.loads(inspect(p, "--json", "--carbon-col", "oc_g_kg").output)["carbon_unit"] == "g/kg"


# ------------------------------------------------------------- binary files under a .csv name
def _csv_bytes(rng) -> bytes:
    df = pd.concat([pd.DataFrame({"id": list("abcd")}), pd.DataFrame(soil(4, rng), columns=[str(w) for w in WL])],
                   axis=1)
    return df.to_csv(index=False).encode()


def test_gzip_renamed_csv_is_named_as_gzip(tmp_path, rng):
    p = tmp_path / "spectra.csv"
    p.write_bytes(gzip.compress(_csv_bytes(rng)))
    assert_exit_2(inspect(p), str(p), "this is a gzip-compressed file", "rename it to end in .csv.gz")
    q = tmp_path / "spectra.csv.gz"
    q.write_bytes(p.read_bytes())
    assert json.loads(inspect(q, "--json").output)["n_samples"] == 4
    r = tmp_path / "plain.csv.gz"
    r.write_bytes(_csv_bytes(rng))
    assert_exit_2(inspect(r), "not gzip-compressed", "remove the .gz")


def test_excel_workbooks_renamed_csv(tmp_path):
    x = tmp_path / "book.csv"
    with zipfile.ZipFile(x, "w") as zf:  # what an .xlsx is: a zip with the workbook under xl/
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    assert_exit_2(inspect(x), "this is an Excel workbook (.xlsx)", "export the sheet as CSV")
    old = tmp_path / "old.csv"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000))  # OLE2 compound file (.xls)
    res = inspect(old)
    assert_exit_2(res, "Excel 97–2003 workbook (.xls)", "export the sheet as CSV")
    assert "NUL" not in res.output and "UTF-16" not in res.output


def test_windows_1252_export_and_unreadable_bytes(tmp_path, rng):
    df = pd.concat([pd.DataFrame({"id": list("abc"), "region": ["“wet” plot", "Skåne", "5 € field"]}),
                    pd.DataFrame(soil(3, rng), columns=[str(w) for w in WL])], axis=1)
    p = tmp_path / "excel_windows.csv"
    df.to_csv(p, index=False, encoding="cp1252")
    t = read_spectra(p)
    assert t.detection["encoding"] == "cp1252" and list(t.meta["region"]) == list(df["region"])
    q = tmp_path / "bad_bytes.csv"
    q.write_bytes(b"id,350,360,370\na\x81\x8d,0.1,0.2,0.3\n")  # undefined in UTF-8 and in Windows-1252
    assert_exit_2(inspect(q), "not readable text in UTF-8, Latin-1 or Windows-1252", "row 2")


def test_asd_export_with_sample_names_that_look_like_wavelengths(tmp_path, rng):
    """ViewSpec exports name samples S001, S002…: those are ids, not wavelengths 1, 2… (found by the fuzzer)."""
    R = soil(3, rng)
    df = pd.DataFrame(R.T, columns=["S001", "S002", "S003"])
    df.insert(0, "Wavelength", WL)
    p = tmp_path / "viewspec.txt"
    df.to_csv(p, index=False, sep="\t")
    t = read_spectra(p)
    assert list(t.ids) == ["S001", "S002", "S003"] and t.detection["layout"].startswith("transposed")
    np.testing.assert_allclose(t.values, R, rtol=1e-6)
